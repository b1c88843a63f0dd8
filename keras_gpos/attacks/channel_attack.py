"""Insert a channel mask into a trained model and score it under many channel sets.

The evaluation of one batch (forward pass, arg-max and the region confusion
matrices) is compiled once per backend by `keras_gpos.base.backend.ModelFunction`
(a `tf.function` with a free batch axis, or a `jax.jit` of the model's
`stateless_call` that takes the variables as arguments). The channel set lives in the
`ChannelMask` layer's variable, so sweeping N or swapping the set changes
only that variable and never retraces (`AttackEvaluator.trace_count` proves
it, on both backends). Batches are padded to one size with unlabelled
pixels, so a smaller last batch reuses the same compiled function.
"""

import keras
import numpy as np

from keras_gpos.base.backend import ModelFunction
from keras_gpos.base.graph import feature_model, functional_view, layer_path, subclassed_model_error
from keras_gpos.base.inputs import (
    batches, check_images, check_model_input, check_segmentation_model, iterate, segmentation_masks)
from keras_gpos.base.validation import check_integer_indices, check_positive_int
from keras_gpos.base.vocabulary import check_region
from keras_gpos.layers.channel_mask import ChannelMask, channel_indicator
from keras_gpos.metrics.region_iou import confusion_matrix, iou_from_confusion, labelled_pixels


def mask_layer_name(layer_name):
    return f"{layer_name.replace('/', '_')}_channel_mask"


def insert_channel_mask(model, layer, channels=(), mode="zero", fill_values=None, input_shape=None):
    """A copy of `model` with a `ChannelMask` right after `layer`.

    The copy shares every layer (and so every weight) with `model`; only
    the mask is new. Works on functional and Sequential models, including a
    layer inside nested sub-models (keras-cv and KerasHub backbones, nested
    Sequential stacks) named by its name or an `"outer/inner"` path.

    Args:
        model: a functional or Sequential `keras.Model`.
        layer: str or layer. The layer whose output is masked (4-D).
        channels: sequence of int. Initially masked channels.
        mode: str. `"zero"` or `"mean"`.
        fill_values: `(channels,)` values for `"mean"` mode (e.g.
            `PositionRanking.channel_mean`).
        input_shape: builds an unbuilt Sequential model.

    Returns:
        The attacked `keras.Model`; its mask is `get_channel_mask(attacked)`.

    Raises:
        ValueError: unknown layer (close matches listed), a non-4-D output,
            channel indices out of range or not integers, or a subclassed
            model (insert a `keras_gpos.layers.ChannelMask` in its code instead).

    Examples:
        >>> model = keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8)
        >>> attacked = keras_gpos.attacks.insert_channel_mask(model, "stage4_out")
        >>> keras_gpos.attacks.get_channel_mask(attacked).set_channels([0, 5])
    """
    if not isinstance(model, keras.Sequential) and not hasattr(model, "_nodes_by_depth"):
        raise subclassed_model_error(model, "insert a mask into its graph", argument=None)
    graph = functional_view(model, input_shape)
    features = feature_model(graph, layer)  # validates the name and the 4-D output
    path = layer_path(graph, layer)
    target = path[-1]
    name = layer if isinstance(layer, str) else target.name
    mask = ChannelMask(channels=channels, mode=mode, name=mask_layer_name(name))
    mask.build(features.output.shape)
    if fill_values is not None:
        mask.set_fill_values(fill_values)
    elif mode == "mean":
        raise ValueError("mode='mean' needs fill_values (one per channel), e.g. ranking.channel_mean.")
    inserted = []

    def masked(current, remaining):
        """`current` rebuilt with the mask after `remaining[-1]` (sub-models on the path rebuilt too)."""
        graph_view = functional_view(current)
        if len(remaining) == 1:
            def call_function(layer_, *args, **kwargs):
                output = layer_(*args, **kwargs)
                if layer_ is target and not inserted:
                    inserted.append(layer_)
                    return mask(output)
                return output

            return keras.models.clone_model(graph_view, clone_function=lambda layer_: layer_,
                                            call_function=call_function)
        step = remaining[0]
        return keras.models.clone_model(
            graph_view, clone_function=lambda layer_: masked(layer_, remaining[1:]) if layer_ is step else layer_)

    attacked = masked(graph, path)
    if not inserted:
        raise ValueError(
            f"could not insert a mask after {name!r}: the layer is not called in the model graph "
            "(a shared or unused layer)."
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


class AttackEvaluator:
    """Region mIoU of an attacked model under any channel set, compiled once.

    Args:
        attacked_model: a model holding one `ChannelMask` (`insert_channel_mask`).
        data: labelled images in any form `keras_gpos.base.inputs.batches`
            takes: `(images, masks)` arrays, a `tf.data.Dataset` (batched or
            not), a generator of batches, or a `SegmentationSet`. Read once,
            checked (finite pixels, labels in range) and kept in memory, so
            every evaluation scores the same pixels.
        num_classes: int.
        ignore_label: int or None.
        regions: mapping of name to region (see
            `keras_gpos.metrics.RegionMeanIoU`), e.g.
            `{"all": "all", "left": "left", "right": "right"}`.
        batch_size: int. Images per compiled call (arrays and unbatched data).
        input_range: optional `(low, high)` the model expects; images far
            outside it warn once.

    Attributes:
        trace_count: int. How often the evaluation was traced.

    Examples:
        >>> model = keras_gpos.models.build_deeplab(6, (32, 48, 3), depth=10, width=4, aspp_filters=8)
        >>> attacked = keras_gpos.attacks.insert_channel_mask(model, "stage4_out")
        >>> scenes = keras_gpos.data.make_street_scenes(4, (32, 48))
        >>> evaluator = keras_gpos.attacks.AttackEvaluator(attacked, scenes, 6)
        >>> 0.0 <= evaluator.evaluate([0, 1])["left"]["miou"] <= 1.0
        True
    """

    def __init__(self, attacked_model, data, num_classes, ignore_label=None, regions=None, batch_size=8,
                 input_range=None):
        self.model = attacked_model
        self.mask = get_channel_mask(attacked_model)
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}.")
        self.num_classes = int(num_classes)
        self.ignore_label = ignore_label
        regions = regions or {"all": "all", "left": "left", "right": "right"}
        self.regions = {name: check_region(region) for name, region in regions.items()}
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self._batches = self._read(data, input_range)
        self._compiled = self._compile()

    def _read(self, data, input_range):
        what = "AttackEvaluator data"
        stream = batches(data, self.batch_size, name=what)
        cached = []
        for index, images, labels in iterate(stream):
            if labels is None:
                raise ValueError(f"{what}: batch {index} has no labels; pass (images, masks).")
            batch_what = f"{what}: batch {index}"
            images = check_images(images, batch_what, self.model, input_range).astype("float32")
            labels = segmentation_masks(labels, f"{what}: masks of batch {index}", self.num_classes,
                                        self.ignore_label, spatial_shape=images.shape[1:3])
            if not cached:
                check_model_input(self.model, images, "AttackEvaluator")
                check_segmentation_model(self.model, "AttackEvaluator", images.shape[1:], self.num_classes)
            cached.append((images, labels))
        if not cached:
            raise ValueError("AttackEvaluator got an empty dataset.")
        size = max(len(images) for images, _ in cached)
        padded = []
        for images, labels in cached:
            extra = size - len(images)
            if extra:  # unlabelled rows: the compiled function keeps one batch shape
                images = np.concatenate([images, np.zeros((extra,) + images.shape[1:], images.dtype)])
                labels = np.concatenate([labels, np.full((extra,) + labels.shape[1:], -1, labels.dtype)])
            padded.append((images, labels))
        if sum(int(np.sum(self._valid(labels))) for _, labels in padded) == 0:
            raise ValueError("AttackEvaluator: the data hold no labelled pixels (every pixel is ignored).")
        return padded

    def _valid(self, labels):
        valid = labels >= 0
        if self.ignore_label is not None:
            valid &= labels != self.ignore_label
        return valid

    def _confusion_matrices(self, logits, labels):
        return keras.ops.stack([
            confusion_matrix(labels, logits, self.num_classes, self.ignore_label, region)
            for region in self.regions.values()
        ])

    def _compile(self):
        images, labels = self._batches[0]
        return ModelFunction(
            self.model, lambda call, x, y: self._confusion_matrices(call(x), y),
            [(images.shape[1:], "float32"), (labels.shape[1:], "int32")])

    @property
    def trace_count(self):
        """How often the evaluation was traced (never again after the first batch shape)."""
        return self._compiled.traces

    def confusion(self, channels=()):
        """`{region: (classes, classes) int64 confusion matrix}` with `channels` masked.

        Each compiled call counts one batch in int32; the batches are added
        up in int64 here, so the counts are exact at any data size, on JAX
        without x64 too.
        """
        channels = check_integer_indices(channels, "channels")
        bad = [int(c) for c in channels if not 0 <= c < self.mask.num_channels]
        if bad:
            raise ValueError(
                f"channel indices {bad} are out of range for a layer with "
                f"{self.mask.num_channels} channels (valid: 0 .. {self.mask.num_channels - 1})."
            )
        # Only the mask variable changes between channel sets: no retrace.
        self.mask.set_mask(channel_indicator(channels, self.mask.num_channels))
        total = np.zeros((len(self.regions), self.num_classes, self.num_classes + 1), np.int64)
        for images, labels in self._batches:
            total += np.asarray(keras.ops.convert_to_numpy(self._compiled(images, labels)), np.int64)
        # The model predicts exactly num_classes scores (checked), so no arg-max lies outside them.
        return {name: matrix[:, :self.num_classes] for name, matrix in zip(self.regions, total)}

    def evaluate(self, channels=()):
        """`{region: {"miou", "per_class_iou", "labelled_pixels"}}` with `channels` masked.

        `miou` is a fraction in [0, 1], or None when the region holds no
        labelled pixel (every pixel there is ignored): such a region cannot
        be judged, and says so with `"labelled_pixels": 0` instead of a 0.0
        that would read as a total failure. `per_class_iou` holds None for
        classes absent from the region.

        Raises:
            ValueError: channel indices that are not integers or out of range.
        """
        results = {}
        for name, matrix in self.confusion(channels).items():
            iou, mean = iou_from_confusion(matrix)
            pixels = labelled_pixels(matrix)
            results[name] = {
                "miou": None if pixels == 0 else mean,
                "per_class_iou": [None if np.isnan(v) else float(v) for v in iou],
                "labelled_pixels": pixels,
            }
        return results

    def sweep(self, channel_sets):
        """Evaluates each named channel set: `{name: evaluate(channels)}`."""
        return {name: self.evaluate(channels) for name, channels in channel_sets.items()}

    def compare(self, ranking, n_values, random_draws=10, region_n=None, contrast_pairs=20, seed=0,
                verbose=1):
        """Top-N vs random and region attacks, judged against random baselines.

        See `keras_gpos.attacks.comparison.compare`; returns an
        `AttackComparison` (`to_dict`, `to_markdown`, `plot`).
        """
        from keras_gpos.attacks.comparison import compare

        return compare(self, ranking, n_values, random_draws=random_draws, region_n=region_n,
                       contrast_pairs=contrast_pairs, seed=seed, verbose=verbose)
