"""Reports shift consistency on a validation set at the end of every epoch."""

import keras

from keras_gpos.metrics.consistency import shift_consistency


class ShiftConsistencyCallback(keras.callbacks.Callback):
    """Adds `val_consistency` (fraction, like `val_accuracy`) to the epoch logs.

    Put it *before* callbacks that read the logs (CSVLogger, checkpoints),
    so they see the value. The views follow
    `keras_gpos.metrics.shift_consistency`'s protocol with a fixed seed, so
    the number is comparable across epochs and models.

    Args:
        images: float array `(N, h, w, c)` of normalised validation images.
        mode, canvas_size, max_shift, fill, repeats, seed: see
            `keras_gpos.metrics.shift_consistency`.
        log_name: str. Key written into the logs.

    Example:

    >>> cb = keras_gpos.training.ShiftConsistencyCallback(val_images, canvas_size=48)
    >>> model.fit(train_views, epochs=5, callbacks=[cb])
    """

    def __init__(
        self, images, mode="canvas", canvas_size=48, max_shift=4, fill=0.0, repeats=1,
        seed=1234, log_name="val_consistency",
    ):
        super().__init__()
        self.images = images
        self.kwargs = dict(
            mode=mode, canvas_size=canvas_size, max_shift=max_shift, fill=fill,
            repeats=repeats, seed=seed,
        )
        self.log_name = log_name
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        value = shift_consistency(self.model, self.images, **self.kwargs) / 100.0
        self.history.append(value)
        if logs is not None:
            logs[self.log_name] = value
