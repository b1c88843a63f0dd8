"""RegionMeanIoU reads labels and the ignore label through the base contracts (second hostile pass)."""

import warnings

import keras
import numpy as np
import pytest

from keras_gpos.metrics import RegionMeanIoU

pytestmark = pytest.mark.backend_agnostic

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
