"""Shift consistency (Zhang 2019) and accuracy as a function of the shift.

Protocol used by `shift_consistency` (state it next to every number):

* each evaluation image is shown at two random positions, drawn
  independently and uniformly: on a `canvas_size` canvas (mode `canvas`,
  offsets 0..canvas_size - image_size per axis) or shifted inside its own
  frame by -max_shift..max_shift per axis (mode `shift`);
* uncovered pixels take the constant `fill` (0 = the dataset-mean colour
  for normalised images), never reflect fill;
* one offset pair per image per repeat, `repeats` pairs per image, drawn
  from a stateless generator seeded with `seed`, so every model is scored on
  exactly the same views;
* consistency = percentage of (image, pair) cases whose top-1 classes agree.
"""

import keras
import numpy as np
from keras import ops

from keras_gpos.registry import register


@register
class ShiftConsistency(keras.metrics.Metric):
    """Fraction of samples whose top-1 class is the same in two views.

    Call it on the logits (or probabilities) of the same images under two
    translations. It ignores labels: a network can be consistent and wrong,
    which is why consistency is always reported next to accuracy. Like
    Keras' accuracy metrics, `result()` is a fraction in [0, 1].

    Args:
        name: str. Metric name.
        dtype: optional dtype of the state.

    Call arguments (`update_state`):
        logits_a: `(batch, classes)` predictions for view A.
        logits_b: `(batch, classes)` predictions for view B.
        sample_weight: optional `(batch,)` weights.

    Example:

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

    def update_state(self, logits_a, logits_b, sample_weight=None):
        logits_a = ops.convert_to_tensor(logits_a)
        logits_b = ops.convert_to_tensor(logits_b)
        if tuple(logits_a.shape) != tuple(logits_b.shape):
            raise ValueError(
                "ShiftConsistency needs predictions of the same shape for both views; "
                f"got {tuple(logits_a.shape)} and {tuple(logits_b.shape)}."
            )
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

    def result(self):
        return ops.divide_no_nan(self.agree, self.count)

    def reset_state(self):
        self.agree.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _check_images(images):
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4:
        raise ValueError(f"images must be (N, height, width, channels); got {images.shape}.")
    if images.shape[0] == 0:
        raise ValueError("images is empty.")
    return images


def _predict(model, batch):
    return keras.ops.convert_to_numpy(model(batch, training=False))


def consistency_and_accuracy(
    model,
    images,
    labels=None,
    mode="canvas",
    canvas_size=48,
    max_shift=4,
    fill=0.0,
    repeats=5,
    seed=1234,
    batch_size=256,
):
    """Consistency (and accuracy over all views, given labels), in percent.

    See the module docstring for the protocol.

    Args:
        model: maps a batch of views to logits (`keras_gpos.training.
            AugShiftModel`, its inference model, or any classifier).
        images: float array `(N, h, w, c)`, already normalised.
        labels: optional int array `(N,)`; adds `accuracy` (top-1 over both
            views of every pair: accuracy at random positions).
        mode: `"canvas"` or `"shift"`.
        canvas_size: int. Canvas side (mode `canvas`).
        max_shift: int. Largest shift per axis (mode `shift`).
        fill: float. Value of uncovered pixels.
        repeats: int >= 1. Offset pairs per image.
        seed: int. Seed of the offsets.
        batch_size: int. Images per forward pass.

    Returns:
        `{"consistency": %, "accuracy": % or None, "cases": int}`.

    Example:

    >>> keras_gpos.metrics.consistency_and_accuracy(model, x, y, canvas_size=48)
    """
    import tensorflow as tf

    from keras_gpos.data import shift_views as views

    images = _check_images(images)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int; got {repeats!r}.")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"{labels.shape[0]} labels for {images.shape[0]} images.")
    metric = ShiftConsistency()
    correct = 0
    for repeat in range(repeats):
        for start in range(0, len(images), batch_size):
            batch = tf.constant(images[start:start + batch_size])
            pair_seed = tf.constant([seed, repeat * 1_000_003 + start], tf.int32)
            view_a, view_b = views.make_views(batch, mode, canvas_size, max_shift, fill, pair_seed)
            logits_a, logits_b = _predict(model, view_a), _predict(model, view_b)
            metric.update_state(logits_a, logits_b)
            if labels is not None:
                truth = labels[start:start + batch_size]
                correct += int((logits_a.argmax(-1) == truth).sum())
                correct += int((logits_b.argmax(-1) == truth).sum())
    cases = repeats * len(images)
    return {
        "consistency": 100.0 * float(metric.result()),
        "accuracy": None if labels is None else 100.0 * correct / (2 * cases),
        "cases": cases,
    }


def view_latent_distance(
    encoder, images, mode="canvas", canvas_size=48, max_shift=4, fill=0.0, seed=1234,
    batch_size=256,
):
    """Mean relative squared distance between the pooled latents of two views.

    For each image, `|z_a - z_b|^2 / ((|z_a|^2 + |z_b|^2) / 2)` on one random
    view pair (same protocol and seed as `consistency_and_accuracy`'s first
    pair), averaged over images. Scale-free, so an encoder cannot lower it
    by shrinking its latents; 0 means the latent ignores the translation.
    This is what the AugShift loss acts on directly.

    Args:
        encoder: maps views to latents `(batch, dim)` or feature maps
            (globally average pooled here).
        images: float array `(N, h, w, c)`, already normalised.

    Example:

    >>> keras_gpos.metrics.view_latent_distance(model.encoder, test_images, canvas_size=48)
    """
    import tensorflow as tf

    from keras_gpos.data import shift_views as views

    images = _check_images(images)
    distances = []
    for start in range(0, len(images), batch_size):
        batch = tf.constant(images[start:start + batch_size])
        pair_seed = tf.constant([seed, start], tf.int32)
        view_a, view_b = views.make_views(batch, mode, canvas_size, max_shift, fill, pair_seed)
        z_a, z_b = (_pooled(keras.ops.convert_to_numpy(encoder(v, training=False)))
                    for v in (view_a, view_b))
        scale = 0.5 * (np.sum(z_a**2, axis=1) + np.sum(z_b**2, axis=1))
        distances.append(np.sum((z_a - z_b) ** 2, axis=1) / np.maximum(scale, 1e-12))
    return float(np.concatenate(distances).mean())


def _pooled(z):
    if z.ndim == 4:
        return z.mean(axis=(1, 2))
    if z.ndim != 2:
        raise ValueError(f"encoder output must be (batch, dim) or (batch, h, w, c); got {z.shape}.")
    return z


def shift_consistency(model, images, **kwargs):
    """Consistency of `model` on normalised `images`, in percent.

    Takes the arguments of `consistency_and_accuracy` (without labels).

    Example:

    >>> keras_gpos.metrics.shift_consistency(model, test_images, canvas_size=48)
    """
    return consistency_and_accuracy(model, images, None, **kwargs)["consistency"]


def accuracy_vs_shift(
    model,
    images,
    labels,
    mode="canvas",
    canvas_size=48,
    max_shift=4,
    fill=0.0,
    batch_size=256,
    stride=1,
):
    """Top-1 accuracy at each diagonal offset, in percent.

    Mode `canvas`: the image's top-left corner at `(d, d)` on the canvas for
    `d = 0 .. canvas_size - image_size` (0 = top-left corner). Mode `shift`:
    the image moved by `(d, d)` inside its frame for `d = 0 .. max_shift`.
    A shift-invariant network gives a flat curve. `stride` > 1 scores every
    `stride`-th offset (the largest offset is always included).

    Returns:
        `(offsets, accuracies)`: two lists of equal length.

    Example:

    >>> offsets, acc = keras_gpos.metrics.accuracy_vs_shift(model, x, y, canvas_size=48)
    """
    import tensorflow as tf

    from keras_gpos.data import shift_views as views

    images = _check_images(images)
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {images.shape[0]} images.")
    side = min(images.shape[1:3])
    if mode == "canvas":
        views.check_canvas_size(canvas_size, max(images.shape[1:3]))
        largest = canvas_size - max(images.shape[1:3])
    elif mode == "shift":
        largest = views.check_max_shift(max_shift, side - 1, "the image side minus one")
    else:
        raise ValueError(f"Unknown view mode {mode!r}; expected one of {list(views.VIEW_MODES)}.")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive int; got {stride!r}.")
    offsets, accuracies = [], []
    for offset in sorted(set(range(0, largest + 1, stride)) | {largest}):
        correct = 0
        for start in range(0, len(images), batch_size):
            batch = tf.constant(images[start:start + batch_size])
            d = tf.fill([tf.shape(batch)[0]], offset)
            if mode == "canvas":
                moved = views.place_on_canvas(batch, canvas_size, d, d, fill)
            else:
                moved = views.translate(batch, d, d, None, fill)
            predicted = _predict(model, moved).argmax(axis=-1)
            correct += int((predicted == labels[start:start + batch_size]).sum())
        offsets.append(offset)
        accuracies.append(100.0 * correct / len(images))
    return offsets, accuracies
