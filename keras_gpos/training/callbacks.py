"""Callbacks for long, interruptible training runs."""

import math
import pathlib

import keras

from keras_gpos.reporting.files import read_json, save_keras_model, write_json


class BestModelCheckpoint(keras.callbacks.Callback):
    """Keeps the model of the best epoch on a validation metric.

    Unlike `keras.callbacks.ModelCheckpoint`, the best value lives in a JSON
    sidecar next to the model, so a run resumed by `BackupAndRestore` does
    not overwrite a better checkpoint with a worse one; both files are
    written atomically.

    Args:
        filepath: str. Target `.keras` file; the sidecar is `<stem>.json`.
        monitor: str. A logged metric, e.g. `"val_accuracy"`.
        mode: str. `"max"` or `"min"`.
    """

    def __init__(self, filepath, monitor="val_accuracy", mode="max"):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min'; got {mode!r}.")
        self.filepath = pathlib.Path(filepath)
        if self.filepath.suffix != ".keras":
            raise ValueError(f"filepath must end in .keras; got {filepath}.")
        self.monitor = monitor
        self.mode = mode
        self.sidecar = self.filepath.with_suffix(".json")
        self.best = None
        self.best_epoch = None
        if self.sidecar.exists() and self.filepath.exists():
            record = read_json(self.sidecar)
            self.best, self.best_epoch = record["value"], record["epoch"]

    def _better(self, value):
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"BestModelCheckpoint monitors {self.monitor!r}, which is not among "
                f"the logged metrics {sorted(logs)}."
            )
        value = float(logs[self.monitor])
        if math.isnan(value):
            return
        if self._better(value):
            save_keras_model(self.model, self.filepath)
            write_json(self.sidecar, {"epoch": epoch, "value": value, "monitor": self.monitor})
            self.best, self.best_epoch = value, epoch


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
