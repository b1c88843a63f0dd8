"""Two views of each image that differ only by a translation (AugShift input).

TensorFlow graph code for `tf.data` training pipelines; the view settings are
one `keras_gpos.data.ViewProtocol`, whose NumPy twin the metrics use.
AugShift compares the pooled latents of the same image at two positions, so
the views must differ *only* in where the content sits:

* `canvas_views`: the image pasted at two independent random positions on a
  larger canvas of constant background (the paper's canvas setting; with
  normalised images a fill of 0 is the dataset-mean colour).
* `shift_views`: the image moved by two random offsets of up to `max_shift`
  pixels inside its own frame; vacated pixels take a constant fill. Reflect
  fill is deliberately not offered: it invents content that differs between
  the views, so the views would differ by more than a translation.

Everything is TensorFlow graph code, vectorised over the batch, meant for
`tf.data.Dataset.map` on batches; the training pipeline built from it is
`keras_gpos.data.view_pipeline.shift_view_dataset`.
"""

import tensorflow as tf


def _shift_matrix(offsets, out_size, in_size, dtype):
    """`(batch, out_size, in_size)` one-hot matrices: row `i + offset` picks
    input index `i`; rows that no input index reaches stay zero."""
    rows = tf.range(out_size)[None, :, None]
    cols = tf.range(in_size)[None, None, :]
    return tf.cast(tf.equal(rows, cols + offsets[:, None, None]), dtype)


def translate(images, offsets_y, offsets_x, output_size=None, fill=0.0):
    """Moves each image by its own integer offset onto an output frame.

    Output pixel `(y, x)` of image `b` is input pixel
    `(y - offsets_y[b], x - offsets_x[b])` when that lies inside the input,
    and `fill` otherwise. Offsets may be negative (content leaves the frame
    at the top/left). Implemented as two batched one-hot matrix products, so
    it is exact, differentiable and needs no per-sample loop.

    Args:
        images: float tensor `(batch, height, width, channels)` with a static
            spatial shape.
        offsets_y, offsets_x: int tensors `(batch,)`.
        output_size: `(height, width)` of the output frame, or None for the
            input size.
        fill: float. Value of pixels the image does not cover.

    Returns:
        A float tensor `(batch, out_height, out_width, channels)`.

    Example:

    >>> moved = keras_gpos.data.translate(tf.ones((2, 4, 4, 1)), [0, 1], [2, 0], (6, 6))
    >>> moved.shape
    TensorShape([2, 6, 6, 1])
    """
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        images = tf.cast(images, tf.float32)
    if images.shape.rank != 4:
        raise ValueError(
            f"images must be (batch, height, width, channels); got shape {images.shape}."
        )
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(f"images need a static spatial shape; got {images.shape}.")
    out_h, out_w = (height, width) if output_size is None else output_size
    offsets_y = tf.cast(offsets_y, tf.int32)
    offsets_x = tf.cast(offsets_x, tf.int32)
    rows = _shift_matrix(offsets_y, out_h, height, images.dtype)
    cols = _shift_matrix(offsets_x, out_w, width, images.dtype)
    moved = tf.einsum("byi,bijc,bxj->byxc", rows, images, cols)
    if fill == 0.0:
        return moved
    covered = tf.einsum("byi,bxj->byx", rows, cols)[..., None]
    return moved + (1.0 - covered) * tf.cast(fill, images.dtype)


def check_canvas_size(canvas_size, image_size):
    """Validates a canvas side against the image side it must hold."""
    if isinstance(canvas_size, bool) or not isinstance(canvas_size, int):
        raise ValueError(f"canvas_size must be an int; got {canvas_size!r}.")
    if canvas_size < image_size:
        raise ValueError(
            f"canvas_size={canvas_size} is smaller than the {image_size}px image; "
            "the canvas must hold the whole image."
        )
    return canvas_size


def check_max_shift(max_shift, limit, what):
    """Validates `max_shift` against the largest shift `what` allows."""
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0; got {max_shift!r}.")
    if max_shift > limit:
        raise ValueError(f"max_shift={max_shift} is larger than {what} ({limit} px).")
    return max_shift


def _static_square(images):
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4 or images.shape[1] is None or images.shape[2] is None:
        raise ValueError(
            "images must be (batch, height, width, channels) with a static "
            f"spatial shape; got {images.shape}."
        )
    return images, int(images.shape[1]), int(images.shape[2])


def random_offsets(batch_size, low, high, seed):
    """Uniform int offsets in `[low, high]` for y and x: `(2, batch)`.

    Args:
        seed: a stateless seed (shape `(2,)` int tensor) or None for the
            global stateful generator.
    """
    shape = (2, batch_size)
    if seed is None:
        return tf.random.uniform(shape, low, high + 1, dtype=tf.int32)
    return tf.random.stateless_uniform(shape, seed, low, high + 1, dtype=tf.int32)


def random_canvas_placement(images, canvas_size, fill=0.0, seed=None):
    """One view: every image at its own uniform random position on the canvas.

    Args:
        images: float tensor `(batch, h, w, c)`.
        canvas_size: int. Side of the square canvas (>= the image side).
        fill: float. Background value (0 = dataset mean for normalised images).
        seed: stateless seed `(2,)` or None.
    """
    images, height, width = _static_square(images)
    check_canvas_size(canvas_size, max(height, width))
    batch = tf.shape(images)[0]
    oy = random_offsets(batch, 0, canvas_size - height, seed)[0]
    ox = random_offsets(batch, 0, canvas_size - width, _next_seed(seed, 1))[1]
    return translate(images, oy, ox, (canvas_size, canvas_size), fill)


def _next_seed(seed, index):
    if seed is None:
        return None
    return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int32), index)


def canvas_views(images, canvas_size, fill=0.0, seed=None):
    """Two views per image: two independent random positions on a canvas.

    Args:
        images: float tensor `(batch, h, w, c)`, static spatial shape.
        canvas_size: int. Side of the square canvas (>= the image side).
        fill: float. Background value.
        seed: stateless seed `(2,)` int tensor, or None (stateful random).

    Returns:
        `(view_a, view_b)`, each `(batch, canvas_size, canvas_size, c)`.

    Example:

    >>> a, b = keras_gpos.data.canvas_views(tf.ones((2, 32, 32, 3)), 48)
    >>> a.shape
    TensorShape([2, 48, 48, 3])
    """
    return (
        random_canvas_placement(images, canvas_size, fill, seed),
        random_canvas_placement(images, canvas_size, fill, _next_seed(seed, 7)),
    )


def random_shift(images, max_shift, fill=0.0, seed=None):
    """One view: each image moved by a uniform random offset in
    `[-max_shift, max_shift]` per axis inside its own frame, constant fill."""
    images, height, width = _static_square(images)
    check_max_shift(max_shift, min(height, width) - 1, "the image side minus one")
    offsets = random_offsets(tf.shape(images)[0], -max_shift, max_shift, seed)
    return translate(images, offsets[0], offsets[1], None, fill)


def shifted_views(images, max_shift, fill=0.0, seed=None):
    """Two views per image: two random shifts of up to `max_shift` pixels.

    Args:
        images: float tensor `(batch, h, w, c)`, static spatial shape.
        max_shift: int >= 0. Largest shift per axis, in pixels.
        fill: float. Value of the pixels the shift vacates (constant fill;
            reflect fill would invent content).
        seed: stateless seed `(2,)` int tensor, or None.

    Returns:
        `(view_a, view_b)`, each the shape of `images`.

    Example:

    >>> a, b = keras_gpos.data.shifted_views(tf.ones((2, 32, 32, 3)), 4)
    >>> a.shape
    TensorShape([2, 32, 32, 3])
    """
    return (
        random_shift(images, max_shift, fill, seed),
        random_shift(images, max_shift, fill, _next_seed(seed, 7)),
    )


def _roll_matrix(offsets, size, dtype):
    """`(batch, size, size)` one-hot matrices moving index `i` to `(i + offset) mod size`."""
    rows = tf.range(size)[None, :, None]
    cols = tf.range(size)[None, None, :]
    return tf.cast(tf.equal(rows, (cols + offsets[:, None, None]) % size), dtype)


def one_view(images, protocol, seed=None):
    """One random view per image under `protocol` (TensorFlow ops, for training)."""
    images, height, width = _static_square(images)
    if protocol.mode == "canvas":
        return random_canvas_placement(images, protocol.canvas_size, protocol.fill, seed)
    if protocol.mode == "shift":
        return random_shift(images, protocol.max_shift, protocol.fill, seed)
    (ylo, yhi), (xlo, xhi) = protocol.offset_range((height, width))
    batch = tf.shape(images)[0]
    oy = random_offsets(batch, ylo, yhi, seed)[0]
    ox = random_offsets(batch, xlo, xhi, _next_seed(seed, 1))[1]
    if protocol.mode == "crop":
        crop_h, crop_w = protocol.input_shape((height, width))[:2]
        return translate(images, -oy, -ox, (crop_h, crop_w), protocol.fill)
    rows = _roll_matrix(oy, height, images.dtype)
    cols = _roll_matrix(ox, width, images.dtype)
    return tf.einsum("byi,bijc,bxj->byxc", rows, images, cols)


def make_views(images, protocol, seed=None):
    """`(view_a, view_b)` of a batch under a `ViewProtocol` (TensorFlow ops).

    Args:
        images: float tensor `(batch, h, w, c)`, static spatial shape.
        protocol: `keras_gpos.data.ViewProtocol`.
        seed: stateless seed `(2,)` int tensor, or None.
    """
    if protocol.mode == "canvas":
        return canvas_views(images, protocol.canvas_size, protocol.fill, seed)
    if protocol.mode == "shift":
        return shifted_views(images, protocol.max_shift, protocol.fill, seed)
    return one_view(images, protocol, seed), one_view(images, protocol, _next_seed(seed, 7))
