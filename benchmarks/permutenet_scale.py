"""PermuteNet's class and location on the embedded shapes at larger budgets, on any backend.

    KERAS_BACKEND=jax python -m benchmarks.permutenet_scale --plan=gpu --out=results/permutenet_scale
    python -m benchmarks.permutenet_scale --plan=smoke --out=/tmp/permutenet_scale

Issue 14 asks what makes PermuteNet learn the object class on the embedded
shapes, and for a setting where its class accuracy is at least twice chance on
every seed while its location stays within 10 points of chance. Settings that
fit the 2-core CPU were measured through `train.py`
(`docs/results/permutenet_class_trend/`); this script measures the larger
ones (full width, ten times the images, more epochs) on a machine that has an
accelerator but no TensorFlow, so it cannot run `train.py`.

It keeps the channel_position protocol of `keras_gpos.experiments.location`
with NumPy in place of tf.data: the embedded splits (`load_image_splits`, 10%
validation, per-channel normalisation from the training part), canvases with
a zero (dataset-mean) background, a random cell and a random horizontal flip
of the image inside its cell per epoch, `build_classifier` with the fc head and
`ChannelPermutation` after pooling, Adam(lr, beta_1=0.5), batch 48, the epoch
with the best validation accuracy kept, and the test set scored with every
image in every cell. Two deviations, for time: validation scores the first
`--val_images` validation images (in all cells), and evaluation batches hold
ten images in all cells (PermuteNet draws one permutation per batch).

Each finished run is appended to `<out>/runs.jsonl` at once, so a run killed
at its time limit keeps what finished; runs already in that file are skipped.
`<out>/results.md` is the table. Not a test and not a benchmark of speed: it
prints accuracies and the images per second it trained at.
"""

import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("plan", "gpu", ["gpu", "smoke"], "gpu: the runs below, in priority order; "
                  "smoke: two tiny runs that check the script end to end.")
flags.DEFINE_string("out", "results/permutenet_scale", "Folder of runs.jsonl and results.md.")
flags.DEFINE_float("budget_s", 0.0, "Start a run only if it should end within this many seconds of the "
                   "start, judged by the last run's seconds per training image (0: no limit).")
flags.DEFINE_integer("val_images", 300, "Validation images scored (in all cells) after each epoch.")
flags.DEFINE_list("only", [], "Run only these run names.")
flags.DEFINE_boolean("report", False, "Train nothing: rewrite results.md and results.png from runs.jsonl.")

GRID = 3
BATCH = 48

# name: (head variant, task, depth, width, embedded train size, epochs, seed, learning rate)
# The quickstart is ("permute", "class", 10, 16, 2000, 4, 0, 1e-3).
PLANS = {
    "gpu": [
        ("perm_class_r18w64_n20k_e20_s0", "permute", "class", 18, 64, 20000, 20, 0, 1e-3),
        ("perm_loc_r18w64_n20k_e20_s0", "permute", "location", 18, 64, 20000, 20, 0, 1e-3),
        ("fc_class_r18w64_n20k_e20_s0", "fc", "class", 18, 64, 20000, 20, 0, 1e-3),
        ("perm_class_r18w64_n20k_e20_s1", "permute", "class", 18, 64, 20000, 20, 1, 1e-3),
        ("perm_class_r10w16_n20k_e20_s0", "permute", "class", 10, 16, 20000, 20, 0, 1e-3),
        ("perm_class_r18w64_n2k_e20_s0", "permute", "class", 18, 64, 2000, 20, 0, 1e-3),
        ("perm_loc_r18w64_n20k_e20_s1", "permute", "location", 18, 64, 20000, 20, 1, 1e-3),
        ("perm_class_r18w64_n20k_e40_s0", "permute", "class", 18, 64, 20000, 40, 0, 1e-3),
        ("perm_loc_r10w16_n20k_e20_s0", "permute", "location", 10, 16, 20000, 20, 0, 1e-3),
        ("perm_class_r10w16_n20k_e20_s1", "permute", "class", 10, 16, 20000, 20, 1, 1e-3),
        ("perm_loc_r10w16_n20k_e20_s1", "permute", "location", 10, 16, 20000, 20, 1, 1e-3),
        ("fc_class_r10w16_n20k_e20_s0", "fc", "class", 10, 16, 20000, 20, 0, 1e-3),
    ],
    "smoke": [
        ("perm_class_smoke", "permute", "class", 10, 4, 60, 1, 0, 1e-3),
        ("fc_loc_smoke", "fc", "location", 10, 4, 60, 1, 0, 1e-3),
    ],
}


def canvases(images, cells, flips):
    """`(n, 3*h, 3*w, c)` float32 canvases: image `i` (flipped where `flips[i]`) in cell `cells[i]`.

    The library's canvas (`keras_gpos.data.place_on_grid`), the one the experiments train on.
    """
    from keras_gpos.data import flip_left_right, place_on_grid

    return place_on_grid(flip_left_right(images.copy(), flips), cells, GRID)


def every_cell(images, labels, task):
    """Each image in every cell, in order; labels per `task`."""
    from keras_gpos.data import exhaustive_placement, place_on_grid

    images, labels, cells = exhaustive_placement(images, labels, GRID)
    return place_on_grid(images, cells, GRID), (cells if task == "location" else labels)


def run_one(spec, splits):
    import keras
    import numpy as np

    from keras_gpos.models import build_classifier

    name, variant, task, depth, width, train_size, epochs, seed, lr = spec
    train, val, test = splits.train, splits.val, splits.test
    mean, std = splits.mean, splits.std
    from keras_gpos.data import normalize

    def norm(image_set):
        return normalize(image_set.images, mean, std)

    val = val.head(FLAGS.val_images)
    x_train, x_val, x_test = norm(train), norm(val), norm(test)
    outputs = GRID * GRID if task == "location" else train.num_classes
    keras.utils.set_random_seed(seed)
    model = build_classifier(
        outputs, input_shape=(GRID * x_train.shape[1], GRID * x_train.shape[2], 3), arch="resnet",
        depth=depth, width=width, head="fc", permute_at="pooled" if variant == "permute" else None,
        seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.999),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    val_x, val_y = every_cell(x_val, val.labels, task)
    test_x, test_y = every_cell(x_test, test.labels, task)
    eval_batch = 10 * GRID * GRID
    best = (-1.0, None, 0)
    history = []
    train_seconds = 0.0
    for epoch in range(epochs):
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(x_train))
        cells = rng.integers(0, GRID * GRID, len(order))
        flips = rng.random(len(order)) < 0.5
        x = canvases(x_train[order], cells, flips)
        y = cells if task == "location" else train.labels[order]
        start = time.perf_counter()
        fit = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        seconds = time.perf_counter() - start
        train_seconds += seconds
        val_acc = model.evaluate(val_x, val_y, batch_size=eval_batch, verbose=0, return_dict=True)["accuracy"]
        history.append({"epoch": epoch + 1, "loss": float(fit.history["loss"][-1]),
                        "accuracy": float(fit.history["accuracy"][-1]), "val_accuracy": float(val_acc),
                        "seconds": seconds})
        print(f"  {name} epoch {epoch + 1}/{epochs}: loss {history[-1]['loss']:.3f} "
              f"train {history[-1]['accuracy']:.3f} val {val_acc:.3f}", flush=True)
        if val_acc > best[0]:
            best = (val_acc, model.get_weights(), epoch + 1)
    model.set_weights(best[1])
    test_acc = model.evaluate(test_x, test_y, batch_size=eval_batch, verbose=0, return_dict=True)["accuracy"]
    return {
        "name": name, "variant": "fc+permute@pooled" if variant == "permute" else "fc", "task": task,
        "model": f"resnet{depth}-w{width}", "train_images": len(x_train), "epochs": epochs, "seed": seed,
        "learning_rate": lr, "best_epoch": best[2], "val_accuracy": float(best[0]),
        "test_accuracy": float(test_acc), "chance": 1.0 / outputs, "test_canvases": len(test_y),
        "images_per_second": len(x_train) * epochs / train_seconds, "train_seconds": train_seconds,
        "history": history, "backend": keras.config.backend(), "device": _device(),
    }


def _device():
    import keras

    if keras.config.backend() == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    return "cpu"


def write_table(out, rows):
    lines = [
        "# PermuteNet on the embedded shapes at larger budgets (issue 14)", "",
        "| run | variant | task | model | train images | epochs | seed | test acc (%) | chance (%) | "
        "best epoch | final train acc (%) | final train loss | img/s | device |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        last = r["history"][-1]
        lines.append(
            f"| {r['name']} | {r['variant']} | {r['task']} | {r['model']} | {r['train_images']} | "
            f"{r['epochs']} | {r['seed']} | {100 * r['test_accuracy']:.1f} | {100 * r['chance']:.1f} | "
            f"{r['best_epoch']} | {100 * last['accuracy']:.1f} | {last['loss']:.3f} | "
            f"{r['images_per_second']:.0f} | {r['device']} ({r['backend']}) |")
    lines += ["", "Embedded shapes, 3x3 grid (96 px canvas), fc head, Adam(lr, beta_1=0.5), batch 48, "
              "best epoch on validation; test = 300 images in all 9 cells. img/s: training images per "
              "second of `fit`, the first epoch's compilation included. "
              "`python -m benchmarks.permutenet_scale --plan=gpu`."]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def write_plot(out, rows):
    """`results.png`: PermuteNet's validation accuracy per epoch, class beside location."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, model in zip(axes, sorted({r["model"] for r in rows if r["variant"] != "fc"}, reverse=True)):
        for r in rows:
            if r["model"] != model or r["variant"] == "fc":
                continue
            epochs = [h["epoch"] for h in r["history"]]
            ax.plot(epochs, [100 * h["val_accuracy"] for h in r["history"]],
                    color="tab:red" if r["task"] == "location" else "tab:blue",
                    linestyle=":" if r["train_images"] < 10000 else ("-" if r["seed"] == 0 else "--"),
                    label=f"{r['task']}, seed {r['seed']}, {r['train_images']} images")
        ax.axhline(100 / 9, color="tab:red", linewidth=0.8, alpha=0.5)
        ax.axhline(10, color="tab:blue", linewidth=0.8, alpha=0.5)
        ax.set_title(f"PermuteNet, {model}")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("validation accuracy (%)")
    fig.tight_layout()
    fig.savefig(out / "results.png", dpi=120)
    plt.close(fig)


def main(argv):
    del argv
    unknown = sorted(set(FLAGS.only) - {spec[0] for spec in PLANS[FLAGS.plan]})
    if unknown:
        raise app.UsageError(f"--only names runs that plan {FLAGS.plan!r} does not have: {', '.join(unknown)}.")
    from keras_gpos.data import load_image_splits

    start = time.perf_counter()
    out = pathlib.Path(FLAGS.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {r["name"] for r in rows}
    plan = [] if FLAGS.report else [s for s in PLANS[FLAGS.plan] if not FLAGS.only or s[0] in FLAGS.only]
    data = {}
    seconds_per_image = 0.0  # wall seconds per training image (x epochs) of the last run
    for spec in plan:
        if spec[0] in done:
            continue
        elapsed = time.perf_counter() - start
        expected = seconds_per_image * spec[5] * spec[6]
        if FLAGS.budget_s and elapsed + expected > FLAGS.budget_s:
            print(f"not started: {spec[0]} (expected {expected:.0f}s, {elapsed:.0f}s of "
                  f"{FLAGS.budget_s:.0f}s spent)", flush=True)
            continue
        run_start = time.perf_counter()
        train_size = spec[5]
        if train_size not in data:
            data[train_size] = load_image_splits("embedded", embedded_train_size=train_size,
                                                 embedded_test_size=300)
        print(f"{spec[0]} ({elapsed:.0f}s in)", flush=True)
        row = run_one(spec, data[train_size])
        print(f"{spec[0]}: test {100 * row['test_accuracy']:.1f}% (chance {100 * row['chance']:.1f}%), "
              f"{row['images_per_second']:.0f} img/s", flush=True)
        seconds_per_image = (time.perf_counter() - run_start) / (spec[5] * spec[6])
        rows.append(row)
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")
        write_table(out, rows)
    write_table(out, rows)
    if rows:
        write_plot(out, rows)


if __name__ == "__main__":
    app.run(main)
