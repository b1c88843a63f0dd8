"""The position-attack experiment: rank position channels, then zero them.

`run_position_attack` trains a segmentation network (or loads one), ranks
the channels of one layer by how much their pooled activation changes under
a horizontal flip, and then measures the network's mIoU on the validation
set with

* the top-N overall position channels zeroed, against N random channels
  (several draws, mean and spread), for several N;
* each signed ranking's top-N zeroed, scoring the left and right halves
  (top and bottom with `rank_flip="vertical"`) separately (the region attack),
  so each ranking is named by the half it actually hurts.

A run directory holds:

    config.json  model.keras  best.keras  history.csv  backup/
    ranking.json  ranking.png  results.json  results.md  attack_curves.png

Training is resumable (`BackupAndRestore`); a finished training
(`model.keras`) is reused unless `overwrite` is set.
"""

import dataclasses
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from keras_gpos.data.segmentation import (
    SEGMENTATION_DATASETS, load_segmentation_dataset, segmentation_dataset,
)
from keras_gpos.experiments.config import CommonConfig, one_of, option, positive_int
from keras_gpos.layers.padding import PADDING_MODES
from keras_gpos.metrics.region_iou import RegionMeanIoU
from keras_gpos.ranking.position_ranking import FLIPS, SIDES
from keras_gpos.models.segmentation import MODEL_OUTPUTS_LOGITS, SEGMENTATION_MODELS, build_deeplab, build_keras_cv_deeplab
from keras_gpos.reporting import (
    markdown_table, mean_and_spread, read_json, save_figure, save_keras_model, write_json, write_text,
)
from keras_gpos.training import AtomicBackupAndRestore, BestModelCheckpoint, StopOnNonFiniteLoss, get_strategy


@dataclasses.dataclass(frozen=True)
class PositionAttackConfig(CommonConfig):
    """Train (or load) a segmentation network, rank its position channels, attack them."""

    output_dir: str = option("runs/position_attack", "Folder for the model, ranking and results.")
    epochs: int = option(20, "Training epochs (ignored with --model_path).")
    batch_size: int = option(8, "Global training batch size.")
    beta_1: float = option(0.9, "Adam beta_1.")
    dataset: str = option("street_scenes", "Segmentation data: " + " | ".join(SEGMENTATION_DATASETS) + ".")
    data_dir: str = option("", "CamVid-layout folder (train/ trainannot/ val/ valannot/) or TFDS data dir.")
    tfds_download: bool = option(False, "Let TFDS prepare Cityscapes (needs the manual download).")
    train_examples: int = option(0, "Use only the first N training images (0: all).")
    val_examples: int = option(0, "Rank and attack on only the first N validation images (0: all).")
    street_train_size: int = option(600, "Embedded street scenes for training.")
    street_val_size: int = option(150, "Embedded street scenes for ranking and attacks.")
    image_height: int = option(96, "Height of street scenes / resized Cityscapes.")
    image_width: int = option(128, "Width of street scenes / resized Cityscapes.")
    flip_augmentation: bool = option(
        False, "Random horizontal flips while training. Off by default: flips make the network "
        "mirror-symmetric and hide the position channels."
    )
    segmentation_model: str = option("deeplab_resnet", "Model: " + " | ".join(SEGMENTATION_MODELS) + ".")
    depth: int = option(18, "ResNet depth of deeplab_resnet (10, 18, 34).")
    width: int = option(32, "First-stage width of deeplab_resnet (the ranked map has 8x).")
    padding: str = option("zero", "Border mode of every backbone conv: " + "|".join(PADDING_MODES) + ".")
    output_stride: int = option(8, "Backbone output stride of deeplab_resnet: 8 or 16.")
    aspp_filters: int = option(64, "Channels of each ASPP branch.")
    model_path: str = option("", "Attack this trained .keras model instead of training one.")
    layer: str = option("", "Layer to rank and mask ('' = stage4_out, the backbone output).")
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
    random_draws: int = option(5, "Random channel sets per N (the baseline).")
    region_n: tuple[int, ...] = option((16, 32), "Numbers of signed-ranking channels zeroed in the region attack.")
    mask_mode: str = option("zero", "zero (the paper) or mean (replace with the channel's mean).")

    def __post_init__(self):
        super().__post_init__()
        one_of(self, "dataset", SEGMENTATION_DATASETS)
        one_of(self, "segmentation_model", SEGMENTATION_MODELS)
        one_of(self, "padding", PADDING_MODES)
        one_of(self, "mask_mode", ("zero", "mean"))
        one_of(self, "output_stride", (8, 16))
        one_of(self, "rank_flip", FLIPS)
        one_of(self, "rank_split", ("val", "train"))
        positive_int(self, "street_train_size", "street_val_size", "image_height", "image_width",
                     "depth", "width", "aspp_filters", "rank_batch_size", "random_draws")
        for name in ("train_examples", "val_examples"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}.")
        if self.dataset == "folder" and not self.data_dir and not self.model_path:
            raise ValueError("dataset=folder needs --data_dir (holding train/, trainannot/, val/, valannot/).")
        for name in ("attack_n", "region_n"):
            values = getattr(self, name)
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{name} must be a non-empty tuple of positive ints; got {values!r}.")

    @property
    def layer_name(self):
        return self.layer or "stage4_out"


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
    return train, val


def build_model(config, data):
    if config.segmentation_model == "keras_cv_deeplabv3plus":
        return build_keras_cv_deeplab(data.num_classes, data.image_shape)
    return build_deeplab(
        data.num_classes, data.image_shape, depth=config.depth, width=config.width,
        padding=config.padding, output_stride=config.output_stride, aspp_filters=config.aspp_filters,
    )


def train_or_load_model(config, train, val):
    """The model to attack: `model_path`, a finished training, or a new one.

    Returns:
        `(model, training summary dict)`.
    """
    if config.model_path:
        return keras.saving.load_model(config.model_path), {"model_path": config.model_path}
    run_dir = pathlib.Path(config.output_dir)
    model_path = run_dir / "model.keras"
    if model_path.exists() and (run_dir / "training.json").exists() and not config.overwrite:
        print(f"[keras_gpos] reusing the trained model {model_path}")
        return keras.saving.load_model(model_path), read_json(run_dir / "training.json")
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    run_dir.mkdir(parents=True, exist_ok=True)
    train_ds = segmentation_dataset(train, config.batch_size, training=True,
                                    flip=config.flip_augmentation, seed=config.seed)
    val_ds = segmentation_dataset(val, config.rank_batch_size)
    steps = config.epochs * int(np.ceil(len(train) / config.batch_size))
    strategy = get_strategy(config.strategy)
    with strategy.scope():
        model = build_model(config, train)
        model.compile(
            optimizer=keras.optimizers.Adam(
                keras.optimizers.schedules.CosineDecay(config.learning_rate, steps, alpha=0.05),
                beta_1=config.beta_1,
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=MODEL_OUTPUTS_LOGITS[config.segmentation_model],
                ignore_class=train.ignore_label,
            ),
            metrics=[RegionMeanIoU(train.num_classes, ignore_label=train.ignore_label, name="miou")],
        )
    best_path = run_dir / "best.keras"
    print(
        f"[keras_gpos] training {model.name} on {len(train)} {train.source} images "
        f"({'with' if config.flip_augmentation else 'without'} flip augmentation) "
        f"for {config.epochs} epochs -> {run_dir}"
    )
    start = time.time()
    model.fit(
        train_ds, validation_data=val_ds, epochs=config.epochs, verbose=config.verbose, shuffle=False,
        callbacks=[
            AtomicBackupAndRestore(str(run_dir / "backup")),
            BestModelCheckpoint(best_path, monitor="val_miou"),
            StopOnNonFiniteLoss(),
            keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        ],
    )
    seconds = time.time() - start
    if best_path.exists():
        model = keras.saving.load_model(best_path)
    best = read_json(best_path.with_suffix(".json")) if best_path.exists() else None
    summary = {
        "train_seconds": seconds,
        "best_epoch": None if best is None else best["epoch"] + 1,
        "best_val_miou": None if best is None else best["value"],
        "epochs": config.epochs,
        "flip_augmentation": config.flip_augmentation,
        "parameters": int(model.count_params()),
    }
    save_keras_model(model, model_path)
    write_json(run_dir / "training.json", summary)
    return model, summary


def attack_report(ranking, evaluator, config, layer_name):
    """Runs the top-N vs random sweep and the region attacks.

    Returns:
        A dict with `baseline`, `sweep` (one row per N) and `region`
        (one row per signed ranking and N), mIoU values as fractions.
    """
    from keras_gpos.attacks import random_channel_sets
    from keras_gpos.ranking.position_ranking import check_count

    num_channels = ranking.num_channels
    for n in config.attack_n + config.region_n:
        check_count(n, num_channels, layer_name)
    baseline = evaluator.evaluate(())
    base = {region: values["miou"] for region, values in baseline.items()}
    sweep = []
    for n in config.attack_n:
        top = evaluator.evaluate(ranking.top(n, "overall"))["all"]["miou"]
        draws = [
            evaluator.evaluate(channels)["all"]["miou"]
            for channels in random_channel_sets(num_channels, n, config.random_draws, seed=config.seed + n)
        ]
        random_drops = [base["all"] - v for v in draws]
        mean_drop, spread = mean_and_spread(random_drops)
        top_drop = base["all"] - top
        print(f"[keras_gpos] N={n}: top-N drop {top_drop:.3f}, random drop {mean_drop:.3f} "
              f"({config.random_draws} draws)", flush=True)
        sweep.append({
            "n": n, "fraction_of_channels": n / num_channels,
            "top_miou": top, "top_drop": top_drop,
            "random_miou": draws, "random_drop_mean": mean_drop, "random_drop_std": spread,
            "ratio": top_drop / mean_drop if mean_drop and mean_drop > 0 else None,
            "top_at_least_twice_random": bool(top_drop >= 2 * max(mean_drop, 0.0) and top_drop > 0),
        })
    region = []
    halves = SIDES[ranking.flip]
    for kind in ranking.kinds[1:]:
        for n in config.region_n:
            scores = evaluator.evaluate(ranking.top(n, kind))
            drops = {half: base[half] - scores[half]["miou"] for half in halves}
            hurts = max(drops, key=drops.get)
            row = {"ranking": kind, "n": n}
            for half in halves:
                row[f"{half}_miou"] = scores[half]["miou"]
                row[f"{half}_drop"] = drops[half]
            row.update({"hurts_more": hurts, "named_side_holds": hurts == kind})
            print(f"[keras_gpos] {kind}-ranked N={n}: " + ", ".join(
                f"{half} drop {drops[half]:.3f}" for half in halves), flush=True)
            region.append(row)
    return {"baseline": baseline, "sweep": sweep, "region": region}


def _halves(results):
    return SIDES[results["ranking"]["flip"]]


def _markdown(results):
    base = results["attacks"]["baseline"]
    first, second = _halves(results)
    ranked = results["ranking"]["split"]
    scored = results["data"]["val"]
    if ranked == "val":
        data = f"{scored['source']} ({scored['images']} images ranked and scored)"
    else:
        data = (f"ranked on {results['data']['train']['source']} ({results['ranking']['num_images']} images), "
                f"scored on {scored['source']} ({scored['images']} images)")
    lines = [
        f"# Position attack: {results['model']['name']} / {results['layer']}",
        "",
        f"Data: {data}; trained on {results['data']['train']['source']} "
        f"({'with' if results['config']['flip_augmentation'] else 'without'} flip augmentation). "
        f"Ranking flip: {results['ranking']['flip']}. Mask mode: {results['config']['mask_mode']}. "
        f"{results['ranking']['num_channels']} channels.",
        "",
        f"Baseline mIoU: all {base['all']['miou']:.3f}, {first} half {base[first]['miou']:.3f}, "
        f"{second} half {base[second]['miou']:.3f}.",
        "",
        "## Top-N overall position channels vs N random channels (mIoU drop, whole image)",
        "",
    ]
    rows = []
    for row in results["attacks"]["sweep"]:
        spread = row["random_drop_std"]
        rows.append([
            row["n"], f"{row['fraction_of_channels']:.3f}", f"{row['top_drop']:.3f}",
            f"{row['random_drop_mean']:.3f} ± {spread:.3f}" if spread is not None else f"{row['random_drop_mean']:.3f}",
            "n/a" if row["ratio"] is None else f"{row['ratio']:.1f}",
            "yes" if row["top_at_least_twice_random"] else "no",
        ])
    lines.append(markdown_table(
        ["N", "N / channels", "top-N drop", f"random drop (mean ± std, {results['config']['random_draws']} draws)",
         "top / random", "top >= 2x random"], rows))
    lines += ["## Region attacks (signed rankings; mIoU drop per half)", ""]
    rows = [
        [row["ranking"], row["n"], f"{row[first + '_drop']:.3f}", f"{row[second + '_drop']:.3f}", row["hurts_more"]]
        for row in results["attacks"]["region"]
    ]
    lines.append(markdown_table(
        ["signed ranking", "N", f"{first}-half drop", f"{second}-half drop", "hurts more"], rows))
    lines += [
        f"Compiled evaluation traced {results['trace_count']} time(s) for "
        f"{results['evaluations']} channel sets.",
        "",
    ]
    return "\n".join(lines)


def _plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = results["attacks"]["sweep"]
    base = results["attacks"]["baseline"]["all"]["miou"]
    ns = [row["n"] for row in sweep]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].axhline(base, color="k", lw=0.8, ls=":", label="no attack")
    axes[0].plot(ns, [row["top_miou"] for row in sweep], "o-", color="tab:red", label="top-N position channels")
    means = [base - row["random_drop_mean"] for row in sweep]
    stds = [row["random_drop_std"] or 0.0 for row in sweep]
    axes[0].errorbar(ns, means, yerr=stds, fmt="s--", color="tab:gray", capsize=3,
                     label=f"N random channels (mean ± std, {results['config']['random_draws']} draws)")
    axes[0].set_xlabel("N channels zeroed")
    axes[0].set_ylabel("val mIoU")
    axes[0].set_title("Overall attack")
    axes[0].legend(fontsize=8)
    kinds = sorted({row["ranking"] for row in results["attacks"]["region"]})
    width = 0.38
    labels = [f"{row['ranking']}\nN={row['n']}" for row in results["attacks"]["region"]]
    x = np.arange(len(labels))
    for offset, half in zip((-width / 2, width / 2), _halves(results)):
        axes[1].bar(x + offset, [row[f"{half}_drop"] for row in results["attacks"]["region"]], width,
                    label=f"{half}-half drop")
    axes[1].set_xticks(x, labels, fontsize=8)
    axes[1].set_ylabel("mIoU drop")
    axes[1].set_title(f"Region attacks ({' / '.join(kinds)} signed rankings)")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{results['model']['name']} / {results['layer']} on {results['data']['val']['source']}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def run_position_attack(config):
    """Trains or loads the model, ranks, attacks and writes the report.

    Returns:
        The `results.json` content as a dict.
    """
    from keras_gpos.attacks import AttackEvaluator, insert_channel_mask
    from keras_gpos.ranking import rank_position_channels

    start = time.time()
    run_dir = pathlib.Path(config.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config.to_dict())
    train, val = prepare_data(config)
    model, training = train_or_load_model(config, train, val)
    layer_name = config.layer_name
    val_ds = segmentation_dataset(val, config.rank_batch_size)
    rank_data = val if config.rank_split == "val" else train

    print(f"[keras_gpos] ranking the channels of {layer_name} under a "
          f"{config.rank_flip} flip on {len(rank_data)} {config.rank_split} images", flush=True)
    rank_start = time.time()
    ranking = rank_position_channels(
        model, layer_name, segmentation_dataset(rank_data, config.rank_batch_size), flip=config.rank_flip,
        data_description=rank_data.metadata(),
    )
    rank_seconds = time.time() - rank_start
    print(f"[keras_gpos] ranked {ranking.num_channels} channels in {rank_seconds:.0f} s", flush=True)
    ranking.save(run_dir / "ranking.json")
    ranking.plot(run_dir / "ranking.png", top=min(max(config.attack_n), ranking.num_channels))

    attacked = insert_channel_mask(
        model, layer_name, mode=config.mask_mode,
        fill_values=ranking.channel_mean if config.mask_mode == "mean" else None,
    )
    evaluator = AttackEvaluator(
        attacked, val_ds, val.num_classes, val.ignore_label,
        regions={"all": "all", **{half: half for half in SIDES[config.rank_flip]}},
    )
    evaluations = 1 + len(config.attack_n) * (1 + config.random_draws) + 2 * len(config.region_n)
    print(f"[keras_gpos] scoring {evaluations} channel sets on {len(val)} images ({config.mask_mode} mask)",
          flush=True)
    attack_start = time.time()
    attacks = attack_report(ranking, evaluator, config, layer_name)
    results = {
        "config": config.to_dict(),
        "model": {"name": model.name, "parameters": int(model.count_params())},
        "layer": layer_name,
        "training": training,
        "data": {"train": train.metadata(), "val": val.metadata(), "class_names": list(val.class_names)},
        "ranking": {
            "num_channels": ranking.num_channels, "num_images": ranking.num_images,
            "flip": ranking.flip, "split": config.rank_split,
            "top_overall": ranking.top(min(32, ranking.num_channels)).tolist(),
            "file": "ranking.json",
        },
        "attacks": attacks,
        "trace_count": evaluator.trace_count,
        "evaluations": evaluations,
        "seconds": {"rank": rank_seconds, "attacks": time.time() - attack_start, "total": time.time() - start},
        "keras_backend": keras.config.backend(),
        "tensorflow_version": tf.__version__,
    }
    write_json(run_dir / "results.json", results)
    table = _markdown(results)
    write_text(run_dir / "results.md", table)
    _plot(results, run_dir / "attack_curves.png")
    print(table)
    print(f"[keras_gpos] results: {run_dir / 'results.json'}, {run_dir / 'results.md'}, {run_dir / 'attack_curves.png'}")
    return results
