"""ImageSet: the validation split."""

import numpy as np
import pytest

from keras_gpos import data


def test_validation_split_is_disjoint_complete_and_seeded():
    s = data.make_shapes_dataset(100)
    train, val = data.split_validation(s, 0.2, seed=3)
    train2, val2 = data.split_validation(s, 0.2, seed=3)
    assert (len(train), len(val)) == (80, 20)
    np.testing.assert_array_equal(val.images, val2.images)
    joined = np.concatenate([train.images, val.images]).reshape(100, -1)
    assert len({row.tobytes() for row in joined}) == len({r.tobytes() for r in s.images.reshape(100, -1)})
    with pytest.raises(ValueError, match="must be in"):
        data.split_validation(s, 1.5)
