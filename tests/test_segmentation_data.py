"""Segmentation data: embedded street scenes, folder pairs, pipelines, errors."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gpos.data import (
    STREET_CLASSES, load_mask_folder, load_segmentation_dataset, make_street_scenes,
    segmentation_dataset,
)
from keras_gpos.data.segmentation import load_camvid_folders, load_tfds_cityscapes


def test_street_scenes_are_deterministic_and_have_position_priors():
    scenes = make_street_scenes(60, (48, 64), seed=0)
    again = make_street_scenes(60, (48, 64), seed=0)
    np.testing.assert_array_equal(scenes.images, again.images)
    assert scenes.images.shape == (60, 48, 64, 3) and scenes.masks.shape == (60, 48, 64)
    assert scenes.class_names == STREET_CLASSES and scenes.ignore_label is None
    masks = scenes.masks
    top, bottom = masks[:, :12], masks[:, -12:]
    sky, road = STREET_CLASSES.index("sky"), STREET_CLASSES.index("road")
    # Sky on top, road at the bottom, never the other way round.
    assert (top == sky).mean() > 0.3 and (bottom == sky).mean() == 0.0
    assert (bottom == road).mean() > 0.3 and (top == road).mean() == 0.0
    # Not mirror-symmetric: buildings mostly on the left, trees on the right.
    building, trees = STREET_CLASSES.index("building"), STREET_CLASSES.index("vegetation")
    left, right = masks[:, :, :32], masks[:, :, 32:]
    assert (left == building).mean() > 2 * (right == building).mean()
    assert (right == trees).mean() > 2 * (left == trees).mean()
    assert not np.array_equal(make_street_scenes(2, (48, 64), seed=1).images, scenes.images[:2])


def test_street_scene_arguments_are_checked():
    with pytest.raises(ValueError, match="count must be a positive int; got 0"):
        make_street_scenes(0)
    with pytest.raises(ValueError, match="at least 16x16"):
        make_street_scenes(2, (8, 64))
    with pytest.raises(ValueError, match="Unknown segmentation dataset 'camvid'"):
        load_segmentation_dataset("camvid")
    with pytest.raises(ValueError, match="needs data_dir"):
        load_segmentation_dataset("folder")


def _write_pair(image_dir, mask_dir, stem, size=(6, 8), label=1, mask_size=None, suffix=".png"):
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    image = np.full(size + (3,), 100, np.uint8)
    mask = np.full((mask_size or size) + (1,), label, np.uint8)
    tf.io.write_file(str(image_dir / f"{stem}{suffix}"), tf.io.encode_png(image))
    tf.io.write_file(str(mask_dir / f"{stem}.png"), tf.io.encode_png(mask))


def test_mask_folder_pairs_by_file_stem(tmp_path):
    for stem in ("b", "a"):
        _write_pair(tmp_path / "img", tmp_path / "ann", stem)
    data = load_mask_folder(tmp_path / "img", tmp_path / "ann", ("x", "y"), ignore_label=11)
    assert data.images.shape == (2, 6, 8, 3) and data.masks.shape == (2, 6, 8)
    assert data.masks.max() == 1 and data.metadata()["images"] == 2


def test_mask_folder_errors(tmp_path):
    _write_pair(tmp_path / "img", tmp_path / "ann", "0001")
    _write_pair(tmp_path / "img", tmp_path / "ann", "0003")
    (tmp_path / "ann" / "0001.png").rename(tmp_path / "ann" / "0002.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"do not match: 1 images have no mask \(e.g. \['0001'\]\), "
                                         r"1 masks have no image \(e.g. \['0002'\]\)"):
        load_mask_folder(tmp_path / "img", tmp_path / "ann", ("x", "y"))
    with pytest.raises(ValueError, match="mask folder .*missing.* does not exist"):
        load_mask_folder(tmp_path / "img", tmp_path / "missing", ("x", "y"))
    with pytest.raises(ValueError, match="holds no"):
        load_mask_folder(tmp_path / "empty", tmp_path / "ann", ("x", "y"))
    _write_pair(tmp_path / "sz" / "img", tmp_path / "sz" / "ann", "c", mask_size=(5, 8))
    with pytest.raises(ValueError, match=r"is 5x8 but its image .* is 6x8"):
        load_mask_folder(tmp_path / "sz" / "img", tmp_path / "sz" / "ann", ("x", "y"))
    _write_pair(tmp_path / "lab" / "img", tmp_path / "lab" / "ann", "d", label=7)
    with pytest.raises(ValueError, match=r"label image .*d\.png holds labels \[7\], outside 0\.\.1 or the ignore label 11"):
        load_mask_folder(tmp_path / "lab" / "img", tmp_path / "lab" / "ann", ("x", "y"), ignore_label=11)


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
