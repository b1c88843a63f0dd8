"""Grid-canvas batches of an `ImageSet`, keyed by `(seed, epoch, batch index)`.

`grid_batches` is the source (NumPy, any backend); `grid_dataset` feeds it
to `fit` on the current backend (`keras_gpos.data.fit_input`): a
`tf.data.Dataset` on TensorFlow, a `keras.utils.PyDataset` elsewhere.
"""

import numpy as np

from keras_gpos.data import grid
from keras_gpos.data.feed import fit_input
from keras_gpos.data.keyed import KeyedBatches, steps_per_epoch  # noqa: F401 - steps_per_epoch re-exported
from keras_gpos.data.transforms import flip_left_right, normalize  # noqa: F401 - normalize re-exported


def keyed_epochs(arrays, batch_size, make_batch, seed, epochs=None, initial_epoch=0):
    """Shuffled training batches whose randomness is drawn from `(seed, epoch, batch index)`.

    Each epoch orders the examples by a permutation keyed by `(seed, epoch)`,
    batches them, and makes each batch with `make_batch(*rows, key)`, where
    `key` is the batch's `keras_gpos.data.BatchKey`. The same `(seed,
    epoch, index)` gives the same batch in any process, so a run resumed at
    epoch `e` sees exactly the batches an uninterrupted run sees there.

    Args:
        arrays: tuple of NumPy arrays with one example per row (e.g.
            `(images, labels)`).
        batch_size: int. Examples per batch.
        make_batch: function `(*rows, key) -> batch` of NumPy arrays.
        seed: int in [0, 2**31). Seed of the whole stream.
        epochs: int or None. With an int, the stream holds the batches of
            epochs `initial_epoch .. epochs - 1` in turn (pass
            `steps_per_epoch` to `fit`). None gives one epoch per pass with
            a fresh random key: random, not reproducible.
        initial_epoch: int. First epoch of the stream.

    Returns:
        What `fit` takes on the current backend (`keras_gpos.data.fit_input`).
    """
    return fit_input(KeyedBatches(arrays, batch_size, make_batch, seed), epochs, initial_epoch)


def _target(kind, cells, labels):
    cells = cells.astype(np.int64)
    if kind == "location":
        return cells
    if kind == "class":
        return labels
    return {"location": cells, "class": labels}


def _check(image_set, grid_size, target, batch_size, background):
    grid.check_grid_size(grid_size)
    grid.check_background(background)
    if target not in grid.LABEL_KINDS:
        raise ValueError(f"Unknown target {target!r}; expected one of {list(grid.LABEL_KINDS)}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    if len(image_set) == 0:
        raise ValueError(f"{image_set.source or 'The image set'} is empty.")


def grid_batches(image_set, grid_size, target="location", batch_size=48, training=False, mean=(0.0, 0.0, 0.0),
                 std=(1.0, 1.0, 1.0), background="zeros", flip=False, seed=0):
    """The keyed source of `grid_dataset` (same arguments): a `KeyedBatches`.

    Training batch `(epoch, i)`: the rows of the epoch's order, each image
    flipped inside its cell where `key.rng("flip")` says so, normalised,
    in a cell drawn from `key.rng("cells")`, on a background drawn (for
    `"noise"`) from `key.rng("noise")`. Evaluation batch `i`: images
    `i * n ... (i + 1) * n - 1` (`n = batch_size // grid_size**2`, at least
    1), each in every cell in order, noise from `BatchKey(seed, 0,
    i).rng("evaluation_noise")`.
    """
    _check(image_set, grid_size, target, batch_size, background)
    cells_per_image = grid_size * grid_size
    arrays = (image_set.images, image_set.labels.astype(np.int64))

    def place(images, labels, cells, noise):
        # pixel_mean/std: black, white and noise are pixel values mapped into the images' space.
        canvas = grid.place_on_grid(images, cells, grid_size, background, pixel_mean=mean, pixel_std=std,
                                    seed=noise)
        return canvas, _target(target, cells, labels)

    if training:
        def training_batch(images, labels, key):
            if flip:
                flip_left_right(images, key.rng("flip").random(len(images)) < 0.5)
            cells = key.rng("cells").integers(0, cells_per_image, len(images))
            return place(normalize(images, mean, std), labels, cells, key.rng("noise"))

        return KeyedBatches(arrays, batch_size, training_batch, seed, shuffle=True)

    def evaluation_batch(images, labels, key):
        images, labels, cells = grid.exhaustive_placement(normalize(images, mean, std), labels, grid_size)
        return place(images, labels, cells, key.rng("evaluation_noise"))

    return KeyedBatches(arrays, max(1, batch_size // cells_per_image), evaluation_batch, seed, shuffle=False)


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
    """Batches of grid canvases from an `ImageSet`, fed on the current backend.

    Training mode shuffles (afresh each epoch), optionally flips each image
    inside its cell, and draws a random cell per image; all of it keyed by
    `(seed, epoch, batch index)` when `epochs` is given (see `grid_batches`).
    Evaluation mode is exhaustive and deterministic: every image in every
    cell, in order, so a set of N images yields N * grid_size**2 canvases.

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
            draws a fresh epoch key on every pass.

    Returns:
        `(canvas, target)` batches: a `tf.data.Dataset` on TensorFlow, a
        `keras.utils.PyDataset` elsewhere (`keras_gpos.data.fit_input`).

    Examples:
        >>> shapes = keras_gpos.data.make_shapes_dataset(8)
        >>> canvases, cells = next(iter(keras_gpos.data.grid_dataset(shapes, 2, batch_size=8)))
        >>> tuple(canvases.shape), [int(c) for c in cells]
        ((8, 64, 64, 3), [0, 1, 2, 3, 0, 1, 2, 3])
    """
    source = grid_batches(image_set, grid_size, target, batch_size, training, mean, std, background, flip, seed)
    if training:
        return fit_input(source, epochs, initial_epoch)
    return fit_input(source)
