"""The AugShift training pipeline: shuffled, flipped, normalised view batches.

`shift_view_dataset` turns an `ImageSet` (or an `(images, labels)` pair) into
`((view_a, view_b), label)` batches for AugShift, or `(view, label)` batches
for its baseline, drawn from `(seed, epoch, batch index)` so an interrupted
run resumes on the same stream, on any backend. The views are placed by the
protocol (`keras_gpos.data.ViewProtocol`, `keras_gpos.data.shift_views`).
"""

import numpy as np

from keras_gpos.data.feed import fit_input
from keras_gpos.data.image_set import ImageSet
from keras_gpos.data.keyed import KeyedBatches
from keras_gpos.data.shift_views import make_views, one_view
from keras_gpos.data.transforms import flip_left_right, normalize
from keras_gpos.data.view_protocol import ViewProtocol


def _as_images_and_labels(data):
    """`(uint8 or float images, int labels)` from an ImageSet or an `(images, labels)` pair."""
    if isinstance(data, ImageSet):
        return data.images, data.labels
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = (np.asarray(v) for v in data)
        if images.ndim != 4:
            raise ValueError(f"images must be (N, height, width, channels); got shape {images.shape}.")
        if labels.shape != (len(images),):
            raise ValueError(f"{labels.shape} labels do not match {len(images)} images.")
        return images, labels
    raise ValueError(
        "shift_view_dataset takes a keras_gpos.data.ImageSet or an (images, labels) pair of "
        f"arrays; got {type(data).__name__}."
    )


def shift_view_batches(data, mean, std, batch_size, protocol=None, two_views=True, flip=True, seed=0):
    """The keyed source of `shift_view_dataset` (same arguments): a `KeyedBatches`.

    Batch `(epoch, i)`: the rows of the epoch's order, flipped where
    `key.rng("flip")` says so (one flip per image, shared by both views),
    normalised, placed at offsets drawn from `key.rng("views")` (view a's
    offsets, then view b's).
    """
    protocol = ViewProtocol() if protocol is None else protocol
    if not isinstance(protocol, ViewProtocol):
        raise ValueError(f"protocol must be a keras_gpos.data.ViewProtocol; got {protocol!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    images, labels = _as_images_and_labels(data)
    if len(images) == 0:
        raise ValueError("shift_view_dataset got no images.")
    protocol.check(images.shape[1:])
    if images.dtype == np.uint8:
        if mean is None or std is None:
            raise ValueError("uint8 images need mean and std (keras_gpos.data.normalization_stats).")
    elif mean is not None or std is not None:
        raise ValueError("float images are taken as already normalised; pass mean=None, std=None.")
    else:
        images = images.astype(np.float32)

    def to_views(batch, batch_labels, key):
        if flip:
            flip_left_right(batch, key.rng("flip").random(len(batch)) < 0.5)
        if mean is not None:
            batch = normalize(batch, mean, std)
        if two_views:
            return make_views(batch, protocol, key.rng("views")), batch_labels
        return one_view(batch, protocol, key.rng("views")), batch_labels

    return KeyedBatches((images, labels.astype(np.int64)), batch_size, to_views, seed)


def shift_view_dataset(
    data,
    mean,
    std,
    batch_size,
    protocol=None,
    two_views=True,
    flip=True,
    seed=0,
    epochs=None,
    initial_epoch=0,
):
    """Training batches for AugShift (two views) or a baseline (one view).

    Each epoch shuffles afresh, flips each image with probability 1/2 (the
    flip is shared by both views, so they still differ only by a
    translation), normalises, and draws fresh positions; with `epochs`, all
    of it is drawn from `(seed, epoch, batch index)` (see `shift_view_batches`).

    Args:
        data: a `keras_gpos.data.ImageSet`, or an `(images, labels)` pair of
            arrays (uint8 pixels, or floats already normalised: then pass
            `mean=None, std=None`).
        mean, std: per-channel pixel normalisation of uint8 images, or None.
        batch_size: int. Global batch size (images; a batch holds
            `batch_size` images in each view).
        protocol: a `keras_gpos.data.ViewProtocol` (default: canvas 48).
        two_views: bool. `((view_a, view_b), label)` batches when True,
            `(view, label)` (the baseline with the same random placement)
            when False.
        flip: bool. Random horizontal flip.
        seed: int. Seed of shuffling, flips and positions.
        epochs, initial_epoch: see `keras_gpos.data.grid_dataset`.

    Returns:
        A `tf.data.Dataset` on TensorFlow, a `keras.utils.PyDataset`
        elsewhere (`keras_gpos.data.fit_input`).

    Examples:
        >>> train = keras_gpos.data.make_shapes_dataset(64)
        >>> mean, std = keras_gpos.data.normalization_stats(train)
        >>> protocol = keras_gpos.data.ViewProtocol("canvas", canvas_size=40)
        >>> views = keras_gpos.data.shift_view_dataset(train, mean, std, 16, protocol)
        >>> (view_a, view_b), labels = next(iter(views))
        >>> tuple(view_a.shape)
        (16, 40, 40, 3)
    """
    source = shift_view_batches(data, mean, std, batch_size, protocol, two_views, flip, seed)
    return fit_input(source, epochs, initial_epoch)
