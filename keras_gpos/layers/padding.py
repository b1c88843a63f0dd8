"""Explicit spatial padding and the convolutions built on it.

Keras convolutions know only `"same"` (zero) and `"valid"` padding. The paper
compares how much absolute position leaks through different border
treatments, so every convolution in keras_gpos pads explicitly with one of
`PADDING_MODES` and then runs a valid convolution.
"""

import keras
import numpy as np
from keras import ops

from keras_gpos.base.serialization import register

# `none` is valid convolution (no padding); `partial` is zero padding whose
# border outputs are re-weighted by the fraction of real pixels (Liu et al.
# 2018, "Partial convolution based padding").
PADDING_MODES = ("zero", "reflect", "replicate", "circular", "none", "partial")
_PAD_ONLY_MODES = ("zero", "reflect", "replicate", "circular")


def check_padding_mode(mode, allowed=PADDING_MODES, name="padding mode"):
    """The one check of a border mode, for the layers, the models and the experiments' configs."""
    if mode not in allowed:
        raise ValueError(
            f"Unknown {name} {mode!r}; expected one of {list(allowed)}."
        )
    return mode


def _pad_axis(x, axis, before, after, mode):
    """Pads one spatial axis of an NHWC tensor with `mode`, by any width.

    Index arrays are int32 whatever their length (an empty Python list would
    reach TensorFlow's gather as float). Circular indices wrap modulo the
    size, so a pad wider than the map repeats it periodically, as a
    circular convolution on a torus does.
    """
    if before == 0 and after == 0:
        return x
    size = ops.shape(x)[axis]
    if mode == "replicate":
        first = ops.zeros((before,), "int32")
        last = ops.full((after,), size - 1, "int32")
    elif mode == "circular":
        first = ops.mod(ops.arange(-before, 0, dtype="int32"), size)
        last = ops.mod(ops.arange(0, after, dtype="int32"), size)
    else:
        raise ValueError(f"_pad_axis does not handle mode {mode!r}.")
    parts = ([ops.take(x, first, axis=axis)] if before else []) + [x] + (
        [ops.take(x, last, axis=axis)] if after else [])
    return ops.concatenate(parts, axis=axis)


def pad_spatial(x, pads, mode):
    """Pads the two spatial axes of an NHWC tensor.

    Args:
        x: tensor of shape `(batch, height, width, channels)`.
        pads: `((top, bottom), (left, right))`.
        mode: one of `"zero"`, `"reflect"`, `"replicate"`, `"circular"`.
    """
    check_padding_mode(mode, _PAD_ONLY_MODES)
    (top, bottom), (left, right) = pads
    if mode in ("zero", "reflect"):
        return ops.pad(
            x,
            [[0, 0], [top, bottom], [left, right], [0, 0]],
            mode="constant" if mode == "zero" else "reflect",
        )
    x = _pad_axis(x, 1, top, bottom, mode)
    return _pad_axis(x, 2, left, right, mode)


def same_padding(kernel_size, dilation=1):
    """Border on each side so a stride-1 convolution keeps the size."""
    total = dilation * (kernel_size - 1)
    return total // 2, total - total // 2


@register
class SpatialPadding2D(keras.layers.Layer):
    """Pads height and width of an NHWC tensor with a chosen border mode.

    Args:
        padding: int or `((top, bottom), (left, right))`. Border sizes.
        mode: str. One of `"zero"`, `"reflect"`, `"replicate"` (repeat the
            edge pixel) or `"circular"` (wrap around).

    Examples:
        >>> layer = keras_gpos.layers.SpatialPadding2D(1, mode="circular")
        >>> tuple(layer(np.zeros((2, 8, 8, 3))).shape)
        (2, 10, 10, 3)
    """

    def __init__(self, padding=1, mode="zero", **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        padding = tuple(tuple(int(p) for p in pair) for pair in padding)
        if len(padding) != 2 or any(len(p) != 2 for p in padding):
            raise ValueError(
                "padding must be an int or ((top, bottom), (left, right)); "
                f"got {padding!r}."
            )
        if any(p < 0 for pair in padding for p in pair):
            raise ValueError(f"padding must be non-negative; got {padding!r}.")
        self.padding = padding
        self.mode = check_padding_mode(mode, _PAD_ONLY_MODES)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "SpatialPadding2D expects (batch, height, width, channels) "
                f"inputs; got shape {input_shape}."
            )
        (top, bottom), (left, right) = self.padding
        height, width = input_shape[1], input_shape[2]
        if self.mode == "reflect" and height is not None and width is not None:
            if max(top, bottom) >= height or max(left, right) >= width:
                raise ValueError(
                    f"reflect padding {self.padding} needs an input larger than "
                    f"the border; got spatial size {(height, width)}."
                )

    def call(self, inputs):
        return pad_spatial(inputs, self.padding, self.mode)

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        height, width = input_shape[1], input_shape[2]
        return (
            input_shape[0],
            None if height is None else height + top + bottom,
            None if width is None else width + left + right,
            input_shape[3],
        )

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "mode": self.mode})
        return config


def _pair(value, name):
    """An int or a pair of ints as `(height, width)`."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    value = tuple(value) if isinstance(value, (tuple, list)) else value
    if (not isinstance(value, tuple) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in value)):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints; got {value!r}.")
    return tuple(int(v) for v in value)


@register
class PaddedConv2D(keras.layers.Layer):
    """A 2D convolution whose border treatment is chosen by name.

    The input is padded explicitly and then convolved without padding. It
    takes `keras.layers.Conv2D`'s arguments, so it drops into a model in its
    place, with one more: `padding_mode`.

    * `"zero"`, `"reflect"`, `"replicate"`, `"circular"`: pad by
      `dilation * (kernel - 1)` in total per axis, `total // 2` before and the
      rest after. At stride 1 that keeps the size, and `"zero"` then equals
      `Conv2D(..., padding="same")` with the same weights (tested). At
      strides above 1 the pad stays symmetric, as in the paper's PyTorch code
      (`padding=k // 2`), while Keras' `"same"` pads by what the input size
      needs (on an even input with a 3x3 kernel and stride 2: 0 before, 1
      after), so the sampled grid differs by one pixel (tested).
    * `"none"`: no padding (valid convolution); the map shrinks.
    * `"partial"`: zero padding, each output rescaled by `window area /
      real pixels in the window` (partial-convolution padding), so border
      outputs are not dimmed by the zeros; the bias is added after.

    Reflect padding needs a map larger than the pad; a smaller static map is
    a `ValueError` naming the layer (use `"replicate"` there). The other
    modes take any kernel size on any map: replicate repeats the edge pixel,
    and circular wraps modulo the map size (a pad wider than the map tiles
    it periodically).

    Args:
        filters: int. Number of output channels.
        kernel_size: int or pair. Kernel height and width.
        strides: int or pair.
        padding_mode: str. One of `keras_gpos.layers.PADDING_MODES`.
        dilation_rate: int or pair (not together with strides > 1).
        groups: int. Channel groups, as in `Conv2D`.
        activation: activation applied after the bias.
        use_bias: bool.
        kernel_initializer, bias_initializer: initializers (kernel default
            `"he_normal"`, the ResNet choice).
        kernel_regularizer, bias_regularizer, activity_regularizer: optional.
        kernel_constraint, bias_constraint: optional.

    Examples:
        >>> conv = keras_gpos.layers.PaddedConv2D(16, (3, 5), padding_mode="reflect", activation="relu")
        >>> tuple(conv(np.zeros((1, 32, 32, 3))).shape)
        (1, 32, 32, 16)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        strides=1,
        padding_mode="zero",
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        for name, value in (("filters", filters), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}.")
        if filters % groups:
            raise ValueError(f"filters ({filters}) must be divisible by groups ({groups}).")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "strides > 1 together with dilation_rate > 1 is not supported; "
                f"got strides={strides}, dilation_rate={dilation_rate}."
            )
        self.groups = int(groups)
        self.padding_mode = check_padding_mode(padding_mode)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self._pads = tuple(same_padding(k, d) for k, d in zip(self.kernel_size, self.dilation_rate))

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "PaddedConv2D expects (batch, height, width, channels) inputs; "
                f"got shape {input_shape}."
            )
        if self.padding_mode == "reflect":
            for size, (before, after) in zip(input_shape[1:3], self._pads):
                if size is not None and max(before, after) >= size:
                    raise ValueError(
                        f"{self.name}: reflect padding of {max(before, after)} px needs a map larger "
                        f"than that; got spatial size {tuple(input_shape[1:3])} (kernel "
                        f"{self.kernel_size}, dilation {self.dilation_rate}). Use padding_mode="
                        "'replicate' or 'zero' for maps this small."
                    )
        self.conv = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="valid",
            dilation_rate=self.dilation_rate,
            groups=self.groups,
            use_bias=False,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            kernel_constraint=self.kernel_constraint,
            dtype=self.dtype_policy,  # a per-layer policy (e.g. mixed_float16) reaches the convolution
            name="conv",
        )
        self.conv.build(self._padded_shape(input_shape))
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.filters,), initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                constraint=self.bias_constraint, name="bias",
            )
        self.built = True

    def _conv2d_order(self):
        return [self.conv.kernel] + ([self.bias] if self.use_bias else [])

    def get_weights(self):
        """`[kernel, bias]` as NumPy arrays: `keras.layers.Conv2D`'s order, so weights move between the two.

        The kernel lives in the inner valid `Conv2D` and the bias in this layer
        (it is added after the partial-padding rescale), so `layer.weights` and
        a model's weight list keep Keras' own order (the layer's bias first).
        Only this layer-level pair is reordered: changing the order of the
        variables themselves would reorder optimizer state and break loading
        `.keras` files saved with an optimizer.
        """
        return [keras.ops.convert_to_numpy(v) for v in self._conv2d_order()]

    def set_weights(self, weights):
        """Sets `[kernel, bias]` (a `Conv2D`'s `get_weights()`), checking their shapes."""
        variables = self._conv2d_order()
        if len(weights) != len(variables):
            raise ValueError(
                f"{self.name} takes {len(variables)} weights ([kernel, bias], as Conv2D); got {len(weights)}.")
        for variable, value in zip(variables, weights):
            if tuple(variable.shape) != tuple(np.shape(value)):
                raise ValueError(f"{self.name}: weight {variable.path} has shape {tuple(variable.shape)}; "
                                 f"got {tuple(np.shape(value))}.")
            variable.assign(value)

    def _padded_shape(self, input_shape):
        if self.padding_mode == "none":
            return input_shape
        (top, bottom), (left, right) = self._pads
        height, width = input_shape[1], input_shape[2]
        return (
            input_shape[0],
            None if height is None else height + top + bottom,
            None if width is None else width + left + right,
            input_shape[3],
        )

    def _partial_scale(self, inputs):
        """Window area over real pixels, one value per output position."""
        ones = ops.ones_like(inputs[:1, :, :, :1])
        mask = pad_spatial(ones, self._pads, "zero")
        window = ops.ones(self.kernel_size + (1, 1), inputs.dtype)
        real = ops.conv(mask, window, strides=self.strides, padding="valid", dilation_rate=self.dilation_rate)
        return (self.kernel_size[0] * self.kernel_size[1]) / real

    def call(self, inputs):
        if self.padding_mode == "none":
            outputs = self.conv(inputs)
        elif self.padding_mode == "partial":
            outputs = self.conv(pad_spatial(inputs, self._pads, "zero"))
            outputs = outputs * ops.cast(self._partial_scale(inputs), outputs.dtype)
        else:
            outputs = self.conv(pad_spatial(inputs, self._pads, self.padding_mode))
        if self.use_bias:
            outputs = outputs + ops.cast(self.bias, outputs.dtype)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(self._padded_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding_mode": self.padding_mode,
                "dilation_rate": self.dilation_rate,
                "groups": self.groups,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
