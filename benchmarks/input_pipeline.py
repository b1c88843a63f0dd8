"""Section 1: the data layer (NumPy transforms keyed by (seed, epoch, index)) and its feeds.

Side by side in one run, on the grid-canvas training stream (3x3 grid, flip,
normalise, batch 256 of 32x32 images):

* the TensorFlow feed (`keras_gpos.data.tf_dataset`: `Dataset.range` mapped
  through `tf.numpy_function` over whole batches);
* the feed every other backend gets (`keras_gpos.data.KeyedPyDataset`), run
  in a JAX subprocess without TensorFlow;
* the data path itself, one batch after another on this thread (no feed);
* the copy-only NumPy loop, the reference (the paper code's per-sample
  paste, no normalisation);
* images per second per CPU core (images over the process's CPU seconds,
  all threads), for the feeds and the data path;
* the parts of one batch, and each feed against the training step it feeds.
"""

import json
import os
import subprocess
import sys

import numpy as np

from benchmarks import models
from benchmarks.common import figure, interleaved_times, median_time

GRID = 3
BATCH = 256


def numpy_copy_loop(images, cells, grid, batch=BATCH):
    """The paper code's way to build batches: a zero canvas per image, the tile copied in.

    Copy only (no normalisation): the fastest a per-sample Python loop gets.
    """
    n, h, w, c = images.shape
    for start in range(0, n, batch):
        canvases = np.zeros((min(batch, n - start), grid * h, grid * w, c), np.float32)
        for canvas, image, cell in zip(canvases, images[start:start + batch],
                                       cells[start:start + batch]):
            row, col = divmod(int(cell), grid)
            canvas[row * h:(row + 1) * h, col * w:(col + 1) * w] = image


def _random_images(n, seed=0):
    from keras_gpos import data

    rng = np.random.default_rng(seed)
    return data.ImageSet(
        rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, size=n), tuple(str(i) for i in range(10)), "random")


def training_source(n):
    """The grid stream's keyed source on `n` random images (what both feeds serve)."""
    from keras_gpos import data

    image_set = _random_images(n)
    mean, std = data.normalization_stats(image_set)
    return data.grid_batches(image_set, GRID, "location", BATCH, training=True, mean=mean, std=std, flip=True)


def _consume(stream):
    def run():
        for _ in stream:
            pass
    return run


def feed_rates(feeds, n, rounds):
    """`{name: (images/s, images per CPU second)}` of each consumer, interleaved."""
    wall, busy = interleaved_times(feeds, rounds, cpu=True)
    return {name: (n / wall[name], n / max(busy[name], 1e-9)) for name in feeds}


def jax_feed(n, rounds):
    """The PyDataset feed and the data path on JAX, in a subprocess that blocks TensorFlow."""
    code = (
        "import importlib.abc, json, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'tensorflow' or name.startswith('tensorflow.'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from benchmarks import input_pipeline as bench\n"
        f"print('JSON', json.dumps(bench.jax_feed_in_process({n}, {rounds})))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=1800, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the JAX feed benchmark failed:\n{result.stderr[-3000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("JSON "))
    return json.loads(line[5:])


def jax_feed_in_process(n, rounds):
    import keras

    from keras_gpos import data

    assert keras.config.backend() == "jax"
    source = training_source(n)
    cells = np.random.default_rng(1).integers(0, GRID * GRID, size=n)
    # fit_input hands a training stream to fit as a generator over a KeyedPyDataset: a fresh one per pass.
    return feed_rates({"pydataset": lambda: _consume(data.fit_input(source, epochs=1))(),
                       "numpy": lambda: _consume(data.numpy_stream(source, 1))(),
                       "copy": lambda: numpy_copy_loop(source.arrays[0], cells, GRID)}, n, rounds)


def batch_parts(rounds):
    """ms per batch of 256 of each step of one training batch."""
    from keras_gpos import data

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (BATCH, 32, 32, 3), dtype=np.uint8)
    floats = data.normalize(pixels, (0.5,) * 3, (0.25,) * 3)
    cells = rng.integers(0, GRID * GRID, BATCH)
    flips = rng.random(BATCH) < 0.5
    parts = {
        "gather (uint8 rows of the epoch's order)": lambda: pixels[rng.permutation(BATCH)],
        "flip (uint8, the chosen images in place)": lambda: data.flip_left_right(pixels.copy(), flips),
        "normalise (float32 multiply-add)": lambda: data.normalize(pixels, (0.5,) * 3, (0.25,) * 3),
        "canvas (zeros background, fancy-index paste)": lambda: data.place_on_grid(floats, cells, GRID),
        "canvas (noise background)": lambda: data.place_on_grid(floats, cells, GRID, "noise", seed=0),
    }
    times = interleaved_times(parts, rounds)
    return [figure(f"  part: {name}", 1e3 * t, "ms/batch", note="one batch of 256 32x32 images, 3x3 grid")
            for name, t in times.items()]


def bench_input_pipeline(smoke, repeats):
    import keras
    import tensorflow as tf

    from keras_gpos import data

    n = 512 if smoke else 16384
    rounds = max(1, repeats)
    source = training_source(n)
    cells = np.random.default_rng(1).integers(0, GRID * GRID, size=n)
    images = source.arrays[0]
    rates = feed_rates({
        "tf": _consume(data.tf_dataset(source, epochs=1)),
        "numpy": lambda: _consume(data.numpy_stream(source, 1))(),
        "copy": lambda: numpy_copy_loop(images, cells, GRID),
    }, n, rounds)
    jax_rates = jax_feed(n, rounds)
    tf_ips, tf_per_core = rates["tf"]
    copy_ips = rates["copy"][0]
    ratio = tf_ips / copy_ips
    figures = [
        figure("grid stream, TensorFlow feed (tf.data over numpy_function)", tf_ips, "images/s",
               note="3x3 grid, flip, normalise, batch 256 of 32x32 images, keyed by (seed, epoch, index)"),
        figure("grid stream, JAX feed (PyDataset, TensorFlow blocked)", jax_rates["pydataset"][0], "images/s",
               note="measured in a JAX subprocess; the same source and batches"),
        figure("grid stream, data path alone (numpy, one thread)", rates["numpy"][0], "images/s"),
        figure("numpy per-sample loop, copy only (3x3), the reference", copy_ips, "images/s",
               note="zero float32 canvas per batch, 32x32 tile copied in per image"),
        figure("TensorFlow feed / numpy copy-only loop", ratio, "ratio", ">= 0.25", ratio >= 0.25),
        figure("JAX feed / numpy copy-only loop (both in the JAX process)",
               jax_rates["pydataset"][0] / jax_rates["copy"][0], "ratio"),
        figure("data path per CPU core (numpy, one thread)", rates["numpy"][1], "images/s/core",
               note="images over the process's CPU seconds (all threads)"),
        figure("TensorFlow feed per CPU core", tf_per_core, "images/s/core"),
        figure("JAX feed per CPU core", jax_rates["pydataset"][1], "images/s/core"),
    ]
    figures += batch_parts(rounds)

    # Against the training step it feeds. Width >= 12: narrower ResNets on
    # 96px crash TF 2.21 oneDNN (README).
    widths = [(16, 10)] if smoke else [(32, 18), (64, 18)]
    batch = 8 if smoke else 48
    x = tf.random.normal((batch, 96, 96, 3))
    y = tf.zeros((batch,), tf.int64)
    for width, depth in widths:
        model = models.classifier(9, 96, depth, width)
        run = models.step_runner(models.train_step(model), (x, y))
        train_ips = batch / median_time(run, max(1, repeats if width < 64 else 2))
        figures += [
            figure(f"train step ResNet-{depth} w{width} (96px, batch {batch})", train_ips,
                   "images/s"),
            figure(f"grid pipeline / train step (w{width})", tf_ips / train_ips,
                   "ratio", ">= 5", tf_ips / train_ips >= 5),
        ]
        keras.backend.clear_session()

    # The shift-view stream against the AugShift step it feeds (48px canvas).
    image_set = _random_images(n)
    mean, std = data.normalization_stats(image_set)
    views = data.shift_view_dataset(image_set, mean, std, 64, data.ViewProtocol(canvas_size=48), two_views=True,
                                    epochs=1)
    views_ips = n / median_time(_consume(views), rounds)
    depth, width = (10, 16) if smoke else (18, 32)
    model = models.augshift(10, 48, depth, width)
    (view_a, view_b), labels = next(iter(views))
    run = models.step_runner(models.train_step(model), ((view_a, view_b), labels))
    step_ips = 64 / median_time(run, rounds)
    figures += [
        figure("shift-view stream, TensorFlow feed (2 views, 48px canvas, batch 64)", views_ips, "images/s"),
        figure(f"AugShift step ResNet-{depth} w{width} (48px, batch 64 x 2 views)", step_ips,
               "images/s"),
        figure("shift-view pipeline / AugShift step", views_ips / step_ips, "ratio", ">= 5",
               views_ips / step_ips >= 5),
    ]
    keras.backend.clear_session()
    return figures
