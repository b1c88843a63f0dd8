"""Exact counts and honest empty regions in `keras_gpos.metrics.region_iou`.

Backend-agnostic: run once more with KERAS_BACKEND=jax (which needs no x64 mode).
"""

import warnings

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_gpos.metrics import RegionMeanIoU, confusion_matrix, iou_from_confusion


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

pytestmark = pytest.mark.backend_agnostic


def two_halves():
    """Left half predicted perfectly, right half all wrong (class 1 -> 0)."""
    y_true = np.zeros((1, 4, 6), "int32")
    y_true[:, :, 1:3] = 1
    y_true[:, :, 4:] = 1
    y_pred = y_true.copy()
    y_pred[:, :, 3:] = 0
    return y_true, y_pred


def miou(y_true, y_pred, **kwargs):
    metric = RegionMeanIoU(2, **kwargs)
    metric.update_state(y_true, y_pred)
    return float(metric.result()), metric.per_class_iou()


def test_region_excludes_pixels_outside_it():
    y_true, y_pred = two_halves()
    assert miou(y_true, y_pred, region="left")[0] == pytest.approx(1.0)
    # Right half: 4 true class-0 pixels, 8 class-1 pixels all predicted 0.
    right, per_class = miou(y_true, y_pred, region="right")
    np.testing.assert_allclose(per_class, [4 / 12, 0.0])
    assert right == pytest.approx(4 / 24)
    # The whole image mixes both halves.
    whole = miou(y_true, y_pred)[0]
    assert right < whole < 1.0
    # A box equal to the left half and a boolean mask of it agree with "left".
    mask = np.zeros((4, 6), bool)
    mask[:, :3] = True
    assert miou(y_true, y_pred, region=(0.0, 0.0, 1.0, 0.5))[0] == pytest.approx(1.0)
    assert miou(y_true, y_pred, region=mask)[0] == pytest.approx(1.0)


def test_top_bottom_centre_and_scores_as_predictions():
    y_true = np.zeros((2, 8, 8), "int32")
    y_true[:, 4:] = 1
    scores = np.zeros((2, 8, 8, 2), "float32")
    scores[:, :, :, 0] = 1.0  # predicts class 0 everywhere
    assert miou(y_true, scores, region="top")[0] == pytest.approx(1.0)
    bottom = miou(y_true, scores, region="bottom")[1]
    # Class 1 fills the bottom but is never predicted: IoU 0 (present, not NaN).
    assert bottom[1] == 0.0
    centre = miou(y_true, scores, region="center")[1]  # American spelling accepted
    np.testing.assert_allclose(centre, [0.5, 0.0])


def test_ignore_label_and_absent_classes():
    y_true = np.array([[[0, 0, 11, 11]]], "int32")
    y_pred = np.array([[[0, 0, 1, 2]]], "int32")
    metric = RegionMeanIoU(3, ignore_label=11)
    metric.update_state(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(1.0)  # ignored pixels count nowhere
    per_class = metric.per_class_iou()
    assert per_class[0] == pytest.approx(1.0) and np.isnan(per_class[1]) and np.isnan(per_class[2])
    metric.reset_state()
    # Nothing labelled: no mIoU (NaN, and labelled_pixels() says why), never a 0.0 that reads as failure.
    with pytest.warns(UserWarning, match="no labelled pixel"):
        assert np.isnan(float(metric.result())) and metric.labelled_pixels() == 0


def test_config_round_trip_with_mask_region_and_use_in_compile():
    mask = np.eye(4, dtype=bool)
    metric = RegionMeanIoU(3, region=mask, ignore_label=255, name="diag_miou")
    restored = RegionMeanIoU.from_config(metric.get_config())
    np.testing.assert_array_equal(restored.region, mask)
    assert restored.ignore_label == 255 and restored.name == "diag_miou"
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(
        RegionMeanIoU(3, region=(0.1, 0.2, 0.9, 0.8))))
    assert again.region == (0.1, 0.2, 0.9, 0.8)

    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[RegionMeanIoU(3, region="left", name="left_miou")])
    logs = model.evaluate(np.zeros((2, 4, 4, 1)), np.zeros((2, 4, 4), "int32"), verbose=0, return_dict=True)
    # Zeros in, zeros out (a zero-initialised bias): class 0 everywhere, as the labels say; classes 1
    # and 2 are absent and count nowhere, so the left mIoU is exactly 1.
    assert logs["left_miou"] == 1.0


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="num_classes must be an int >= 2; got 1"):
        RegionMeanIoU(1)
    with pytest.raises(ValueError, match="Unknown region 'middle'"):
        RegionMeanIoU(3, region="middle")
    with pytest.raises(ValueError, match="0 <= top < bottom <= 1"):
        RegionMeanIoU(3, region=(0.5, 0.0, 0.2, 1.0))
    with pytest.raises(ValueError, match="all-False"):
        RegionMeanIoU(3, region=np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="ignore_label must be an int or None"):
        RegionMeanIoU(3, ignore_label="11")
    metric = RegionMeanIoU(2, region=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match=r"mask region of shape \(3, 3\) does not match"):
        metric.update_state(np.zeros((1, 4, 4), "int32"), np.zeros((1, 4, 4), "int32"))


# RegionMeanIoU reads labels and the ignore label through the base contracts (second hostile pass).


LABELS = np.array([[[0, 1, 2, 3], [0, 1, 2, 3]]])
PREDICTED = np.array([[[0, 1, 2, 0], [0, 1, 2, 0]]])


@pytest.mark.adversarial
@pytest.mark.parametrize("bad, ignore_label, shown", [
    (3, None, "[3]"),       # == num_classes: was dropped, mIoU 1.0 over 6 of 8 pixels
    (255, 11, "[255]"),     # not the ignore label
    (-1, None, "[-1]"),
])
def test_out_of_range_labels_are_refused_naming_them(bad, ignore_label, shown):
    metric = RegionMeanIoU(3, ignore_label=ignore_label)
    with pytest.raises(ValueError, match=r"y_true holds labels " + shown.replace("[", r"\[").replace("]", r"\]")):
        metric.update_state(np.where(LABELS == 3, bad, LABELS), PREDICTED)


@pytest.mark.adversarial
def test_fractional_labels_are_refused_not_truncated():
    with pytest.raises(ValueError, match=r"non-integer labels such as \[1.6"):
        RegionMeanIoU(3).update_state(np.where(LABELS == 1, 1.6, LABELS.clip(0, 2)).astype("float32"), PREDICTED)


def test_whole_number_float_labels_and_the_ignore_label_still_read():
    metric = RegionMeanIoU(3, ignore_label=255)
    metric.update_state(np.where(LABELS == 3, 255, LABELS).astype("float32"), PREDICTED)
    assert metric.labelled_pixels() == 6 and float(metric.result()) == pytest.approx(1.0)


@pytest.mark.adversarial
def test_nan_scores_are_refused_not_argmaxed_to_class_0():
    scores = np.full(LABELS.shape + (3,), np.nan, "float32")
    with pytest.raises(ValueError, match="y_pred \\(scores\\) holds 24 NaN or Inf"):
        RegionMeanIoU(3).update_state(LABELS.clip(0, 2), scores)


@pytest.mark.adversarial
def test_fractional_predicted_ids_are_refused():
    with pytest.raises(ValueError, match="non-integer ids"):
        RegionMeanIoU(3).update_state(LABELS.clip(0, 2), np.full(LABELS.shape, 0.9, "float32"))


@pytest.mark.parametrize("ignore_label", [True, 2.0, "255", 255.0])
def test_ignore_label_of_another_type_is_refused_at_construction(ignore_label):
    with pytest.raises(ValueError, match=f"ignore_label must be an int or None; got {ignore_label!r}"):
        RegionMeanIoU(3, ignore_label=ignore_label)


@pytest.mark.adversarial
def test_numpy_int_ignore_label_is_an_int():
    assert RegionMeanIoU(3, ignore_label=np.int64(255)).ignore_label == 255


@pytest.mark.adversarial
def test_compiled_update_leaves_bad_pixels_out_and_says_how_many():
    """Inside evaluate() values cannot raise on every backend: bad pixels are counted, never scored."""
    inputs = keras.Input((2, 4, 3))
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    metric = RegionMeanIoU(3, name="miou")
    model.compile(loss=lambda y, p: keras.ops.zeros(()), metrics=[metric])
    scores = np.eye(3, dtype="float32")[PREDICTED]
    scores[0, 0, 1] = np.nan  # a NaN score pixel, true class 1
    labels = np.where(LABELS == 3, 7, LABELS).astype("float32")  # 2 pixels of label 7
    model.evaluate(scores, labels, verbose=0)
    assert metric.unread_pixels() == 3
    assert metric.labelled_pixels() == 5  # 8 pixels, 3 left out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metric.result()
    assert any("3 pixel(s)" in str(w.message) and "left out" in str(w.message) for w in caught)
