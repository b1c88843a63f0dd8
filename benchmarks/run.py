"""Benchmark suite: throughput of the hot paths, as ratios taken in one run.

    python -m benchmarks.run --out results/bench.json
    python -m benchmarks.run --smoke        # tiny sizes, checks the suite runs

Every figure is measured after a warm-up, repeated, and reported as the
median. The machine is shared and noisy, so absolute times drift; the
ratios (measured back to back in one process) are the figures to compare
with the targets. Benchmarks are not tests: nothing here fails on a number.

Sections so far: the grid-canvas input pipeline and the training step
(plain vs PermuteNet, achieved FLOP/s vs a large matmul).
"""

import os
import statistics
import time
import types

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "results/bench.json", "Where to write the figures as JSON.")
flags.DEFINE_boolean("smoke", False, "Tiny sizes and one repeat: checks the suite runs.")
flags.DEFINE_integer("repeats", 5, "Timed repeats per figure (median reported).")


# The optimizer settings compile_model reads (the paper's Adam).
TRAIN_SETTINGS = types.SimpleNamespace(learning_rate=1e-3, beta_1=0.5)


def median_time(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def figure(name, value, unit, target=None, met=None, note=""):
    return {"name": name, "value": value, "unit": unit, "target": target, "met": met,
            "note": note}


# --- 1. input pipeline ---------------------------------------------------------

def numpy_grid_loop(images, cells, grid, mean, std):
    """The paper code's way: one zero canvas per image, copy the tile in."""
    n, h, w, c = images.shape
    out = []
    for image, cell in zip(images, cells):
        canvas = np.zeros((grid * h, grid * w, c), np.float32)
        row, col = divmod(int(cell), grid)
        canvas[row * h:(row + 1) * h, col * w:(col + 1) * w] = (image / 255.0 - mean) / std
        out.append(canvas)
    return out


def bench_input_pipeline(smoke, repeats):
    import keras
    import tensorflow as tf

    from keras_gpos import data
    from keras_gpos.experiments.location import compile_model
    from keras_gpos.models import build_classifier

    n = 512 if smoke else 8192
    grid = 3
    rng = np.random.default_rng(0)
    image_set = data.ImageSet(
        rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, size=n), tuple(str(i) for i in range(10)), "random")
    mean, std = data.normalization_stats(image_set)
    batch = 256
    dataset = data.grid_dataset(image_set, grid, "location", batch, training=True,
                                mean=mean, std=std, flip=True)

    def consume():
        for canvas, _ in dataset:
            pass
        return canvas

    pipeline_ips = n / median_time(consume, repeats)
    cells = rng.integers(0, grid * grid, size=n)
    loop_ips = n / median_time(lambda: numpy_grid_loop(image_set.images, cells, grid, mean, std),
                               repeats)

    figures = [
        figure("grid pipeline (tf.data, 3x3, flip, batch 256)", pipeline_ips, "images/s"),
        figure("numpy per-sample loop (3x3)", loop_ips, "images/s"),
        figure("pipeline / numpy loop", pipeline_ips / loop_ips, "ratio", ">= 0.25",
               pipeline_ips / loop_ips >= 0.25),
    ]
    # Width >= 12: narrower ResNets on 96px crash TF 2.21 oneDNN (README).
    widths = [(16, 10)] if smoke else [(32, 18), (64, 18)]
    x = tf.random.normal((48, 96, 96, 3))
    y = tf.zeros((48,), tf.int64)
    for width, depth in widths:
        model = build_classifier(9, (96, 96, 3), depth=depth, width=width, head="gapnet")
        compile_model(model, TRAIN_SETTINGS)
        step = _train_step(model)
        batch_data = (x, y)
        step(iter([batch_data]))

        def one_step():
            logs = step(iter([batch_data]))
            float(logs["loss"])

        train_ips = 48 / median_time(one_step, max(1, repeats if width < 64 else 2))
        figures += [
            figure(f"train step ResNet-{depth} w{width} (96px, batch 48)", train_ips, "images/s"),
            figure(f"pipeline / train step (w{width})", pipeline_ips / train_ips, "ratio",
                   ">= 5", pipeline_ips / train_ips >= 5),
        ]
        keras.backend.clear_session()
    return figures


# --- 4. training step ------------------------------------------------------------

def _train_step(model):
    """The compiled train function (Keras builds it on `model.train_function`)."""
    model.make_train_function()
    return model.train_function


def model_forward_flops(model):
    """2 x multiply-adds of the convolutions and dense layers, per image.

    Top-level Conv2D layers are the 1x1 projection shortcuts; each
    PaddedConv2D holds its convolution as `.conv`.
    """
    import keras

    from keras_gpos.layers import PaddedConv2D

    flops = 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, PaddedConv2D)):
            kernel = layer.kernel if isinstance(layer, keras.layers.Conv2D) else layer.conv.kernel
            out = layer.output.shape
            k = kernel.shape
            flops += 2 * out[1] * out[2] * k[0] * k[1] * k[2] * k[3]
        elif isinstance(layer, keras.layers.Dense):
            flops += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return flops


def bench_training_step(smoke, repeats):
    import tensorflow as tf

    from keras_gpos.experiments.location import compile_model
    from keras_gpos.models import build_classifier

    width, depth, size = (8, 10, 32) if smoke else (32, 18, 96)
    batch = 48
    x = tf.random.normal((batch, size, size, 3))
    y = tf.zeros((batch,), tf.int64)
    times = {}
    models = {}
    for name, permute in (("plain", None), ("permutenet", "pooled")):
        model = build_classifier(9, (size, size, 3), depth=depth, width=width, head="fc",
                                 permute_at=permute, seed=0)
        compile_model(model, TRAIN_SETTINGS)
        step = _train_step(model)
        step(iter([(x, y)]))
        models[name] = (model, step)

    def timed(step):
        def run():
            logs = step(iter([(x, y)]))
            float(logs["loss"])
        return run

    # Interleave the two models so drift in machine load hits both alike.
    samples = {"plain": [], "permutenet": []}
    for _ in range(max(3, repeats)):
        for name, (_, step) in models.items():
            samples[name].append(median_time(timed(step), 3, warmup=0))
    for name in samples:
        times[name] = statistics.median(samples[name])
    overhead = times["permutenet"] / times["plain"] - 1.0

    flops = 3 * model_forward_flops(models["plain"][0]) * batch  # forward + backward
    n = 512 if smoke else 2048
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    matmul = tf.function(lambda: tf.matmul(a, b))
    matmul_time = median_time(lambda: matmul().numpy(), repeats)
    peak = 2 * n**3 / matmul_time
    achieved = flops / times["plain"]
    return [
        figure(f"plain step ResNet-{depth} w{width} (fc head, {size}px, batch {batch})",
               times["plain"] * 1e3, "ms"),
        figure("PermuteNet step (permutation after pooling)", times["permutenet"] * 1e3, "ms"),
        figure("ChannelPermutation overhead", 100 * overhead, "% of step", "< 3",
               overhead < 0.03),
        figure(f"float32 matmul {n}x{n}", peak / 1e9, "GFLOP/s"),
        figure("plain step achieved", achieved / 1e9, "GFLOP/s"),
        figure("step / matmul FLOP/s", achieved / peak, "fraction"),
    ]


def print_table(sections):
    print(f"{'figure':62} {'value':>12} {'unit':>10} {'target':>8} {'met':>5}")
    for section, figures in sections.items():
        print(f"-- {section}")
        for f in figures:
            met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
            print(f"{f['name'][:62]:62} {f['value']:12.3f} {f['unit']:>10} "
                  f"{(f['target'] or ''):>8} {met:>5}")


def main(argv):
    del argv
    from keras_gpos.reporting import write_json

    repeats = 1 if FLAGS.smoke else FLAGS.repeats
    sections = {}
    start = time.time()
    for name, bench in (("input pipeline", bench_input_pipeline),
                        ("training step", bench_training_step)):
        print(f"[bench] {name} ...", flush=True)
        sections[name] = bench(FLAGS.smoke, repeats)
    print_table(sections)
    write_json(FLAGS.out, {"sections": sections, "smoke": FLAGS.smoke,
                           "seconds": time.time() - start})
    print(f"[bench] wrote {FLAGS.out} ({time.time() - start:.0f}s)")


if __name__ == "__main__":
    app.run(main)
