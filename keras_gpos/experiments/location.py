"""The location (and object classification) experiment on grid canvases.

`train_location` trains one GAPNet or PermuteNet on canvases whose label is
the grid cell (`task="location"`) or the object class (`task="class"`),
selects the best epoch on a validation split carved from training data,
then scores the test set with every image in every cell. A run directory
holds everything needed to resume, evaluate and serve:

    config.json  run.json  model.keras  saved_model/  backup/  logs/
    best.keras  best.json  history.csv
"""

import dataclasses
import os
import pathlib
import shutil
import time

import keras
import tensorflow as tf

from keras_gpos import data as gdata
from keras_gpos.experiments.config import ImageDataConfig, one_of, option, positive_int
from keras_gpos.export import export_saved_model
from keras_gpos.layers.padding import PADDING_MODES
from keras_gpos.models import ARCHITECTURES, HEADS, build_classifier
from keras_gpos.reporting import read_json, save_keras_model, write_json
from keras_gpos.training import (
    AtomicBackupAndRestore,
    BestModelCheckpoint,
    StopOnNonFiniteLoss,
    get_strategy,
)
from keras_gpos.training.distribution import is_chief, worker_dir

TASKS = ("location", "class")


@dataclasses.dataclass(frozen=True)
class LocationConfig(ImageDataConfig):
    """One GAPNet/PermuteNet run on grid canvases."""

    task: str = option("location", "location (predict the grid cell) or class (the object).")
    grid_size: int = option(3, "k for a k x k grid canvas (1: the plain image).")
    background: str = option("zeros", "Canvas fill: zeros|black|white|mean|noise.")
    flip: bool = option(True, "Random horizontal flip of each image inside its cell.")
    arch: str = option("resnet", "Backbone: resnet or vgg.")
    depth: int = option(18, "ResNet 10/18/34 or VGG 11/13/16.")
    width: int = option(64, "Channels of the first stage (64 = the paper's full width).")
    padding: str = option("zero", "Border mode of every conv: " + "|".join(PADDING_MODES) + ".")
    head: str = option("gapnet", "gapnet (conv then GAP = logits) or fc (GAP then dense).")
    permute_at: str = option("", "Insert ChannelPermutation at: stage1..stage4|head|pooled ('' = none).")
    permute_per_sample: bool = option(False, "One channel permutation per sample instead of per batch.")
    pooled_batchnorm: bool = option(
        False, "fc head: per-channel BatchNorm on the pooled vector, before the permutation."
    )

    def __post_init__(self):
        super().__post_init__()
        one_of(self, "task", TASKS)
        one_of(self, "arch", ARCHITECTURES)
        one_of(self, "head", HEADS)
        one_of(self, "padding", PADDING_MODES)
        one_of(self, "background", gdata.BACKGROUNDS)
        positive_int(self, "grid_size", "depth", "width")
        from keras_gpos.models.classifier import permute_positions

        if self.permute_at and self.permute_at not in permute_positions(self.arch):
            raise ValueError(
                f"permute_at={self.permute_at!r} is out of range for arch {self.arch!r}; "
                f"expected '' or one of {list(permute_positions(self.arch))}."
            )
        if self.pooled_batchnorm and self.head != "fc":
            raise ValueError("pooled_batchnorm needs head=fc (the gapnet head has no pooled vector).")
        if self.permute_at == "pooled" and self.head != "fc":
            raise ValueError("permute_at=pooled needs head=fc (the gapnet head pools the logits).")

    @property
    def variant(self):
        """Short model name used in tables: gapnet, fc, or fc+permute@pooled."""
        name = self.head
        if self.pooled_batchnorm:
            name += "+bn"
        if self.permute_at:
            name += f"+permute@{self.permute_at}"
        return name


@dataclasses.dataclass(frozen=True)
class ClassificationConfig(LocationConfig):
    """Object classification on grid canvases (the location run's twin)."""

    task: str = option("class", "location (predict the grid cell) or class (the object).")


def configure_determinism(seed, deterministic):
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def prepare_data(config):
    """Loads the dataset and returns `(train, val, test, mean, std)`."""
    train, test = gdata.load_image_dataset(
        config.dataset,
        data_dir=config.data_dir or None,
        # The data never depend on the training seed: every seed of an
        # experiment sees the same images, only init and order differ.
        seed=0,
        embedded_train_size=config.embedded_train_size,
        embedded_test_size=config.embedded_test_size,
        tfds_download=config.tfds_download,
    )
    if config.train_examples:
        train = train.head(config.train_examples)
    train, val = gdata.split_validation(train, config.val_fraction, seed=0)
    mean, std = gdata.normalization_stats(train)
    return train, val, test, mean, std


def num_outputs(config, image_set):
    return config.grid_size**2 if config.task == "location" else image_set.num_classes


def build_model(config, image_set, num_replicas=1):
    height, width, channels = image_set.image_shape
    return build_classifier(
        num_outputs(config, image_set),
        input_shape=(config.grid_size * height, config.grid_size * width, channels),
        arch=config.arch,
        depth=config.depth,
        width=config.width,
        padding=config.padding,
        head=config.head,
        permute_at=config.permute_at or None,
        permute_per_sample=config.permute_per_sample,
        pooled_batchnorm=config.pooled_batchnorm,
        seed=config.seed,
        # Global-batch statistics, so a distributed run matches one device.
        sync_batchnorm=num_replicas > 1,
    )


def compile_model(model, config):
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=0.999),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def _datasets(config, train, val, test, mean, std):
    common = dict(
        grid_size=config.grid_size, target=config.task, batch_size=config.batch_size,
        mean=mean, std=std, background=config.background,
    )
    return (
        gdata.grid_dataset(train, training=True, flip=config.flip, seed=config.seed, **common),
        gdata.grid_dataset(val, **common),
        gdata.grid_dataset(test, **common),
    )


def _warn_known_onednn_crash(config, image_set):
    # TF 2.21's oneDNN CPU kernels abort (segfault / heap corruption) while
    # training very narrow ResNets on large canvases: widths 4 and 8 crash
    # on 96 px and 128 px inputs, width >= 12 and 64 px inputs are fine.
    # Turning oneDNN off avoids it at up to 3x the step time, so only warn.
    canvas = config.grid_size * image_set.image_shape[0]
    if (config.arch == "resnet" and config.width < 12 and canvas >= 96
            and os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0"):
        print(
            f"[keras_gpos] warning: width {config.width} on {canvas}px canvases can crash "
            "TensorFlow's oneDNN kernels (a TF bug); use --width>=12 or set "
            "TF_ENABLE_ONEDNN_OPTS=0 if the run aborts."
        )


def check_backup(backup_dir):
    """Refuses to resume from an unreadable BackupAndRestore checkpoint.

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
            record = read_json(metadata)
        except ValueError as error:
            raise ValueError(f"Backup checkpoint is corrupt: {error} {hint}.") from error
    names = {"latest.weights.h5"}
    if isinstance(record, dict) and isinstance(record.get("weights"), str):
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
            raise ValueError(
                f"Backup checkpoint {weights} is unreadable ({error}); {hint}."
            ) from error
    return int(record["epoch"]) if isinstance(record, dict) and "epoch" in record else 0


def load_saved_model(path):
    """`keras.saving.load_model` (safe mode) with an error naming the file."""
    try:
        return keras.saving.load_model(path)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"Cannot load the model file {path}: {error}") from error


def is_finished(run_dir):
    return (pathlib.Path(run_dir) / "run.json").exists()


def train_location(config):
    """Trains, selects, tests, saves and exports one model.

    Returns:
        The `run.json` summary as a dict (metrics in percent).
    """
    run_dir = pathlib.Path(config.output_dir)
    if is_finished(run_dir) and not config.overwrite:
        print(f"[keras_gpos] {run_dir} already holds a finished run; skipping (use --overwrite).")
        return read_json(run_dir / "run.json")
    # Before any TensorFlow op: multi-worker collectives are configured once.
    strategy = get_strategy(config.strategy)
    configure_determinism(config.seed, config.deterministic)
    # Non-chief workers keep their backup, checkpoints and logs in a private
    # folder; only the chief writes the run's results.
    work_dir = worker_dir(run_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    if is_chief():
        write_json(run_dir / "config.json", config.to_dict())

    train, val, test, mean, std = prepare_data(config)
    _warn_known_onednn_crash(config, train)
    train_ds, val_ds, test_ds = _datasets(config, train, val, test, mean, std)
    with strategy.scope():
        model = build_model(config, train, strategy.num_replicas_in_sync)
        compile_model(model, config)
    best_path = work_dir / "best.keras"
    check_backup(work_dir / "backup")
    callbacks = [
        AtomicBackupAndRestore(str(work_dir / "backup")),
        BestModelCheckpoint(best_path, monitor="val_accuracy"),
        StopOnNonFiniteLoss(),
        keras.callbacks.CSVLogger(str(work_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(work_dir / "logs"), write_graph=False),
    ]
    print(
        f"[keras_gpos] training {model.name} ({config.task}, {config.padding} padding, "
        f"{config.grid_size}x{config.grid_size} grid) on {len(train)} {config.dataset} images "
        f"for {config.epochs} epochs -> {run_dir}"
    )
    start = time.time()
    model.fit(
        train_ds, validation_data=val_ds, epochs=config.epochs,
        callbacks=callbacks, verbose=config.verbose, shuffle=False,
    )
    train_seconds = time.time() - start
    if best_path.exists():
        with strategy.scope():
            model = load_saved_model(best_path)
    best = read_json(best_path.with_suffix(".json")) if best_path.exists() else None
    test_metrics = model.evaluate(test_ds, verbose=0, return_dict=True)
    val_metrics = model.evaluate(val_ds, verbose=0, return_dict=True)

    summary = {
        "config": config.to_dict(),
        "variant": config.variant,
        "task": config.task,
        "model_name": model.name,
        "parameters": int(model.count_params()),
        "dataset": {
            "name": config.dataset,
            "train_images": len(train),
            "val_images": len(val),
            "test_images": len(test),
            "test_canvases": len(test) * config.grid_size**2,
            "num_classes": train.num_classes,
            "class_names": list(train.class_names),
            "image_shape": list(train.image_shape),
        },
        "normalization": {"mean": [float(v) for v in mean], "std": [float(v) for v in std]},
        "chance_accuracy": 100.0 / num_outputs(config, train),
        "test_accuracy": 100.0 * float(test_metrics["accuracy"]),
        "val_accuracy": 100.0 * float(val_metrics["accuracy"]),
        "best_epoch": None if best is None else best["epoch"] + 1,
        "train_seconds": train_seconds,
        "keras_backend": keras.config.backend(),
        "tensorflow_version": tf.__version__,
    }
    if is_chief():
        save_keras_model(model, run_dir / "model.keras")
        export_saved_model(model, run_dir / "saved_model")
        write_json(run_dir / "run.json", summary)
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    print(
        f"[keras_gpos] {model.name}: test {config.task} accuracy "
        f"{summary['test_accuracy']:.1f}% (chance {summary['chance_accuracy']:.1f}%), "
        f"val {summary['val_accuracy']:.1f}%, {train_seconds:.0f}s"
    )
    return summary


def load_run(run_dir):
    """`(config, summary, model)` of a finished run directory."""
    run_dir = pathlib.Path(run_dir)
    if not is_finished(run_dir):
        raise ValueError(f"{run_dir} holds no finished run (no run.json).")
    summary = read_json(run_dir / "run.json")
    config = LocationConfig(**summary["config"])
    model_path = run_dir / "model.keras"
    if not model_path.exists():
        raise ValueError(f"{run_dir} has run.json but no model.keras.")
    model = load_saved_model(model_path)
    return config, summary, model


def evaluate_run(run_dir, data_dir=None, repeats=1):
    """Re-scores a finished run's saved model on its test set.

    Args:
        run_dir: a run directory written by `train_location`.
        data_dir: override the data folder recorded in the run (for runs
            moved between machines).
        repeats: int. Test passes to average (PermuteNet draws a fresh
            permutation per batch, so its score varies a little).

    Returns:
        A dict row for the results table (accuracies in percent).
    """
    config, summary, model = load_run(run_dir)
    if data_dir:
        config = dataclasses.replace(config, data_dir=data_dir)
    _, _, test = prepare_data(config)[:3]
    mean = summary["normalization"]["mean"]
    std = summary["normalization"]["std"]
    test_ds = gdata.grid_dataset(
        test, config.grid_size, config.task, config.batch_size,
        mean=mean, std=std, background=config.background,
    )
    scores = [
        100.0 * float(model.evaluate(test_ds, verbose=0, return_dict=True)["accuracy"])
        for _ in range(repeats)
    ]
    return {
        "run_dir": os.fspath(run_dir),
        "model": f"{config.arch}{config.depth}-w{config.width}",
        "variant": config.variant,
        "padding": config.padding,
        "grid_size": config.grid_size,
        "task": config.task,
        "seed": config.seed,
        "dataset": config.dataset,
        "test_images": len(test),
        "test_canvases": len(test) * config.grid_size**2,
        "accuracy": sum(scores) / len(scores),
        "accuracy_repeats": scores,
        "chance_accuracy": summary["chance_accuracy"],
        "train_seconds": summary["train_seconds"],
        "epochs": config.epochs,
    }
