"""Adaptive polyphase sampling (APS; Chaman & Dokmanić, CVPR 2021, "Truly shift-invariant CNNs").

Downsampling by 2 keeps one of the four polyphase components of a map: the
samples at (even row, even column), (odd row, even column), (even row, odd
column) or (odd row, odd column). Plain striding always keeps the first, so
a one-pixel shift of the input changes which samples survive. APS keeps, per
sample, the component with the largest L2 norm (over all channels and
positions): a circular shift of the input permutes the components, the same
one still has the largest norm, and the output is a circular shift of the
unshifted output. With circular padding everywhere, a network of such layers
and global pooling gives *identical* outputs for every circular shift.

Choices, following the authors' public code: one choice per sample, shared
by all channels; the L2 norm (`norm="l2"`; `"l1"` and `"max"` also offered);
the component order above, so ties (e.g. an all-zero map) go to the first;
stride 2 only; an optional binomial blur at stride 1 before the choice
("APS + LPF"), with circular padding. The differences: the blur size here is
any of `keras_gpos.layers.blur_pool.BLUR_KERNEL_SIZES` (the authors default
to 3), and a map of odd height or width (which the authors' networks never
produce, and `keras_gpos` ResNets at 32 or 48 px inputs do not either) is
extended by one circular row or column so the components have `ceil(n / 2)`
rows; the exact invariance to circular shifts needs even maps.
"""

import keras
import numpy as np
from keras import ops

from keras_gpos.layers.blur_pool import BLUR_KERNEL_SIZES, binomial_filter
from keras_gpos.layers.padding import pad_spatial
from keras_gpos.base.serialization import register

NORMS = ("l2", "l1", "max")


@register
class PolyphaseDownsample2D(keras.layers.Layer):
    """Downsamples by 2, keeping the polyphase component of largest norm per sample.

    Args:
        norm: str. `"l2"` (the authors' default), `"l1"` or `"max"`.
        blur_kernel_size: None or int in 1..7. Binomial blur (circular
            padding, stride 1) before choosing (APS + LPF).
        return_phase: bool. Also return the chosen component index
            `(batch,)` (int32), for a residual shortcut that must reuse it.

    Call arguments:
        inputs: a `(batch, h, w, c)` map with even `h` and `w`; or a list
            `[map, phase]` to take the component `phase` chose elsewhere (the
            residual shortcut's use: both branches then sample alike).

    Examples:
        >>> aps = keras_gpos.layers.PolyphaseDownsample2D()
        >>> x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
        >>> shifted = np.roll(x, 1, axis=2)  # a circular shift by one column
        >>> a, b = (keras.ops.convert_to_numpy(aps(v)) for v in (x, shifted))
        >>> tuple(a.shape), bool(np.allclose(np.sort(a.ravel()), np.sort(b.ravel())))
        ((2, 4, 4, 3), True)
    """

    def __init__(self, norm="l2", blur_kernel_size=None, return_phase=False, **kwargs):
        super().__init__(**kwargs)
        if norm not in NORMS:
            raise ValueError(f"Unknown norm {norm!r}; expected one of {list(NORMS)}.")
        if blur_kernel_size is not None and (isinstance(blur_kernel_size, bool)
                                             or blur_kernel_size not in BLUR_KERNEL_SIZES):
            raise ValueError(f"blur_kernel_size must be None or one of {list(BLUR_KERNEL_SIZES)}; "
                             f"got {blur_kernel_size!r}.")
        if not isinstance(return_phase, bool):
            raise ValueError(f"return_phase must be a bool; got {return_phase!r}.")
        self.norm = norm
        self.blur_kernel_size = blur_kernel_size
        self.return_phase = return_phase

    def build(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape, (list, tuple)) and isinstance(
            input_shape[0], (list, tuple)) else input_shape
        if len(shape) != 4:
            raise ValueError(f"PolyphaseDownsample2D expects (batch, h, w, c) maps; got {shape}.")
        if self.blur_kernel_size:
            kernel = binomial_filter(self.blur_kernel_size)[:, :, None, None]
            self._kernel = np.tile(kernel, (1, 1, int(shape[-1]), 1))
        self.built = True

    def _blur(self, x):
        size = self.blur_kernel_size
        pads = ((size - 1) // 2, size // 2)
        x = pad_spatial(x, (pads, pads), "circular")
        return ops.depthwise_conv(x, ops.cast(self._kernel, x.dtype), strides=1, padding="valid")

    @staticmethod
    def components(x):
        """The four polyphase components `(batch, 4, h/2, w/2, c)` in the authors' order.

        An odd height or width is first extended by one circular row or column.
        """
        height, width = x.shape[1], x.shape[2]
        if height is not None and height % 2:
            x = ops.concatenate([x, x[:, :1]], axis=1)
        if width is not None and width % 2:
            x = ops.concatenate([x, x[:, :, :1]], axis=2)
        return ops.stack([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=1)

    def _norms(self, components):
        values = ops.cast(components, "float32")
        if self.norm == "l2":
            return ops.sqrt(ops.sum(ops.square(values), axis=(2, 3, 4)))
        if self.norm == "l1":
            return ops.sum(ops.abs(values), axis=(2, 3, 4))
        return ops.max(ops.abs(values), axis=(2, 3, 4))

    def call(self, inputs):
        given = isinstance(inputs, (list, tuple))
        x, phase = (inputs[0], inputs[1]) if given else (inputs, None)
        if self.blur_kernel_size:
            x = self._blur(x)
        components = self.components(x)
        if phase is None:
            phase = ops.argmax(self._norms(components), axis=-1)
        phase = ops.cast(phase, "int32")
        # A 0/1 weighted sum selects exactly (no interpolation) on every backend.
        choice = ops.cast(ops.one_hot(phase, 4), x.dtype)[:, :, None, None, None]
        out = ops.sum(components * choice, axis=1)
        return (out, phase) if self.return_phase else out

    def compute_output_shape(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape, (list, tuple)) and isinstance(
            input_shape[0], (list, tuple)) else input_shape

        def half(size):
            return None if size is None else (size + 1) // 2

        out = (shape[0], half(shape[1]), half(shape[2]), shape[3])
        return (out, (shape[0],)) if self.return_phase else out

    def get_config(self):
        config = super().get_config()
        config.update({"norm": self.norm, "blur_kernel_size": self.blur_kernel_size,
                       "return_phase": self.return_phase})
        return config
