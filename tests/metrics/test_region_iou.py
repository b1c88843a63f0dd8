"""Exact counts and honest empty regions in `keras_gpos.metrics.region_iou`.

Backend-agnostic: run once more with KERAS_BACKEND=jax (which needs no x64 mode).
"""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_gpos.metrics import RegionMeanIoU, confusion_matrix, iou_from_confusion

pytestmark = pytest.mark.backend_agnostic


def _counts(matrix):
    return np.asarray(keras.ops.convert_to_numpy(matrix))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(classes=st.integers(2, 5), ignore=st.sampled_from([None, 9]), data=st.data())
def test_confusion_counts_equal_a_numpy_reference(classes, ignore, data):
    size = 2 * 3 * 4
    true = np.asarray(data.draw(st.lists(st.sampled_from(list(range(classes)) + [9]), min_size=size,
                                         max_size=size))).reshape(2, 3, 4)
    pred = np.asarray(data.draw(st.lists(st.integers(-2, classes + 2), min_size=size,
                                         max_size=size))).reshape(2, 3, 4)
    got = _counts(confusion_matrix(true, pred, classes, ignore))
    assert got.dtype == np.int32 and got.shape == (classes, classes + 1)
    expected = np.zeros((classes, classes + 1), np.int64)
    for t, p in zip(true.reshape(-1), pred.reshape(-1)):
        if t < classes and t != ignore:
            expected[t, p if 0 <= p < classes else classes] += 1
    np.testing.assert_array_equal(got, expected)


@pytest.mark.adversarial
def test_predicted_ids_outside_the_classes_are_misses_not_the_last_class():
    # Finding 2: ids >= num_classes were clipped into the last class, scoring them as hits.
    labels = np.full((1, 2, 4), 2, "int32")
    predicted = np.full((1, 2, 4), 5, "int32")  # a 6-class model's ids on 3-class data
    metric = RegionMeanIoU(3)
    metric.update_state(labels, predicted)
    assert float(metric.result()) == 0.0 and metric.per_class_iou()[2] == 0.0
    with pytest.raises(ValueError, match="scores for 6 classes but num_classes is 3"):
        metric.update_state(labels, np.zeros((1, 2, 4, 6), "float32"))


@pytest.mark.adversarial
def test_counts_stay_exact_past_float32_precision():
    # Finding 4: float32 counts inside one update stopped at 2**24 = 16,777,216.
    side = 4100  # 16,810,000 pixels of one class in one update
    labels = np.ones((1, side, side), "int8")
    assert _counts(confusion_matrix(labels, labels, 2))[1, 1] == side * side
    metric = RegionMeanIoU(2)
    metric.update_state(labels, labels)
    assert metric.labelled_pixels() == side * side and metric.confusion()[1, 1] == side * side
    # The two int32 words carry exactly across 2**24 and past 2**31 over many updates.
    metric.counts_high.assign(np.full((2, 3), 200, "int32"))  # 200 * 2**24 = 3,355,443,200
    metric.counts_low.assign(np.full((2, 3), 2**24 - 1, "int32"))
    metric.update_state(labels[:, :10, :10], labels[:, :10, :10])
    assert metric.confusion()[1, 1] == 201 * 2**24 + 99 and metric.confusion()[0, 0] == 201 * 2**24 - 1


@pytest.mark.adversarial
def test_a_region_with_nothing_labelled_is_nan_with_a_reason_not_zero():
    # Finding 7: an all-ignored region scored 0.0, which reads as a total failure.
    metric = RegionMeanIoU(3, region="left", ignore_label=7)
    labels = np.array([[[7, 7, 1, 1]]])
    metric.update_state(labels, labels)
    with pytest.warns(UserWarning, match="no labelled pixel in region 'left'"):
        value = float(metric.result())
    assert np.isnan(value) and metric.labelled_pixels() == 0
    assert np.isnan(iou_from_confusion(np.zeros((3, 4), np.int64))[1])
