"""Anti-aliased downsampling (BlurPool, Zhang 2019, "Making Convolutional
Networks Shift-Invariant Again"): low-pass filter, then subsample."""

import math

import keras
import numpy as np
from keras import ops

from keras_gpos.layers.padding import pad_spatial
from keras_gpos.base.serialization import register

BLUR_KERNEL_SIZES = (1, 2, 3, 4, 5, 6, 7)


def binomial_filter(size):
    """The normalised `size x size` binomial filter (outer product of the
    binomial row `[1]`, `[1, 1]`, `[1, 2, 1]`, ...), summing to 1."""
    if size not in BLUR_KERNEL_SIZES:
        raise ValueError(f"kernel_size must be one of {list(BLUR_KERNEL_SIZES)}; got {size!r}.")
    row = np.array([math.comb(size - 1, k) for k in range(size)], dtype="float64")
    kernel = np.outer(row, row)
    return (kernel / kernel.sum()).astype("float32")


@register
class BlurPool2D(keras.layers.Layer):
    """Blurs each channel with a binomial filter, then subsamples.

    A strided convolution or pooling samples a signal without first removing
    the frequencies the coarser grid cannot hold, so a one-pixel shift of the
    input can change the output a lot. Blurring first (a fixed depthwise
    convolution) makes the downsampled map vary smoothly with shifts. The
    input is reflect padded by `((k-1)//2, k//2)` per axis, so with stride 2
    an `H x W` map becomes `ceil(H/2) x ceil(W/2)`.

    Args:
        kernel_size: int in 1..7. Binomial filter size (1 = plain
            subsampling, 3 = [1, 2, 1], 4 = [1, 3, 3, 1], Zhang's default for
            ResNets, 5 = [1, 4, 6, 4, 1]).
        strides: int >= 1. Subsampling factor (2 for downsampling).

    Call arguments:
        inputs: `(batch, height, width, channels)` tensor.

    Examples:
        >>> pool = keras_gpos.layers.BlurPool2D(kernel_size=4)
        >>> tuple(pool(np.zeros((1, 32, 32, 8))).shape)
        (1, 16, 16, 8)
    """

    def __init__(self, kernel_size=4, strides=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(kernel_size, int) or isinstance(kernel_size, bool) or (
            kernel_size not in BLUR_KERNEL_SIZES
        ):
            raise ValueError(
                f"kernel_size must be one of {list(BLUR_KERNEL_SIZES)}; got {kernel_size!r}."
            )
        if isinstance(strides, bool) or not isinstance(strides, int) or strides < 1:
            raise ValueError(f"strides must be a positive int; got {strides!r}.")
        self.kernel_size = kernel_size
        self.strides = strides
        self._pads = ((kernel_size - 1) // 2, kernel_size // 2)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"BlurPool2D expects (batch, height, width, channels) inputs; got {input_shape}."
            )
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("BlurPool2D needs a known channel count.")
        for size in input_shape[1:3]:
            if size is not None and max(self._pads) >= size:
                raise ValueError(
                    f"reflect padding of {max(self._pads)} px needs spatial size > "
                    f"{max(self._pads)}; got {tuple(input_shape[1:3])} "
                    f"(kernel_size={self.kernel_size})."
                )
        # A fixed filter, not a trainable weight: stored in the layer so the
        # graph holds one constant per layer, rebuilt identically on load.
        kernel = binomial_filter(self.kernel_size)[:, :, None, None]
        self._kernel = np.tile(kernel, (1, 1, int(channels), 1))
        self.built = True

    def call(self, inputs):
        before, after = self._pads
        x = pad_spatial(inputs, ((before, after), (before, after)), "reflect")
        kernel = ops.cast(ops.convert_to_tensor(self._kernel), x.dtype)
        return ops.depthwise_conv(x, kernel, strides=self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        def out(size):
            return None if size is None else (size - 1) // self.strides + 1

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_size": self.kernel_size, "strides": self.strides})
        return config
