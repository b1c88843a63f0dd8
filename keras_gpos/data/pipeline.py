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

    Args:
        seed: a stateless seed (shape `(2,)` int tensor), or an int op seed /
            None for TensorFlow's stateful generator.
    """
    batch = tf.shape(images)[0]
    if seed is not None and not isinstance(seed, int):
        flip = tf.random.stateless_uniform((batch, 1), seed) < 0.5
    else:
        flip = tf.random.uniform((batch, 1), seed=seed) < 0.5
    flat = tf.reshape(images, (batch, -1))
    mirrored = tf.reshape(tf.reverse(images, axis=[2]), (batch, -1))
    return tf.reshape(tf.where(flip, mirrored, flat), tf.shape(images))


def epoch_key(seed, epoch):
    """The stateless seed `(2,)` of one epoch: a function of `(seed, epoch)` only."""
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])


def batch_key(key, index):
    """The stateless seed of batch `index` inside the epoch keyed `key`."""
    return tf.random.experimental.stateless_fold_in(tf.cast(key, tf.int64), tf.cast(index, tf.int64))


def keyed_epochs(arrays, batch_size, make_batch, seed, epochs=None, initial_epoch=0):
    """Shuffled training batches whose randomness is drawn from `(seed, epoch)`.

    Each epoch orders the examples by a stateless shuffle keyed by
    `(seed, epoch)`, batches them, and maps `make_batch(*batch, key)` with a
    stateless key per batch. The same `(seed, epoch)` gives the same batches
    in any process, so a run resumed at epoch `e` sees exactly the batches
    an uninterrupted run sees there.

    Args:
        arrays: tuple of NumPy arrays with one example per row (e.g.
            `(images, labels)`).
        batch_size: int. Examples per batch.
        make_batch: function `(*batch, key) -> element`.
        seed: int. Seed of the whole stream.
        epochs: int or None. With an int, the stream holds the batches of
            epochs `initial_epoch .. epochs - 1` in turn (pass
            `steps_per_epoch` to `fit`). None gives one epoch per iteration
            with a fresh key each time (like `shuffle(...,
            reshuffle_each_iteration=True)`): random, not reproducible.
        initial_epoch: int. First epoch of the stream.
    """
    count = len(arrays[0])
    tensors = tuple(tf.constant(array) for array in arrays)
    steps = -(-count // batch_size)

    def one_epoch(key):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), seed=tf.random.experimental.stateless_fold_in(key, 0x5EED))
        batched = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()

        def gather(index, ids):
            return make_batch(*(tf.gather(tensor, ids) for tensor in tensors), batch_key(key, index))

        return batched.map(gather, num_parallel_calls=AUTOTUNE, deterministic=True)

    if epochs is None:
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        stream = keys.flat_map(lambda value: one_epoch(epoch_key(seed, value)))
        return stream.apply(tf.data.experimental.assert_cardinality(steps))
    stream = tf.data.Dataset.range(initial_epoch, epochs).flat_map(
        lambda epoch: one_epoch(epoch_key(seed, epoch)))
    return stream.apply(tf.data.experimental.assert_cardinality(max(0, epochs - initial_epoch) * steps))


def steps_per_epoch(count, batch_size):
    """Batches per training epoch of `count` examples (the last one may be smaller)."""
    return -(-int(count) // int(batch_size))


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
    epochs=None,
    initial_epoch=0,
):
    """Batches of grid canvases from an `ImageSet`.

    Training mode shuffles (afresh each epoch), optionally flips each image
    inside its cell, and draws a random cell per image; all of it keyed by
    `(seed, epoch)` when `epochs` is given (see `keyed_epochs`). Evaluation mode is
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
        seed: int. Seed of shuffling, flips, cells and the `"noise"` background.
        epochs, initial_epoch: training only. With `epochs`, one stream of
            the batches of epochs `initial_epoch .. epochs - 1`, reproducible
            in any process (fit it with `steps_per_epoch`); None (default)
            reshuffles on every iteration.

    Returns:
        A `tf.data.Dataset` of `(canvas, target)` batches.
    """
    grid.check_grid_size(grid_size)
    grid.check_background(background)
    if target not in grid.LABEL_KINDS:
        raise ValueError(f"Unknown target {target!r}; expected one of {list(grid.LABEL_KINDS)}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    if len(image_set) == 0:
        raise ValueError(f"{image_set.source or 'The image set'} is empty.")
    cells_per_image = grid_size * grid_size
    arrays = (image_set.images, image_set.labels.astype(np.int64))

    def place(images, labels, cells, key):
        # A stateless key for the "noise" background: the same canvases in every
        # process and after a resume (a stateful draw would differ).
        canvas = grid.place_on_grid(
            images, cells, grid_size, background, pixel_mean=mean, pixel_std=std, seed=key
        )
        return canvas, _target(target, cells, labels)

    if training:
        def training_batch(images, labels, key):
            if flip:
                images = random_flip_left_right(images, seed=tf.random.experimental.stateless_fold_in(key, 1))
            images = normalize(images, mean, std)
            cells = tf.random.stateless_uniform(
                (tf.shape(images)[0],), tf.random.experimental.stateless_fold_in(key, 2),
                0, cells_per_image, dtype=tf.int32)
            return place(images, labels, cells, tf.random.experimental.stateless_fold_in(key, 3))

        dataset = keyed_epochs(arrays, batch_size, training_batch, seed, epochs, initial_epoch)
        return dataset.prefetch(AUTOTUNE)

    def evaluation_batch(index, batch):
        images, labels = batch
        images, labels, cells = grid.exhaustive_placement(normalize(images, mean, std), labels, grid_size)
        # Evaluation noise is keyed by (seed, batch index): every pass sees the same canvases.
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)])
        return place(images, labels, cells, key)

    dataset = tf.data.Dataset.from_tensor_slices(arrays).batch(max(1, batch_size // cells_per_image))
    dataset = dataset.enumerate().map(evaluation_batch, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.prefetch(AUTOTUNE)
