"""Linear probes: how well a linear read-out decodes a label from frozen features.

One fixed protocol, used by the AugShift experiment and the position audit:

* features are standardised with the *training* part's per-feature mean and
  standard deviation (constant features are left centred, not scaled);
* the probe is a multinomial logistic regression (softmax) with an L2
  penalty `l2 / 2 * |W|^2` on the weights (not the biases), fitted full-batch
  by L-BFGS (`scipy.optimize`, analytic gradient, float64) to a gradient
  tolerance of 1e-6 or `max_iterations` steps: a convex problem with one
  solution, so the same features always give the same probe, and no epoch
  loop or learning rate to tune;
* it is trained on one part and scored on a held-out part that the caller
  splits *by image* (never by canvas of the same image).

Order-free views (`order_free_view`) turn a pooled channel vector into
something a channel permutation cannot change: the `sorted` vector keeps the
distribution of values, the channel `sum` is all a linear head behind a fresh
random permutation can read (PermuteNet's head).
"""

import dataclasses

import numpy as np

from keras_gpos.base.validation import check_labels

VIEWS = ("ordered", "sorted", "sum")
DEFAULT_L2 = 1e-3


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """Scores of one linear probe.

    Attributes:
        accuracy: float. Held-out accuracy (fraction).
        train_accuracy: float. Accuracy on the training part.
        chance: float. Accuracy of always answering the most frequent
            held-out label.
        num_classes: int.
        train_samples, test_samples: int.
        iterations: int. L-BFGS iterations used.
    """

    accuracy: float
    train_accuracy: float
    chance: float
    num_classes: int
    train_samples: int
    test_samples: int
    iterations: int

    def to_dict(self):
        return dataclasses.asdict(self)


def order_free_view(features, view):
    """`features` `(n, channels)` seen through `view`: `ordered` (as is), `sorted`
    (each row sorted, descending) or `sum` (the channel sum, `(n, 1)`)."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be (samples, channels); got shape {features.shape}.")
    if view == "ordered":
        return features
    if view == "sorted":
        return -np.sort(-features, axis=1)
    if view == "sum":
        return features.sum(axis=1, keepdims=True)
    raise ValueError(f"Unknown probe view {view!r}; expected one of {list(VIEWS)}.")


def _standardise(train, test):
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    return (train - mean) / std, (test - mean) / std


def _fit(x, y, num_classes, l2, max_iterations):
    from scipy import optimize

    n, d = x.shape
    onehot = np.zeros((n, num_classes))
    onehot[np.arange(n), y] = 1.0

    def loss_and_grad(params):
        w = params[: d * num_classes].reshape(d, num_classes)
        b = params[d * num_classes:]
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probs = exp / exp.sum(axis=1, keepdims=True)
        log_probs = logits - np.log(exp.sum(axis=1, keepdims=True))
        loss = -np.sum(onehot * log_probs) / n + 0.5 * l2 * np.sum(w * w)
        delta = (probs - onehot) / n
        grad_w = x.T @ delta + l2 * w
        grad_b = delta.sum(axis=0)
        return loss, np.concatenate([grad_w.ravel(), grad_b])

    start = np.zeros(d * num_classes + num_classes)
    result = optimize.minimize(loss_and_grad, start, jac=True, method="L-BFGS-B",
                               options={"maxiter": max_iterations, "gtol": 1e-6})
    params = result.x
    return params[: d * num_classes].reshape(d, num_classes), params[d * num_classes:], int(result.nit)


def linear_probe(train_features, train_labels, test_features, test_labels, num_classes=None,
                 l2=DEFAULT_L2, max_iterations=500):
    """Fits the probe on the training part and scores it on the held-out part.

    Args:
        train_features, test_features: float arrays `(n, features)`.
        train_labels, test_labels: int arrays `(n,)`.
        num_classes: int or None (then 1 + the largest label seen).
        l2: float. Weight penalty (features are standardised first).
        max_iterations: int. L-BFGS iteration cap.

    Returns:
        A `ProbeResult`.

    Raises:
        ValueError: empty parts, mismatched lengths, non-finite features, or
            labels that are not class indices.

    Example:

    >>> x = np.array([[0.0], [0.1], [1.0], [1.1]])
    >>> keras_gpos.metrics.linear_probe(x, [0, 0, 1, 1], x, [0, 0, 1, 1]).accuracy
    1.0
    """
    train_x = np.asarray(train_features, np.float64)
    test_x = np.asarray(test_features, np.float64)
    for name, x, y in (("train", train_x, train_labels), ("test", test_x, test_labels)):
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"{name} features must be a non-empty (samples, features) array; got {x.shape}.")
        if len(np.asarray(y)) != len(x):
            raise ValueError(f"{len(np.asarray(y))} {name} labels for {len(x)} {name} samples.")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} features hold NaN or Inf values.")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"train and test features differ in width: {train_x.shape[1]} vs {test_x.shape[1]}.")
    if num_classes is None:
        num_classes = int(max(np.max(train_labels), np.max(test_labels))) + 1
    train_y = check_labels(train_labels, num_classes, "probe train labels")
    test_y = check_labels(test_labels, num_classes, "probe test labels")
    train_x, test_x = _standardise(train_x, test_x)
    weights, bias, iterations = _fit(train_x, train_y, num_classes, l2, max_iterations)

    def accuracy(x, y):
        return float(np.mean(np.argmax(x @ weights + bias, axis=1) == y))

    chance = float(np.bincount(test_y, minlength=num_classes).max() / len(test_y))
    return ProbeResult(accuracy(test_x, test_y), accuracy(train_x, train_y), chance, int(num_classes),
                       len(train_y), len(test_y), iterations)


def _pooled(features):
    features = np.asarray(features, np.float64)
    if features.ndim == 4:
        return features.mean(axis=(1, 2))
    if features.ndim != 2:
        raise ValueError(f"encoder output must be (batch, dim) or (batch, h, w, c); got {features.shape}.")
    return features


def grid_positions(protocol, image_shape, grid=3):
    """`(offsets_y, offsets_x)` of the `grid x grid` probe positions: low, middle and
    high offsets of the protocol's range per axis (cell = row * grid + column)."""
    (ylo, yhi), (xlo, xhi) = protocol.offset_range(image_shape)
    ys = np.linspace(ylo, yhi, grid).round().astype(int)
    xs = np.linspace(xlo, xhi, grid).round().astype(int)
    cells = np.arange(grid * grid)
    return ys[cells // grid], xs[cells % grid]


def position_features(encoder, images, protocol, grid=3, batch_size=256):
    """Pooled latents of every image at each of the `grid x grid` probe positions.

    Returns:
        `(features, cells)`: `(N * grid**2, dim)` and the cell of each row;
        rows `i * grid**2 .. (i + 1) * grid**2 - 1` are image `i`.
    """
    import keras

    images = np.asarray(images, np.float32)
    oy, ox = grid_positions(protocol, images.shape[1:], grid)
    per_batch = max(1, batch_size // (grid * grid))
    features, cells = [], []
    for start in range(0, len(images), per_batch):
        chunk = images[start:start + per_batch]
        repeated = np.repeat(chunk, grid * grid, axis=0)
        placed = protocol.place(repeated, np.tile(oy, len(chunk)), np.tile(ox, len(chunk)))
        out = _pooled(keras.ops.convert_to_numpy(encoder(placed, training=False)))
        if not np.all(np.isfinite(out)):
            raise ValueError("position_features: the encoder produced NaN or Inf latents.")
        features.append(out)
        cells.append(np.tile(np.arange(grid * grid), len(chunk)))
    return np.concatenate(features), np.concatenate(cells)


def position_probe(encoder, train_images, test_images, protocol, grid=3, view="ordered"):
    """How well a linear probe reads the `grid x grid` position from frozen pooled latents.

    Trained on `train_images` at every position, scored on the (different)
    `test_images` at every position; chance is `1 / grid**2`.

    Example:

    >>> encoder = keras.Sequential([keras.Input((40, 40, 3)), keras.layers.Conv2D(4, 3),
    ...                             keras.layers.GlobalAveragePooling2D()])
    >>> x = np.random.default_rng(0).normal(size=(6, 32, 32, 3)).astype("float32")
    >>> result = keras_gpos.metrics.position_probe(
    ...     encoder, x[:4], x[4:], keras_gpos.data.ViewProtocol(canvas_size=40))
    >>> 0.0 <= result.accuracy <= 1.0
    True
    """
    train_x, train_y = position_features(encoder, train_images, protocol, grid)
    test_x, test_y = position_features(encoder, test_images, protocol, grid)
    return linear_probe(order_free_view(train_x, view), train_y, order_free_view(test_x, view), test_y,
                        num_classes=grid * grid)
