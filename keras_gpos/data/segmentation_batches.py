"""Segmentation batches `(float32 images in [0, 255], int32 masks)`, keyed and fed on any backend.

The training stream of `position_attack`: shuffled per epoch, optionally
flipped (image and mask together), keyed by `(seed, epoch, batch index)`.
The models normalise inside, so images stay raw pixels.
"""

import numpy as np

from keras_gpos.data.feed import fit_input
from keras_gpos.data.keyed import KeyedBatches, batch_array
from keras_gpos.data.transforms import flip_left_right


def segmentation_batches(data, batch_size, training=False, flip=False, seed=0):
    """The keyed source of `segmentation_dataset` (same arguments): a `KeyedBatches`.

    Batch `(epoch, i)` of training: the scenes of the epoch's order; where
    `key.rng("flip")` says so, a scene and its mask are mirrored together.
    Evaluation: scenes in order, never flipped.
    """
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    if len(data) == 0:
        raise ValueError(f"{data.source or 'The segmentation set'} is empty.")

    def scenes(images, masks, key):
        if training and flip:
            # One coin per scene; image and mask flip together.
            coins = key.rng("flip").random(len(images)) < 0.5
            flip_left_right(images, coins)
            flip_left_right(masks, coins)
        return batch_array(images.shape, np.float32, images), batch_array(masks.shape, np.int32, masks)

    return KeyedBatches((data.images, data.masks), int(batch_size), scenes, seed, shuffle=bool(training))


def segmentation_dataset(data, batch_size, training=False, flip=False, seed=0, epochs=None, initial_epoch=0):
    """Batches of `(float32 images in [0, 255], int32 masks)`, fed on the current backend.

    Args:
        data: a `SegmentationSet`.
        batch_size: int. Global batch size.
        training: bool. Shuffle every epoch (and flip, if asked).
        flip: bool. Random horizontal flips while training. Off by default:
            flips make a network more mirror-symmetric and hide the
            position channels that the attacks exploit.
        seed: int. Shuffle and flip seed.
        epochs, initial_epoch: training only; with `epochs` the batches of
            epochs `initial_epoch .. epochs - 1`, drawn from `(seed, epoch,
            batch index)` (see `keras_gpos.data.keyed_epochs`).

    Returns:
        A `tf.data.Dataset` on TensorFlow, a `keras.utils.PyDataset`
        elsewhere (`keras_gpos.data.fit_input`).

    Raises:
        ValueError: an empty set or a batch size that is not a positive int.
    """
    source = segmentation_batches(data, batch_size, training, flip, seed)
    if training:
        return fit_input(source, epochs, initial_epoch)
    return fit_input(source)
