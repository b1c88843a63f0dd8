"""Insert a channel mask into a trained model and score it under many channel sets.

TensorFlow by design: the evaluation step is one `tf.function` (free batch
axis) that returns the region confusion matrices of a batch; they are summed
over the validation set in float64. The channel set is a variable of the
`ChannelMask` layer, so sweeping N or swapping the set changes only that
variable and never retraces (`AttackEvaluator.trace_count` proves it).
"""

import numpy as np
import keras
import tensorflow as tf

from keras_gpos.layers.channel_mask import ChannelMask, channel_indicator
from keras_gpos.metrics.region_iou import check_region, confusion_matrix, iou_from_confusion
from keras_gpos.ranking.features import feature_model, layer_path
from keras_gpos.ranking.position_ranking import check_count


def mask_layer_name(layer_name):
    return f"{layer_name}_channel_mask"


def insert_channel_mask(model, layer_name, channels=(), mode="zero", fill_values=None):
    """A copy of `model` with a `ChannelMask` right after `layer_name`.

    The copy shares every layer (and so every weight) with `model`; only
    the mask is new. Works on functional models, including a layer inside
    a nested functional sub-model (keras-cv backbones).

    Args:
        model: a functional `keras.Model`.
        layer_name: str. The layer whose output is masked (4-D).
        channels: sequence of int. Initially masked channels.
        mode: str. `"zero"` or `"mean"`.
        fill_values: `(channels,)` values for `"mean"` mode (e.g.
            `PositionRanking.channel_mean`).

    Returns:
        The attacked `keras.Model`; its mask is
        `get_channel_mask(attacked)`.

    Raises:
        ValueError: unknown layer (close matches listed), a non-4-D output,
            channel indices out of range, or a non-functional model.

    Example:

    >>> attacked = keras_gpos.attacks.insert_channel_mask(model, "stage4_out")
    >>> keras_gpos.attacks.get_channel_mask(attacked).set_channels(ranking.top(16))
    """
    features = feature_model(model, layer_name)  # validates name, 4-D output, functional
    mask = ChannelMask(channels=channels, mode=mode, name=mask_layer_name(layer_name))
    mask.build(features.output.shape)
    if fill_values is not None:
        mask.set_fill_values(fill_values)
    elif mode == "mean":
        raise ValueError("mode='mean' needs fill_values (one per channel), e.g. ranking.channel_mean.")
    nested = len(layer_path(model, layer_name)) > 1
    inserted = []

    def call_function(layer, *args, **kwargs):
        output = layer(*args, **kwargs)
        if layer.name == layer_name and not inserted:
            inserted.append(layer)
            return mask(output)
        return output

    attacked = keras.models.clone_model(
        model, clone_function=lambda layer: layer, call_function=call_function, recursive=nested
    )
    if not inserted:
        raise ValueError(
            f"could not insert a mask after {layer_name!r}: it is inside a Sequential sub-model "
            "or not called in the model graph."
        )
    return attacked


def get_channel_mask(model):
    """The (first) `ChannelMask` layer of `model`, nested models included."""
    for layer in model.layers:
        if isinstance(layer, ChannelMask):
            return layer
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            try:
                return get_channel_mask(layer)
            except ValueError:
                continue
    raise ValueError(f"model {model.name!r} has no ChannelMask; use insert_channel_mask first.")


def random_channel_sets(num_channels, n, draws, seed=0):
    """`draws` sets of `n` distinct channels, drawn uniformly."""
    check_count(n, num_channels)
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(num_channels, size=n, replace=False)) for _ in range(draws)]


class AttackEvaluator:
    """Region mIoU of an attacked model under any channel set, compiled once.

    Args:
        attacked_model: a model holding one `ChannelMask`
            (`insert_channel_mask`).
        dataset: `tf.data.Dataset` of `(images, labels)` batches with labels
            `(batch, height, width)`. Iterated in full on every evaluation.
        num_classes: int.
        ignore_label: int or None.
        regions: mapping of name to region (see
            `keras_gpos.metrics.RegionMeanIoU`), e.g.
            `{"all": "all", "left": "left", "right": "right"}`.

    Attributes:
        trace_count: int. How often the evaluation was traced.

    Example:

    >>> evaluator = keras_gpos.attacks.AttackEvaluator(attacked, val_ds, 11, 11)
    >>> evaluator.evaluate(ranking.top(16))["left"]["miou"]
    """

    def __init__(self, attacked_model, dataset, num_classes, ignore_label=None, regions=None):
        self.model = attacked_model
        self.mask = get_channel_mask(attacked_model)
        self.dataset = dataset
        self.num_classes = int(num_classes)
        self.ignore_label = ignore_label
        regions = regions or {"all": "all", "left": "left", "right": "right"}
        self.regions = {name: check_region(region) for name, region in regions.items()}
        self.trace_count = 0
        if int(dataset.cardinality()) == 0:
            raise ValueError("AttackEvaluator got an empty dataset.")
        image_spec, label_spec = dataset.element_spec
        # A free batch axis: the last, smaller batch reuses the same graph.
        signature = [
            tf.TensorSpec((None,) + tuple(image_spec.shape[1:]), image_spec.dtype),
            tf.TensorSpec((None,) + tuple(label_spec.shape[1:]), label_spec.dtype),
        ]
        self._batch_confusion = tf.function(self._confusion_matrices, input_signature=signature)

    def _confusion_matrices(self, images, labels):
        self.trace_count += 1  # Python side effect: runs only while tracing
        logits = self.model(images, training=False)
        return tf.stack([
            confusion_matrix(labels, logits, self.num_classes, self.ignore_label, region)
            for region in self.regions.values()
        ])

    def confusion(self, channels=()):
        """`{region: (classes, classes) confusion matrix}` with `channels` masked."""
        channels = np.asarray(channels, np.int64).reshape(-1)
        bad = [int(c) for c in channels if not 0 <= c < self.mask.num_channels]
        if bad:
            raise ValueError(
                f"channel indices {bad} are out of range for a layer with "
                f"{self.mask.num_channels} channels (valid: 0 .. {self.mask.num_channels - 1})."
            )
        # Only the mask variable changes between channel sets: no retrace.
        self.mask.set_mask(channel_indicator(channels, self.mask.num_channels))
        total = np.zeros((len(self.regions), self.num_classes, self.num_classes), np.float64)
        batches = 0
        for images, labels in self.dataset:
            total += self._batch_confusion(images, labels).numpy()
            batches += 1
        if batches == 0 or total.sum() == 0:
            raise ValueError(
                "AttackEvaluator: the dataset yielded no labelled pixels "
                f"({batches} batches); an mIoU of it would be meaningless."
            )
        return dict(zip(self.regions, total))

    def evaluate(self, channels=()):
        """`{region: {"miou": float, "per_class_iou": list}}` with `channels` masked."""
        results = {}
        for name, matrix in self.confusion(channels).items():
            iou, mean = iou_from_confusion(matrix)
            results[name] = {
                "miou": float(mean),
                "per_class_iou": [None if np.isnan(v) else float(v) for v in np.asarray(iou)],
            }
        return results

    def sweep(self, channel_sets):
        """Evaluates each named channel set: `{name: evaluate(channels)}`."""
        return {name: self.evaluate(channels) for name, channels in channel_sets.items()}
