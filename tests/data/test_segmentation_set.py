"""SegmentationSet refuses invalid arrays, naming the problem."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.adversarial
@settings(max_examples=30, deadline=None)
@given(shape=st.sampled_from([(2, 3, 3), (2, 3, 3, 3), (2, 3, 3, 1), (2, 3)]),
       dtype=st.sampled_from(["float32", "uint8", "int32"]),
       label=st.integers(0, 255), classes=st.integers(1, 4))
def test_segmentation_set_rejects_invalid_arrays_naming_the_problem(shape, dtype, label, classes):
    from keras_gpos.data.segmentation import SegmentationSet

    images = np.zeros(shape, dtype)
    masks = np.full(shape[:3] if len(shape) >= 3 else shape, label, np.uint8)
    valid = len(shape) == 4 and shape[-1] == 3 and dtype == "uint8" and label < classes
    if valid:
        assert len(SegmentationSet(images, masks, tuple("c" * classes))) == 2
        return
    with pytest.raises(ValueError, match=r"must be \(N, height, width, 3\)|must be uint8|labels"):
        SegmentationSet(images, masks, tuple("c" * classes))
