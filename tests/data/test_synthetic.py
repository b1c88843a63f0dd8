"""The embedded shapes dataset."""

import numpy as np
import pytest

from keras_gpos import data


def test_shapes_dataset_is_deterministic_balanced_and_varied():
    a = data.make_shapes_dataset(200, seed=5)
    b = data.make_shapes_dataset(200, seed=5)
    c = data.make_shapes_dataset(200, seed=6)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (200, 32, 32, 3) and a.images.dtype == np.uint8
    assert a.num_classes == len(data.SHAPE_CLASSES) >= 10
    np.testing.assert_array_equal(np.bincount(a.labels), [20] * 10)
    # Colour is random, not a class cue: mean colours overlap across classes.
    means = a.images.reshape(200, -1, 3).mean(axis=1)
    per_class = [means[a.labels == k].mean(axis=0) for k in range(10)]
    assert np.ptp(np.array(per_class)) < 0.5 * np.ptp(means)


@pytest.mark.parametrize("kwargs", [{"num_examples": 0}, {"num_examples": 10, "image_size": 4}])
def test_shapes_dataset_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="must be"):
        data.make_shapes_dataset(**kwargs)
