"""ImageSplits identify their data by content, computed once per set."""

import numpy as np
import pytest

from keras_gpos import data
from keras_gpos.data import image_set
from keras_gpos.data.image_set import ImageSet
from keras_gpos.data.sources import load_image_splits


def test_the_identity_is_the_content_not_the_size(monkeypatch):
    calls = []
    original = image_set.arrays_digest
    monkeypatch.setattr(image_set, "arrays_digest", lambda *a: calls.append(1) or original(*a))
    splits = load_image_splits("embedded", embedded_train_size=20, embedded_test_size=4)
    first = splits.identity()
    assert splits.identity() == first and len(calls) == 3  # once per split, then cached
    images = splits.test.images.copy()
    images[0, 0, 0, 0] ^= 1
    changed = ImageSet(images, splits.test.labels, splits.test.class_names)
    assert changed.identity() != splits.test.identity() and len(changed) == len(splits.test)
    named = ImageSet(images, splits.test.labels, splits.test.class_names, origin={"tfds": "x", "version": "1.0.0",
                                                                                   "split": "test"})
    assert named.head(2).identity() == {"tfds": "x", "version": "1.0.0", "split": "test", "rows": "[:2]", "images": 2}
    assert np.array_equal(named.images, images)


def test_unknown_dataset_and_missing_data_dir():
    with pytest.raises(ValueError, match="Unknown dataset 'mnist'"):
        data.load_image_dataset("mnist")
    with pytest.raises(ValueError, match="needs data_dir"):
        data.load_image_dataset("cifar10_binary")
