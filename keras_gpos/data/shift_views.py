"""Views of an image that differ only by a translation (NumPy, any backend).

The one implementation of view placement: `keras_gpos.data.ViewProtocol`
places its views with `translate` and `roll`, and the AugShift training
pipeline (`keras_gpos.data.shift_view_dataset`) and the consistency metrics
both go through the protocol. AugShift compares the pooled latents of the
same image at two positions, so the views must differ *only* in where the
content sits:

* `canvas_views`: the image pasted at two independent random positions on a
  larger canvas of constant background (the paper's canvas setting; with
  normalised images a fill of 0 is the dataset-mean colour).
* `shifted_views`: the image moved by two random offsets of up to
  `max_shift` pixels inside its own frame; vacated pixels take a constant
  fill. Reflect fill is deliberately not offered: it invents content that
  differs between the views, so the views would differ by more than a
  translation.

Placement copies whole rectangles per image (a loop over the batch, never
over pixels), so it is exact for any offset.
"""

import numpy as np

from keras_gpos.data.keyed import batch_array, rng_of


def _as_batch(images):
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (batch, height, width, channels); got shape {images.shape}.")
    if not np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32)
    return images


def translate(images, offsets_y, offsets_x, output_size=None, fill=0.0):
    """Moves each image by its own integer offset onto an output frame.

    Output pixel `(y, x)` of image `b` is input pixel
    `(y - offsets_y[b], x - offsets_x[b])` when that lies inside the input,
    and `fill` otherwise. Offsets may be negative (content leaves the frame
    at the top/left), so a crop is a translation by minus its corner.

    Args:
        images: array `(batch, height, width, channels)` (integers become
            float32).
        offsets_y, offsets_x: int arrays `(batch,)`.
        output_size: `(height, width)` of the output frame, or None for the
            input size.
        fill: float. Value of pixels the image does not cover.

    Returns:
        An array `(batch, out_height, out_width, channels)` of the images'
        float dtype.

    Examples:
        >>> moved = keras_gpos.data.translate(np.ones((2, 4, 4, 1)), [0, 1], [2, 0], (6, 6))
        >>> moved.shape, float(moved[0, 0, 2, 0]), float(moved[0, 0, 1, 0])
        ((2, 6, 6, 1), 1.0, 0.0)
    """
    images = _as_batch(images)
    count, height, width, channels = images.shape
    out_h, out_w = (height, width) if output_size is None else (int(output_size[0]), int(output_size[1]))
    offsets_y, offsets_x = np.asarray(offsets_y).reshape(-1), np.asarray(offsets_x).reshape(-1)
    if len(offsets_y) != count or len(offsets_x) != count:
        raise ValueError(f"{len(offsets_y)} y and {len(offsets_x)} x offsets for {count} images; pass one each.")
    out = batch_array((count, out_h, out_w, channels), images.dtype, fill)
    for index in range(count):
        dy, dx = int(offsets_y[index]), int(offsets_x[index])
        # Destination rows dy .. dy + height, clipped to the frame.
        top, left = max(dy, 0), max(dx, 0)
        bottom, right = min(dy + height, out_h), min(dx + width, out_w)
        if bottom > top and right > left:
            out[index, top:bottom, left:right] = images[index, top - dy:bottom - dy, left - dx:right - dx]
    return out


def roll(images, offsets_y, offsets_x):
    """Circular shift of each image by its own offsets: output `(y, x)` is input `(y - dy, x - dx)` mod size."""
    images = _as_batch(images)
    count, height, width, _ = images.shape
    offsets_y, offsets_x = np.asarray(offsets_y).reshape(-1), np.asarray(offsets_x).reshape(-1)
    if len(offsets_y) != count or len(offsets_x) != count:
        raise ValueError(f"{len(offsets_y)} y and {len(offsets_x)} x offsets for {count} images; pass one each.")
    out = batch_array(images.shape, images.dtype)
    for index in range(count):
        dy, dx = int(offsets_y[index]) % height, int(offsets_x[index]) % width
        image, target = images[index], out[index]
        # Four rectangles: the wrapped bottom-right block lands at the top-left, and so on.
        target[dy:, dx:] = image[:height - dy, :width - dx]
        target[dy:, :dx] = image[:height - dy, width - dx:]
        target[:dy, dx:] = image[height - dy:, :width - dx]
        target[:dy, :dx] = image[height - dy:, width - dx:]
    return out


def canvas_views(images, canvas_size, fill=0.0, seed=None):
    """Two views per image: two independent random positions on a canvas.

    Args:
        images: array `(batch, h, w, c)`.
        canvas_size: int. Side of the square canvas (>= the image side).
        fill: float. Background value.
        seed: int, sequence of ints, `numpy.random.Generator` or None.

    Returns:
        `(view_a, view_b)`, each `(batch, canvas_size, canvas_size, c)`.

    Examples:
        >>> a, b = keras_gpos.data.canvas_views(np.ones((2, 32, 32, 3)), 48, seed=0)
        >>> a.shape
        (2, 48, 48, 3)
    """
    from keras_gpos.data.view_protocol import ViewProtocol

    return make_views(images, ViewProtocol("canvas", canvas_size=canvas_size, fill=fill), seed)


def shifted_views(images, max_shift, fill=0.0, seed=None):
    """Two views per image: two random shifts of up to `max_shift` pixels per axis.

    Args:
        images: array `(batch, h, w, c)`.
        max_shift: int >= 0. Largest shift per axis, in pixels.
        fill: float. Value of the pixels the shift vacates (constant fill;
            reflect fill would invent content).
        seed: int, sequence of ints, `numpy.random.Generator` or None.

    Returns:
        `(view_a, view_b)`, each the shape of `images`.

    Examples:
        >>> a, b = keras_gpos.data.shifted_views(np.ones((2, 32, 32, 3)), 4, seed=0)
        >>> a.shape
        (2, 32, 32, 3)
    """
    from keras_gpos.data.view_protocol import ViewProtocol

    return make_views(images, ViewProtocol("shift", max_shift=max_shift, fill=fill), seed)


def one_view(images, protocol, seed=None):
    """One random view per image under a `keras_gpos.data.ViewProtocol`."""
    images = _as_batch(images)
    rng = rng_of(seed)
    return protocol.place(images, *protocol.random_offsets(rng, len(images), images.shape[1:]))


def make_views(images, protocol, seed=None):
    """`(view_a, view_b)` of a batch under a `ViewProtocol`: independent offsets, the same image."""
    return protocol.views(_as_batch(images), rng_of(seed))
