"""Zero (or mean-fill) a chosen set of channels: the paper's channel attack."""

import keras
import numpy as np
from keras import ops

from keras_gpos.base.serialization import register

MASK_MODES = ("zero", "mean")


@register
class ChannelMask(keras.layers.Layer):
    """Replaces a set of channels of a `(..., channels)` tensor.

    The set lives in a non-trainable weight (a 0/1 vector), so it can be
    swapped with `set_channels` without rebuilding or retracing the model,
    and it is saved with the model. `mode="zero"` sets the chosen channels
    to zero (the paper's attack); `mode="mean"` replaces them with a fixed
    per-channel value (`set_fill_values`, e.g. the channel's dataset mean),
    which removes the channel's information without shifting its level.

    Args:
        channels: sequence of int. Initially masked channels (may be empty).
        mode: str. `"zero"` or `"mean"`.

    Call arguments:
        inputs: tensor whose last axis holds the channels.

    Examples:
        >>> mask = keras_gpos.layers.ChannelMask(channels=[0, 2])
        >>> keras.ops.convert_to_numpy(mask(np.ones((1, 2, 2, 4))))[0, 0, 0]
        array([0., 1., 0., 1.], dtype=float32)
        >>> mask.set_channels([3])  # no retrace: only a weight changes
    """

    def __init__(self, channels=(), mode="zero", **kwargs):
        super().__init__(**kwargs)
        if mode not in MASK_MODES:
            raise ValueError(f"Unknown mask mode {mode!r}; expected one of {list(MASK_MODES)}.")
        channels = _as_index_list(channels)
        if any(c < 0 for c in channels):
            raise ValueError(f"channels must be non-negative indices; got {channels!r}.")
        self.channels = channels
        self.mode = mode

    def build(self, input_shape):
        num_channels = input_shape[-1]
        if num_channels is None:
            raise ValueError(f"ChannelMask needs a known channel count; got input shape {input_shape}.")
        _check_range(self.channels, num_channels)
        self.num_channels = int(num_channels)
        initial = np.zeros((self.num_channels,), "float32")
        initial[self.channels] = 1.0
        self.mask = self.add_weight(
            shape=(self.num_channels,), initializer=keras.initializers.Constant(initial),
            trainable=False, name="mask",
        )
        self.fill_values = self.add_weight(
            shape=(self.num_channels,), initializer="zeros", trainable=False, name="fill_values"
        )

    def call(self, inputs):
        mask = ops.cast(self.mask, inputs.dtype)
        outputs = inputs * (1.0 - mask)
        if self.mode == "mean":
            outputs = outputs + mask * ops.cast(self.fill_values, inputs.dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def set_channels(self, channels):
        """Masks exactly `channels` (ints, a numpy array or a tensor) from now on.

        Raises:
            ValueError: an index outside `[0, channels)`.
        """
        channels = _as_index_list(channels)
        _check_range(channels, self.num_channels)
        self.mask.assign(channel_indicator(channels, self.num_channels))

    def set_mask(self, indicator):
        """Masks the channels where the `(channels,)` 0/1 `indicator` is 1.

        Takes a tensor, so a compiled loop can swap sets without Python
        lists; use `set_channels` for validated indices.
        """
        self.mask.assign(ops.cast(indicator, self.mask.dtype))

    def set_fill_values(self, values):
        """Per-channel values written into masked channels in `"mean"` mode."""
        values = np.asarray(values, "float32")
        if values.shape != (self.num_channels,):
            raise ValueError(f"fill values must have shape ({self.num_channels},); got {values.shape}.")
        if not np.all(np.isfinite(values)):
            raise ValueError("fill values hold NaN or Inf; a mean-mode attack needs finite channel means.")
        self.fill_values.assign(values)

    def get_config(self):
        config = super().get_config()
        config.update({"channels": list(self.channels), "mode": self.mode})
        return config


def channel_indicator(channels, num_channels):
    """A float32 `(num_channels,)` vector with ones at `channels`."""
    indicator = np.zeros((num_channels,), "float32")
    indicator[list(channels)] = 1.0
    return indicator


def _as_index_list(channels):
    if channels is None:
        return []
    array = ops.convert_to_numpy(channels) if not isinstance(channels, (list, tuple, range)) else np.asarray(channels)
    array = np.asarray(array).reshape(-1)
    # Whole floats are accepted; booleans and strings are not indices (True
    # would silently mean channel 1).
    integral = np.issubdtype(array.dtype, np.integer) or (
        np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0))
    if array.size and not integral:
        raise ValueError(f"channels must be integer indices; got {array.tolist()!r}.")
    return [int(c) for c in array]


def _check_range(channels, num_channels):
    bad = [c for c in channels if not 0 <= c < num_channels]
    if bad:
        raise ValueError(
            f"channel indices {bad} are out of range for a layer with {num_channels} channels "
            f"(valid: 0 .. {num_channels - 1})."
        )
