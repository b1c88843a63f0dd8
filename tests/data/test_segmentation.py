"""Segmentation data read as meant, and checked before training (`keras_gpos.data.segmentation`)."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_gpos.data import CAMVID_CLASSES, SegmentationSet, load_mask_folder
from keras_gpos.data.segmentation import check_splits


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
