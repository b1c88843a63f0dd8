"""Segmentation folders: images and masks pair by name, so one name is one file."""

import numpy as np
import pytest
import tensorflow as tf

from keras_gpos.data import CAMVID_CLASSES, load_mask_folder


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
