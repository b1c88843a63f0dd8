"""Callbacks a user drops into `fit`: a NaN guard and per-epoch seeding of random layers."""

import math

import keras
import numpy as np


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Fails loudly on a NaN/Inf loss instead of saving a broken model."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"loss became {loss} at batch {batch}; check the inputs for "
                "NaN/Inf values and lower the learning rate."
            )


class EpochSeeds(keras.callbacks.Callback):
    """Re-keys every random layer of the model from `(seed, epoch)` at each epoch start.

    Dropout, `ChannelPermutation` and other layers draw from Keras
    `SeedGenerator`s whose state is not saved with the weights, so a run
    resumed from a backup would continue with other random draws than an
    uninterrupted run. Setting each generator's state from `(seed, epoch,
    generator index)` at the start of every epoch makes the draws of epoch
    `e` the same in any process: with the data stream keyed the same way,
    a resumed run is bit-identical to an uninterrupted one.

    Args:
        seed: int. The run's seed.
    """

    def __init__(self, seed):
        super().__init__()
        self.seed = int(seed)

    def generators(self):
        found, seen = [], set()
        for layer in self.model._flatten_layers(include_self=True, recursive=True):
            for generator in getattr(layer, "_seed_generators", []):
                if id(generator) not in seen:
                    seen.add(id(generator))
                    found.append(generator)
        return found

    def on_epoch_begin(self, epoch, logs=None):
        for index, generator in enumerate(self.generators()):
            value = np.random.default_rng([self.seed, epoch, index]).integers(0, 2**30)
            state = generator.state
            generator.state.assign(keras.ops.convert_to_tensor([int(value), 0], dtype=state.dtype))
