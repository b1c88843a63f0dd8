"""The AugShift experiment: shift consistency vs anti-aliasing, same data, same budget.

`run_augshift` trains every (variant, lambda, seed) in the config, one run
directory each under `<output_dir>/runs/`, then scores all finished runs in
that folder and writes `results.json`, `results.md` and `results.png`
(accuracy vs shift) into `output_dir`. Re-running with other settings into
the same folder adds runs; finished runs are skipped, so the table grows.

Variants (same ResNet, same epochs, same random placement of the images):

* `baseline`: one random view per image, cross-entropy.
* `augshift`: two random views per image, cross-entropy on both + lambda x
  shift-consistency loss on the pooled latents (`AugShiftModel`).
* `blurpool`: the baseline with anti-aliased strided convolutions.
* `augshift_blurpool`: both.

Per run: test accuracy at random positions and shift consistency (both on
the same fixed-seed view pairs), accuracy at every diagonal offset, and a
linear location probe (3x3 positions) on the frozen pooled latents.
"""

import dataclasses
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from keras_gpos import data as gdata
from keras_gpos.data import shift_views as views
from keras_gpos.experiments.config import ImageDataConfig, one_of, option, positive_int
from keras_gpos.export import export_saved_model
from keras_gpos.layers.blur_pool import BLUR_KERNEL_SIZES
from keras_gpos.layers.padding import PADDING_MODES
from keras_gpos.losses import DISTANCES, ShiftConsistencyLoss
from keras_gpos.metrics.consistency import (
    accuracy_vs_shift, consistency_and_accuracy, view_latent_distance,
)
from keras_gpos.models import build_classifier
from keras_gpos.experiments.location import prepare_data as prepare_location_data
from keras_gpos.reporting import (
    format_mean_spread, markdown_table, mean_and_spread, read_json, save_figure, save_keras_model,
    write_json, write_text,
)
from keras_gpos.training import (
    AtomicBackupAndRestore,
    BestModelCheckpoint,
    StopOnNonFiniteLoss,
    get_strategy,
)
from keras_gpos.training.augshift import AugShiftModel, ConsistencyWarmup
from keras_gpos.training.consistency_callback import ShiftConsistencyCallback
from keras_gpos.training.distribution import is_chief

VARIANTS = ("baseline", "augshift", "blurpool", "augshift_blurpool")
PROBE_GRID = 3


@dataclasses.dataclass(frozen=True)
class AugShiftConfig(ImageDataConfig):
    """Baseline / AugShift / BlurPool / AugShift+BlurPool on shifted CIFAR images."""

    dataset: str = option("cifar10_binary", "embedded | cifar10_binary | tfds:<name>.")
    view_mode: str = option("canvas", "canvas (random position on a larger canvas) or shift.")
    canvas_size: int = option(48, "Canvas side for view_mode=canvas (32px images: 48 gives 0..16px).")
    max_shift: int = option(4, "Largest shift per axis for view_mode=shift (constant fill).")
    fill: float = option(0.0, "Background value in normalised space (0 = dataset-mean colour).")
    flip: bool = option(True, "Random horizontal flip (shared by both views).")
    variants: tuple[str, ...] = option(VARIANTS, "Any of " + ",".join(VARIANTS) + ".")
    seeds: tuple[int, ...] = option((0, 1), "Training seeds; every variant runs with each.")
    consistency_weights: tuple[float, ...] = option((1.0,), "Lambda values (AugShift variants run once per value).")
    distance: str = option("mse", "Consistency distance: mse (the paper) or cosine.")
    normalize_latents: bool = option(False, "L2-normalise pooled latents before the MSE.")
    warmup_epochs: int = option(0, "Linear ramp of lambda from 0 over this many epochs.")
    depth: int = option(18, "ResNet depth 10/18/34.")
    width: int = option(32, "Channels of the first ResNet stage.")
    padding: str = option("zero", "Border mode of every conv: " + "|".join(PADDING_MODES) + ".")
    blur_kernel_size: int = option(4, "Binomial filter size of the BlurPool variants (1..7).")
    eval_repeats: int = option(5, "Random view pairs per test image for consistency/accuracy.")
    eval_seed: int = option(1234, "Seed of the evaluation views (same for every model).")
    probe_train_images: int = option(1000, "Training images (x9 positions) for the location probe.")
    probe_epochs: int = option(60, "Epochs of the linear location probe.")
    sweep_stride: int = option(2, "Accuracy-vs-shift: score every n-th diagonal offset.")

    def __post_init__(self):
        super().__post_init__()
        one_of(self, "view_mode", views.VIEW_MODES)
        one_of(self, "distance", DISTANCES)
        one_of(self, "padding", PADDING_MODES)
        one_of(self, "blur_kernel_size", BLUR_KERNEL_SIZES)
        positive_int(self, "depth", "width", "eval_repeats", "probe_train_images", "probe_epochs",
                     "sweep_stride")
        if not self.variants:
            raise ValueError("variants must name at least one variant.")
        for variant in self.variants:
            if variant not in VARIANTS:
                raise ValueError(f"Unknown variant {variant!r}; expected any of {list(VARIANTS)}.")
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed.")
        if not self.consistency_weights:
            raise ValueError("consistency_weights must hold at least one lambda.")
        for weight in self.consistency_weights:
            if not weight >= 0:
                raise ValueError(f"consistency weight (lambda) must be >= 0; got {weight}.")
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0; got {self.warmup_epochs}.")
        if self.view_mode == "canvas" and self.canvas_size < 1:
            raise ValueError(f"canvas_size must be positive; got {self.canvas_size}.")
        if self.max_shift < 0:
            raise ValueError(f"max_shift must be >= 0; got {self.max_shift}.")


def run_name(variant, weight, config, seed):
    """Directory name of one run; it encodes every setting the table groups by."""
    name = variant
    if variant.startswith("augshift"):
        name += f"_lam{weight:g}_{config.distance}"
        if config.normalize_latents:
            name += "_norm"
        if config.warmup_epochs:
            name += f"_wu{config.warmup_epochs}"
    return f"{name}_seed{seed}"


def _view_kwargs(config):
    return dict(
        mode=config.view_mode, canvas_size=config.canvas_size, max_shift=config.max_shift,
        fill=config.fill,
    )


def _input_side(config, image_shape):
    """Side of the network input: the canvas, or the image itself (shift mode)."""
    return config.canvas_size if config.view_mode == "canvas" else image_shape[0]


def _normalised(image_set, mean, std):
    return gdata.normalize(image_set.images, mean, std).numpy()


def _fixed_views(images, labels, config, seed):
    """One fixed-seed random view per image (validation for model selection)."""
    a, _ = views.make_views(tf.constant(images), seed=tf.constant([seed, 0]), **_view_kwargs(config))
    return a.numpy(), labels


def build_variant(config, variant, weight, num_classes, image_shape):
    """`(trainable model, inference classifier, encoder)` of one variant."""
    side = _input_side(config, image_shape)
    classifier = build_classifier(
        num_classes,
        input_shape=(side, side, image_shape[-1]),
        depth=config.depth,
        width=config.width,
        padding=config.padding,
        head="fc",
        blur_kernel_size=config.blur_kernel_size if "blurpool" in variant else None,
        name=f"resnet{config.depth}_{variant}",
    )
    encoder = keras.Model(classifier.input, classifier.get_layer("pooled").output,
                          name=f"{classifier.name}_encoder")
    if not variant.startswith("augshift"):
        return classifier, classifier, encoder
    loss = ShiftConsistencyLoss(weight, distance=config.distance,
                                normalize=config.normalize_latents)
    model = AugShiftModel(encoder, classifier.get_layer("logits"), loss,
                          name=f"augshift_{classifier.name}")
    return model, classifier, encoder


def compile_variant(model, config):
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=0.999),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def _unpack_trained(model):
    """`(classifier, encoder)` of a trained (possibly reloaded) model."""
    if isinstance(model, AugShiftModel):
        return model.inference_model(), model.encoder
    encoder = keras.Model(model.input, model.get_layer("pooled").output)
    return model, encoder


def _probe_latents(encoder, images, config, batch_size=256):
    """Pooled latents of every image at each of the 3x3 probe positions.

    The positions are a 3x3 grid of top-left corners, {0, m/2, m} per axis
    where m is the largest offset: cell index = row * 3 + column. Images are
    repeated with `exhaustive_placement`, so label i*9 + c is image i at c.
    """
    side = images.shape[1]
    if config.view_mode == "canvas":
        frame, largest = config.canvas_size, config.canvas_size - side
    else:
        frame, largest = side, config.max_shift
    steps = tf.constant([0, largest // 2, largest], tf.int32)
    latents, cells = [], []
    for start in range(0, len(images), max(1, batch_size // PROBE_GRID**2)):
        chunk = tf.constant(images[start:start + max(1, batch_size // PROBE_GRID**2)])
        dummy = tf.zeros(tf.shape(chunk)[0], tf.int64)
        rep, _, cell = gdata.exhaustive_placement(chunk, dummy, PROBE_GRID)
        oy, ox = tf.gather(steps, cell // PROBE_GRID), tf.gather(steps, cell % PROBE_GRID)
        if config.view_mode == "canvas":
            placed = views.place_on_canvas(rep, frame, oy, ox, config.fill)
        else:
            placed = views.translate(rep, oy - largest // 2, ox - largest // 2, None, config.fill)
        latents.append(keras.ops.convert_to_numpy(encoder(placed, training=False)))
        cells.append(cell.numpy())
    return np.concatenate(latents), np.concatenate(cells)


def linear_location_probe(encoder, train_images, test_images, config, seed=0):
    """Accuracy (%) of a linear classifier that reads the 3x3 position from
    frozen pooled latents; chance is 100/9 = 11.1%.

    The probe is a softmax regression on standardised latents (Adam, lr
    1e-2, full-batch-ish 256), trained on `train_images` at all 9 positions
    and scored on `test_images` at all 9 positions.
    """
    z_train, y_train = _probe_latents(encoder, train_images, config)
    z_test, y_test = _probe_latents(encoder, test_images, config)
    mean, std = z_train.mean(0), z_train.std(0) + 1e-6
    z_train, z_test = (z_train - mean) / std, (z_test - mean) / std
    keras.utils.set_random_seed(seed)
    probe = keras.Sequential([keras.Input((z_train.shape[1],)), keras.layers.Dense(PROBE_GRID**2)])
    probe.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    probe.fit(z_train, y_train, batch_size=256, epochs=config.probe_epochs, verbose=0)
    return {
        "test_accuracy": 100.0 * float(probe.evaluate(z_test, y_test, verbose=0)[1]),
        "train_accuracy": 100.0 * float(probe.evaluate(z_train, y_train, verbose=0)[1]),
        "chance": 100.0 / PROBE_GRID**2,
        "positions": PROBE_GRID**2,
    }


def _prepare_data(config):
    """The location experiment's data (same split and statistics), checked
    against the view settings."""
    train, val, test, mean, std = prepare_location_data(config)
    side = min(train.image_shape[:2])
    if config.view_mode == "canvas":
        views.check_canvas_size(config.canvas_size, max(train.image_shape[:2]))
    else:
        views.check_max_shift(config.max_shift, side - 1, "the image side minus one")
    return train, val, test, mean, std


def train_one(config, variant, weight, seed, data, run_dir):
    """Trains and scores one run; returns its `run.json` summary."""
    run_dir = pathlib.Path(run_dir)
    if (run_dir / "run.json").exists() and not config.overwrite:
        return read_json(run_dir / "run.json")
    train, val, test, mean, std = data
    keras.utils.set_random_seed(seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = {"variant": variant, "consistency_weight": weight, "seed": seed}
    write_json(run_dir / "config.json", {**config.to_dict(), **settings})

    two_views = variant.startswith("augshift")
    train_ds = views.shift_view_dataset(
        train, mean, std, config.batch_size, two_views=two_views, flip=config.flip, seed=seed,
        **_view_kwargs(config),
    )
    val_images = _normalised(val, mean, std)
    val_x, val_y = _fixed_views(val_images, val.labels, config, seed=config.eval_seed)
    strategy = get_strategy(config.strategy)
    with strategy.scope():
        model, _, _ = build_variant(config, variant, weight, train.num_classes, train.image_shape)
        compile_variant(model, config)
    best_path = run_dir / "best.keras"
    callbacks = [
        ShiftConsistencyCallback(val_images, repeats=1, seed=config.eval_seed, **_view_kwargs(config)),
        AtomicBackupAndRestore(str(run_dir / "backup")),
        BestModelCheckpoint(best_path, monitor="val_accuracy"),
        StopOnNonFiniteLoss(),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
    ]
    if two_views:
        callbacks.insert(0, ConsistencyWarmup(config.warmup_epochs))
    print(f"[keras_gpos] augshift: training {run_dir.name} ({len(train)} images, "
          f"{config.epochs} epochs)")
    start = time.time()
    model.fit(train_ds, validation_data=(val_x, val_y), batch_size=config.batch_size,
              epochs=config.epochs, callbacks=callbacks, verbose=config.verbose)
    train_seconds = time.time() - start
    if best_path.exists():
        with strategy.scope():
            model = keras.saving.load_model(best_path)
    best = read_json(best_path.with_suffix(".json")) if best_path.exists() else None
    classifier, encoder = _unpack_trained(model)

    test_images = _normalised(test, mean, std)
    scores = consistency_and_accuracy(
        classifier, test_images, test.labels, repeats=config.eval_repeats,
        seed=config.eval_seed, **_view_kwargs(config),
    )
    offsets, sweep = accuracy_vs_shift(classifier, test_images, test.labels,
                                      stride=config.sweep_stride, **_view_kwargs(config))
    latent_distance = view_latent_distance(encoder, test_images, seed=config.eval_seed,
                                           **_view_kwargs(config))
    probe = linear_location_probe(
        encoder, _normalised(train.head(config.probe_train_images), mean, std), test_images,
        config, seed=seed,
    )
    summary = {
        **settings,
        "group": run_name(variant, weight, config, seed).rsplit("_seed", 1)[0],
        "distance": config.distance if two_views else None,
        "normalize_latents": config.normalize_latents if two_views else None,
        "warmup_epochs": config.warmup_epochs if two_views else None,
        "blur_kernel_size": config.blur_kernel_size if "blurpool" in variant else None,
        "test_accuracy": scores["accuracy"],
        "consistency": scores["consistency"],
        "view_latent_distance": latent_distance,
        "eval_cases": scores["cases"],
        "accuracy_vs_shift": {"offsets": offsets, "accuracy": sweep},
        "location_probe": probe,
        "best_epoch": None if best is None else best["epoch"] + 1,
        "epochs": config.epochs,
        "train_seconds": train_seconds,
        "parameters": int(classifier.count_params()),
        "protocol": protocol(config),
        "dataset": {"name": config.dataset, "train_images": len(train), "val_images": len(val),
                    "test_images": len(test)},
        "config": config.to_dict(),
    }
    if is_chief():
        save_keras_model(classifier, run_dir / "model.keras")
        export_saved_model(classifier, run_dir / "saved_model")
        write_json(run_dir / "run.json", summary)
    print(f"[keras_gpos] {run_dir.name}: accuracy {summary['test_accuracy']:.1f}%, "
          f"consistency {summary['consistency']:.1f}%, location probe "
          f"{probe['test_accuracy']:.1f}%, {train_seconds:.0f}s")
    return summary


def protocol(config):
    """The evaluation protocol in words (goes into every results file)."""
    if config.view_mode == "canvas":
        where = (f"32px images at uniform random top-left offsets 0..{config.canvas_size - 32} px "
                 f"per axis on a {config.canvas_size}x{config.canvas_size} canvas")
    else:
        where = f"images shifted by uniform random offsets -{config.max_shift}..{config.max_shift} px per axis"
    return (f"{where}, constant fill {config.fill:g} in normalised space (dataset-mean colour); "
            f"{config.eval_repeats} independent view pairs per test image, stateless seed "
            f"{config.eval_seed} (identical views for every model); consistency = % of pairs "
            "with the same top-1 class; accuracy = top-1 over both views of every pair.")


def run_augshift(config):
    """Trains every run of the config, then reports all runs in the folder."""
    output_dir = pathlib.Path(config.output_dir)
    data = _prepare_data(config)
    for seed in config.seeds:
        for variant in config.variants:
            weights = config.consistency_weights if variant.startswith("augshift") else (0.0,)
            for weight in weights:
                name = run_name(variant, weight, config, seed)
                train_one(config.replace(seed=seed), variant, weight, seed, data,
                          output_dir / "runs" / name)
    return write_report(output_dir)


def _group_order(name):
    order = {v: i for i, v in enumerate(("baseline", "blurpool", "augshift", "augshift_blurpool"))}
    variant = name.split("_lam")[0]
    return (order.get(variant, 9), name)


def summarize(rows):
    groups = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    summary = []
    for name in sorted(groups, key=_group_order):
        runs = sorted(groups[name], key=lambda r: r["seed"])
        entry = {"group": name, "variant": runs[0]["variant"],
                 "consistency_weight": runs[0]["consistency_weight"],
                 "seeds": [r["seed"] for r in runs], "epochs": runs[0]["epochs"]}
        for key, values in (
            ("test_accuracy", [r["test_accuracy"] for r in runs]),
            ("consistency", [r["consistency"] for r in runs]),
            ("location_probe", [r["location_probe"]["test_accuracy"] for r in runs]),
            ("view_latent_distance", [r["view_latent_distance"] for r in runs]),
            ("train_seconds", [r["train_seconds"] for r in runs]),
        ):
            mean, std = mean_and_spread(values)
            entry[key] = {"mean": mean, "std": std, "per_seed": values}
        sweeps = np.array([r["accuracy_vs_shift"]["accuracy"] for r in runs])
        entry["accuracy_vs_shift"] = {
            "offsets": runs[0]["accuracy_vs_shift"]["offsets"],
            "mean": sweeps.mean(0).tolist(),
        }
        summary.append(entry)
    return summary


def markdown(summary, rows):
    headers = ["run group", "lambda", "seeds", "epochs", "test acc (%)", "consistency (%)",
               "location probe (%)", "view latent distance", "acc range over offsets (%)",
               "train s/run"]
    table = []
    for e in summary:
        sweep = e["accuracy_vs_shift"]["mean"]
        table.append([
            e["group"], e["consistency_weight"] if e["variant"].startswith("augshift") else "-",
            len(e["seeds"]), e["epochs"],
            format_mean_spread(e["test_accuracy"]["per_seed"]),
            format_mean_spread(e["consistency"]["per_seed"]),
            format_mean_spread(e["location_probe"]["per_seed"]),
            format_mean_spread(e["view_latent_distance"]["per_seed"], digits=3),
            f"{min(sweep):.1f}-{max(sweep):.1f}",
            f"{e['train_seconds']['mean']:.0f}",
        ])
    per_seed = [["run", "acc", "consistency", "probe", "latent distance", "best epoch"]]
    lines = []
    for r in sorted(rows, key=lambda r: (_group_order(r["group"]), r["seed"])):
        lines.append([f"{r['group']} seed {r['seed']}", f"{r['test_accuracy']:.1f}",
                      f"{r['consistency']:.1f}", f"{r['location_probe']['test_accuracy']:.1f}",
                      f"{r['view_latent_distance']:.3f}", r["best_epoch"]])
    data = rows[0]["dataset"] if rows else {}
    return (
        "## AugShift vs BlurPool: accuracy next to shift consistency\n\n"
        + markdown_table(headers, table)
        + "\nMean ± sample std over seeds. Location probe: linear softmax on frozen pooled "
        "latents, 3x3 positions, chance 11.1% (lower = less position information). View latent "
        "distance: mean |z_a - z_b|^2 / mean(|z_a|^2, |z_b|^2) over test view pairs (0 = the "
        "pooled latent ignores the shift).\n\n"
        f"Protocol: {rows[0]['protocol'] if rows else ''}\n\n"
        f"Data: {data.get('name')} ({data.get('train_images')} train / {data.get('val_images')} "
        f"val / {data.get('test_images')} test images); best epoch chosen on validation "
        "accuracy, never on test.\n\n### Per seed\n\n"
        + markdown_table(per_seed[0], lines)
    )


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for e in summary:
        label = (f"{e['group']} (acc {e['test_accuracy']['mean']:.1f}, "
                 f"cons {e['consistency']['mean']:.1f})")
        ax.plot(e["accuracy_vs_shift"]["offsets"], e["accuracy_vs_shift"]["mean"],
                marker="o", markersize=3, label=label)
    ax.set_xlabel("diagonal offset of the image (px)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs shift (mean over seeds)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def _with_latent_distance(run_dir):
    """A run's summary; runs finished before `view_latent_distance` existed
    are scored once from their saved model and the value stored."""
    summary = read_json(run_dir / "run.json")
    if "view_latent_distance" in summary:
        return summary
    config = AugShiftConfig(**summary["config"])
    _, _, test, mean, std = _prepare_data(config)
    model = keras.saving.load_model(run_dir / "model.keras")
    names = [layer.name for layer in model.layers]
    if "pooled" in names:
        encoder = keras.Model(model.input, model.get_layer("pooled").output)
    else:  # AugShiftModel.inference_model(): images -> encoder -> head
        encoder = model.layers[1]
    summary["view_latent_distance"] = view_latent_distance(
        encoder, _normalised(test, mean, std), seed=config.eval_seed, **_view_kwargs(config)
    )
    write_json(run_dir / "run.json", summary)
    return summary


def write_report(output_dir, run_dirs=None, extra=None):
    """Writes results.json/.md/.png for finished AugShift runs.

    Args:
        output_dir: where the results go.
        run_dirs: run directories to report; default every finished run
            under `output_dir/runs` (what `run_augshift` trained there).
        extra: optional dict merged into results.json.

    Raises:
        ValueError: no finished run (no run.json) among them.
    """
    output_dir = pathlib.Path(output_dir)
    if run_dirs is None:
        run_dirs = sorted(p.parent for p in (output_dir / "runs").glob("*/run.json"))
    run_dirs = [pathlib.Path(d) for d in run_dirs if (pathlib.Path(d) / "run.json").exists()]
    rows = [_with_latent_distance(d) for d in run_dirs]
    if not rows:
        raise ValueError(f"No finished AugShift runs (run.json) in {[str(d) for d in run_dirs] or output_dir}.")
    summary = summarize(rows)
    payload = {"summary": summary, "runs": rows}
    step_time = output_dir / "step_time.json"  # from benchmarks/augshift_step.py
    if step_time.exists():
        payload["step_time"] = read_json(step_time)
    if extra:
        payload.update(extra)
    write_json(output_dir / "results.json", payload)
    text = markdown(summary, rows)
    for bench in payload.get("step_time", {}).get("runs", []):
        text += (f"\nStep time ({bench['model']}, batch {bench['batch_size']}): plain "
                 f"{bench['plain_ms']:.0f} ms, AugShift {bench['augshift_ms']:.0f} ms, "
                 f"ratio {bench['ratio']:.2f} (benchmarks/augshift_step.py).\n")
    write_text(output_dir / "results.md", text)
    plot(summary, output_dir / "results.png")
    print(text)
    return payload
