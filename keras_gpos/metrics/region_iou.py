"""Mean IoU restricted to an image region, with an ignore label.

The paper scores region attacks by excluding every pixel outside the region
(left half, right half, centre) from the confusion matrix. `RegionMeanIoU`
does that for named halves, the centre, any box in relative coordinates or
any boolean mask, and also reports per-class IoU.
"""

import warnings

import keras
import numpy as np
from keras import ops

from keras_gpos.base.backend import is_eager
from keras_gpos.base.validation import check_finite_array, check_ignore_label, check_label_range, integer_values
from keras_gpos.base.serialization import register
from keras_gpos.base.vocabulary import NAMED_BOXES, REGIONS, check_region  # noqa: F401 - re-exported


def region_mask(region, height, width):
    """Boolean `(height, width)` tensor of the pixels inside `region`."""
    region = check_region(region)
    if isinstance(region, np.ndarray):
        return ops.convert_to_tensor(region)
    top, left, bottom, right = NAMED_BOXES[region] if isinstance(region, str) else region
    ys = (ops.cast(ops.arange(height), "float32") + 0.5) / ops.cast(height, "float32")
    xs = (ops.cast(ops.arange(width), "float32") + 0.5) / ops.cast(width, "float32")
    rows = ops.logical_and(ys >= top, ys < bottom)
    cols = ops.logical_and(xs >= left, xs < right)
    return ops.logical_and(rows[:, None], cols[None, :])


def confusion_matrix(y_true, y_pred, num_classes, ignore_label=None, region="all"):
    """Exact pixel counts `(true class, predicted class)` of the pixels in `region`, as int32.

    Counts are int32 within one call (exact up to 2**31 - 1 pixels per call);
    add calls up in int64 on the host (`AttackEvaluator`) or in two int32
    words (`RegionMeanIoU`), so totals stay exact at any size on every
    backend, JAX without x64 included. Float32 counts would stop at 2**24.

    Args:
        y_true: int tensor `(batch, height, width)` (a trailing axis of 1 is
            dropped).
        y_pred: class ids `(batch, height, width)` or scores
            `(batch, height, width, num_classes)` (arg-maxed).
        num_classes: int.
        ignore_label: int or None. Pixels with this true label count nowhere.
        region: see `RegionMeanIoU`.

    Returns:
        int32 `(num_classes, num_classes + 1)`: column `num_classes` counts
        pixels whose predicted id lies outside `[0, num_classes)`, a miss for
        their true class and a hit for none (never folded into a class).

    Raises:
        ValueError: scores with another number of classes than `num_classes`,
            or shapes that are not `(batch, height, width[, classes])`.
    """
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    if len(y_true.shape) == 4 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if len(y_pred.shape) == len(y_true.shape) + 1:
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != num_classes:
            raise ValueError(
                f"predictions hold scores for {y_pred.shape[-1]} classes but num_classes is {num_classes}; "
                "a model trained for other labels cannot be scored on these."
            )
        y_pred = ops.argmax(y_pred, axis=-1)
    if len(y_true.shape) != 3 or len(y_pred.shape) != 3:
        raise ValueError(
            "expected labels (batch, height, width) and predictions (batch, height, width"
            f"[, classes]); got {y_true.shape} and {y_pred.shape}."
        )
    y_true = ops.cast(y_true, "int32")
    y_pred = ops.cast(y_pred, "int32")
    shape = ops.shape(y_true)
    inside = region_mask(region, shape[1], shape[2])
    if isinstance(region, np.ndarray) and tuple(region.shape) != tuple(y_true.shape[1:]):
        raise ValueError(
            f"mask region of shape {region.shape} does not match labels of spatial shape "
            f"{tuple(y_true.shape[1:])}."
        )
    valid = ops.logical_and(y_true >= 0, y_true < num_classes)
    if ignore_label is not None:
        valid = ops.logical_and(valid, y_true != ignore_label)
    valid = ops.logical_and(valid, inside[None])
    weights = ops.reshape(ops.cast(valid, "int32"), (-1,))
    columns = num_classes + 1
    outside = ops.logical_or(y_pred < 0, y_pred >= num_classes)
    pred = ops.where(outside, num_classes, y_pred)
    true = ops.clip(y_true, 0, num_classes - 1)  # invalid rows carry weight 0
    index = ops.reshape(true * columns + pred, (-1,))
    # A segment sum with a static segment count compiles on every backend
    # (JAX's bincount needs a static length inside jit).
    counts = ops.segment_sum(weights, index, num_segments=num_classes * columns)
    return ops.reshape(ops.cast(counts, "int32"), (num_classes, columns))


def iou_from_confusion(matrix):
    """`(per-class IoU with NaN for absent classes, mean IoU over present ones)`.

    `matrix` is `(classes, classes)` or `confusion_matrix`'s `(classes,
    classes + 1)` (the last column: predictions outside the classes, which
    count in the union of their true class only). Computed in float32 on
    every backend (float64 for NumPy input); the mean is NaN when no pixel
    is labelled, never 0.0 (see `labelled_pixels`).
    """
    if isinstance(matrix, np.ndarray):  # host counts (int64): exact float64 ratios
        square = matrix[:, :matrix.shape[0]].astype(np.float64)
        diag = np.diagonal(square)
        union = matrix.sum(axis=1) + square.sum(axis=0) - diag
        present = union > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(present, diag / np.where(present, union, 1.0), np.nan)
        return iou, float(np.mean(iou[present])) if present.any() else float("nan")
    matrix = ops.cast(ops.convert_to_tensor(matrix), "float32")
    classes = matrix.shape[0]
    square = matrix[:, :classes]
    diag = ops.diagonal(square)
    union = ops.sum(matrix, axis=1) + ops.sum(square, axis=0) - diag
    present = union > 0
    iou = ops.where(present, diag / ops.where(present, union, 1.0), float("nan"))
    count = ops.sum(ops.cast(present, "float32"))
    mean = ops.sum(ops.where(present, iou, 0.0)) / ops.maximum(count, 1.0)
    return iou, ops.where(count > 0, mean, float("nan"))


def labelled_pixels(matrix):
    """How many labelled pixels a confusion matrix counts (0: the region cannot be scored)."""
    return int(np.sum(np.asarray(keras.ops.convert_to_numpy(matrix), np.int64)))


# RegionMeanIoU keeps its counts in two int32 words, `high * 2**24 + low`:
# exact up to 2**55 pixels on every backend (no int64 variables on JAX without
# x64), and the words of several replicas still add up without overflow.
_WORD = 2**24


def _host_value(variable):
    """A metric variable as NumPy. The variable itself, not `.value`: under tf.distribute `.value` can be a
    per-replica value NumPy cannot read."""
    return ops.convert_to_numpy(variable)


@register
class RegionMeanIoU(keras.metrics.Metric):
    """Mean intersection over union of the pixels inside one region.

    Pixels outside the region, and pixels whose true label is
    `ignore_label`, are left out of the confusion matrix; classes that
    neither occur nor are predicted inside the region do not count in the
    mean. Predictions may be class ids or per-class scores (arg-maxed).

    Args:
        num_classes: int. Number of classes (labels `0 .. num_classes - 1`).
        region: str, box or mask. `"all"`, `"left"`, `"right"`, `"top"`,
            `"bottom"` (halves), `"centre"` (the middle half of each axis),
            a box `(top, left, bottom, right)` in fractions of the image, or
            a boolean `(height, width)` mask.
        ignore_label: int or None. True label that is never scored.
        name: str. Metric name.

    Call arguments (`update_state`):
        y_true: int labels `(batch, height, width)` (or `(..., 1)`), each in
            `[0, num_classes)` or the ignore label; whole-number floats are read as ints.
        y_pred: class ids or scores `(batch, height, width, num_classes)`.
        sample_weight: unsupported; must be None.

    Called eagerly, `update_state` refuses labels outside `[0, num_classes)`
    (other than the ignore label), fractional labels or predicted ids, and
    NaN/Inf scores, in one line naming the values, as `AttackEvaluator` does.
    Inside a compiled `fit`/`evaluate` values cannot raise on every backend, so
    such pixels are left out of the counts and counted in `unread_pixels()`;
    `result()` read eagerly then warns how many were left out.

    Examples:
        >>> metric = keras_gpos.metrics.RegionMeanIoU(3, region="left", ignore_label=3)
        >>> labels = np.array([[[0, 1, 2, 2], [3, 1, 2, 2]]])    # (batch, height, width)
        >>> predicted = np.array([[[0, 0, 2, 2], [1, 1, 2, 2]]])  # class ids (or scores)
        >>> metric.update_state(labels, predicted)
        >>> round(float(metric.result()), 3), metric.per_class_iou().round(3).tolist()
        (0.5, [0.5, 0.5, nan])
    """

    def __init__(self, num_classes, region="all", ignore_label=None, name="region_mean_iou", dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}.")
        self.num_classes = num_classes
        self.region = check_region(region)
        self.ignore_label = check_ignore_label(ignore_label)
        shape = (num_classes, num_classes + 1)
        self.counts_high = self.add_variable(shape=shape, initializer="zeros", dtype="int32", name="counts_high")
        self.counts_low = self.add_variable(shape=shape, initializer="zeros", dtype="int32", name="counts_low")
        self.unread = self.add_variable(shape=(), initializer="zeros", dtype="int32", name="unread_pixels")

    def _check_eager(self, y_true, y_pred):
        """The label contract on concrete values: one-line errors instead of dropped or truncated pixels."""
        what = f"{self.name} y_true"
        labels = np.asarray(ops.convert_to_numpy(y_true))
        if labels.ndim == 4 and labels.shape[-1] == 1:
            labels = labels[..., 0]
        check_label_range(integer_values(labels, what), what, self.num_classes, self.ignore_label)
        scores = np.asarray(ops.convert_to_numpy(y_pred))
        if scores.ndim == labels.ndim + 1:
            check_finite_array(scores, f"{self.name} y_pred (scores)")
        else:
            integer_values(scores, f"{self.name} y_pred (class ids; pass scores with a class axis)", "ids")

    def _unread_mask(self, y_true, y_pred):
        """Pixels a compiled update cannot read: labels out of range or fractional, non-finite scores."""
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_true.shape) == 4 and y_true.shape[-1] == 1:
            y_true = ops.squeeze(y_true, -1)
        labels = ops.cast(y_true, "float32")
        bad = ops.logical_or(labels < 0, labels >= self.num_classes)
        if self.ignore_label is not None:
            bad = ops.logical_and(bad, labels != self.ignore_label)
        bad = ops.logical_or(bad, ops.logical_not(ops.equal(labels, ops.floor(labels))))
        if "float" in keras.backend.standardize_dtype(y_pred.dtype):
            if len(y_pred.shape) == len(y_true.shape) + 1:
                bad = ops.logical_or(bad, ops.any(ops.logical_not(ops.isfinite(y_pred)), axis=-1))
            elif len(y_pred.shape) == len(y_true.shape):  # class ids: fractional ones name no class
                bad = ops.logical_or(bad, ops.logical_not(ops.equal(y_pred, ops.floor(y_pred))))
        return y_true, bad

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("RegionMeanIoU does not take sample_weight; use ignore_label or a region.")
        if is_eager(y_true) and is_eager(y_pred):
            self._check_eager(y_true, y_pred)
        y_true, bad = self._unread_mask(y_true, y_pred)
        if len(bad.shape) == 3:  # other shapes: confusion_matrix raises
            # -1 is never a class: the pixel counts nowhere (the ignore label may be a class id >= 0).
            y_true = ops.where(bad, -1, ops.cast(y_true, "int32"))
        low = self.counts_low + confusion_matrix(y_true, y_pred, self.num_classes, self.ignore_label, self.region)
        inside = ops.cast(region_mask(self.region, ops.shape(bad)[1], ops.shape(bad)[2]), "int32")
        self.unread.assign_add(ops.sum(ops.cast(bad, "int32") * inside[None]))
        self.counts_high.assign_add(low // _WORD)
        self.counts_low.assign(low % _WORD)

    def _float_counts(self):
        return (ops.cast(self.counts_high, "float32") * float(_WORD)
                + ops.cast(self.counts_low, "float32"))

    def result(self):
        """Mean IoU over the classes present; NaN (never 0.0) while no pixel is labelled.

        A Keras metric must return a number, and 0.0 would read as a total
        failure, so a region with nothing labelled gives NaN; `labelled_pixels()`
        says why, and called eagerly the metric warns.
        """
        mean = iou_from_confusion(self._float_counts())[1]
        if is_eager(self.counts_low) and self.labelled_pixels() == 0:
            warnings.warn(f"{self.name}: no labelled pixel in region {self._region_text()}, so there is no "
                          "mIoU (result is NaN).", UserWarning, stacklevel=2)
        if is_eager(self.unread) and self.unread_pixels():
            warnings.warn(f"{self.name}: {self.unread_pixels()} pixel(s) of region {self._region_text()} were left "
                          f"out: labels outside [0, {self.num_classes}) other than the ignore label "
                          f"{self.ignore_label}, fractional labels, or NaN/Inf scores.", UserWarning, stacklevel=2)
        return mean

    def unread_pixels(self):
        """Pixels of the region a compiled update left out (bad labels or non-finite scores); 0 when all were read."""
        return int(_host_value(self.unread))

    def _region_text(self):
        return "mask" if isinstance(self.region, np.ndarray) else repr(self.region)

    def confusion(self):
        """Exact int64 counts `(classes, classes + 1)` (see `confusion_matrix`), as a NumPy array."""
        high = np.asarray(_host_value(self.counts_high), np.int64)
        return high * _WORD + np.asarray(_host_value(self.counts_low), np.int64)

    def labelled_pixels(self):
        """How many labelled pixels of the region were scored (0: the mIoU is undefined, NaN)."""
        return int(self.confusion().sum())

    def per_class_iou(self):
        """IoU of each class as a numpy array (NaN: class absent in the region), from the exact counts."""
        return iou_from_confusion(self.confusion())[0]

    def reset_state(self):
        for variable in (self.counts_high, self.counts_low, self.unread):
            variable.assign(ops.zeros(variable.shape, "int32"))

    def get_config(self):
        region = self.region
        if isinstance(region, np.ndarray):
            region = region.tolist()
        elif isinstance(region, tuple):
            region = list(region)
        return {**super().get_config(), "num_classes": self.num_classes, "region": region,
                "ignore_label": self.ignore_label}

    @classmethod
    def from_config(cls, config):
        region = config.get("region")
        if isinstance(region, list) and region and isinstance(region[0], list):
            config = {**config, "region": np.asarray(region, bool)}
        return cls(**config)
