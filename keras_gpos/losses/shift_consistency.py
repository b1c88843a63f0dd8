"""AugShift's consistency term: pooled latents of two translated views should agree."""

import keras
from keras import ops

from keras_gpos.base.serialization import register

DISTANCES = ("mse", "cosine")


@register
class ShiftConsistencyLoss(keras.losses.Loss):
    """`weight` x distance between the pooled latents of two views.

    With `distance="mse"` (the paper's choice) each sample contributes the
    mean squared difference of its two latent vectors; with `"cosine"` it
    contributes `1 - cos(z_a, z_b)`, which ignores the latents' scale.
    `normalize=True` L2-normalises both latents before the MSE, so the
    network cannot satisfy the loss by shrinking its features (MSE on unit
    vectors is `2 (1 - cos) / dim`, a rescaled cosine distance).

    Being a `keras.losses.Loss` with the default `"sum_over_batch_size"`
    reduction, the value is divided by the number of replicas under
    `tf.distribute`, so gradients summed across replicas equal the
    single-device gradient for the same global batch.

    Args:
        weight: float >= 0. The loss weight lambda.
        distance: str. `"mse"` or `"cosine"`.
        normalize: bool. L2-normalise the latents first (`"mse"` only makes
            a difference; cosine is scale-free already).
        reduction: Keras loss reduction.
        name: str. Loss name.

    Call arguments:
        y_true: latents of view A, `(batch, dim)`.
        y_pred: latents of view B, same shape.
        sample_weight: optional `(batch,)` weights.

    Examples:
        >>> loss = keras_gpos.losses.ShiftConsistencyLoss(weight=2.0)
        >>> float(loss(np.ones((4, 8)), np.zeros((4, 8))))
        2.0
    """

    def __init__(
        self,
        weight=1.0,
        distance="mse",
        normalize=False,
        reduction="sum_over_batch_size",
        name="shift_consistency",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ValueError(f"weight (lambda) must be a number; got {weight!r}.")
        if not weight >= 0:
            raise ValueError(f"weight (lambda) must be >= 0; got {weight!r}.")
        if distance not in DISTANCES:
            raise ValueError(f"Unknown distance {distance!r}; expected one of {list(DISTANCES)}.")
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize must be a bool; got {normalize!r}.")
        self.weight = float(weight)
        self.distance = distance
        self.normalize = normalize

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Shape checks here, before Keras' loss wrapper tries to squeeze or
        # broadcast mismatched latents into something that runs.
        a, b = tuple(y_true.shape), tuple(y_pred.shape)
        if len(a) != 2 or len(b) != 2:
            raise ValueError(
                "ShiftConsistencyLoss compares pooled latents of shape (batch, dim); "
                f"got {a} and {b}. Pool feature maps first."
            )
        if a[1] is not None and b[1] is not None and a[1] != b[1] or (
            a[0] is not None and b[0] is not None and a[0] != b[0]
        ):
            raise ValueError(f"The two views' latents differ in shape: {a} vs {b}.")
        return super().__call__(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        z_a = ops.convert_to_tensor(y_true, dtype=self.dtype)
        z_b = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        if self.distance == "cosine" or self.normalize:
            z_a = _l2_normalize(z_a)
            z_b = _l2_normalize(z_b)
        if self.distance == "cosine":
            per_sample = 1.0 - ops.sum(z_a * z_b, axis=-1)
        else:
            per_sample = ops.mean(ops.square(z_a - z_b), axis=-1)
        return self.weight * per_sample

    def get_config(self):
        config = super().get_config()
        config.update(
            {"weight": self.weight, "distance": self.distance, "normalize": self.normalize}
        )
        return config


def _l2_normalize(z, epsilon=1e-12):
    return z * ops.rsqrt(ops.maximum(ops.sum(ops.square(z), axis=-1, keepdims=True), epsilon))
