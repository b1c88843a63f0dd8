"""Mean IoU restricted to an image region, with an ignore label.

The paper scores region attacks by excluding every pixel outside the region
(left half, right half, centre) from the confusion matrix. `RegionMeanIoU`
does that for named halves, the centre, any box in relative coordinates or
any boolean mask, and also reports per-class IoU.
"""

import numpy as np
import keras
from keras import ops

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


def confusion_matrix(y_true, y_pred, num_classes, ignore_label=None, region="all", dtype="float32"):
    """Confusion matrix `(true class, predicted class)` of the pixels in `region`.

    Args:
        y_true: int tensor `(batch, height, width)` (a trailing axis of 1 is
            dropped).
        y_pred: class ids `(batch, height, width)` or scores
            `(batch, height, width, num_classes)` (arg-maxed).
        num_classes: int.
        ignore_label: int or None. Pixels with this true label count nowhere.
        region: see `RegionMeanIoU`.
    """
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    if len(y_true.shape) == 4 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if len(y_pred.shape) == len(y_true.shape) + 1:
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
    weights = ops.reshape(ops.cast(valid, dtype), (-1,))
    pred = ops.clip(y_pred, 0, num_classes - 1)
    true = ops.clip(y_true, 0, num_classes - 1)
    index = ops.reshape(true * num_classes + pred, (-1,))
    # A segment sum with a static segment count compiles on every backend
    # (JAX's bincount needs a static length inside jit).
    counts = ops.segment_sum(weights, index, num_segments=num_classes * num_classes)
    return ops.reshape(ops.cast(counts, dtype), (num_classes, num_classes))


def iou_from_confusion(matrix):
    """`(per-class IoU with NaN for absent classes, mean IoU over present ones)`."""
    matrix = ops.convert_to_tensor(matrix)
    diag = ops.diagonal(matrix)
    union = ops.sum(matrix, axis=0) + ops.sum(matrix, axis=1) - diag
    present = union > 0
    iou = ops.where(present, diag / ops.where(present, union, 1.0), float("nan"))
    count = ops.sum(ops.cast(present, matrix.dtype))
    mean = ops.sum(ops.where(present, iou, 0.0)) / ops.maximum(count, 1.0)
    return iou, mean


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
        y_true: int labels `(batch, height, width)`.
        y_pred: class ids or scores `(batch, height, width, num_classes)`.
        sample_weight: unsupported; must be None.

    Example:

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
        if ignore_label is not None and (isinstance(ignore_label, bool) or not isinstance(ignore_label, int)):
            raise ValueError(f"ignore_label must be an int or None; got {ignore_label!r}.")
        self.num_classes = num_classes
        self.region = check_region(region)
        self.ignore_label = ignore_label
        self.confusion = self.add_variable(
            shape=(num_classes, num_classes), initializer="zeros", dtype=self.dtype, name="confusion"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("RegionMeanIoU does not take sample_weight; use ignore_label or a region.")
        self.confusion.assign_add(
            confusion_matrix(y_true, y_pred, self.num_classes, self.ignore_label, self.region, self.dtype)
        )

    def result(self):
        return iou_from_confusion(self.confusion)[1]

    def per_class_iou(self):
        """IoU of each class as a numpy array (NaN: class absent in the region)."""
        return keras.ops.convert_to_numpy(iou_from_confusion(self.confusion)[0])

    def reset_state(self):
        self.confusion.assign(ops.zeros((self.num_classes, self.num_classes), self.dtype))

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
