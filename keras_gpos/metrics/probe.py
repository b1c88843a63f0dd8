"""Linear probes: how well a linear read-out decodes a label from frozen features.

One fixed protocol, used by the AugShift experiment and the position audit:

* features are standardised with the *training* part's per-feature mean and
  standard deviation. The threshold is relative to the features' own scale:
  a feature is constant when its spread is at most `CONSTANT_FRACTION` (1e-6)
  of the largest spread among the features, and constant features are set to
  0 (a constant carries nothing a linear read-out can use), as are features
  whose spread is below float32's resolution of their own values
  (`RESOLUTION`, 1e-6 of their mean magnitude). So multiplying all features
  by any positive number (1e-12 or 1e6) leaves the probe unchanged; when no
  feature is left the features are *degenerate* and the result says so
  (`degenerate`, with a warning unless `warn=False`);
* the probe reads the standardised features through their principal
  directions on the training part, at most `MAX_FEATURES` (128) of them:
  exact when the features span at most 128 dimensions (a rotation changes
  neither the fit nor the L2 penalty), a stated cap beyond that (above 256
  features the top 128 directions come from seeded randomized subspace
  iteration; pass `max_features=None` for every direction, exactly);
* the probe is a multinomial logistic regression (softmax) with an L2
  penalty `l2 / 2 * |W|^2` on the weights (not the biases), fitted full-batch
  by L-BFGS (NumPy, analytic gradient, float64) to a gradient tolerance of
  1e-6 or `max_iterations` steps: a convex problem with one solution, so the
  same features always give the same probe, and no epoch loop or learning
  rate to tune. Each direction is scaled by `sqrt(variance + l2)` and its
  penalty by the inverse, the same objective in better-conditioned
  coordinates, so L-BFGS needs a fraction of the steps;
* it is trained on one part and scored on a held-out part that the caller
  splits *by image* (never by canvas of the same image).

Order-free views (`order_free_view`) turn a pooled channel vector into
something a channel permutation cannot change: the `sorted` vector keeps the
distribution of values, the channel `sum` is all a linear head behind a fresh
random permutation can read (PermuteNet's head).
"""

import dataclasses
import warnings

import numpy as np

from keras_gpos.base.validation import check_labels, check_positive_int

VIEWS = ("ordered", "sorted", "sum")
DEFAULT_L2 = 1e-3
# A feature whose spread is at most this fraction of the largest spread is constant.
CONSTANT_FRACTION = 1e-6
# Spreads at or below this fraction of the values' magnitude are float32 rounding, not signal.
RESOLUTION = 1e-6
# The probe reads at most this many principal directions of the standardised features.
MAX_FEATURES = 128


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """Scores of one linear probe.

    Attributes:
        accuracy: float. Held-out accuracy (fraction).
        train_accuracy: float. Accuracy on the training part.
        chance: float. Accuracy of always answering the most frequent
            held-out label (the held-out majority rate: what a constant
            predictor scores; verdicts test against it).
        num_classes: int.
        train_samples, test_samples: int.
        iterations: int. L-BFGS iterations used.
        uniform_chance: float. `1 / num_classes`, reported beside `chance`.
        constant_features: int. Features dropped as constant (see the
            module docstring).
        degenerate: bool. The features have no usable spread.
        directions: int. Principal directions the probe read (see
            `MAX_FEATURES`).
        test_correct: `(test_samples,)` bool array: which held-out samples
            the probe got right (for tests by image). Not in `to_dict()`.
    """

    accuracy: float
    train_accuracy: float
    chance: float
    num_classes: int
    train_samples: int
    test_samples: int
    iterations: int
    uniform_chance: float = None
    constant_features: int = 0
    degenerate: bool = False
    directions: int = None
    test_correct: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "test_correct"}


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
    """`(train, test, constant features, degenerate)` standardised by the train part, scale-free.

    A feature is used when its spread exceeds `CONSTANT_FRACTION` of the
    largest spread and `RESOLUTION` of its own mean magnitude (beyond float32
    rounding); the others are set to 0. No usable feature: degenerate.
    """
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    largest = float(std.max()) if std.size else 0.0
    varies = (std > CONSTANT_FRACTION * largest) & (std > RESOLUTION * np.abs(mean)) & (std > 0)
    scale = np.where(varies, std, 1.0)
    train = np.where(varies, (train - mean) / scale, 0.0)
    test = np.where(varies, (test - mean) / scale, 0.0)
    return train, test, int(np.sum(~varies)), not bool(np.any(varies))


def _lbfgs(loss_and_grad, start, max_iterations, gtol=1e-6, ftol=2.2e-9, memory=10):
    """Minimises a smooth convex function by L-BFGS; returns `(x, iterations)`.

    The two-loop recursion with a backtracking (Armijo) line search, in
    NumPy. It stops when the largest gradient entry is at most `gtol` or the
    loss falls by a relative `ftol` or less in one step (scipy's L-BFGS-B
    tests); `scipy.optimize`'s L-BFGS-B spends most of a probe's time in its
    own bookkeeping at ten thousand parameters.
    """
    x = start
    loss, grad = loss_and_grad(x)
    history = []
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        if np.max(np.abs(grad)) <= gtol:
            return x, iteration - 1
        q = grad.copy()
        alphas = []
        for s, y, rho in reversed(history):
            alpha = rho * (s @ q)
            q -= alpha * y
            alphas.append(alpha)
        if history:
            s, y, _ = history[-1]
            q *= (s @ y) / (y @ y)
        else:
            q /= max(1.0, float(np.abs(grad).sum()))
        for (s, y, rho), alpha in zip(history, reversed(alphas)):
            q += s * (alpha - rho * (y @ q))
        direction = -q
        slope = grad @ direction
        if slope >= 0:  # not a descent direction: restart from the gradient
            history, direction = [], -grad / max(1.0, float(np.abs(grad).sum()))
            slope = grad @ direction
        step = 1.0
        for _ in range(40):
            candidate = x + step * direction
            new_loss, new_grad = loss_and_grad(candidate)
            if new_loss <= loss + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            return x, iteration
        s, y = candidate - x, new_grad - grad
        if s @ y > 1e-12 * (s @ s):
            history = (history + [(s, y, 1.0 / (s @ y))])[-memory:]
        previous = loss
        x, loss, grad = candidate, new_loss, new_grad
        if previous - loss <= ftol * max(abs(previous), abs(loss), 1.0):
            return x, iteration
    return x, iteration


def _covariance_eigen(train, max_features):
    """`(variances, directions)` of the standardised training features, largest first.

    Exact (`numpy.linalg.eigh`) up to `2 * max_features` features; beyond,
    the top `max_features` by seeded randomized subspace iteration (Halko,
    Martinsson and Tropp 2011: 16 extra directions, two power steps), which
    costs a few products with the features instead of a full eigensolver.
    """
    n, d = train.shape
    if max_features is None or d <= 2 * max_features:
        variance, vectors = np.linalg.eigh(train.T @ train / n)
        order = np.argsort(variance)[::-1]
        return variance[order], vectors[:, order]
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(train.T @ (train @ rng.standard_normal((d, max_features + 16))))[0]
    for _ in range(2):
        basis = np.linalg.qr(train.T @ (train @ basis))[0]
    projected = train @ basis
    variance, small = np.linalg.eigh(projected.T @ projected / n)
    order = np.argsort(variance)[::-1]
    return variance[order], basis @ small[:, order]


def _principal(train, test, l2, max_features):
    """Standardised features in principal coordinates, scaled by `sqrt(variance + l2)`.

    Returns `(train, test, penalty)`: the L2 penalty of each coordinate's
    weights (`1 / (variance + l2)`) keeps the objective the probe minimises
    that of the standardised features, restricted to the kept directions.
    Directions without variance on the training part are dropped (their
    weights would be 0).
    """
    variance, vectors = _covariance_eigen(train, max_features)
    if max_features is not None:
        variance, vectors = variance[:max_features], vectors[:, :max_features]
    keep = variance > 1e-12 * max(float(variance[0]) if variance.size else 0.0, 0.0)
    variance, vectors = variance[keep], vectors[:, keep]
    scale = np.sqrt(variance + l2)
    return (train @ vectors) / scale, (test @ vectors) / scale, 1.0 / scale**2


def _one_blas_thread():
    """A context in which BLAS runs on one thread (threadpoolctl; a no-op without it).

    A probe's products are small (thousands of samples by at most 128
    directions and a few classes): BLAS threads only synchronise, and on a
    busy machine they wait for each other. Measured on the audit's
    MobileNetV2 probes: 14.1 s with two threads, 3.3 s with one.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _fit(x, y, num_classes, l2, max_iterations, penalty=None):
    n, d = x.shape
    onehot = np.zeros((n, num_classes))
    onehot[np.arange(n), y] = 1.0
    penalty = (np.ones(d) if penalty is None else np.asarray(penalty, np.float64))[:, None] * l2

    def loss_and_grad(params):
        w = params[: d * num_classes].reshape(d, num_classes)
        b = params[d * num_classes:]
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probs = exp / exp.sum(axis=1, keepdims=True)
        log_probs = logits - np.log(exp.sum(axis=1, keepdims=True))
        loss = -np.sum(onehot * log_probs) / n + 0.5 * np.sum(penalty * w * w)
        delta = (probs - onehot) / n
        grad_w = x.T @ delta + penalty * w
        grad_b = delta.sum(axis=0)
        return loss, np.concatenate([grad_w.ravel(), grad_b])

    params, iterations = _lbfgs(loss_and_grad, np.zeros(d * num_classes + num_classes), max_iterations)
    return params[: d * num_classes].reshape(d, num_classes), params[d * num_classes:], int(iterations)


def linear_probe(train_features, train_labels, test_features, test_labels, num_classes=None,
                 l2=DEFAULT_L2, max_iterations=500, warn=True, max_features=MAX_FEATURES):
    """Fits the probe on the training part and scores it on the held-out part.

    Args:
        train_features, test_features: float arrays `(n, features)`.
        train_labels, test_labels: int arrays `(n,)`.
        num_classes: int or None (then 1 + the largest label seen).
        l2: float. Weight penalty (features are standardised first).
        max_iterations: int. L-BFGS iteration cap.
        warn: bool. Warn when the features are degenerate (callers that
            probe many views of one layer warn once themselves).
        max_features: int or None. Principal directions the probe reads at
            most (None: all; see the module docstring).

    Returns:
        A `ProbeResult`.

    Raises:
        ValueError: empty parts, mismatched lengths, non-finite features, or
            labels that are not class indices.

    Examples:
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
    train_x, test_x, constant, degenerate = _standardise(train_x, test_x)
    if degenerate and warn:
        warnings.warn(degenerate_message("the probe features"), stacklevel=2)
    if max_features is not None:
        check_positive_int(max_features, "max_features")
    with _one_blas_thread():
        train_x, test_x, penalty = _principal(train_x, test_x, l2, max_features)
        weights, bias, iterations = _fit(train_x, train_y, num_classes, l2, max_iterations, penalty)

    def correct(x, y):
        return np.argmax(x @ weights + bias, axis=1) == y

    chance = float(np.bincount(test_y, minlength=num_classes).max() / len(test_y))
    test_correct = correct(test_x, test_y)
    return ProbeResult(float(np.mean(test_correct)), float(np.mean(correct(train_x, train_y))), chance,
                       int(num_classes), len(train_y), len(test_y), iterations, 1.0 / num_classes, constant,
                       degenerate, int(train_x.shape[1]), test_correct)


def degenerate_message(what):
    """The warning for features without usable spread (`what` names them, e.g. a layer)."""
    return (f"{what} are degenerate: no feature varies beyond float32 rounding of its values, so a probe on "
            "them scores at most the majority rate. Check the layer (dead or saturated units) or the input "
            "scaling.")


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

    Examples:
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
