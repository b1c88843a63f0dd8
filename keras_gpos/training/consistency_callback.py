"""Reports shift consistency on a validation set at the end of every epoch."""

import keras

from keras_gpos.metrics.consistency import shift_consistency


class ShiftConsistencyCallback(keras.callbacks.Callback):
    """Adds `val_consistency` (a fraction, like `val_accuracy`) to the epoch logs.

    Put it *before* callbacks that read the logs (CSVLogger, checkpoints),
    so they see the value. The views follow
    `keras_gpos.metrics.consistency_and_accuracy`'s protocol with a fixed
    seed, so the number is comparable across epochs and models.

    Args:
        images: normalised validation images (an array, or anything
            `keras_gpos.base.inputs.batches` takes and can read repeatedly).
        protocol: a `keras_gpos.data.ViewProtocol`.
        repeats, seed: see `keras_gpos.metrics.consistency_and_accuracy`.
        log_name: str. Key written into the logs.

    Examples:
        >>> val_images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
        >>> callback = keras_gpos.training.ShiftConsistencyCallback(
        ...     val_images, keras_gpos.data.ViewProtocol(canvas_size=40))
        >>> model = keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc")
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> x, y = np.zeros((4, 40, 40, 3), "float32"), np.zeros(4, int)
        >>> history = model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])
        >>> len(history.history["val_consistency"])
        2
    """

    def __init__(self, images, protocol=None, repeats=1, seed=1234, log_name="val_consistency"):
        super().__init__()
        self.images = images
        self.protocol = protocol
        self.repeats = repeats
        self.seed = seed
        self.log_name = log_name
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        value = shift_consistency(self.model, self.images, protocol=self.protocol,
                                  repeats=self.repeats, seed=self.seed)
        self.history.append(value)
        if logs is not None:
            logs[self.log_name] = value
