"""Watch position move into channel order while a network trains."""

import pathlib
import time

import keras
from absl import logging


class PositionAuditCallback(keras.callbacks.Callback):
    """Runs a light position audit every `every` epochs during `fit`.

    Adds `audit_<layer>_<task>_<view>` (probe accuracies, fractions) and
    `audit_seconds` (the cost of the call) to the epoch logs, so they reach
    `history`, CSV logs and TensorBoard; put it *before* callbacks that read
    the logs. With `directory`, the last audit is written there (JSON,
    Markdown, PNG). The light audit skips the flip rankings.

    Args:
        images: a fixed probe set (any form `keras_gpos.base.inputs.batches`
            takes), in the model's input range; labels (classes) optional.
        layers: layers to audit (default: `keras_gpos.audit.default_layers`).
        every: int. Audit every `every` epochs (and after the last one).
        grid_size, background, probe_images: see `position_audit`.
        directory: where to write the last audit, or None.

    Examples:
        >>> model = keras_gpos.models.build_classifier(4, (32, 32, 3), depth=10, width=4, head="fc")
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> probe = np.random.default_rng(0).normal(size=(8, 16, 16, 3)).astype("float32")
        >>> callback = keras_gpos.audit.PositionAuditCallback(probe, layers=["stage4_out"], grid_size=2)
        >>> history = model.fit(np.zeros((8, 32, 32, 3)), np.zeros(8), epochs=1, verbose=0, callbacks=[callback])
        >>> "audit_stage4_out_location_ordered" in history.history
        True
    """

    def __init__(self, images, layers=None, every=1, grid_size=3, background=0.0, probe_images=256,
                 directory=None):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int; got {every!r}.")
        self.images = images
        self.layers = layers
        self.every = every
        self.grid_size = grid_size
        self.background = background
        self.probe_images = probe_images
        self.directory = None if directory is None else pathlib.Path(directory)
        self.last = None
        self.seconds = []

    def _audit(self):
        from keras_gpos.audit.position_audit import position_audit

        start = time.perf_counter()
        audit = position_audit(self.model, self.images, layers=self.layers, grid_size=self.grid_size,
                               background=self.background, probe_images=self.probe_images, flips=(),
                               verbose=0)
        self.seconds.append(time.perf_counter() - start)
        return audit

    def on_epoch_end(self, epoch, logs=None):
        last_epoch = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every and (last_epoch is None or epoch + 1 != last_epoch):
            return
        self.last = self._audit()
        if logs is not None:
            for layer in self.last.layers:
                for task in ("location", "class"):
                    for view, result in (layer[task] or {}).items():
                        key = f"audit_{layer['name'].replace('/', '_')}_{task}_{view}"
                        logs[key] = result["accuracy"]
            logs["audit_seconds"] = self.seconds[-1]
        if self.directory is not None:
            self.last.save(self.directory)
        logging.info("position audit after epoch %d: %.1f s", epoch + 1, self.seconds[-1])
