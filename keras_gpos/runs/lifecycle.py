"""The run lifecycle, written once for every experiment.

An experiment describes one leaf run (a `FitPlan`: how to build and compile
the model, its training stream and validation data, what to monitor) and
scores the trained model; `fit_run` and `finish_run` do the rest:

1. `fit_run`: the strategy, seeding and determinism; resume from the backup
   (the training stream starts at the backup's epoch, and every random layer
   is re-keyed from `(seed, epoch)`, so a resumed run is bit-identical to an
   uninterrupted one under `--deterministic`); build and compile in the
   strategy scope; the callbacks (backup, best-epoch checkpoint on the
   validation metric, NaN guard, CSV history, TensorBoard where TensorFlow is
   installed, else a notice); `fit`; the best model reloaded through the
   error-naming loader.
2. `finish_run`: the chief saves `model.keras`, exports `saved_model/` (where
   TensorFlow is installed; else `run.json`'s `export_notice` and the log say
   why it is missing) and writes `run.json` (the commit point: `experiment`,
   `keras_gpos_version`, `schema_version`), verifies them, and only then deletes the backup and
   any run moved aside by `--overwrite`. A kill at any moment before that
   leaves a run that a rerun of the same command resumes without training
   again. Other workers only delete their private folder.

The directory side (lock, fingerprint, overwrite, worker folders) is
`keras_gpos.runs.directory.RunDirectory`.
"""

import dataclasses
import pathlib
import time

import keras
from absl import logging

from keras_gpos.base.files import (
    check_keras_file,
    load_keras_model,
    read_record,
    save_keras_model,
    write_json,
    write_text,
)
from keras_gpos.base.schema import SCHEMA_VERSION, VERSION
from keras_gpos.runs.callbacks import (
    AtomicBackupAndRestore,
    BestModelCheckpoint,
    interruption_from_environment,
    read_backup,
    read_backup_metadata,
    read_best_sidecar,
)
from keras_gpos.training.callbacks import EpochSeeds, StopOnNonFiniteLoss



@dataclasses.dataclass(frozen=True)
class TrainingSetup:
    """Settings of the lifecycle itself, taken from the experiment config."""

    seed: int
    epochs: int
    strategy: str = "auto"
    deterministic: bool = False
    verbose: int = 2


@dataclasses.dataclass(frozen=True)
class FitPlan:
    """What an experiment tells the lifecycle about one leaf run.

    Attributes:
        build_model: function `(num_replicas) -> compiled keras.Model`,
            called inside the strategy scope.
        train_data: function `(initial_epoch) -> training stream` holding
            the batches of epochs `initial_epoch .. epochs - 1` in turn
            (e.g. `grid_dataset(..., epochs=epochs, initial_epoch=...)`).
        steps_per_epoch: int. Batches per epoch of that stream.
        validation_data: what `fit` validates on each epoch.
        monitor, mode: the validation metric that picks the best epoch.
        callbacks: callbacks that run before the lifecycle's (so metrics they
            add to the logs reach the checkpoint and the CSV history).
        description: str. One line for the log ("fc on 3,355 images").
    """

    build_model: object
    train_data: object
    steps_per_epoch: int
    validation_data: object
    monitor: str = "val_accuracy"
    mode: str = "max"
    callbacks: tuple = ()
    description: str = ""


@dataclasses.dataclass(frozen=True)
class FitResult:
    model: object
    best_epoch: object
    best_value: object
    train_seconds: float
    resumed_from_epoch: int


TENSORFLOW_MISSING = "TensorFlow is not installed (pip install 'keras_gpos[tf]' adds it)"


def tensorflow_available():
    """True where `import tensorflow` works (the TensorBoard callback and SavedModel export need it)."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def tensorboard_callbacks(log_dir):
    """Keras' TensorBoard callback writing to `log_dir`, or none (with a notice) without TensorFlow."""
    if not tensorflow_available():
        logging.info("no TensorBoard logs in %s: %s.", log_dir, TENSORFLOW_MISSING)
        return []
    return [keras.callbacks.TensorBoard(str(log_dir), write_graph=False)]


def seed_everything(seed, deterministic):
    """Seeds Python, NumPy and the backend; TF op determinism with `deterministic`."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.config.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def check_backup(backup_dir):
    """Refuses to resume from an unreadable `BackupAndRestore` checkpoint.

    A corrupt backup must not make a rerun silently start from scratch (or
    crash with an error that does not say which file is bad).

    Returns:
        The number of finished epochs the backup holds (0: no backup).
    """
    backup_dir = pathlib.Path(backup_dir)
    if not backup_dir.exists():
        return 0
    hint = f"delete {backup_dir} to restart this run from epoch 1 (other results are kept)"
    metadata = backup_dir / "training_metadata.json"
    record = None
    if metadata.exists():
        try:
            record = read_backup_metadata(metadata)
        except ValueError as error:
            raise ValueError(f"Backup checkpoint is corrupt: {error} {hint}.") from error
    names = {"latest.weights.h5"}
    if record is not None and "weights" in record:
        names.add(record["weights"])
    for name in sorted(names):
        weights = backup_dir / name
        if not weights.exists():
            continue
        import h5py

        try:
            with h5py.File(weights, "r"):
                pass
        except OSError as error:
            raise ValueError(f"Backup checkpoint {weights} is unreadable ({error}); {hint}.") from error
    return 0 if record is None else record["epoch"]


def _trim_history(path, epochs_done):
    """Drops history rows of epochs after the backup (a kill can fall between the two)."""
    path = pathlib.Path(path)
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    if not lines:
        return
    kept = [lines[0]] + [line for line in lines[1:]
                         if line.split(",", 1)[0].isdigit() and int(line.split(",", 1)[0]) < epochs_done]
    if len(kept) != len(lines):
        write_text(path, "\n".join(kept) + "\n")


def fit_run(run_dir, plan, setup):
    """Trains (or resumes) one leaf run and returns its best model.

    Args:
        run_dir: an open `RunDirectory`.
        plan: a `FitPlan`.
        setup: a `TrainingSetup`.

    Returns:
        A `FitResult` whose model is the best epoch's (on `plan.monitor`).
    """
    from keras_gpos.training.distribution import training_strategy

    strategy = training_strategy(setup.strategy)
    seed_everything(setup.seed, setup.deterministic)
    work = run_dir.work
    backup = work / "backup"
    restore = backup
    chief_backup = run_dir.path / "backup"
    if not run_dir.chief and chief_backup.exists():
        # Replicas must resume at the same epoch: a worker restores from the chief's backup
        # (the same weights, in lock-step) when it can see it, and keeps writing its own.
        restore = chief_backup
    initial_epoch = min(check_backup(restore), setup.epochs)
    _trim_history(work / "history.csv", initial_epoch)
    with strategy.scope():
        model = plan.build_model(strategy.num_replicas_in_sync)
    best_path = work / "best.keras"
    # The backup commits an epoch, so it runs last: a kill before it re-runs the epoch
    # (the best checkpoint and the history of that epoch are then rewritten), never skips it.
    callbacks = [
        *plan.callbacks,
        EpochSeeds(setup.seed),
        BestModelCheckpoint(best_path, monitor=plan.monitor, mode=plan.mode),
        StopOnNonFiniteLoss(),
        keras.callbacks.CSVLogger(str(work / "history.csv"), append=True),
        *tensorboard_callbacks(work / "logs"),
        AtomicBackupAndRestore(str(backup), delete_checkpoint=False, restore_dir=str(restore)),
        *interruption_from_environment(),
    ]
    logging.info("training %s%s for %d epochs -> %s%s", model.name,
                 f" ({plan.description})" if plan.description else "", setup.epochs, run_dir.path,
                 f" (resuming after epoch {initial_epoch})" if initial_epoch else "")
    start = time.time()
    if initial_epoch < setup.epochs:
        model.fit(
            plan.train_data(initial_epoch), validation_data=plan.validation_data,
            epochs=setup.epochs, steps_per_epoch=plan.steps_per_epoch, callbacks=callbacks,
            verbose=setup.verbose, shuffle=False,
        )
    elif not best_path.exists():
        model.load_weights(str(read_backup(restore)[1]))
    seconds = time.time() - start
    best = read_best_sidecar(best_path.with_suffix(".json")) if best_path.exists() else None
    if best_path.exists():
        with strategy.scope():
            model = load_keras_model(best_path)
    return FitResult(
        model=model,
        best_epoch=None if best is None else best["epoch"] + 1,
        best_value=None if best is None else best["value"],
        train_seconds=seconds,
        resumed_from_epoch=initial_epoch,
    )


def finish_run(run_dir, model, summary, export=True):
    """Writes the final files (chief), verifies them, then cleans up.

    Args:
        run_dir: the open `RunDirectory`.
        model: the model to save as `model.keras` (and export), or None.
        summary: dict written as `run.json` (gets `experiment`,
            `keras_gpos_version` and `schema_version`).
        export: bool. Also write `saved_model/` (where TensorFlow is
            installed; otherwise the summary's `export_notice` says why not).

    Returns:
        The summary as written.
    """
    summary = {**summary, "experiment": run_dir.experiment, "keras_gpos_version": VERSION,
               "schema_version": SCHEMA_VERSION}
    if export and model is not None and not tensorflow_available():
        export = False
        summary["export_notice"] = f"no saved_model/: {TENSORFLOW_MISSING}; model.keras holds the model."
        if run_dir.chief:
            logging.info("%s: %s", run_dir.path, summary["export_notice"])
    if run_dir.chief:
        path = run_dir.path
        if model is not None:
            save_keras_model(model, path / "model.keras")
            check_keras_file(path / "model.keras")
            if export:
                from keras_gpos.export import export_saved_model

                export_saved_model(model, path / "saved_model")
                if not (path / "saved_model" / "saved_model.pb").exists():
                    raise OSError(f"the SavedModel export in {path / 'saved_model'} is incomplete.")
        write_json(path / "run.json", summary)
        read_record(path / "run.json", "run summary")
    run_dir.cleanup()
    return summary
