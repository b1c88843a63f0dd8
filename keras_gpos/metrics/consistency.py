"""Shift consistency (Zhang 2019) and accuracy as a function of the shift.

Protocol used by `consistency_and_accuracy` (state it next to every number):

* each evaluation image is shown at two random positions under one
  `keras_gpos.data.ViewProtocol` (a canvas, or a shift inside its frame);
* uncovered pixels take the protocol's constant `fill` (0 = the dataset-mean
  colour for normalised images), never reflect fill;
* `repeats` independent offset pairs per image, drawn from NumPy generators
  seeded with `(seed, repeat, image index)`: every model sees exactly the
  same views, however the data is batched;
* consistency = the fraction of (image, pair) cases whose top-1 classes
  agree; accuracy = top-1 over both views of every pair.

All values are fractions in [0, 1], as Keras metrics report them. The
streaming two-view metric, `ShiftConsistency`, is in `keras_gpos.metrics.agreement`.
NumPy and `keras.ops` only: runs on every Keras backend.
"""

import numpy as np
from keras import ops

from keras_gpos.base.inputs import batches, check_images, check_model_input, class_labels, iterate, single_output
from keras_gpos.base.progress import Progress
from keras_gpos.data.view_protocol import ViewProtocol
from keras_gpos.base.validation import check_positive_int


def _protocol(protocol):
    protocol = ViewProtocol() if protocol is None else protocol
    if not isinstance(protocol, ViewProtocol):
        raise ValueError(f"protocol must be a keras_gpos.data.ViewProtocol; got {protocol!r}.")
    return protocol


def _predict(model, images, what, index, classifier=True):
    outputs = single_output(model(images, training=False), what, model)
    logits = np.asarray(ops.convert_to_numpy(outputs), np.float32)
    if classifier and logits.ndim != 2:
        name = getattr(model, "name", model)
        raise ValueError(f"{what}: model {name!r} outputs shape {logits.shape}; a classifier's output is "
                         "(batch, classes) logits or probabilities.")
    if not np.all(np.isfinite(logits)):
        raise ValueError(f"{what}: the model produced NaN or Inf predictions on batch {index}.")
    return logits


def _image_rngs(seed, repeat, first, count):
    return [np.random.default_rng([seed, repeat, first + i]) for i in range(count)]


def _pair_offsets(protocol, rngs, image_shape):
    (ylo, yhi), (xlo, xhi) = protocol.offset_range(image_shape)
    offsets = np.array([[rng.integers(ylo, yhi + 1), rng.integers(xlo, xhi + 1),
                         rng.integers(ylo, yhi + 1), rng.integers(xlo, xhi + 1)] for rng in rngs])
    return offsets.reshape(-1, 4).T


def _stream(data, labels, batch_size, what):
    if labels is not None:
        if not isinstance(data, np.ndarray):
            raise ValueError(f"{what}: pass labels inside data, or data as an array with labels=.")
        data = (data, np.asarray(labels))
    return batches(data, batch_size, name=what)




def consistency_and_accuracy(
    model, data, labels=None, protocol=None, repeats=5, seed=1234, batch_size=256, verbose=0,
):
    """Consistency (and accuracy over all views, given labels), as fractions.

    See the module docstring for the protocol.

    Args:
        model: maps a batch of views to logits (`keras_gpos.training.
            AugShiftModel`, its inference model, or any classifier).
        data: normalised images, in any form `keras_gpos.base.inputs.batches`
            takes (array, `(images, labels)`, `tf.data`, generator, ...).
        labels: optional int array `(N,)` when `data` is an array of images.
        protocol: a `keras_gpos.data.ViewProtocol` (default: canvas 48).
        repeats: int >= 1. Offset pairs per image.
        seed: int. Seed of the offsets.
        batch_size: int. Images per forward pass (arrays).
        verbose: 0 silent, 1 progress (a bar in a terminal, plain lines in a log),
            2 one line at the end (`keras_gpos.base.progress`).

    Returns:
        `{"consistency": float, "accuracy": float or None, "cases": int,
        "protocol": dict, "per_image": dict}`, fractions in [0, 1].
        `per_image` holds, in data order, each image's agreeing pairs
        (`agree`, out of `repeats`) and, with labels, its correct views
        (`correct`, out of `2 * repeats`): what a paired test by image needs.

    Raises:
        ValueError: NaN/Inf images or predictions, labels outside the
            model's classes or not integers, no images.

    Examples:
        >>> model = keras_gpos.models.build_classifier(10, (40, 40, 3), depth=10, width=4, head="fc")
        >>> x = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")
        >>> protocol = keras_gpos.data.ViewProtocol("canvas", canvas_size=40)
        >>> scores = keras_gpos.metrics.consistency_and_accuracy(model, x, protocol=protocol, repeats=1)
        >>> 0.0 <= scores["consistency"] <= 1.0
        True
    """
    what = "consistency_and_accuracy"
    protocol = _protocol(protocol)
    check_positive_int(repeats, "repeats")
    stream = _stream(data, labels, batch_size, what)
    agree = correct = cases = labelled = 0
    seen = 0
    agree_per_image, correct_per_image = [], []
    progress = Progress(what, stream.count, verbose)
    for index, images, batch_labels in iterate(stream):
        check_images(images, f"{what}: batch {index}", model)
        protocol.check(images.shape[1:])
        images = images.astype(np.float32)
        batch_agree = np.zeros(len(images), np.int64)
        batch_correct = np.zeros(len(images), np.int64)
        for repeat in range(repeats):
            oy_a, ox_a, oy_b, ox_b = _pair_offsets(
                protocol, _image_rngs(seed, repeat, seen, len(images)), images.shape[1:])
            view_a = protocol.place(images, oy_a, ox_a)
            view_b = protocol.place(images, oy_b, ox_b)
            if index == 0 and repeat == 0:
                check_model_input(model, view_a, what)
            logits_a = _predict(model, view_a, what, index)
            logits_b = _predict(model, view_b, what, index)
            top_a, top_b = logits_a.argmax(-1), logits_b.argmax(-1)
            batch_agree += top_a == top_b
            cases += len(images)
            if batch_labels is not None:
                truth = class_labels(batch_labels, f"{what}: labels of batch {index}", logits_a.shape[-1],
                                     count=len(images))
                batch_correct += (top_a == truth).astype(np.int64) + (top_b == truth)
                labelled += 2 * len(images)
        agree += int(batch_agree.sum())
        correct += int(batch_correct.sum())
        agree_per_image.append(batch_agree)
        correct_per_image.append(batch_correct)
        seen += len(images)
        progress.update(seen)
    progress.close()
    if cases == 0:
        raise ValueError(f"{what} got no images.")
    per_image = {"agree": np.concatenate(agree_per_image).tolist(), "agree_trials": repeats}
    if labelled:
        per_image.update(correct=np.concatenate(correct_per_image).tolist(), correct_trials=2 * repeats)
    return {
        "consistency": agree / cases,
        "accuracy": correct / labelled if labelled else None,
        "cases": cases,
        "protocol": protocol.to_dict(),
        "per_image": per_image,
    }


def shift_consistency(model, data, **kwargs):
    """Consistency of `model` on normalised images, a fraction in [0, 1].

    Takes the arguments of `consistency_and_accuracy` (labels are ignored).

    Examples:
        >>> model = keras_gpos.models.build_classifier(10, (40, 40, 3), depth=10, width=4, head="fc")
        >>> x = np.zeros((4, 32, 32, 3), "float32")
        >>> keras_gpos.metrics.shift_consistency(
        ...     model, x, protocol=keras_gpos.data.ViewProtocol(canvas_size=40), repeats=1) <= 1.0
        True
    """
    return consistency_and_accuracy(model, data, **kwargs)["consistency"]


def _pooled(z):
    if z.ndim == 4:
        return z.mean(axis=(1, 2))
    if z.ndim != 2:
        raise ValueError(f"encoder output must be (batch, dim) or (batch, h, w, c); got {z.shape}.")
    return z


def view_latent_distance(encoder, data, protocol=None, seed=1234, batch_size=256):
    """Mean relative squared distance between the pooled latents of two views.

    For each image, `|z_a - z_b|^2 / ((|z_a|^2 + |z_b|^2) / 2)` on one random
    view pair (the first pair `consistency_and_accuracy` draws with the same
    seed), averaged over images. Scale-free, so an encoder cannot lower it by
    shrinking its latents; 0 means the latent ignores the translation. This
    is what the AugShift loss acts on directly.

    Args:
        encoder: maps views to latents `(batch, dim)` or feature maps
            (globally average pooled here).
        data: normalised images (any form `batches` takes).
        protocol: a `keras_gpos.data.ViewProtocol`.

    Examples:
        >>> encoder = keras.Sequential([keras.Input((40, 40, 3)), keras.layers.Conv2D(4, 3)])
        >>> x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
        >>> d = keras_gpos.metrics.view_latent_distance(
        ...     encoder, x, keras_gpos.data.ViewProtocol(canvas_size=40))
        >>> d >= 0.0
        True
    """
    what = "view_latent_distance"
    protocol = _protocol(protocol)
    distances = []
    seen = 0
    for index, images, _ in iterate(batches(data, batch_size, name=what)):
        check_images(images, f"{what}: batch {index}", encoder)
        images = images.astype(np.float32)
        oy_a, ox_a, oy_b, ox_b = _pair_offsets(
            protocol, _image_rngs(seed, 0, seen, len(images)), images.shape[1:])
        z_a = _pooled(_predict(encoder, protocol.place(images, oy_a, ox_a), what, index, False).astype(np.float64))
        z_b = _pooled(_predict(encoder, protocol.place(images, oy_b, ox_b), what, index, False).astype(np.float64))
        scale = 0.5 * (np.sum(z_a**2, axis=1) + np.sum(z_b**2, axis=1))
        distances.append(np.sum((z_a - z_b) ** 2, axis=1) / np.maximum(scale, 1e-12))
        seen += len(images)
    if not distances:
        raise ValueError(f"{what} got no images.")
    return float(np.concatenate(distances).mean())


def accuracy_vs_shift(model, data, labels=None, protocol=None, batch_size=256, stride=1, verbose=0):
    """Top-1 accuracy at each diagonal offset, as fractions.

    Mode `canvas`: the image's top-left corner at `(d, d)` on the canvas for
    `d = 0 .. canvas_size - image_size` (0 = top-left corner). Mode `shift`:
    the image moved by `(d, d)` inside its frame for `d = 0 .. max_shift`.
    A shift-invariant network gives a flat curve. `stride` > 1 scores every
    `stride`-th offset (the largest offset is always included).

    Returns:
        `(offsets, accuracies)`: two lists of equal length.

    Examples:
        >>> model = keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc")
        >>> x = np.zeros((4, 32, 32, 3), "float32")
        >>> offsets, acc = keras_gpos.metrics.accuracy_vs_shift(
        ...     model, x, np.zeros(4, int), keras_gpos.data.ViewProtocol(canvas_size=40), stride=4)
        >>> offsets
        [0, 4, 8]
    """
    what = "accuracy_vs_shift"
    protocol = _protocol(protocol)
    check_positive_int(stride, "stride")
    stream = _stream(data, labels, batch_size, what)
    correct, total, offsets = None, 0, None
    progress = Progress(what, stream.count, verbose)
    for index, images, batch_labels in iterate(stream):
        if batch_labels is None:
            raise ValueError(f"{what} needs labels: pass (images, labels) or labels=.")
        check_images(images, f"{what}: batch {index}", model)
        images = images.astype(np.float32)
        if offsets is None:
            offsets = protocol.diagonal_offsets(images.shape[1:], stride)
            correct = np.zeros(len(offsets))
        for position, offset in enumerate(offsets):
            shift = np.full(len(images), offset)
            moved = protocol.place(images, shift, shift)
            if index == 0 and position == 0:
                check_model_input(model, moved, what)
            logits = _predict(model, moved, what, index)
            truth = class_labels(batch_labels, f"{what}: labels of batch {index}", logits.shape[-1],
                                 count=len(images))
            correct[position] += int(np.sum(logits.argmax(-1) == truth))
        total += len(images)
        progress.update(total)
    progress.close()
    if not total:
        raise ValueError(f"{what} got no images.")
    return list(offsets), [float(c / total) for c in correct]


def protocol_keys(protocols):
    """One distinct key per protocol: its mode, or for modes listed more than once the mode and
    the settings that tell them apart (`"canvas[canvas_size=40]"`, `"canvas[canvas_size=64]"`).

    Raises:
        ValueError: the same protocol listed twice.
    """
    keys = []
    for protocol in protocols:
        same_mode = [p for p in protocols if p.mode == protocol.mode]
        if len(same_mode) == 1:
            keys.append(protocol.mode)
            continue
        fields = [f for f in ("canvas_size", "max_shift", "fill")
                  if len({getattr(p, f) for p in same_mode}) > 1]
        if not fields or sum(p == protocol for p in same_mode) > 1:
            raise ValueError(f"protocols lists {protocol} twice; list each protocol once.")
        keys.append(f"{protocol.mode}[{', '.join(f'{f}={getattr(protocol, f)}' for f in fields)}]")
    return keys


def consistency_by_protocol(model, images, labels, protocols, repeats=5, seed=1234):
    """Consistency and accuracy of one model under several view protocols.

    Each protocol's views go through the same weights at that protocol's
    input size (`keras_gpos.base.graph.with_input_shape`), so a fully
    convolutional classifier trained on canvases is also scored on crops.

    Args:
        model: a functional classifier.
        images, labels: normalised images `(N, h, w, c)` and their labels.
        protocols: `ViewProtocol`s; several of one mode are all kept.

    Returns:
        `{key: {"consistency", "accuracy", "input_shape", "protocol"}}`, keyed
        by mode, or for a mode listed more than once by `protocol_keys`
        (`"canvas[canvas_size=40]"`).
    """
    from keras_gpos.base.graph import with_input_shape

    scores = {}
    images = np.asarray(images)
    protocols = [_protocol(protocol) for protocol in protocols]
    for key, protocol in zip(protocol_keys(protocols), protocols):
        shape = protocol.input_shape(images.shape[1:])
        result = consistency_and_accuracy(with_input_shape(model, shape), images, labels, protocol,
                                          repeats=repeats, seed=seed)
        scores[key] = {"consistency": result["consistency"], "accuracy": result["accuracy"],
                       "input_shape": list(shape), "protocol": protocol.describe(images.shape[1:])}
    return scores
