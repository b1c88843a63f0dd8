"""Rank the channels of a feature map by the position information they carry.

For every image and its mirror image, the layer's output is average-pooled
to one value per channel, `z` and `z_flip`. Over a dataset,

* `mean |z - z_flip|` ranks the *overall* position channels: a channel that
  ignores where things are gives the same pooled value for both views;
* `mean (z - z_flip)` ranks *side-specific* channels, one sign per side.

Which sign belongs to which side is a convention fixed on a constructed
case (tests/test_ranking.py): a channel that responds only to content in the
left half, on data whose content keeps to the left (as street data keeps
to one side of the road), has `z > z_flip`. So positive signed scores are
called `"left"` (`"top"` for vertical flips). On real data the experiment
checks by attacking: it reports which half each signed ranking hurts.
"""

import dataclasses
import pathlib
import warnings
import weakref

import numpy as np

from keras_gpos.base.backend import compiled_forward
from keras_gpos.base.files import read_json, write_json
from keras_gpos.base.graph import feature_model, functional_view
from keras_gpos.base.inputs import batches, check_images, check_model_input, check_model_layout, iterate
from keras_gpos.base.progress import Progress
from keras_gpos.base.rendering import pyplot, save_figure
from keras_gpos.base.validation import check_channel_count
from keras_gpos.base.vocabulary import FLIPS, SIDES, flip_axis  # noqa: F401 - FLIPS re-exported
from keras_gpos.ranking.accumulator import FlipAccumulator


@dataclasses.dataclass(frozen=True)
class PositionRanking:
    """Channel scores of one layer, with the data and model they came from.

    Attributes:
        overall: float array `(channels,)`, mean |z - z_flip|.
        signed: float array `(channels,)`, mean (z - z_flip).
        channel_mean: float array `(channels,)`, mean pooled activation of
            the un-flipped images (fill value of a `"mean"` attack).
        flip: str. `"horizontal"` or `"vertical"`.
        num_images: int. Images ranked.
        metadata: dict. Model, layer and data description.
    """

    overall: np.ndarray
    signed: np.ndarray
    channel_mean: np.ndarray
    flip: str = "horizontal"
    num_images: int = 0
    metadata: dict = dataclasses.field(default_factory=dict)

    @property
    def num_channels(self):
        return int(self.overall.shape[0])

    @property
    def kinds(self):
        """The orderings this ranking offers: `overall` and its two sides."""
        return ("overall",) + SIDES[self.flip]

    def scores(self, kind="overall"):
        """Scores whose descending order is `order(kind)`."""
        if kind == "overall":
            return self.overall
        first, second = SIDES[self.flip]
        if kind == first:
            return self.signed
        if kind == second:
            return -self.signed
        raise ValueError(f"Unknown ranking {kind!r} for a {self.flip} flip; expected one of {list(self.kinds)}.")

    def order(self, kind="overall"):
        """Channel indices, most position-specific first (ties: lower index first)."""
        return np.argsort(-self.scores(kind), kind="stable")

    def top(self, n, kind="overall"):
        """The `n` highest-ranked channels of `kind`.

        Raises:
            ValueError: `n` is not in `[0, channels]`.
        """
        check_channel_count(n, self.num_channels, self.metadata.get("layer", "the layer"))
        return self.order(kind)[:n]

    def to_dict(self):
        return {
            "overall": self.overall.tolist(),
            "signed": self.signed.tolist(),
            "channel_mean": self.channel_mean.tolist(),
            "flip": self.flip,
            "num_images": self.num_images,
            "metadata": self.metadata,
            "orders": {kind: self.order(kind).tolist() for kind in self.kinds},
        }

    def save(self, path):
        """Writes the ranking (scores, orders, metadata) as JSON."""
        write_json(path, self.to_dict())
        return pathlib.Path(path)

    @classmethod
    def load(cls, path):
        record = read_json(path)
        return cls(
            np.asarray(record["overall"], np.float64),
            np.asarray(record["signed"], np.float64),
            np.asarray(record["channel_mean"], np.float64),
            record["flip"], record["num_images"], record["metadata"],
        )

    def plot(self, path, top=32):
        """Saves a PNG: sorted overall scores, and the signed scores."""
        plt = pyplot()
        first, second = SIDES[self.flip]
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        order = self.order("overall")
        axes[0].bar(np.arange(self.num_channels), self.overall[order], width=1.0, color="tab:blue")
        axes[0].set_title(f"overall: mean |z - z_flip| (sorted, top {top} marked)")
        axes[0].axvline(top - 0.5, color="k", lw=0.8, ls="--")
        axes[0].set_xlabel("channel rank")
        signed_order = self.order(first)
        colours = np.where(self.signed[signed_order] > 0, "tab:orange", "tab:green")
        axes[1].bar(np.arange(self.num_channels), self.signed[signed_order], width=1.0, color=colours)
        axes[1].set_title(f"signed: mean (z - z_flip); >0 '{first}', <0 '{second}'")
        axes[1].set_xlabel("channel rank")
        layer = self.metadata.get("layer", "")
        fig.suptitle(f"{self.metadata.get('model', '')} / {layer}: {self.num_images} images, {self.flip} flip")
        fig.tight_layout()
        return save_figure(fig, path)


_POOLED_MODELS = weakref.WeakKeyDictionary()


def pooled_feature_model(model, layers):
    """A cached model from `model`'s inputs to the globally average-pooled outputs of `layers`.

    One model per `(model, layers)` for the model's lifetime, so repeated
    rankings (and audits) reuse one compiled forward pass instead of
    retracing. Pooling runs in float32 whatever the dtype policy.
    """
    import keras

    key = tuple(layers) if isinstance(layers, (list, tuple)) else (layers,)
    per_model = _POOLED_MODELS.setdefault(model, {})
    if key not in per_model:
        features = feature_model(model, list(key))
        outputs = features.outputs
        pooled = [keras.layers.GlobalAveragePooling2D(dtype="float32", name=f"pool_{i}")(out)
                  for i, out in enumerate(outputs)]
        per_model[key] = keras.Model(features.inputs, pooled if len(pooled) > 1 else pooled[0],
                                     name=f"{model.name}_pooled")
    return per_model[key]


def _callable_features(function):
    """A forward function from a user's feature callable (subclassed models)."""
    import keras

    def forward(images):
        out = keras.ops.convert_to_numpy(function(keras.ops.convert_to_tensor(images)))
        out = np.asarray(out, np.float64)
        if out.ndim != 4:
            raise ValueError(
                f"the feature callable returned shape {out.shape}; expected a (batch, height, width, "
                "channels) feature map."
            )
        return out.mean(axis=(1, 2))

    return forward


def warn_if_uninformative(ranking, layer_name):
    """Warns when every score is near zero or the order is mostly ties (an untrained network)."""
    scores = ranking.overall
    scale = max(float(np.mean(np.abs(ranking.channel_mean))), 1e-12)
    if float(scores.max()) <= 1e-4 * scale or float(scores.max()) <= 1e-12:
        warnings.warn(
            f"rank_position_channels: every score of layer {layer_name!r} is near zero (largest "
            f"{float(scores.max()):.2g}, mean activation {scale:.2g}), so the ranking is arbitrary and "
            "ties fall back to channel order. Is the model trained?", UserWarning, stacklevel=3)
    elif len(np.unique(scores)) < max(2, ranking.num_channels // 2):
        warnings.warn(
            f"rank_position_channels: {ranking.num_channels - len(np.unique(scores))} of the "
            f"{ranking.num_channels} scores of layer {layer_name!r} are tied; the order among them is "
            "channel order, not position. Is the model trained?", UserWarning, stacklevel=3)


def rank_position_channels(model, layer_name, data, flip="horizontal", batch_size=8,
                           max_batches=None, data_description=None, verbose=0):
    """Ranks the channels of `layer_name` by flip sensitivity of their pooled output.

    Each batch and its mirror image go through the network in one compiled
    forward pass (inference mode, cached per model and layer, so repeated
    calls do not retrace); running sums keep memory flat however long the
    data is.

    Args:
        model: a functional or Sequential `keras.Model` (nested sub-models
            are searched), or None when `layer_name` is a feature callable.
        layer_name: a layer name, an `"outer/inner"` path, a layer object,
            or a *feature callable* `images -> (batch, h, w, channels)` (the
            supported way for subclassed models, e.g.
            `lambda x: model.backbone(x)`).
        data: images in any form `keras_gpos.base.inputs.batches` takes
            (array, `(images, labels)`, `tf.data`, generator, ImageSet, ...),
            in the form `model` takes.
        flip: str. `"horizontal"` (left/right channels) or `"vertical"`
            (top/bottom channels).
        batch_size: int. Used for arrays and unbatched data.
        max_batches: int or None. Stop after this many batches.
        data_description: dict or None. Stored in the result metadata.
        verbose: 0 silent, 1 progress (a bar in a terminal, plain lines in a log),
            2 one line at the end (`keras_gpos.base.progress`).

    Returns:
        A `PositionRanking`. Warns when all scores are near zero or tied
        (an untrained network ranks nothing).

    Raises:
        ValueError: unknown layer (close matches listed), a layer whose
            output is not 4-D, a subclassed model without a feature
            callable, an unknown flip, empty data, images the model cannot
            take, or NaN/Inf in the images or the layer's output (never a
            NaN ranking).

    Examples:
        >>> model = keras_gpos.models.build_classifier(4, (32, 32, 3), depth=10, width=4)
        >>> images = np.random.default_rng(0).normal(size=(6, 32, 32, 3)).astype("float32")
        >>> ranking = keras_gpos.ranking.rank_position_channels(model, "stage4_out", images)
        >>> ranking.top(3).shape
        (3,)
    """
    import keras

    axis = flip_axis(flip)
    callable_layer = callable(layer_name) and not isinstance(layer_name, keras.layers.Layer)
    if callable_layer:
        forward, pooled_model = _callable_features(layer_name), None
        layer_label = getattr(layer_name, "__name__", "feature callable")
    else:
        if model is None:
            raise ValueError("rank_position_channels needs a model (or a feature callable as layer).")
        stream_shape = None
        if isinstance(model, keras.Sequential) and getattr(model, "_functional", None) is None:
            first = next(iter(iterate(batches(data, batch_size, name="rank_position_channels data"))), None)
            if first is not None:
                stream_shape = first[1].shape[1:]
                functional_view(model, stream_shape)
        check_model_layout(model, "rank_position_channels")
        pooled_model = pooled_feature_model(model, layer_name)
        forward = compiled_forward(pooled_model)
        layer_label = layer_name if isinstance(layer_name, str) else layer_name.name
    stream = batches(data, batch_size, name="rank_position_channels data")
    accumulator = FlipAccumulator()
    progress = Progress("rank_position_channels", stream.count, verbose)
    for index, images, _ in iterate(stream, max_batches):
        if np.issubdtype(images.dtype, np.floating) and not np.all(np.isfinite(images)):
            raise ValueError(
                f"rank_position_channels: batch {index} holds NaN or Inf pixels; a ranking "
                "from them would be meaningless. Clean or drop those images."
            )
        if pooled_model is not None and accumulator.count == 0:
            check_images(images, f"rank_position_channels: batch {index}", model)
            check_model_input(pooled_model, images, "rank_position_channels")
        images = images.astype("float32")
        both = np.concatenate([images, np.flip(images, axis=axis)], axis=0)
        pooled = np.asarray(forward(both), np.float64)
        z, z_flip = pooled[: len(images)], pooled[len(images):]
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(z_flip))):
            raise ValueError(
                f"rank_position_channels: layer {layer_label!r} produced NaN or Inf on batch "
                f"{index} (finite inputs); the model's weights or inputs overflow."
            )
        accumulator.add(z, z_flip)
        progress.update(accumulator.count)
    progress.close()
    if accumulator.count == 0:
        raise ValueError("rank_position_channels got no images.")
    metadata = {
        "model": getattr(model, "name", "feature callable"),
        "layer": layer_label,
        "layer_output_shape": None if pooled_model is None else list(feature_model(model, layer_name).output.shape[1:]),
        "data": data_description or {},
        "keras_backend": keras.config.backend(),
    }
    ranking = PositionRanking(accumulator.overall, accumulator.signed, accumulator.channel_mean, flip,
                              accumulator.count, metadata)
    warn_if_uninformative(ranking, layer_label)
    return ranking
