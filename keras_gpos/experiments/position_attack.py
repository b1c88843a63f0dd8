"""The position-attack experiment: rank position channels, then zero them.

`run_position_attack` trains a segmentation network through the run
lifecycle (or loads one with `model_path`), ranks the channels of one layer
by how much their pooled activation changes under a flip, and judges the
attacks against random channels (`keras_gpos.attacks.compare`): top-N vs
random per N, the region attacks of each signed ranking, and the region
contrast. A run directory holds:

    config.json  fingerprint.json  run.json (the training)  model.keras
    best.keras  history.csv  ranking.json  ranking.png
    results.json  results.md  attack_curves.png

Only the training settings enter the fingerprint: a finished training is
reused when they match, and the ranking and attacks (layer, flip, N values,
draws) are recomputed on every invocation.

`seeds` runs one such directory per seed under `<output_dir>/runs/s<seed>`
(`run_seeds`), within `budget_s` when given (`keras_gpos.runs.budget`), and
judges the claims over the seeds that finished in `<output_dir>`; a seed whose
results.json already holds the same settings is reused, so the next
invocation continues.
"""

import dataclasses
import pathlib
import time

import keras
from absl import logging

from keras_gpos.data.pipeline import steps_per_epoch
from keras_gpos.base.inputs import check_segmentation_model
from keras_gpos.data.segmentation import (
    SEGMENTATION_DATASETS, check_splits, load_segmentation_dataset, segmentation_dataset)
from keras_gpos.experiments.config import NON_RESULT_FIELDS, CommonConfig, option, result_settings, upgrade_record
from keras_gpos.experiments.sweeps import BUDGET_HELP, SweepAxis, check_budget, check_twins
from keras_gpos.base.files import load_keras_model
from keras_gpos.base.graph import feature_model
from keras_gpos.layers.padding import PADDING_MODES, check_padding_mode
from keras_gpos.metrics.region_iou import RegionMeanIoU
from keras_gpos.models.resnet import RESNET_BLOCKS
from keras_gpos.models.segmentation import MODEL_OUTPUTS_LOGITS, SEGMENTATION_MODELS, build_segmentation_model
from keras_gpos.ranking.position_ranking import FLIPS, SIDES
from keras_gpos.runs.resources import MemoryPlan
from keras_gpos.training.recipe import paper_adam
from keras_gpos.runs.lifecycle import FitPlan, TrainingSetup, finish_run, fit_run
from keras_gpos.runs.directory import RunDirectory
from keras_gpos.base.validation import (
    check_channel_count,
    check_non_negative_int,
    check_one_of,
    check_positive_int,
    check_positive_ints,
)

# `--seeds` runs one training and attack per seed; `--seed=N` is one run of it.
SWEEP_AXES = (SweepAxis("seeds", "seed"),)
# Settings that change the trained model; the rest only changes the analysis.
TRAINING_FIELDS = (
    "seed", "epochs", "batch_size", "learning_rate", "beta_1", "strategy", "deterministic", "dataset",
    "train_examples", "val_examples", "street_train_size", "street_val_size", "image_height",
    "image_width", "flip_augmentation", "segmentation_model", "depth", "width", "padding",
    "output_stride", "aspp_filters", "dtype_policy",
)
# What a position-attack run writes into its directory besides the lifecycle's files.
ATTACK_ENTRIES = ("ranking.json", "ranking.png", "results.json", "results.md", "attack_curves.png")
# Peak bytes per generated street-scene pixel (float32 image, float64 grids, noise).
STREET_BYTES_PER_PIXEL = 120


@dataclasses.dataclass(frozen=True)
class PositionAttackConfig(CommonConfig):
    """Train (or load) a segmentation network, rank its position channels, attack them."""

    output_dir: str = option("runs/position_attack", "Folder for the model, ranking and results.")
    epochs: int = option(4, "Training epochs (ignored with --model_path).")
    batch_size: int = option(8, "Global training batch size.")
    beta_1: float = option(0.9, "Adam beta_1.")
    dataset: str = option("street_scenes", "Segmentation data: " + " | ".join(SEGMENTATION_DATASETS) + ".")
    data_dir: str = option("", "CamVid-layout folder (train/ trainannot/ val/ valannot/) or TFDS data dir.")
    tfds_download: bool = option(False, "Let TFDS prepare Cityscapes (needs the manual download).")
    train_examples: int = option(0, "Use only the first N training images (0: all).")
    val_examples: int = option(0, "Rank and attack on only the first N validation images (0: all).")
    street_train_size: int = option(200, "Embedded street scenes for training.")
    street_val_size: int = option(50, "Embedded street scenes for ranking and attacks.")
    image_height: int = option(96, "Height of street scenes / resized Cityscapes.")
    image_width: int = option(128, "Width of street scenes / resized Cityscapes.")
    flip_augmentation: bool = option(
        False, "Random horizontal flips while training. Off by default: flips make the network "
        "mirror-symmetric and hide the position channels."
    )
    segmentation_model: str = option("deeplab_resnet", "Model: " + " | ".join(SEGMENTATION_MODELS) + ".")
    depth: int = option(10, "ResNet depth of deeplab_resnet: " + ", ".join(map(str, RESNET_BLOCKS)) + ".")
    width: int = option(16, "First-stage width of deeplab_resnet (the ranked map has 8x; 32x at depth 50).")
    padding: str = option("zero", "Border mode of every backbone conv: " + "|".join(PADDING_MODES) + ".")
    output_stride: int = option(8, "Backbone output stride of deeplab_resnet: 8 or 16.")
    aspp_filters: int = option(64, "Channels of each ASPP branch.")
    model_path: str = option("", "Attack this trained .keras model instead of training one.")
    layer: str = option("", "Layer to rank and mask, a name or 'outer/inner' path ('' = the model's "
                            "backbone output: stage4_out for deeplab_resnet).")
    rank_flip: str = option(
        "horizontal", "Flip that ranks the channels: horizontal (left/right channels, left/right half "
        "attacks; the paper) or vertical (top/bottom)."
    )
    rank_split: str = option(
        "val", "Images the channels are ranked on: val (the images that are scored, as in the paper) "
        "or train (ranking and scoring on disjoint images)."
    )
    rank_batch_size: int = option(8, "Batch size of ranking and attack evaluation.")
    attack_n: tuple[int, ...] = option((4, 8, 16, 32, 64), "Numbers of channels zeroed in the sweep.")
    random_draws: int = option(5, "Random channel sets per N (the baseline; at least 2).")
    region_n: tuple[int, ...] = option((16, 32), "Numbers of signed-ranking channels zeroed in the region attack.")
    contrast_pairs: int = option(
        20, "Independent pairs of random channel sets per region N: the random baseline of the "
        "region contrast (0 skips it)."
    )
    mask_mode: str = option("zero", "zero (the paper) or mean (replace with the channel's mean).")
    seeds: tuple[int, ...] = option(
        (), "Training seeds run one after another, each in <output_dir>/runs/s<seed>, then judged over the "
        "seeds in <output_dir> (empty: one run of --seed in <output_dir>)."
    )
    budget_s: float = option(0.0, "With --seeds: " + BUDGET_HELP)

    def unread_fields(self):
        """Fields the chosen data source never reads (left out of the run's fingerprint)."""
        return () if self.dataset == "street_scenes" else ("street_train_size", "street_val_size")

    def __post_init__(self):
        super().__post_init__()
        check_one_of(self.dataset, "dataset", SEGMENTATION_DATASETS)
        check_one_of(self.segmentation_model, "segmentation_model", SEGMENTATION_MODELS)
        check_padding_mode(self.padding, name="padding")
        check_one_of(self.mask_mode, "mask_mode", ("zero", "mean"))
        check_one_of(self.output_stride, "output_stride", (8, 16))
        check_one_of(self.rank_flip, "rank_flip", FLIPS)
        check_one_of(self.rank_split, "rank_split", ("val", "train"))
        check_one_of(self.depth, "depth", tuple(RESNET_BLOCKS))
        for name in ("street_train_size", "street_val_size", "image_height", "image_width", "width",
                     "aspp_filters", "rank_batch_size"):
            check_positive_int(getattr(self, name), name)
        for name in ("train_examples", "val_examples", "contrast_pairs"):
            check_non_negative_int(getattr(self, name), name)
        if isinstance(self.random_draws, bool) or not isinstance(self.random_draws, int) or self.random_draws < 2:
            raise ValueError(f"random_draws must be an int >= 2 (a spread needs two draws); got {self.random_draws!r}.")
        if self.dataset == "folder" and not self.data_dir:
            raise ValueError("dataset=folder needs --data_dir (holding train/, trainannot/, val/, valannot/).")
        check_twins(self, SWEEP_AXES, {"seed": CommonConfig.__dataclass_fields__["seed"].default})
        check_budget(self)
        if self.budget_s and not self.seeds:
            raise ValueError("budget_s needs --seeds: it decides which seeds' runs fit; one run cannot be split.")
        if self.seeds and self.model_path:
            raise ValueError("--seeds trains one model per seed; to attack the --model_path model give --seed.")
        for name in ("attack_n", "region_n"):
            try:
                check_positive_ints(getattr(self, name), name)
            except ValueError:
                raise ValueError(
                    f"{name} must be a non-empty tuple of positive ints; got {getattr(self, name)!r}."
                ) from None

    @property
    def layer_name(self):
        from keras_gpos.models.segmentation import default_layer

        return self.layer or default_layer(self.segmentation_model)


def training_settings(config):
    """The settings that change the trained model (its fingerprint); fields the data never reads are left out."""
    values = result_settings(config)
    # Fields the data source never reads (street sizes of a folder run) and the default dtype policy
    # are not in the settings at all.
    return {key: values[key] for key in TRAINING_FIELDS if key in values}


def legacy_settings(record):
    record = {k: v for k, v in record.items() if k != "contrast_pairs"}
    return training_settings(upgrade_record(PositionAttackConfig, record))


def memory_plan(config):
    plan = MemoryPlan("experiment position_attack")
    pixels = config.image_height * config.image_width
    if config.dataset == "street_scenes":
        plan.add("street scenes", (config.street_train_size + config.street_val_size) * pixels * 4
                 + STREET_BYTES_PER_PIXEL * pixels, ("street_train_size", "street_val_size", "image_height",
                                                     "image_width"))
    plan.add("activations per batch", 3 * config.batch_size * pixels * config.width * 24,
             ("batch_size", "image_height", "image_width", "width"))
    return plan


def prepare_data(config):
    train, val = load_segmentation_dataset(
        config.dataset, data_dir=config.data_dir or None, seed=0,
        train_size=config.street_train_size, val_size=config.street_val_size,
        image_size=(config.image_height, config.image_width), tfds_download=config.tfds_download,
    )
    if config.train_examples:
        train = train.head(config.train_examples)
    if config.val_examples:
        val = val.head(config.val_examples)
    return check_splits(train, val)


def build_model(config, data):
    return build_segmentation_model(
        config.segmentation_model, data.num_classes, data.image_shape, depth=config.depth,
        width=config.width, padding=config.padding, output_stride=config.output_stride,
        aspp_filters=config.aspp_filters,
    )


def compile_model(model, config, train):
    steps = config.epochs * steps_per_epoch(len(train), config.batch_size)
    model.compile(
        optimizer=paper_adam(keras.optimizers.schedules.CosineDecay(config.learning_rate, steps, alpha=0.05),
                             config.beta_1),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=MODEL_OUTPUTS_LOGITS[config.segmentation_model], ignore_class=train.ignore_label),
        metrics=[RegionMeanIoU(train.num_classes, ignore_label=train.ignore_label, name="miou")],
    )


def check_layer(model, config):
    """The layer exists, is 4-D, and holds at least max(N) channels: checked before training."""
    features = feature_model(model, config.layer_name)
    channels = int(features.output.shape[-1])
    check_channel_count(max(config.attack_n + config.region_n), channels, config.layer_name,
                        source=" (from --attack_n/--region_n)")
    return channels


def train_model(config, run, train, val):
    """Trains through the lifecycle; returns `(model, training summary)`."""
    run.write_start(config.to_dict())

    def build(num_replicas):
        model = build_model(config, train)
        compile_model(model, config, train)
        return model

    plan = FitPlan(
        build_model=build,
        train_data=lambda initial_epoch: segmentation_dataset(
            train, config.batch_size, training=True, flip=config.flip_augmentation, seed=config.seed,
            epochs=config.epochs, initial_epoch=initial_epoch),
        steps_per_epoch=steps_per_epoch(len(train), config.batch_size),
        validation_data=segmentation_dataset(val, config.rank_batch_size),
        monitor="val_miou",
        description=(f"{len(train)} {train.source} images, "
                     f"{'with' if config.flip_augmentation else 'without'} flip augmentation"),
    )
    result = fit_run(run, plan, TrainingSetup(config.seed, config.epochs, config.strategy,
                                              config.deterministic, config.verbose))
    summary = {
        "train_seconds": result.train_seconds, "best_epoch": result.best_epoch,
        "best_val_miou": result.best_value, "epochs": config.epochs,
        "flip_augmentation": config.flip_augmentation, "parameters": int(result.model.count_params()),
        "config": config.to_dict(),
    }
    return result.model, finish_run(run, result.model, summary, export=False)


# Fields that may differ between the seeds a seed report averages.
SEED_REPORT_FREE = ("seed", "output_dir", "overwrite", "verbose", "data_dir", "tfds_download", "model_path", "seeds",
                    "budget_s")


def evaluate_runs(run_dirs, output_dir, data_dir=None, repeats=1, allow_other_data=False):
    """Judges the claims of several seeds' attacks (same settings but the seed) over seeds."""
    from keras_gpos.reporting.position_attack import write_seed_report

    del data_dir, repeats, allow_other_data  # the attacks were scored when they ran
    return write_seed_report(output_dir, seed_results(run_dirs))


def seed_results(run_dirs):
    """The results.json records of position-attack runs, checked to be seeds of one setting."""
    from keras_gpos.base.files import read_record
    from keras_gpos.reporting.grouping import check_one_setting

    results = []
    for run_dir in run_dirs:
        path = pathlib.Path(run_dir) / "results.json"
        if not path.exists():
            raise ValueError(f"{run_dir} holds no position-attack results.json.")
        record = read_record(path, "position-attack results file", optional={"seeds_summary": dict})
        if "seeds_summary" in record:
            raise ValueError(f"{path} is a report over seeds (written by evaluate.py), not one run's results; "
                             "give the run directories it was made from.")
        record = read_record(path, "position-attack results file", {"config": dict},
                             {"comparison": dict, "layer": str})
        if "comparison" not in record:
            raise ValueError(f"{path} was written before keras_gpos 0.2 (no comparison); re-attack the model "
                             "with --model_path to add the contrasts.")
        results.append({**record, "run_dir": str(run_dir)})
    check_one_setting(results, lambda r: {k: v for k, v in r["config"].items() if k not in SEED_REPORT_FREE},
                      "a position-attack seed report")
    seeds = [r["config"].get("seed") for r in results]
    doubled = sorted({s for s in seeds if seeds.count(s) > 1}, key=str)
    if doubled:
        raise ValueError(f"--runs holds seed {doubled[0]} more than once; a seed report averages one run per seed.")
    return [{k: v for k, v in r.items() if k != "run_dir"} for r in results]


def _attacked_as_configured(leaf):
    """The recorded attack of a seed's folder, when its results.json holds exactly `leaf`'s settings (else None)."""
    import json

    from keras_gpos.base.files import read_json

    path = pathlib.Path(leaf.output_dir) / "results.json"
    if leaf.overwrite or not (path.exists() and (path.parent / "run.json").exists()):
        return None
    recorded = read_json(path)
    settings = {k: v for k, v in json.loads(json.dumps(leaf.to_dict())).items() if k not in NON_RESULT_FIELDS}
    if {k: v for k, v in (recorded.get("config") or {}).items() if k not in NON_RESULT_FIELDS} != settings:
        return None
    return recorded


def run_seeds(config):
    """`--seeds`: one training and attack per seed in `<output_dir>/runs/s<seed>`, the runs that fit in
    `budget_s`, then the claims judged over the seeds that finished (`<output_dir>/results.*`).

    A seed whose results.json records these very settings is reused as it is; any other is run (its
    training reused when the training settings match), so the next invocation continues.
    """
    from keras_gpos.reporting.position_attack import write_seed_report
    from keras_gpos.runs.budget import RunBudget
    from keras_gpos.runs.directory import check_report_folder

    check_report_folder(config.output_dir)  # the seeds' report goes beside their runs/
    budget = RunBudget(config.budget_s)
    finished = []
    for seed in config.seeds:
        leaf = config.replace(seed=seed, seeds=(), budget_s=0.0,
                              output_dir=str(pathlib.Path(config.output_dir) / "runs" / f"s{seed}"))
        recorded = _attacked_as_configured(leaf)
        if budget.run(f"s{seed}", "seed", recorded is not None,
                      lambda leaf=leaf, recorded=recorded: (
                          {"train_seconds": recorded["seconds"]["total"]} if recorded else run_position_attack(leaf))):
            finished.append(leaf.output_dir)
        else:
            logging.info("seed %d not started: it would not end within --budget_s=%g", seed, config.budget_s)
    from keras_gpos.training.distribution import is_chief

    if not is_chief():
        return {}  # workers train; only the chief attacks and reports
    outcome = budget.outcome().to_dict()
    if not finished:
        logging.info("no seed finished within --budget_s=%g; nothing to report", config.budget_s)
        return {"time_budget": outcome}
    report = write_seed_report(config.output_dir, seed_results(finished),
                               {"time_budget": outcome} if config.budget_s else None)
    logging.info("results over seeds:\n%s", report.text)
    return report.payload


def run_position_attack(config):
    """Trains or loads the model, ranks, attacks and writes the report (`--seeds`: `run_seeds`).

    Returns:
        The `results.json` content as a dict (mIoU values as fractions).
    """
    if config.seeds:
        return run_seeds(config)
    from keras_gpos.attacks import AttackEvaluator, insert_channel_mask
    from keras_gpos.ranking import rank_position_channels
    from keras_gpos.reporting.position_attack import write_report

    start = time.time()
    memory_plan(config).check()
    train, val = prepare_data(config)  # data errors before anything is written
    given = load_keras_model(config.model_path) if config.model_path else None
    model_to_check = given if given is not None else build_model(config, train)
    check_segmentation_model(model_to_check, f"position_attack (model {config.model_path or 'built'})",
                             val.image_shape, val.num_classes)
    check_layer(model_to_check, config)
    fingerprint = {"settings": training_settings(config),
                   "data": {"train": train.metadata()["images"], "val": val.metadata()["images"],
                            "source": config.dataset, "image_shape": list(train.image_shape),
                            "content": {"train": train.identity(), "val": val.identity()}}}
    if given is not None:
        fingerprint = {"settings": {"model_path": str(pathlib.Path(config.model_path).resolve())},
                       "data": fingerprint["data"]}
    with RunDirectory(config.output_dir, "position_attack", fingerprint, config.overwrite,
                      None if given is not None else legacy_settings, extra_entries=ATTACK_ENTRIES) as run:
        legacy = (run.path / "training.json").exists() and (run.path / "model.keras").exists()
        if given is not None:
            model, training = given, {"model_path": config.model_path}
            run.write_start(config.to_dict())
        elif run.finished or legacy:
            logging.info("reusing the trained model %s (same training settings)", run.path / "model.keras")
            model = load_keras_model(run.path / "model.keras")
            training = run.summary() if run.finished else {"legacy_training_json": True}
        else:
            model, training = train_model(config, run, train, val)
        if not run.chief:
            return {}  # workers train; only the chief ranks, attacks and writes
        rank_data = val if config.rank_split == "val" else train
        logging.info("ranking the channels of %s under a %s flip on %d %s images", config.layer_name,
                     config.rank_flip, len(rank_data), config.rank_split)
        rank_start = time.time()
        ranking = rank_position_channels(
            model, config.layer_name, rank_data, flip=config.rank_flip, batch_size=config.rank_batch_size,
            data_description=rank_data.metadata(), verbose=1 if config.verbose else 0)
        rank_seconds = time.time() - rank_start
        logging.info("ranked %d channels in %.0f s", ranking.num_channels, rank_seconds)
        ranking.save(run.path / "ranking.json")
        ranking.plot(run.path / "ranking.png", top=min(max(config.attack_n), ranking.num_channels))
        attacked = insert_channel_mask(
            model, config.layer_name, mode=config.mask_mode,
            fill_values=ranking.channel_mean if config.mask_mode == "mean" else None)
        halves = SIDES[config.rank_flip]
        evaluator = AttackEvaluator(attacked, val, val.num_classes, val.ignore_label,
                                    regions={"all": "all", **{half: half for half in halves}},
                                    batch_size=config.rank_batch_size)
        attack_start = time.time()
        comparison = evaluator.compare(
            ranking, config.attack_n, random_draws=config.random_draws, region_n=config.region_n,
            contrast_pairs=config.contrast_pairs, seed=config.seed, verbose=1 if config.verbose else 0)
        for row in comparison.rows:
            logging.info("N=%d: top-N drop %s, random drop %s (p95 %s, %d draws): %s", row["n"], row["top_drop"],
                         row["random"]["mean"], row["random"]["p95"], row["draws"], row["verdict"]["state"])
        for row in comparison.contrasts:
            logging.info("N=%d: region contrast %s, random p95 %s: %s", row["n"], row["contrast"],
                         row["random"]["p95"], row["verdict"]["state"])
        results = {
            "experiment": "position_attack",
            "config": config.to_dict(),
            "model": {"name": model.name, "parameters": int(model.count_params())},
            "layer": config.layer_name,
            "training": training,
            "data": {"train": train.metadata(), "val": val.metadata(), "class_names": list(val.class_names)},
            "ranking": {
                "num_channels": ranking.num_channels, "num_images": ranking.num_images,
                "flip": ranking.flip, "split": config.rank_split,
                "top_overall": ranking.top(min(32, ranking.num_channels)).tolist(), "file": "ranking.json",
            },
            "comparison": comparison.to_dict(),
            "trace_count": evaluator.trace_count,
            "seconds": {"rank": rank_seconds, "attacks": time.time() - attack_start,
                        "total": time.time() - start},
            "keras_backend": keras.config.backend(),
        }
        report = write_report(run.path, [results])
    logging.info("results:\n%s", report.text)
    logging.info("results: %s, %s, %s", report.json, report.markdown, report.plot)
    return report.payload
