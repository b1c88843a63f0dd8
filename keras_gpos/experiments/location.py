"""The location (and object classification) experiment on grid canvases.

`train_location` trains one GAPNet or PermuteNet on canvases whose label is
the grid cell (`task="location"`) or the object class (`task="class"`),
selects the best epoch on a validation split carved from training data,
then scores the test set with every image in every cell. The run lifecycle
(`keras_gpos.runs.lifecycle`) owns the directory:

    config.json  fingerprint.json  run.json  model.keras  saved_model/
    best.keras  best.json  history.csv  logs/  (backup/ while training)

Accuracies in `run.json` are fractions in [0, 1].
"""

import dataclasses
import os

import keras
from absl import logging

from keras_gpos import data as gdata
from keras_gpos.base.files import load_keras_model
from keras_gpos.base.validation import check_non_negative_int, check_one_of, check_positive_int
from keras_gpos.experiments.config import ImageDataConfig, option, result_settings, upgrade_record
from keras_gpos.layers.padding import PADDING_MODES
from keras_gpos.models import build_classifier
from keras_gpos.models.classifier import check_classifier_args
from keras_gpos.models.resnet import RESNET_BLOCKS
from keras_gpos.models.vgg import VGG_STAGES
from keras_gpos.runs.directory import RunDirectory
from keras_gpos.runs.lifecycle import FitPlan, TrainingSetup, finish_run, fit_run
from keras_gpos.runs.resources import MemoryPlan
from keras_gpos.training.recipe import compile_classifier

TASKS = ("location", "class")
# Activation bytes per canvas pixel per first-stage channel, forward and
# backward, summed over a ResNet/VGG body (a generous bound, so refusals
# are real): the stem halves the canvas, later stages shrink it further.
ACTIVATION_BYTES_PER_PIXEL_CHANNEL = 16


@dataclasses.dataclass(frozen=True)
class LocationConfig(ImageDataConfig):
    """One GAPNet/PermuteNet run on grid canvases."""

    task: str = option("location", "location (predict the grid cell) or class (the object).")
    grid_size: int = option(3, "k for a k x k grid canvas (1: the plain image).")
    background: str = option("zeros", "Canvas fill: zeros|black|white|mean|noise.")
    flip: bool = option(True, "Random horizontal flip of each image inside its cell.")
    arch: str = option("resnet", "Backbone: resnet or vgg.")
    depth: int = option(
        10, "ResNet " + "/".join(map(str, RESNET_BLOCKS)) + " or VGG " + "/".join(map(str, VGG_STAGES)) + "."
    )
    width: int = option(16, "Channels of the first stage (64 = the paper's full width).")
    padding: str = option("zero", "Border mode of every conv: " + "|".join(PADDING_MODES) + ".")
    head: str = option("gapnet", "gapnet (conv then GAP = logits) or fc (GAP then dense).")
    permute_at: str = option("", "Insert ChannelPermutation at: stage1..stage4|head|pooled ('' = none).")
    permute_per_sample: bool = option(False, "One channel permutation per sample instead of per batch.")
    pooled_batchnorm: bool = option(
        False, "fc head: per-channel BatchNorm on the pooled vector, before the permutation."
    )
    audit_every: int = option(
        0, "Run a light position audit every k epochs (0: off) on 64 validation images; logs "
        "audit_<layer>_<task>_<view> and writes the last audit to <run>/audit/."
    )

    def __post_init__(self):
        super().__post_init__()
        check_one_of(self.task, "task", TASKS)
        check_one_of(self.background, "background", gdata.BACKGROUNDS)
        check_non_negative_int(self.audit_every, "audit_every")
        for name in ("grid_size", "depth", "width"):
            check_positive_int(getattr(self, name), name)
        check_classifier_args(self.arch, self.head, self.padding, self.depth, self.permutation,
                              self.pooled_batchnorm)

    @property
    def permutation(self):
        """Where the `ChannelPermutation` goes, as `build_classifier` takes it (None: nowhere)."""
        return self.permute_at or None

    @property
    def variant(self):
        """Short model name used in tables: gapnet, fc, fc+bn or fc+permute@pooled."""
        name = self.head
        if self.pooled_batchnorm:
            name += "+bn"
        if self.permute_at:
            name += f"+permute@{self.permute_at}"
        return name

    @property
    def experiment(self):
        return "location" if self.task == "location" else "classification"


@dataclasses.dataclass(frozen=True)
class ClassificationConfig(LocationConfig):
    """Object classification on grid canvases (the location run's twin)."""

    task: str = option("class", "location (predict the grid cell) or class (the object).")


def prepare_data(config):
    """Loads and splits the images (`keras_gpos.data.ImageSplits`)."""
    return gdata.load_image_splits(
        config.dataset, data_dir=config.data_dir, train_examples=config.train_examples,
        val_fraction=config.val_fraction, embedded_train_size=config.embedded_train_size,
        embedded_test_size=config.embedded_test_size, tfds_download=config.tfds_download,
    )


def memory_plan(config, image_side=32, channels=3):
    """The memory a run needs, estimated from its flags alone (before loading anything)."""
    plan = MemoryPlan(f"experiment {config.experiment}")
    if config.dataset == "embedded":
        plan.add("embedded data", gdata.embedded_memory(config.embedded_train_size, config.embedded_test_size),
                 ("embedded_train_size", "embedded_test_size"))
    canvas = (config.grid_size * image_side) ** 2
    plan.add("canvases per batch", 3 * config.batch_size * canvas * channels * 4, ("batch_size", "grid_size"))
    plan.add("activations per batch",
             config.batch_size * canvas * config.width * ACTIVATION_BYTES_PER_PIXEL_CHANNEL / 4,
             ("batch_size", "grid_size", "width"))
    return plan


def num_outputs(config, image_set):
    return config.grid_size**2 if config.task == "location" else image_set.num_classes


def build_model(config, image_set, num_replicas=1):
    height, width, channels = image_set.image_shape
    return build_classifier(
        num_outputs(config, image_set),
        input_shape=(config.grid_size * height, config.grid_size * width, channels),
        arch=config.arch, depth=config.depth, width=config.width, padding=config.padding,
        head=config.head, permute_at=config.permutation,
        permute_per_sample=config.permute_per_sample, pooled_batchnorm=config.pooled_batchnorm,
        seed=config.seed,
        # Global-batch statistics, so a distributed run matches one device. Only tf.distribute needs
        # the synchronized layer: JAX's DataParallel compiles one step over the global batch.
        sync_batchnorm=num_replicas > 1 and keras.config.backend() == "tensorflow",
    )


def _eval_dataset(config, image_set, splits):
    return gdata.grid_dataset(image_set, config.grid_size, config.task, config.batch_size,
                              mean=splits.mean, std=splits.std, background=config.background)


def fingerprint(config, splits):
    """What identifies a run (as `fingerprint.json` stores it): its settings, the Keras backend, its data."""
    from keras_gpos.runs.directory import make_fingerprint

    return make_fingerprint({"settings": result_settings(config), "data": splits.identity()})


def legacy_settings(record):
    """Settings of a run written before fingerprints (keras_gpos 0.1), from its config.json."""
    return result_settings(upgrade_record(LocationConfig, record))


def train_location(config, splits=None):
    """Trains, selects, tests, saves and exports one model.

    Args:
        config: a `LocationConfig`.
        splits: the `ImageSplits` of `config`'s data, when a suite loaded
            them once for all its runs (their digest is then computed once).

    Returns:
        The `run.json` summary as a dict (accuracies as fractions).
    """
    memory_plan(config).check()
    if splits is None:
        splits = prepare_data(config)  # every data error before anything is written
    train, val, test = splits.train, splits.val, splits.test
    with RunDirectory(config.output_dir, config.experiment, fingerprint(config, splits),
                      config.overwrite, legacy_settings) as run:
        if run.finished:
            logging.info("%s already holds a finished run with these settings; skipping "
                         "(--overwrite retrains).", run.path)
            from keras_gpos.reporting.schema import upgrade_summary

            return upgrade_summary(run.summary(), run.path / "run.json")
        run.write_start(config.to_dict())

        def build(num_replicas):
            model = build_model(config, train, num_replicas)
            compile_classifier(model, config.learning_rate, config.beta_1)
            return model

        callbacks = ()
        if config.audit_every:
            from keras_gpos.audit import PositionAuditCallback

            probe = val.head(64)
            probe_images = keras.ops.convert_to_numpy(gdata.normalize(probe.images, splits.mean, splits.std))
            background = "mean" if config.background == "mean" else 0.0
            callbacks = (PositionAuditCallback(
                (probe_images, probe.labels), every=config.audit_every, grid_size=max(2, config.grid_size),
                background=background, directory=(run.work / "audit") if run.chief else None),)
        plan = FitPlan(
            callbacks=callbacks,
            build_model=build,
            train_data=lambda initial_epoch: gdata.grid_dataset(
                train, config.grid_size, config.task, config.batch_size, training=True,
                mean=splits.mean, std=splits.std, background=config.background, flip=config.flip,
                seed=config.seed, epochs=config.epochs, initial_epoch=initial_epoch),
            steps_per_epoch=gdata.steps_per_epoch(len(train), config.batch_size),
            validation_data=_eval_dataset(config, val, splits),
            description=(f"{config.task}, {config.padding} padding, {config.grid_size}x{config.grid_size} "
                         f"grid, {len(train)} {config.dataset} images"),
        )
        result = fit_run(run, plan, TrainingSetup(config.seed, config.epochs, config.strategy,
                                                  config.deterministic, config.verbose))
        model = result.model
        test_metrics = model.evaluate(_eval_dataset(config, test, splits), verbose=0, return_dict=True)
        val_metrics = model.evaluate(plan.validation_data, verbose=0, return_dict=True)
        summary = {
            "config": config.to_dict(),
            "variant": config.variant,
            "task": config.task,
            "model_name": model.name,
            "parameters": int(model.count_params()),
            "dataset": {
                **splits.identity(), "name": config.dataset,
                "test_canvases": len(test) * config.grid_size**2,
                "class_names": list(train.class_names),
            },
            "normalization": splits.normalization(),
            "chance_accuracy": 1.0 / num_outputs(config, train),
            "test_accuracy": float(test_metrics["accuracy"]),
            "val_accuracy": float(val_metrics["accuracy"]),
            "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds,
            "keras_backend": keras.config.backend(),
        }
        summary = finish_run(run, model, summary)
    logging.info("%s: test %s accuracy %.1f%% (chance %.1f%%), val %.1f%%, %.0fs", model.name,
                 config.task, 100 * summary["test_accuracy"], 100 * summary["chance_accuracy"],
                 100 * summary["val_accuracy"], result.train_seconds)
    return summary


def _run_record(run_dir):
    """`(config, summary)` of a finished location/classification run directory, their structure checked."""
    from keras_gpos.reporting.schema import read_run_summary

    summary = read_run_summary(run_dir)
    path = os.path.join(run_dir, "run.json")
    if "config" not in summary or not isinstance(summary["config"], dict):
        raise ValueError(f"{path} records no config; it was not written by train.py.")
    normalization = summary.get("normalization")
    if not (isinstance(normalization, dict) and all(isinstance(normalization.get(key), list)
                                                    for key in ("mean", "std"))):
        raise ValueError(f"{path} is not a valid run summary: expected 'normalization' to be an object with "
                         "'mean' and 'std' lists.")
    try:
        config = upgrade_record(LocationConfig, summary["config"])
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {' '.join(str(error).split())}") from error
    return config, summary


def load_run_config(run_dir):
    """The config a finished location/classification run recorded."""
    return _run_record(run_dir)[0]


def load_run(run_dir):
    """`(config, summary, model)` of a finished location/classification run directory."""
    config, summary = _run_record(run_dir)
    model = load_keras_model(os.path.join(run_dir, "model.keras"))
    return config, summary, model


def grid_targets(task, labels, cells_per_image):
    """The target of every canvas of an exhaustive grid dataset: image `i` fills cells `0..k*k-1`, in order."""
    import numpy as np

    labels = np.asarray(labels, np.int64)
    if task == "location":
        return np.tile(np.arange(cells_per_image), len(labels))
    return np.repeat(labels, cells_per_image)


def per_image_outcomes(model, dataset, targets, cells_per_image):
    """Correct canvases per image of one pass of `model` over an exhaustive grid dataset.

    The dataset holds every test image in every cell, image by image
    (`grid_dataset` in evaluation mode), so the canvases of image `i` are
    rows `i * cells .. (i + 1) * cells - 1` (`grid_targets` gives their
    targets).
    """
    import numpy as np

    logits = model.predict(dataset, verbose=0)
    if len(logits) != len(targets):
        raise ValueError(f"the grid dataset gave {len(logits)} canvases for {len(targets)} targets.")
    return (np.argmax(logits, axis=-1) == targets).reshape(-1, cells_per_image).sum(axis=1)


def recorded_fingerprint(run_dir, summary):
    """What a run recorded of itself: its `fingerprint.json`, or for a 0.1 run the settings of its config."""
    from keras_gpos.base.schema import FINGERPRINT_FILE, read_fingerprint

    path = os.path.join(run_dir, FINGERPRINT_FILE)
    if os.path.exists(path):
        return read_fingerprint(path)
    return {"settings": legacy_settings(summary["config"]), "data": {
        key: value for key, value in (summary.get("dataset") or {}).items()
        if key in ("train_images", "val_images", "test_images", "image_shape", "num_classes")}}


def check_data(run_dir, recorded, splits, allow_other_data=False, source=None):
    """Compares the data a run recorded with the data rebuilt to score it.

    Returns:
        `"content"` (the digests match), `"sizes"` (a run of keras_gpos 0.1
        or 0.2, which recorded sizes only: they match) or `"other"` (they
        differ, and `allow_other_data` lets it be scored anyway).

    Raises:
        ValueError: the data differ, naming what (and how to score anyway).
    """
    from keras_gpos.base.records import describe_differences, short_digests

    now = splits.identity()
    compared = {key: now.get(key, "<unset>") for key in recorded}
    differences = describe_differences(recorded, compared)
    if not differences:
        return "content" if "content" in recorded else "sizes"
    if allow_other_data:
        logging.warning("%s is scored on other data than it recorded (%s)", run_dir, "; ".join(differences[:3]))
        return "other"
    shown = "; ".join(short_digests(line) for line in differences[:4])
    raise ValueError(f"{run_dir} was trained on other data than {source or 'its recorded data source'} holds now "
                     f"({shown}); point --data_dir at its data, or pass --allow_other_data to score it on these.")


def _group_setting(fingerprint):
    """A run's fingerprint less its seed and task: runs that share it are seeds of one table row."""
    settings = {key: value for key, value in fingerprint.get("settings", {}).items() if key not in ("seed", "task")}
    setting = {"settings": settings, "data": fingerprint.get("data", {})}
    if "keras_backend" in fingerprint:
        setting["keras_backend"] = fingerprint["keras_backend"]
    return setting


def evaluate_run(run_dir, data_dir=None, repeats=1, splits=None, allow_other_data=False):
    """Re-scores a finished run's saved model on its test set.

    Args:
        run_dir: a run directory written by `train_location`.
        data_dir: override the data folder recorded in the run (for runs
            moved between machines); the data must still be the ones the
            run recorded (checked by content; by size for runs of 0.1/0.2).
        repeats: int. Test passes to average (PermuteNet draws a fresh
            permutation per batch, so its score varies a little).
        splits: the run's `ImageSplits` when the caller already loaded them.
        allow_other_data: bool. Score on other data than the run recorded
            (the row says so).

    Returns:
        A dict row for the results table (accuracies as fractions), with the
        per-image outcomes the verdicts test (`per_image`: correct canvases
        per test image, out of `trials`), the held-out majority rate
        (`majority_rate`, what a constant predictor scores) and `1 / outputs`
        (`chance_accuracy`).

    Raises:
        ValueError: the data differ from the ones the run recorded.
    """
    import numpy as np

    config, summary, model = load_run(run_dir)
    if data_dir:
        config = dataclasses.replace(config, data_dir=data_dir)
    recorded = recorded_fingerprint(run_dir, summary)
    if splits is None:
        splits = prepare_data(config)
    data_check = check_data(run_dir, recorded.get("data", {}), splits, allow_other_data,
                            source=config.data_dir or config.dataset)
    norm = summary["normalization"]
    test_ds = gdata.grid_dataset(splits.test, config.grid_size, config.task, config.batch_size,
                                 mean=norm["mean"], std=norm["std"], background=config.background)
    cells = config.grid_size**2
    scores = []
    correct = np.zeros(len(splits.test), np.int64)
    targets = grid_targets(config.task, splits.test.labels, cells)
    for _ in range(repeats):
        passed = per_image_outcomes(model, test_ds, targets, cells)
        correct += passed
        scores.append(float(passed.sum() / (len(passed) * cells)))
    outputs = num_outputs(config, splits.train)
    labels = np.asarray(splits.test.labels, np.int64)
    majority = 1.0 / cells if config.task == "location" else float(np.bincount(labels).max() / len(labels))
    return {
        "run_dir": os.fspath(run_dir),
        "model": f"{config.arch}{config.depth}-w{config.width}",
        "variant": config.variant,
        "padding": config.padding,
        "grid_size": config.grid_size,
        "task": config.task,
        "seed": config.seed,
        "dataset": config.dataset,
        "test_images": len(splits.test),
        "test_canvases": len(splits.test) * cells,
        "test_digest": splits.test.digest(),
        "accuracy": sum(scores) / len(scores),
        "accuracy_repeats": scores,
        "chance_accuracy": 1.0 / outputs,
        "majority_rate": majority,
        "per_image": {"correct": correct.tolist(), "trials": cells * repeats},
        "train_seconds": summary.get("train_seconds"),
        "epochs": config.epochs,
        "data_check": data_check,
        "setting": _group_setting(recorded),
    }


def _data_key(config):
    """The fields that decide which images `prepare_data` loads."""
    return (config.dataset, config.data_dir, config.train_examples, config.val_fraction,
            config.embedded_train_size, config.embedded_test_size)


def evaluate_runs(run_dirs, output_dir, data_dir=None, repeats=1, allow_other_data=False):
    """Scores finished runs and writes one report into `output_dir`; returns the `Report`.

    Runs that read the same data share one load (and one digest of it).
    """
    from keras_gpos.reporting.location import write_report

    if not run_dirs:
        raise ValueError("No run directories to evaluate.")
    loaded, rows = {}, []
    for run_dir in run_dirs:
        config = load_run_config(run_dir)
        if data_dir:
            config = dataclasses.replace(config, data_dir=data_dir)
        key = _data_key(config)
        if key not in loaded:
            loaded[key] = prepare_data(config)
        rows.append(evaluate_run(run_dir, data_dir=data_dir, repeats=repeats, splits=loaded[key],
                                 allow_other_data=allow_other_data))
    return write_report(output_dir, rows, {"experiment": "location"})
