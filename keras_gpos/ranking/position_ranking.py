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

import numpy as np

from keras_gpos.ranking.features import feature_model
from keras_gpos.reporting.files import read_json, write_json

FLIPS = ("horizontal", "vertical")
SIDES = {"horizontal": ("left", "right"), "vertical": ("top", "bottom")}


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
        check_count(n, self.num_channels, self.metadata.get("layer", "the layer"))
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
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

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
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.png")
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        tmp.replace(path)
        return path


def check_count(n, num_channels, layer="the layer"):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"N must be a non-negative int; got {n!r}.")
    if n > num_channels:
        raise ValueError(f"N={n} is larger than the {num_channels} channels of {layer}.")


def _batches(data, batch_size):
    """Yields image batches from arrays or (image, label) datasets."""
    if isinstance(data, np.ndarray):
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size]
        return
    for element in data:
        yield element[0] if isinstance(element, (tuple, list)) else element


def rank_position_channels(model, layer_name, data, flip="horizontal", batch_size=8,
                           max_batches=None, data_description=None):
    """Ranks the channels of `layer_name` by flip sensitivity of their pooled output.

    Each batch and its mirror image go through the network in one forward
    pass (inference mode); running sums keep memory flat however long the
    dataset is.

    Args:
        model: a functional `keras.Model` (nested sub-models are searched).
        layer_name: str. A layer whose output is `(batch, height, width,
            channels)`.
        data: a numpy array of images, or an iterable (e.g. `tf.data`) of
            image batches or `(images, labels)` batches, in the form
            `model` takes.
        flip: str. `"horizontal"` (left/right channels) or `"vertical"`
            (top/bottom channels).
        batch_size: int. Used when `data` is an array.
        max_batches: int or None. Stop after this many batches.
        data_description: dict or None. Stored in the result metadata.

    Returns:
        A `PositionRanking`.

    Raises:
        ValueError: unknown layer (close matches listed), a layer whose
            output is not 4-D, an unknown flip, empty data, or NaN/Inf in
            the images or the layer's output (never a NaN ranking).

    Example:

    >>> ranking = keras_gpos.ranking.rank_position_channels(
    ...     model, "stage4_out", val_images)
    >>> ranking.top(16)             # overall position channels
    >>> ranking.top(16, "left")     # channels whose removal hurts the left
    >>> ranking.save("ranking.json"); ranking.plot("ranking.png")
    """
    import keras

    if flip not in FLIPS:
        raise ValueError(f"Unknown flip {flip!r}; expected one of {list(FLIPS)}.")
    features = feature_model(model, layer_name)
    axis = 2 if flip == "horizontal" else 1
    ops = keras.ops

    def pooled_views(images):
        images = ops.convert_to_tensor(images, "float32")
        count = ops.shape(images)[0]
        both = ops.concatenate([images, ops.flip(images, axis=axis)], axis=0)
        pooled = ops.mean(ops.cast(features(both, training=False), "float32"), axis=(1, 2))
        return pooled[:count], pooled[count:]

    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        pooled_views = tf.function(pooled_views, reduce_retracing=True)
    num_channels = int(features.output.shape[-1])
    sum_abs = np.zeros(num_channels, np.float64)
    sum_signed = np.zeros(num_channels, np.float64)
    sum_z = np.zeros(num_channels, np.float64)
    count = 0
    for index, images in enumerate(_batches(data, batch_size)):
        if max_batches is not None and index >= max_batches:
            break
        images = np.asarray(ops.convert_to_numpy(images))
        if images.shape[0] == 0:
            continue
        if np.issubdtype(images.dtype, np.floating) and not np.all(np.isfinite(images)):
            raise ValueError(
                f"rank_position_channels: batch {index} holds NaN or Inf pixels; a ranking "
                "from them would be meaningless. Clean or drop those images."
            )
        z, z_flip = (np.asarray(ops.convert_to_numpy(v), np.float64) for v in pooled_views(images))
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(z_flip))):
            raise ValueError(
                f"rank_position_channels: layer {layer_name!r} produced NaN or Inf on batch "
                f"{index} (finite inputs); the model's weights or inputs overflow."
            )
        difference = z - z_flip
        sum_abs += np.abs(difference).sum(0)
        sum_signed += difference.sum(0)
        sum_z += z.sum(0)
        count += z.shape[0]
    if count == 0:
        raise ValueError("rank_position_channels got no images.")
    metadata = {
        "model": model.name,
        "layer": layer_name,
        "layer_output_shape": list(features.output.shape[1:]),
        "data": data_description or {},
        "keras_backend": keras.config.backend(),
    }
    return PositionRanking(sum_abs / count, sum_signed / count, sum_z / count, flip, count, metadata)
