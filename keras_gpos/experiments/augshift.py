"""The AugShift experiment: shift consistency vs anti-aliasing, same data, same budget.

`run_augshift` trains every (variant, lambda, seed) in the config, one leaf
run directory each under `<output_dir>/runs/`, then reports every finished
run in that folder (`keras_gpos.reporting.augshift`). Re-running with other
settings into the same folder adds runs; finished runs with the same
settings are skipped, so the table grows. With `budget_s` only the runs that
fit start (`keras_gpos.runs.budget`) and the report lists what ran and what
did not; the next invocation continues.

Variants (same ResNet, same epochs, same random placement of the images):

* `baseline`: one random view per image, cross-entropy.
* `augshift`: two random views per image, cross-entropy on both + lambda x
  shift-consistency loss on the pooled latents (`AugShiftModel`).
* `blurpool`: the baseline with anti-aliased strided convolutions.
* `augshift_blurpool`: both.
* `aps`: adaptive polyphase sampling at every downsampling, with
  `aps_padding` (circular by default: the network is then exactly invariant
  to circular shifts); `augshift_aps`: AugShift on it.

`eval_protocols` scores every model's consistency under more view protocols
than the one it trained with (canvas, shift, crop, circular), through the
same weights at each protocol's input size.

Per run: test accuracy at random positions and shift consistency (on the
same fixed-seed view pairs), accuracy at every diagonal offset, the view
latent distance, and a linear position probe on the frozen pooled latents
(`keras_gpos.metrics.position_probe`). All scores are fractions.
"""

import dataclasses
import pathlib

import keras
import numpy as np
from absl import logging

from keras_gpos import data as gdata
from keras_gpos.data.view_protocol import VIEW_MODES, ViewProtocol
from keras_gpos.experiments.config import ImageDataConfig, option, result_settings, upgrade_record
from keras_gpos.experiments.sweeps import BUDGET_HELP, SweepAxis, check_budget, check_twins, expand
from keras_gpos.layers.blur_pool import BLUR_KERNEL_SIZES
from keras_gpos.layers.padding import PADDING_MODES, check_padding_mode
from keras_gpos.losses import DISTANCES, ShiftConsistencyLoss
from keras_gpos.metrics.consistency import (
    accuracy_vs_shift, consistency_and_accuracy, consistency_by_protocol, view_latent_distance,
)
from keras_gpos.metrics.probe import position_probe
from keras_gpos.models import build_classifier
from keras_gpos.models.resnet import RESNET_BLOCKS
from keras_gpos.training.augshift import AugShiftModel, ConsistencyWarmup
from keras_gpos.training.recipe import compile_classifier
from keras_gpos.training.consistency_callback import ShiftConsistencyCallback
from keras_gpos.training.distribution import is_chief
from keras_gpos.runs.budget import RunBudget, is_finished
from keras_gpos.runs.resources import MemoryPlan
from keras_gpos.runs.lifecycle import FitPlan, TrainingSetup, finish_run, fit_run
from keras_gpos.runs.directory import RunDirectory
from keras_gpos.base.validation import check_non_negative_int, check_one_of, check_positive_int

VARIANTS = ("baseline", "augshift", "blurpool", "augshift_blurpool", "aps", "augshift_aps")
PROBE_GRID = 3
# Suite-level lists: a leaf run has one variant, one lambda and one seed.
SUITE_FIELDS = ("variants", "seeds", "consistency_weights", "probe_epochs")
AUGSHIFT_ONLY = ("distance", "normalize_latents", "warmup_epochs")
# The suite's sweep axes, in the order runs are trained (lambdas only for AugShift variants).
# `--seed=N` is `--seeds=N`; the config's own `seed` field is not used.
SWEEP_AXES = (SweepAxis("seeds", "seed"), SweepAxis("variants"))


@dataclasses.dataclass(frozen=True)
class AugShiftConfig(ImageDataConfig):
    """Baseline / AugShift / BlurPool / AugShift+BlurPool on shifted CIFAR images."""

    output_dir: str = option("runs/augshift", "Folder of the suite: runs/<name>/ and the results.")
    dataset: str = option("embedded", "embedded | cifar10_binary | tfds:<name>.")
    batch_size: int = option(64, "Global batch size (images per view).")
    view_mode: str = option("canvas", "canvas (random position on a larger canvas) or shift.")
    canvas_size: int = option(48, "Canvas side for view_mode=canvas (32px images: 48 gives 0..16px).")
    max_shift: int = option(4, "Largest shift per axis for view_mode=shift (constant fill).")
    fill: float = option(0.0, "Background value in normalised space (0 = dataset-mean colour).")
    flip: bool = option(True, "Random horizontal flip (shared by both views).")
    variants: tuple[str, ...] = option(("baseline", "augshift"), "Any of " + ",".join(VARIANTS) + ".")
    seeds: tuple[int, ...] = option((0, 1), "Training seeds; every variant runs with each.")
    consistency_weights: tuple[float, ...] = option((1.0,), "Lambda values (AugShift variants run once per value).")
    distance: str = option("mse", "Consistency distance: mse (the paper) or cosine.")
    normalize_latents: bool = option(False, "L2-normalise pooled latents before the MSE.")
    warmup_epochs: int = option(0, "Linear ramp of lambda from 0 over this many epochs.")
    depth: int = option(10, "ResNet depth " + "/".join(map(str, RESNET_BLOCKS)) + " (50: bottleneck blocks).")
    width: int = option(16, "Channels of the first ResNet stage.")
    padding: str = option("zero", "Border mode of every conv: " + "|".join(PADDING_MODES) + ".")
    blur_kernel_size: int = option(4, "Binomial filter size of the BlurPool variants (1..7).")
    aps_padding: str = option("circular", "Border mode of the APS variants (circular keeps the exact "
                                          "circular-shift invariance).")
    eval_protocols: tuple[str, ...] = option(
        (), "More consistency protocols to score every model under: canvas,shift,crop,circular "
        "(empty: only the training protocol)."
    )
    eval_repeats: int = option(5, "Random view pairs per test image for consistency/accuracy.")
    eval_seed: int = option(1234, "Seed of the evaluation views (same for every model).")
    probe_train_images: int = option(1000, "Training images (x9 positions) for the location probe.")
    sweep_stride: int = option(2, "Accuracy-vs-shift: score every n-th diagonal offset.")
    budget_s: float = option(0.0, BUDGET_HELP)
    probe_epochs: int = option(
        0, "Unused since keras_gpos 0.2 (the probe is fitted to convergence by L-BFGS); accepted "
        "so older flagfiles still parse."
    )

    def __post_init__(self):
        super().__post_init__()
        check_one_of(self.view_mode, "view_mode", VIEW_MODES)
        check_one_of(self.distance, "distance", DISTANCES)
        check_padding_mode(self.padding, name="padding")
        check_one_of(self.blur_kernel_size, "blur_kernel_size", BLUR_KERNEL_SIZES)
        check_padding_mode(self.aps_padding, name="aps_padding")
        for mode in self.eval_protocols:
            check_one_of(mode, "eval_protocols", VIEW_MODES)
        check_one_of(self.depth, "depth", tuple(RESNET_BLOCKS))
        for name in ("width", "eval_repeats", "probe_train_images", "sweep_stride"):
            check_positive_int(getattr(self, name), name)
        if not self.variants:
            raise ValueError("variants must name at least one variant.")
        for variant in self.variants:
            if variant not in VARIANTS:
                raise ValueError(f"Unknown variant {variant!r}; expected any of {list(VARIANTS)}.")
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed.")
        check_twins(self, SWEEP_AXES, {"seed": ImageDataConfig.__dataclass_fields__["seed"].default})
        if not self.consistency_weights:
            raise ValueError("consistency_weights must hold at least one lambda.")
        for consistency_weight in self.consistency_weights:
            if not consistency_weight >= 0:
                raise ValueError(f"consistency weight (lambda) must be >= 0; got {consistency_weight}.")
        check_non_negative_int(self.warmup_epochs, "warmup_epochs")
        check_budget(self)
        self.protocol  # noqa: B018 - validates canvas_size, max_shift and fill

    @property
    def protocol(self):
        return ViewProtocol(self.view_mode, self.canvas_size, self.max_shift, self.fill)

    def leaves(self):
        """`(variant, consistency_weight, seed)` of every run of the suite."""
        return [(leaf["variants"], consistency_weight, leaf["seeds"]) for leaf in expand(self, SWEEP_AXES)
                for consistency_weight in (self.consistency_weights if leaf["variants"].startswith("augshift")
                                           else (0.0,))]


def run_name(variant, consistency_weight, config, seed):
    """Directory name of one run; it encodes every setting the table groups by."""
    name = variant
    if variant.startswith("augshift"):
        name += f"_lam{consistency_weight:g}_{config.distance}"
        if config.normalize_latents:
            name += "_norm"
        if config.warmup_epochs:
            name += f"_wu{config.warmup_epochs}"
    return f"{name}_seed{seed}"


def leaf_settings(config, variant, consistency_weight, seed):
    """The settings that change one run's result: suite lists dropped, and the
    AugShift/BlurPool fields only where the variant uses them."""
    drop = set(SUITE_FIELDS) | {"seed"}
    if not variant.startswith("augshift"):
        drop |= set(AUGSHIFT_ONLY)
    if "blurpool" not in variant:
        drop.add("blur_kernel_size")
    if "aps" not in variant:
        drop.add("aps_padding")
    drop.add("eval_protocols")
    settings = result_settings(config, exclude=tuple(drop))
    return {**settings, "variant": variant, "consistency_weight": float(consistency_weight), "seed": int(seed)}


def legacy_settings(record):
    """Leaf settings of a run written before fingerprints, from its config.json."""
    record = dict(record)
    variant, consistency_weight, seed = (record.pop("variant"), record.pop("consistency_weight"),
                                         record.pop("seed"))
    return leaf_settings(upgrade_record(AugShiftConfig, record), variant, consistency_weight, seed)


def memory_plan(config):
    plan = MemoryPlan("experiment augshift")
    if config.dataset == "embedded":
        plan.add("embedded data", gdata.embedded_memory(config.embedded_train_size, config.embedded_test_size),
                 ("embedded_train_size", "embedded_test_size"))
    side = config.canvas_size if config.view_mode == "canvas" else 32
    plan.add("views and activations per batch", 2 * config.batch_size * side * side * config.width * 8,
             ("batch_size", "canvas_size", "width"))
    return plan


def prepare_data(config):
    splits = gdata.load_image_splits(
        config.dataset, data_dir=config.data_dir, train_examples=config.train_examples,
        val_fraction=config.val_fraction, embedded_train_size=config.embedded_train_size,
        embedded_test_size=config.embedded_test_size, tfds_download=config.tfds_download,
    )
    config.protocol.check(splits.train.image_shape)
    return splits


def build_variant(config, variant, consistency_weight, num_classes, image_shape):
    """`(trainable model, inference classifier, encoder)` of one variant."""
    aps = variant.endswith("aps")
    classifier = build_classifier(
        num_classes, input_shape=config.protocol.input_shape(image_shape), depth=config.depth,
        width=config.width, padding=config.aps_padding if aps else config.padding, head="fc",
        blur_kernel_size=config.blur_kernel_size if "blurpool" in variant else None,
        downsample="aps" if aps else "stride",
        name=f"resnet{config.depth}_{variant}",
    )
    encoder = keras.Model(classifier.input, classifier.get_layer("pooled").output,
                          name=f"{classifier.name}_encoder")
    if not variant.startswith("augshift"):
        return classifier, classifier, encoder
    loss = ShiftConsistencyLoss(consistency_weight, distance=config.distance, normalize=config.normalize_latents)
    model = AugShiftModel(encoder, classifier.get_layer("logits"), loss, name=f"augshift_{classifier.name}")
    return model, classifier, encoder


def unpack_trained(model):
    """`(classifier, encoder)` of a trained (possibly reloaded) model."""
    if isinstance(model, AugShiftModel):
        encoder = model.encoder
        if getattr(encoder, "inputs", None) and len(encoder.output.shape) == 2:
            # One flat graph (encoder layers + head), so it can take other input sizes.
            return keras.Model(encoder.inputs, model.head(encoder.output), name=f"{model.name}_inference"), encoder
        return model.inference_model(), encoder
    return model, keras.Model(model.input, model.get_layer("pooled").output)


def _normalised(image_set, splits):
    return keras.ops.convert_to_numpy(gdata.normalize(image_set.images, splits.mean, splits.std))


def train_one(config, variant, consistency_weight, seed, splits):
    """Trains and scores one leaf run; returns its `run.json` summary."""
    from keras_gpos.reporting.schema import upgrade_summary

    protocol = config.protocol
    run_dir = pathlib.Path(config.output_dir) / "runs" / run_name(variant, consistency_weight, config, seed)
    settings = leaf_settings(config, variant, consistency_weight, seed)
    with RunDirectory(run_dir, "augshift", {"settings": settings, "data": splits.identity()},
                      config.overwrite, legacy_settings) as run:
        if run.finished:
            return upgrade_summary(run.summary(), run_dir / "run.json")
        record = {**config.to_dict(), "variant": variant, "consistency_weight": consistency_weight, "seed": seed}
        run.write_start(record)
        train, val, test = splits.train, splits.val, splits.test
        two_views = variant.startswith("augshift")
        val_images = _normalised(val, splits)
        rng = np.random.default_rng(config.eval_seed)
        val_views = protocol.place(val_images, *protocol.random_offsets(rng, len(val_images), val_images.shape[1:]))

        def build(num_replicas):
            model, _, _ = build_variant(config, variant, consistency_weight, train.num_classes, train.image_shape)
            compile_classifier(model, config.learning_rate, config.beta_1)
            return model

        callbacks = [ShiftConsistencyCallback(val_images, protocol, repeats=1, seed=config.eval_seed)]
        if two_views:
            callbacks.insert(0, ConsistencyWarmup(config.warmup_epochs))
        plan = FitPlan(
            build_model=build,
            train_data=lambda initial_epoch: gdata.shift_view_dataset(
                train, splits.mean, splits.std, config.batch_size, protocol, two_views=two_views,
                flip=config.flip, seed=seed, epochs=config.epochs, initial_epoch=initial_epoch),
            steps_per_epoch=gdata.steps_per_epoch(len(train), config.batch_size),
            validation_data=(val_views, val.labels), callbacks=tuple(callbacks),
            description=f"AugShift suite run {run_dir.name}, {len(train)} images",
        )
        result = fit_run(run, plan, TrainingSetup(seed, config.epochs, config.strategy,
                                                  config.deterministic, config.verbose))
        classifier, encoder = unpack_trained(result.model)
        test_images = _normalised(test, splits)
        scores = consistency_and_accuracy(classifier, test_images, test.labels, protocol,
                                          repeats=config.eval_repeats, seed=config.eval_seed)
        offsets, sweep = accuracy_vs_shift(classifier, test_images, test.labels, protocol,
                                          stride=config.sweep_stride)
        probe = position_probe(encoder, _normalised(train.head(config.probe_train_images), splits),
                               test_images, protocol, grid=PROBE_GRID)
        by_protocol = consistency_by_protocol(
            classifier, test_images, test.labels,
            [ViewProtocol(mode, config.canvas_size, config.max_shift, config.fill) for mode in config.eval_protocols],
            repeats=config.eval_repeats, seed=config.eval_seed)
        summary = {
            "variant": variant, "consistency_weight": consistency_weight, "seed": seed,
            "group": run_name(variant, consistency_weight, config, seed).rsplit("_seed", 1)[0],
            "distance": config.distance if two_views else None,
            "normalize_latents": config.normalize_latents if two_views else None,
            "warmup_epochs": config.warmup_epochs if two_views else None,
            "blur_kernel_size": config.blur_kernel_size if "blurpool" in variant else None,
            "test_accuracy": scores["accuracy"],
            "consistency": scores["consistency"],
            "view_latent_distance": view_latent_distance(encoder, test_images, protocol, seed=config.eval_seed),
            "eval_cases": scores["cases"],
            "consistency_by_protocol": by_protocol,
            "accuracy_vs_shift": {"offsets": offsets, "accuracy": sweep},
            "per_image": {**scores["per_image"], "images": len(test_images), "eval_seed": config.eval_seed,
                          "test_digest": test.digest()},
            "location_probe": {"test_accuracy": probe.accuracy, "train_accuracy": probe.train_accuracy,
                               "chance": probe.chance, "uniform_chance": probe.uniform_chance,
                               "positions": PROBE_GRID**2, "directions": probe.directions,
                               "solver": "softmax regression, L-BFGS, l2 1e-3 (keras_gpos.metrics.probe)"},
            "best_epoch": result.best_epoch,
            "epochs": config.epochs,
            "train_seconds": result.train_seconds,
            "parameters": int(classifier.count_params()),
            "protocol": protocol_text(config, train.image_shape),
            "view_protocol": protocol.to_dict(),
            "dataset": {"name": config.dataset, **splits.identity()},
            "normalization": splits.normalization(),
            "config": record,
        }
        summary = finish_run(run, classifier, summary)
    logging.info("%s: accuracy %.1f%%, consistency %.1f%%, location probe %.1f%%, %.0fs", run_dir.name,
                 100 * summary["test_accuracy"], 100 * summary["consistency"],
                 100 * probe.accuracy, result.train_seconds)
    return summary


def protocol_text(config, image_shape):
    """The evaluation protocol in words (goes into every results file)."""
    return (f"{config.protocol.describe(image_shape)}; {config.eval_repeats} independent view pairs "
            f"per test image, seed {config.eval_seed} (identical views for every model); "
            "consistency = share of pairs with the same top-1 class; accuracy = top-1 over both "
            "views of every pair.")


def run_augshift(config):
    """Trains every run of the config, then reports all runs in the folder."""
    from keras_gpos.reporting.augshift import write_report

    from keras_gpos.runs.directory import check_report_folder

    memory_plan(config).check()
    if config.probe_epochs:
        logging.warning("--probe_epochs is unused since keras_gpos 0.2: the probe is fitted to "
                        "convergence (keras_gpos.metrics.probe).")
    check_report_folder(config.output_dir)  # the suite's report goes beside its runs/
    splits = prepare_data(config)
    if is_chief():
        check_suite_groups(config, splits)
    budget = RunBudget(config.budget_s)
    for variant, consistency_weight, seed in config.leaves():
        name = run_name(variant, consistency_weight, config, seed)
        done = budget.run(
            name, name.rsplit("_seed", 1)[0],
            is_finished(pathlib.Path(config.output_dir) / "runs" / name, config.overwrite),
            lambda v=variant, w=consistency_weight, s=seed: train_one(config, v, w, s, splits))
        if not done:
            logging.info("%s not started: it would not end within --budget_s=%g", name, config.budget_s)
    if not is_chief():
        return {}  # other workers train; only the chief writes the report
    outcome = budget.outcome().to_dict()
    if not any((path / "run.json").exists() for path in (pathlib.Path(config.output_dir) / "runs").glob("*")):
        logging.info("no run of the suite finished within --budget_s=%g; nothing to report", config.budget_s)
        return {"time_budget": outcome}
    return write_report(config.output_dir, extra={"time_budget": outcome} if config.budget_s else None).payload


def check_suite_groups(config, splits):
    """Before any training: the new runs must be seeds of the same settings as the finished runs of
    their group in the folder (the report averages a group over seeds), or the report would refuse them
    after hours of training."""
    import keras

    from keras_gpos.reporting.augshift import run_row
    from keras_gpos.reporting.grouping import group_rows

    runs = pathlib.Path(config.output_dir) / "runs"
    rows = [run_row(path.parent) for path in sorted(runs.glob("*/run.json"))]
    finished = {row["run_dir"] for row in rows}
    for variant, consistency_weight, seed in config.leaves():
        run_dir = str(runs / run_name(variant, consistency_weight, config, seed))
        if run_dir in finished:
            continue  # RunDirectory reuses it or names what differs
        settings = leaf_settings(config, variant, consistency_weight, seed)
        rows.append({"group": run_name(variant, consistency_weight, config, seed).rsplit("_seed", 1)[0],
                     "seed": seed, "run_dir": run_dir,
                     "setting": {"settings": {k: v for k, v in settings.items() if k != "seed"},
                                 "data": splits.identity(), "keras_backend": keras.config.backend()}})
    group_rows(rows, lambda row: row["group"], identity=lambda row: (None, row["seed"]), what="run group")


def evaluate_runs(run_dirs, output_dir, data_dir=None, repeats=1, allow_other_data=False):
    """Tabulates finished AugShift runs (their scores are in their run.json)."""
    from keras_gpos.reporting.augshift import write_report

    del data_dir, repeats, allow_other_data  # AugShift runs are scored once, when trained
    return write_report(output_dir, run_dirs)
