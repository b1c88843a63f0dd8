"""The lifecycle's callbacks: a best-epoch checkpoint and a backup that a kill cannot corrupt."""

import math
import pathlib

import keras
from absl import logging

from keras_gpos.base.files import file_digest, read_record, save_keras_model, save_weights, write_json

# The structure of the lifecycle's sidecar files (read through `read_record`).
BEST_SIDECAR = ("best-model sidecar", {"epoch": int, "value": (int, float)}, {"model_sha256": str, "monitor": str})
BACKUP_METADATA = ("backup metadata file", {"epoch": int}, {"weights": str, "batch": int})
# Set to N, training raises SIGINT after epoch N's backup: a deterministic Ctrl-C for tests.
INTERRUPT_VARIABLE = "KERAS_GPOS_INTERRUPT_AFTER_EPOCH"


def read_best_sidecar(path):
    """A `BestModelCheckpoint` sidecar (`best.json`), its structure checked."""
    return read_record(path, *BEST_SIDECAR)


def read_backup_metadata(path):
    """An `AtomicBackupAndRestore` `training_metadata.json`, its structure checked."""
    record = read_record(path, *BACKUP_METADATA)
    if record["epoch"] < 0:
        raise ValueError(f"{path} is not a valid backup metadata file: expected 'epoch' >= 0; got {record['epoch']}.")
    weights = record.get("weights")
    if weights is not None and (not weights or "/" in weights or weights in (".", "..")):
        raise ValueError(f"{path} is not a valid backup metadata file: expected 'weights' to name a file in "
                         f"{pathlib.Path(path).parent}; got {weights!r}.")
    return record


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
            record = read_best_sidecar(self.sidecar)
            recorded = record.get("model_sha256")
            if recorded is not None and recorded != file_digest(self.filepath):
                # A kill fell between saving the model and its sidecar: the pair is torn.
                # Forget it; the next epoch's score decides the best model again.
                logging.warning("%s and %s do not belong together (interrupted save); the best "
                                "model is chosen again from the next epoch", self.filepath, self.sidecar)
            else:
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
            write_json(self.sidecar, {"epoch": epoch, "value": value, "monitor": self.monitor,
                                      "model_sha256": file_digest(self.filepath)})
            self.best, self.best_epoch = value, epoch


def read_backup(backup_dir):
    """`(metadata, weights path)` of an `AtomicBackupAndRestore` backup; None without one.

    A metadata file naming missing weights is an error that says what to delete.
    """
    backup_dir = pathlib.Path(backup_dir)
    path = backup_dir / "training_metadata.json"
    if not path.exists():
        return None
    metadata = read_backup_metadata(path)
    # Backups written by plain BackupAndRestore name no file.
    weights = backup_dir / metadata.get("weights", "latest.weights.h5")
    if not weights.exists():
        raise ValueError(f"Backup metadata {path} names {weights}, which is missing; delete {backup_dir} "
                         "to restart this run from epoch 1.")
    return metadata, weights


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that a kill at any moment cannot corrupt.

    Keras writes `latest.weights.h5` and then `training_metadata.json` in
    place, so a kill can leave a truncated weights file, or new weights next
    to the previous epoch's number (the rerun would silently train one epoch
    too many). Here every backup goes to a fresh `epoch-<n>.weights.h5`
    (written under a temporary name, then renamed), and only then does an
    atomically replaced `training_metadata.json` point to it; older weights
    files are removed afterwards. The metadata is the single commit point:
    a rerun resumes from exactly the last complete backup, and a weights
    file without metadata pointing to it is ignored.

    Args:
        backup_dir: str. Folder for the backup.
        delete_checkpoint: bool. Remove the backup when training ends. The
            run lifecycle passes False and removes it only after the final
            model, export and results are written, so a kill during export
            never forces a retrain.
    """

    def __init__(self, backup_dir, delete_checkpoint=True, restore_dir=None):
        super().__init__(backup_dir, save_freq="epoch", double_checkpoint=False,
                         delete_checkpoint=delete_checkpoint)
        # Where to resume from (another replica's backup for a multi-worker worker).
        self.restore_dir = pathlib.Path(restore_dir or backup_dir)
        self.resumed_from_epoch = 0
        self._announce_first_step = False

    def _load_model(self):
        if not self.model.built:
            raise ValueError("AtomicBackupAndRestore needs a built model before fit().")
        backup = read_backup(self.restore_dir)
        if backup is None:
            return
        metadata, weights = backup
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(weights))
        self.model._initial_epoch = metadata["epoch"]
        self.resumed_from_epoch = metadata["epoch"]
        self._announce_first_step = True
        logging.info("resuming from the backup of epoch %d in %s", metadata["epoch"], self.restore_dir)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self._announce_first_step:
            self._announce_first_step = False
            logging.info("first step after resuming done (epoch %d)", self.resumed_from_epoch + 1)

    def _save_model(self):
        backup = pathlib.Path(self.backup_dir)
        backup.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{self._current_epoch}.weights.h5"
        save_weights(self.model, backup / name)
        write_json(self._training_metadata_path,
                   {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name})
        for old in backup.glob("*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)


class InterruptAfterEpoch(keras.callbacks.Callback):
    """Sends this process SIGINT (a Ctrl-C) once epoch `epoch` is backed up: a deterministic interruption.

    The lifecycle adds it, last, when `KERAS_GPOS_INTERRUPT_AFTER_EPOCH=N` is set (tests use it to
    interrupt a real `train.py` at a known point instead of timing a signal).
    """

    def __init__(self, epoch):
        super().__init__()
        self.epoch = int(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            import signal

            signal.raise_signal(signal.SIGINT)


def interruption_from_environment():
    """`[InterruptAfterEpoch(N)]` when `KERAS_GPOS_INTERRUPT_AFTER_EPOCH=N` is set, else `[]`."""
    import os

    value = os.environ.get(INTERRUPT_VARIABLE, "")
    if not value:
        return []
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{INTERRUPT_VARIABLE}={value!r} must be an epoch number >= 1.")
    return [InterruptAfterEpoch(int(value))]
