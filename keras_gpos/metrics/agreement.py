"""`ShiftConsistency`: do two views of the same images get the same top-1 class?

The streaming metric behind every consistency figure: `update_state` takes the
predictions for two views, so it runs inside compiled training code
(`AugShiftModel` logs it as view_agreement). The evaluation functions that
draw the views and report it next to accuracy are in
`keras_gpos.metrics.consistency`. `keras.ops` only: runs on every backend.
"""

import keras
import numpy as np
from keras import ops

from keras_gpos.base.backend import is_eager
from keras_gpos.base.serialization import register


def _not_a_compile_metric():
    return ValueError(
        "ShiftConsistency compares the predictions for two views of the same images "
        "(update_state(logits_a, logits_b)); it is not a compile(metrics=...) metric of "
        "(y_true, y_pred). During fit use keras_gpos.training.ShiftConsistencyCallback (or "
        "AugShiftModel, which logs view_agreement); afterwards use "
        "keras_gpos.metrics.consistency_and_accuracy."
    )


@register
class ShiftConsistency(keras.metrics.Metric):
    """Fraction of samples whose top-1 class is the same in two views.

    Call it on the logits (or probabilities) of the same images under two
    translations. It ignores labels: a network can be consistent and wrong,
    which is why consistency is always reported next to accuracy. Like
    Keras' accuracy metrics, `result()` is a fraction in [0, 1].

    Non-finite predictions are never counted as agreement: called eagerly,
    `update_state` raises on them; inside a compiled function they make
    `result()` NaN.

    Args:
        name: str. Metric name.
        dtype: optional dtype of the state.

    Call arguments (`update_state`):
        logits_a: `(batch, classes)` predictions for view A.
        logits_b: `(batch, classes)` predictions for view B.
        sample_weight: optional `(batch,)` weights.

    Examples:
        >>> metric = keras_gpos.metrics.ShiftConsistency()
        >>> metric.update_state(np.array([[1.0, 0.0], [0.0, 1.0]]),
        ...                     np.array([[2.0, 1.0], [1.0, 0.0]]))
        >>> float(metric.result())
        0.5
    """

    def __init__(self, name="shift_consistency", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.agree = self.add_variable(shape=(), initializer="zeros", name="agree")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")
        self.non_finite = self.add_variable(shape=(), initializer="zeros", name="non_finite")

    def update_state(self, logits_a, logits_b, sample_weight=None):
        logits_a = ops.convert_to_tensor(logits_a)
        logits_b = ops.convert_to_tensor(logits_b)
        shape_a, shape_b = tuple(logits_a.shape), tuple(logits_b.shape)
        if shape_a != shape_b:
            if len(shape_a) == 1 or (len(shape_a) == len(shape_b) and shape_a[-1] == 1):
                raise _not_a_compile_metric()
            raise ValueError(
                "ShiftConsistency needs predictions of the same shape for both views; "
                f"got {shape_a} and {shape_b}."
            )
        finite = ops.logical_and(ops.all(ops.isfinite(logits_a), axis=-1),
                                 ops.all(ops.isfinite(logits_b), axis=-1))
        if is_eager(logits_a) and not bool(np.all(ops.convert_to_numpy(finite))):
            raise ValueError("ShiftConsistency got NaN or Inf predictions; they cannot agree or disagree.")
        same = ops.cast(
            ops.equal(ops.argmax(logits_a, axis=-1), ops.argmax(logits_b, axis=-1)),
            self.dtype,
        )
        if sample_weight is None:
            weight = ops.ones_like(same)
        else:
            weight = ops.cast(ops.reshape(sample_weight, ops.shape(same)), self.dtype)
        self.agree.assign_add(ops.sum(same * weight))
        self.count.assign_add(ops.sum(weight))
        self.non_finite.assign_add(ops.sum(1.0 - ops.cast(finite, self.dtype)))

    def result(self):
        value = ops.divide_no_nan(self.agree, self.count)
        return ops.where(self.non_finite > 0, ops.cast(np.nan, value.dtype), value)

    def reset_state(self):
        for variable in (self.agree, self.count, self.non_finite):
            variable.assign(0.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

