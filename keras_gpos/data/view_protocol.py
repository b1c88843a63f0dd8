"""How two views of an image that differ only by a translation are made.

A `ViewProtocol` is one frozen object that travels whole through the AugShift
pipeline, the consistency metrics, their callback, the experiment and the
audit. Its views are NumPy (exact integer translations, placed by
`keras_gpos.data.shift_views`, the one implementation), so the training
pipeline and the metrics place every pixel alike on any Keras backend.

Modes:

* `canvas`: the image pasted at a uniform random position on a larger square
  canvas of constant `fill` (offsets `0 .. canvas_size - image_size` per axis;
  the model sees `canvas_size x canvas_size`).
* `shift`: the image moved by a uniform random offset in
  `[-max_shift, max_shift]` per axis inside its own frame; vacated pixels take
  `fill` (never reflect: that would invent content that differs between the
  views). The model sees the image size.
* `crop`: Zhang's ImageNet protocol (two random 224 crops of a 256 centre
  crop, offsets 0..31) scaled to the image: crops of `size - size // 8` at
  uniform offsets `0 .. size // 8` per axis (32 px images: 28 px crops,
  offsets 0..4). The model sees the crop size, smaller than the image.
* `circular`: the APS protocol: the image rolled (circularly shifted) by
  uniform offsets `0 .. size - 1` per axis; nothing is filled. The model
  sees the image size.

With normalised images a `fill` of 0 is the dataset-mean colour.
"""

import dataclasses
import math

import numpy as np

from keras_gpos.data import shift_views

VIEW_MODES = ("canvas", "shift", "crop", "circular")


@dataclasses.dataclass(frozen=True)
class ViewProtocol:
    """Where the two views of an image put it.

    Args:
        mode: str. `"canvas"`, `"shift"`, `"crop"` or `"circular"`.
        canvas_size: int. Canvas side (mode `canvas`).
        max_shift: int >= 0. Largest shift per axis (mode `shift`).
        fill: float. Value of pixels the image does not cover.

    Examples:
        >>> protocol = keras_gpos.data.ViewProtocol("canvas", canvas_size=40)
        >>> a, b = protocol.views(np.ones((2, 32, 32, 3), "float32"), np.random.default_rng(0))
        >>> a.shape
        (2, 40, 40, 3)
    """

    mode: str = "canvas"
    canvas_size: int = 48
    max_shift: int = 4
    fill: float = 0.0

    def __post_init__(self):
        if self.mode not in VIEW_MODES:
            raise ValueError(f"Unknown view mode {self.mode!r}; expected one of {list(VIEW_MODES)}.")
        for name in ("canvas_size", "max_shift"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be an int >= 0; got {value!r}.")
        if self.mode == "canvas" and self.canvas_size < 1:
            raise ValueError(f"canvas_size must be positive; got {self.canvas_size}.")
        if isinstance(self.fill, bool) or not isinstance(self.fill, (int, float, np.floating)) or (
                not math.isfinite(self.fill)):
            raise ValueError(f"fill must be a finite number; got {self.fill!r}.")

    def check(self, image_shape):
        """Validates the protocol against `(height, width, ...)` images; returns them."""
        height, width = int(image_shape[0]), int(image_shape[1])
        if self.mode == "canvas":
            if self.canvas_size < max(height, width):
                raise ValueError(
                    f"canvas_size={self.canvas_size} is smaller than the {height}x{width} images; "
                    "the canvas must hold the whole image."
                )
        elif self.mode == "crop":
            if min(height, width) < 8:
                raise ValueError(f"the crop protocol needs images of at least 8 px; got {height}x{width}.")
        elif self.mode == "shift" and self.max_shift > min(height, width) - 1:
            raise ValueError(
                f"max_shift={self.max_shift} is larger than the image side minus one "
                f"({min(height, width) - 1} px)."
            )
        return image_shape

    def input_shape(self, image_shape):
        """`(height, width, channels)` of the views a model receives."""
        self.check(image_shape)
        if self.mode == "canvas":
            return (self.canvas_size, self.canvas_size) + tuple(image_shape[2:])
        if self.mode == "crop":
            height, width = int(image_shape[0]), int(image_shape[1])
            return (height - height // 8, width - width // 8) + tuple(image_shape[2:])
        return tuple(image_shape)

    def offset_range(self, image_shape):
        """`(low, high)` of the per-axis offsets (inclusive), for y and x."""
        height, width = int(image_shape[0]), int(image_shape[1])
        if self.mode == "canvas":
            return (0, self.canvas_size - height), (0, self.canvas_size - width)
        if self.mode == "crop":
            return (0, height // 8), (0, width // 8)
        if self.mode == "circular":
            return (0, height - 1), (0, width - 1)
        return (-self.max_shift, self.max_shift), (-self.max_shift, self.max_shift)

    def random_offsets(self, rng, count, image_shape):
        """`(oy, ox)` int arrays of `count` uniform offsets."""
        (ylo, yhi), (xlo, xhi) = self.offset_range(self.check(image_shape))
        return rng.integers(ylo, yhi + 1, size=count), rng.integers(xlo, xhi + 1, size=count)

    def place(self, images, offsets_y, offsets_x):
        """Each image at its own offset: the view under this protocol (NumPy, exact).

        Args:
            images: array `(batch, height, width, channels)` (integers
                become float32).
            offsets_y, offsets_x: int arrays `(batch,)` in `offset_range`.
        """
        images = np.asarray(images)
        if images.ndim != 4:
            raise ValueError(f"images must be (batch, height, width, channels); got {images.shape}.")
        self.check(images.shape[1:])
        if self.mode == "circular":
            return shift_views.roll(images, offsets_y, offsets_x)
        if self.mode == "crop":
            # A crop at (dy, dx) is the image moved by (-dy, -dx) onto the crop's frame.
            return shift_views.translate(images, -np.asarray(offsets_y), -np.asarray(offsets_x),
                                         self.input_shape(images.shape[1:])[:2], self.fill)
        size = (self.canvas_size, self.canvas_size) if self.mode == "canvas" else None
        return shift_views.translate(images, offsets_y, offsets_x, size, self.fill)

    def views(self, images, rng):
        """Two independent random views of each image: `(view_a, view_b)`."""
        images = np.asarray(images)
        first = self.random_offsets(rng, len(images), images.shape[1:])
        second = self.random_offsets(rng, len(images), images.shape[1:])
        return self.place(images, *first), self.place(images, *second)

    def diagonal_offsets(self, image_shape, stride=1):
        """Offsets `d` for an accuracy-vs-shift sweep along the diagonal `(d, d)`."""
        largest = self.offset_range(image_shape)[0][1]
        return sorted(set(range(0, largest + 1, stride)) | {largest})

    def describe(self, image_shape):
        """The protocol in words, for every results file."""
        height, width = int(image_shape[0]), int(image_shape[1])
        if self.mode == "crop":
            crop_h, crop_w = self.input_shape(image_shape)[:2]
            return (f"{crop_h}x{crop_w} crops of the {height}x{width} images at uniform random offsets "
                    f"0..{height // 8} px per axis (Zhang's 224-of-256 protocol, scaled); the model sees "
                    f"{crop_h}x{crop_w}")
        if self.mode == "circular":
            return (f"{height}x{width} images rolled circularly by uniform random offsets 0..{height - 1} "
                    "px per axis (the APS protocol); nothing is filled")
        if self.mode == "canvas":
            where = (f"{height}x{width} images at uniform random top-left offsets "
                     f"0..{self.canvas_size - height} px per axis on a "
                     f"{self.canvas_size}x{self.canvas_size} canvas")
        else:
            where = f"images shifted by uniform random offsets -{self.max_shift}..{self.max_shift} px per axis"
        return f"{where}, constant fill {self.fill:g} in normalised space (dataset-mean colour)"

    def to_dict(self):
        return dataclasses.asdict(self)
