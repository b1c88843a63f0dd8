"""Segmentation data read as meant, and checked before training (`keras_gpos.data.segmentation`)."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from keras_gpos.data import (
    CAMVID_CLASSES,
    SegmentationSet,
    load_mask_folder,
    make_street_scenes,
    segmentation_dataset,
)
from keras_gpos.data.segmentation import (
    check_splits,
    load_camvid_folders,
    load_tfds_cityscapes,
)


def _write_pair(root, stem, mask_image, size=(6, 8)):
    (root / "img").mkdir(parents=True, exist_ok=True)
    (root / "ann").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size + (3,), 90, np.uint8)).save(root / "img" / f"{stem}.png")
    mask_image.save(root / "ann" / f"{stem}.png")


@pytest.mark.adversarial
def test_palette_masks_are_read_as_their_indices_not_their_colours(tmp_path):
    # A palette PNG (how many label tools save masks) was decoded to RGB and then to grey,
    # so labels became brightness values.
    labels = (np.arange(48).reshape(6, 8) % 3).astype(np.uint8)
    mask = Image.fromarray(labels, "P")
    mask.putpalette([128, 64, 128, 70, 70, 70, 220, 20, 60] + [0] * 759)  # Cityscapes-like colours
    _write_pair(tmp_path, "a", mask)
    data = load_mask_folder(tmp_path / "img", tmp_path / "ann", ("road", "building", "person"))
    np.testing.assert_array_equal(data.masks[0], labels)


@pytest.mark.adversarial
def test_colour_label_images_are_refused_naming_the_file_and_mode(tmp_path):
    # A colour-coded mask was silently turned into grey values.
    _write_pair(tmp_path, "b", Image.new("RGB", (8, 6), (1, 1, 1)))
    with pytest.raises(ValueError, match=r"label image .*b\.png has mode 'RGB', which holds no class index"):
        load_mask_folder(tmp_path / "img", tmp_path / "ann", ("x", "y"))


def _set(masks, ignore=11, size=(6, 8)):
    masks = np.asarray(masks, np.uint8)
    images = np.zeros((len(masks),) + size + (3,), np.uint8)
    return SegmentationSet(images, masks, tuple("abc"), ignore, source="test")


def test_splits_are_checked_before_training():
    good = _set(np.zeros((2, 6, 8)))
    assert check_splits(good, good) == (good, good)
    with pytest.raises(ValueError, match="every pixel of the val split .* is the ignore label 11"):
        check_splits(good, _set(np.full((2, 6, 8), 11)))
    small = SegmentationSet(np.zeros((1, 4, 8, 3), np.uint8), np.zeros((1, 4, 8), np.uint8), tuple("abc"), 11)
    with pytest.raises(ValueError, match=r"val images are \(4, 8, 3\) but train images are \(6, 8, 3\)"):
        check_splits(good, small)


@pytest.mark.adversarial
def test_two_images_of_one_name_are_refused_naming_them(tmp_path):
    for sub in ("img", "ann"):
        (tmp_path / sub).mkdir()
    image = tf.io.encode_png(np.zeros((4, 4, 3), np.uint8)).numpy()
    mask = tf.io.encode_png(np.zeros((4, 4, 1), np.uint8)).numpy()
    (tmp_path / "img" / "X.png").write_bytes(image)
    (tmp_path / "img" / "X.jpg").write_bytes(tf.io.encode_jpeg(np.full((4, 4, 3), 200, np.uint8)).numpy())
    (tmp_path / "ann" / "X.png").write_bytes(mask)
    with pytest.raises(ValueError, match=r"img holds 1 file name\(s\) twice with other suffixes \(X\.jpg and X\.png\)"):
        load_mask_folder(tmp_path / "img", tmp_path / "ann", CAMVID_CLASSES, ignore_label=11)
    (tmp_path / "img" / "X.jpg").unlink()
    assert len(load_mask_folder(tmp_path / "img", tmp_path / "ann", CAMVID_CLASSES, ignore_label=11)) == 1


def test_pipeline_flips_image_and_mask_together_only_when_asked():
    scenes = make_street_scenes(8, (32, 48), seed=0)
    images, masks = next(iter(segmentation_dataset(scenes, 8)))
    np.testing.assert_array_equal(images.numpy(), scenes.images.astype("float32"))
    np.testing.assert_array_equal(masks.numpy(), scenes.masks)
    flipped_any = False
    for images, masks in segmentation_dataset(scenes, 8, training=True, flip=True, seed=3).take(3):
        for image, mask in zip(images.numpy(), masks.numpy()):
            index = next(i for i, s in enumerate(scenes.images) if np.array_equal(s, image)
                         or np.array_equal(s[:, ::-1], image))
            flipped = not np.array_equal(scenes.images[index], image)
            expected = scenes.masks[index][:, ::-1] if flipped else scenes.masks[index]
            np.testing.assert_array_equal(mask, expected)
            flipped_any |= flipped
    assert flipped_any


def test_unprepared_tfds_cityscapes_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cityscapes/semantic_segmentation is not prepared"):
        load_tfds_cityscapes(data_dir=str(tmp_path))


def test_camvid_folder_loads(camvid_dir):
    train, val = load_camvid_folders(camvid_dir)
    assert (len(train), len(val)) == (367, 101)
    assert train.image_shape == (180, 240, 3) and train.num_classes == 11
    assert train.ignore_label == 11 and train.masks.max() == 11


def _write_folder_pair(image_dir, mask_dir, stem, size=(6, 8), label=1, mask_size=None, suffix=".png"):
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    image = np.full(size + (3,), 100, np.uint8)
    mask = np.full((mask_size or size) + (1,), label, np.uint8)
    tf.io.write_file(str(image_dir / f"{stem}{suffix}"), tf.io.encode_png(image))
    tf.io.write_file(str(mask_dir / f"{stem}.png"), tf.io.encode_png(mask))


def test_mask_folder_pairs_by_file_stem(tmp_path):
    for stem in ("b", "a"):
        _write_folder_pair(tmp_path / "img", tmp_path / "ann", stem)
    data = load_mask_folder(tmp_path / "img", tmp_path / "ann", ("x", "y"), ignore_label=11)
    assert data.images.shape == (2, 6, 8, 3) and data.masks.shape == (2, 6, 8)
    assert data.masks.max() == 1 and data.metadata()["images"] == 2


def test_mask_folder_errors(tmp_path):
    _write_folder_pair(tmp_path / "img", tmp_path / "ann", "0001")
    _write_folder_pair(tmp_path / "img", tmp_path / "ann", "0003")
    (tmp_path / "ann" / "0001.png").rename(tmp_path / "ann" / "0002.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"do not match: 1 images have no mask \(e.g. \['0001'\]\), "
                                         r"1 masks have no image \(e.g. \['0002'\]\)"):
        load_mask_folder(tmp_path / "img", tmp_path / "ann", ("x", "y"))
    with pytest.raises(ValueError, match="mask folder .*missing.* does not exist"):
        load_mask_folder(tmp_path / "img", tmp_path / "missing", ("x", "y"))
    with pytest.raises(ValueError, match="holds no"):
        load_mask_folder(tmp_path / "empty", tmp_path / "ann", ("x", "y"))
    _write_folder_pair(tmp_path / "sz" / "img", tmp_path / "sz" / "ann", "c", mask_size=(5, 8))
    with pytest.raises(ValueError, match=r"is 5x8 but its image .* is 6x8"):
        load_mask_folder(tmp_path / "sz" / "img", tmp_path / "sz" / "ann", ("x", "y"))
    _write_folder_pair(tmp_path / "lab" / "img", tmp_path / "lab" / "ann", "d", label=7)
    with pytest.raises(ValueError, match=r"label image .*d\.png holds labels \[7\], "
                                         r"outside 0\.\.1 or the ignore label 11"):
        load_mask_folder(tmp_path / "lab" / "img", tmp_path / "lab" / "ann", ("x", "y"), ignore_label=11)


def _png16(array):
    return tf.io.encode_png(tf.constant(array, tf.uint16)).numpy()


def test_sixteen_bit_label_images_keep_their_values_or_are_refused(tmp_path):
    from keras_gpos.data import CAMVID_CLASSES, load_mask_folder

    for sub in ("img", "ann"):
        (tmp_path / sub).mkdir()
    image = tf.io.encode_png(np.zeros((6, 8, 3), np.uint8)).numpy()
    labels = np.arange(48, dtype=np.uint16).reshape(6, 8, 1) % 12
    (tmp_path / "img" / "a.png").write_bytes(image)
    (tmp_path / "ann" / "a.png").write_bytes(_png16(labels))
    data = load_mask_folder(tmp_path / "img", tmp_path / "ann", CAMVID_CLASSES, ignore_label=11)
    np.testing.assert_array_equal(data.masks[0], labels[..., 0])  # 0..11 kept, not all 0
    (tmp_path / "ann" / "a.png").write_bytes(_png16(np.full((6, 8, 1), 300, np.uint16)))
    with pytest.raises(ValueError, match=r"16-bit label image .*a\.png holds label 300"):
        load_mask_folder(tmp_path / "img", tmp_path / "ann", CAMVID_CLASSES, ignore_label=11)
    (tmp_path / "ann" / "a.png").write_bytes(_png16(np.full((6, 8, 1), 40, np.uint16)))
    with pytest.raises(ValueError, match=r"holds labels \[40\], outside 0\.\.10 or the ignore label 11"):
        load_mask_folder(tmp_path / "img", tmp_path / "ann", CAMVID_CLASSES, ignore_label=11)


def _png(array):
    return tf.io.encode_png(array).numpy()


@pytest.mark.adversarial
@pytest.mark.parametrize("kind", ["image", "mask"])
@pytest.mark.parametrize("keep", [0, 0.3, 0.6, 0.9, 0.98])
def test_truncated_camvid_file_is_an_error_naming_it(tmp_path, kind, keep):
    from keras_gpos.data import CAMVID_CLASSES, load_mask_folder

    rng = np.random.default_rng(0)
    for sub in ("val", "valannot"):
        (tmp_path / sub).mkdir()
    for stem in ("0001", "0002"):
        (tmp_path / "val" / f"{stem}.png").write_bytes(
            _png(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)))
        (tmp_path / "valannot" / f"{stem}.png").write_bytes(
            _png(rng.integers(0, 11, (24, 32, 1), dtype=np.uint8)))
    broken = tmp_path / ("val" if kind == "image" else "valannot") / "0002.png"
    payload = broken.read_bytes()
    broken.write_bytes(payload[:int(len(payload) * keep)])
    with pytest.raises(ValueError, match=r"valannot[/\\]0002\.png|val[/\\]0002\.png"):
        load_mask_folder(tmp_path / "val", tmp_path / "valannot", CAMVID_CLASSES, ignore_label=11)


@pytest.mark.adversarial
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), height=st.integers(1, 7), width=st.integers(1, 7),
       classes=st.integers(2, 5), ignore=st.sampled_from([None, 255]),
       batch=st.integers(1, 4), flip=st.booleans(), seed=st.integers(0, 2**16))
def test_segmentation_pipeline_any_valid_shape(n, height, width, classes, ignore, batch, flip,
                                               seed):
    from keras_gpos.data.segmentation import SegmentationSet, segmentation_dataset

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8)
    labels = list(range(classes)) + ([ignore] if ignore is not None else [])
    masks = rng.choice(labels, size=(n, height, width)).astype(np.uint8)
    dataset = SegmentationSet(images, masks, tuple(f"c{i}" for i in range(classes)), ignore)
    seen = 0
    for x, y in segmentation_dataset(dataset, batch, training=True, flip=flip, seed=seed):
        assert x.dtype == tf.float32 and y.dtype == tf.int32
        assert x.shape[1:] == (height, width, 3) and y.shape[1:] == (height, width)
        x, y = x.numpy(), y.numpy()
        for image, mask in zip(x, y):
            # Each image arrives whole with its own mask, flipped together or not at all.
            index = [i for i in range(n) if np.array_equal(image, images[i])
                     or np.array_equal(image, images[i][:, ::-1])]
            assert index, "an image was altered"
            i = index[0]
            flipped = not np.array_equal(image, images[i])
            np.testing.assert_array_equal(mask, masks[i][:, ::-1] if flipped else masks[i])
        seen += len(x)
    assert seen == n
