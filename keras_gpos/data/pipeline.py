"""tf.data pipelines that turn an `ImageSet` into grid-canvas batches."""

import numpy as np
import tensorflow as tf

from keras_gpos.data import grid

AUTOTUNE = tf.data.AUTOTUNE


def normalize(images, mean, std):
    """uint8 pixels -> float32 `(pixel / 255 - mean) / std`.

    Computed as one multiply-add with per-channel constants tiled along the
    image row: Eigen broadcasts a vector of a row's length fast, but a
    3-vector over the innermost axis slowly (about 5x slower on a batch of
    32x32 images, benchmarks/run.py).
    """
    images = tf.convert_to_tensor(images)
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    scale, offset = 1.0 / (255.0 * std), -mean / std
    pixels = tf.cast(images, tf.float32)
    row_shape = images.shape[-2:] if images.shape.rank and images.shape.rank >= 2 else None
    if row_shape is None or None in row_shape or scale.ndim > 1:
        return pixels * tf.constant(scale, tf.float32) + tf.constant(offset, tf.float32)
    width, channels = row_shape
    row_scale = np.tile(np.broadcast_to(scale, (channels,)), width)
    row_offset = np.tile(np.broadcast_to(offset, (channels,)), width)
    rows = tf.reshape(pixels, (-1, width * channels))
    rows = rows * tf.constant(row_scale, tf.float32) + tf.constant(row_offset, tf.float32)
    return tf.reshape(rows, tf.shape(images))


def random_flip_left_right(images, seed=None):
    """Flips each image of a batch horizontally with probability 1/2.

    The choice is a select between the flattened images and their mirror
    images with a `(batch, 1)` condition; a `(batch, 1, 1, 1)` condition
    broadcasts slowly. Works on any dtype, so pipelines flip the uint8
    pixels, a quarter of the bytes of the normalised floats.
    """
    batch = tf.shape(images)[0]
    flip = tf.random.uniform((batch, 1), seed=seed) < 0.5
    flat = tf.reshape(images, (batch, -1))
    mirrored = tf.reshape(tf.reverse(images, axis=[2]), (batch, -1))
    return tf.reshape(tf.where(flip, mirrored, flat), tf.shape(images))


def _target(kind, cells, labels):
    if kind == "location":
        return tf.cast(cells, tf.int64)
    if kind == "class":
        return labels
    return {"location": tf.cast(cells, tf.int64), "class": labels}


def grid_dataset(
    image_set,
    grid_size,
    target="location",
    batch_size=48,
    training=False,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    background="zeros",
    flip=False,
    seed=0,
):
    """Batches of grid canvases from an `ImageSet`.

    Training mode shuffles (afresh each epoch), optionally flips each image
    inside its cell, and draws a random cell per image. Evaluation mode is
    exhaustive and deterministic: every image in every cell, in order, so a
    set of N images yields N * grid_size**2 canvases.

    Args:
        image_set: `keras_gpos.data.ImageSet`.
        grid_size: int >= 1.
        target: `"location"` (cell index), `"class"` or `"both"` (a dict).
        batch_size: int. Canvases per batch (global batch size). In
            evaluation mode it is rounded down to whole groups of
            `grid_size**2` canvases.
        training: bool.
        mean, std: per-channel pixel normalisation.
        background: see `keras_gpos.data.place_on_grid`.
        flip: bool. Random horizontal flip of the image (never the canvas:
            that would move it to another cell). Training only.
        seed: int. Seed of shuffling, flips and cells.

    Returns:
        A `tf.data.Dataset` of `(canvas, target)` batches.
    """
    grid.check_grid_size(grid_size)
    grid.check_background(background)
    if target not in grid.LABEL_KINDS:
        raise ValueError(f"Unknown target {target!r}; expected one of {list(grid.LABEL_KINDS)}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    if len(image_set) == 0:
        raise ValueError(f"{image_set.source or 'The image set'} is empty.")
    cells_per_image = grid_size * grid_size
    images_per_batch = batch_size if training else max(1, batch_size // cells_per_image)
    dataset = tf.data.Dataset.from_tensor_slices(
        (image_set.images, image_set.labels.astype(np.int64))
    )
    if training:
        dataset = dataset.shuffle(len(image_set), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(images_per_batch)

    def to_canvas(images, labels):
        if training and flip:
            images = random_flip_left_right(images, seed=seed)
        images = normalize(images, mean, std)
        if training:
            cells = grid.random_cells(tf.shape(images)[0], grid_size, seed=seed)
        else:
            images, labels, cells = grid.exhaustive_placement(images, labels, grid_size)
        canvas = grid.place_on_grid(
            images, cells, grid_size, background, pixel_mean=mean, pixel_std=std
        )
        return canvas, _target(target, cells, labels)

    dataset = dataset.map(to_canvas, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.prefetch(AUTOTUNE)
