"""Section 1: the grid-canvas and shift-view input pipelines (tf.data, in graph)."""

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


def numpy_normalising_loop(images, cells, grid, mean, std):
    """The same loop with the normalisation the pipeline also does."""
    _, h, w, c = images.shape
    out = []
    for image, cell in zip(images, cells):
        canvas = np.zeros((grid * h, grid * w, c), np.float32)
        row, col = divmod(int(cell), grid)
        canvas[row * h:(row + 1) * h, col * w:(col + 1) * w] = (image / 255.0 - mean) / std
        out.append(canvas)
    return out


def einsum_placement(images, cells, grid_size):
    """The placement grid.py used before: a one-hot outer product (kept to compare)."""
    import tensorflow as tf

    rows = tf.one_hot(cells // grid_size, grid_size)
    cols = tf.one_hot(cells % grid_size, grid_size)
    _, h, w, c = images.shape
    canvas = tf.einsum("br,bc,bhwd->brhcwd", rows, cols, images)
    return tf.reshape(canvas, (-1, grid_size * h, grid_size * w, c))


def legacy_grid_dataset(image_set, mean, std, batch=BATCH):
    """The training pipeline as it was before the fix, to measure the fix in the same run.

    Normalise with 3-vector broadcasts, flip the floats with a (batch, 1, 1, 1)
    select, place with the one-hot einsum.
    """
    import tensorflow as tf

    from keras_gpos.data import grid

    def to_canvas(images, labels):
        images = (tf.cast(images, tf.float32) / 255.0 - tf.constant(mean, tf.float32)) \
            / tf.constant(std, tf.float32)
        flip = tf.random.uniform((tf.shape(images)[0], 1, 1, 1), seed=0) < 0.5
        images = tf.where(flip, tf.reverse(images, axis=[2]), images)
        cells = grid.random_cells(tf.shape(images)[0], GRID, seed=0)
        return einsum_placement(images, cells, GRID), tf.cast(cells, tf.int64)

    dataset = tf.data.Dataset.from_tensor_slices((image_set.images, image_set.labels))
    dataset = dataset.shuffle(len(image_set), seed=0, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch).map(to_canvas, num_parallel_calls=tf.data.AUTOTUNE,
                                       deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _consume(dataset):
    def run():
        for _ in dataset:
            pass
    return run


def _compiled_call(fn, args):
    return lambda: fn(*args).numpy()


def _random_images(n, seed=0):
    from keras_gpos import data

    rng = np.random.default_rng(seed)
    return data.ImageSet(
        rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, size=n), tuple(str(i) for i in range(10)), "random")


def pipeline_parts(image_set, mean, std, rounds):
    """ms per batch of 256 of each op of the grid pipeline's map function."""
    import tensorflow as tf

    from keras_gpos.data import grid, pipeline

    pixels = tf.constant(image_set.images[:BATCH])
    floats = pipeline.normalize(pixels, mean, std)
    cells = grid.random_cells(BATCH, GRID, seed=0)
    parts = {
        "flip (uint8, (batch, 1) select)": (pipeline.random_flip_left_right, (pixels,)),
        "normalise (row-tiled multiply-add)": (lambda x: pipeline.normalize(x, mean, std),
                                               (pixels,)),
        "placement: row gather (grid.place_on_grid)": (
            lambda x, c: grid.place_on_grid(x, c, GRID), (floats, cells)),
        "placement: one-hot einsum (replaced)": (
            lambda x, c: einsum_placement(x, c, GRID), (floats, cells)),
    }
    fns = {name: _compiled_call(tf.function(fn), args) for name, (fn, args) in parts.items()}
    times = interleaved_times(fns, rounds)
    figures = [figure(f"  part: {name}", 1e3 * t, "ms/batch",
                      note="one tf.function on a batch of 256 32x32 images")
               for name, t in times.items()]
    gather = times["placement: row gather (grid.place_on_grid)"]
    einsum = times["placement: one-hot einsum (replaced)"]
    figures.append(figure("  placement speed-up: gather vs einsum", einsum / gather, "x"))
    return figures


def bench_input_pipeline(smoke, repeats):
    import keras
    import tensorflow as tf

    from keras_gpos import data

    n = 512 if smoke else 16384
    rounds = max(1, repeats)
    image_set = _random_images(n)
    mean, std = data.normalization_stats(image_set)
    dataset = data.grid_dataset(image_set, GRID, "location", BATCH, training=True,
                                mean=mean, std=std, flip=True)
    cells = np.random.default_rng(1).integers(0, GRID * GRID, size=n)
    times = interleaved_times({
        "pipeline": _consume(dataset),
        "copy": lambda: numpy_copy_loop(image_set.images, cells, GRID),
        "normalise": lambda: numpy_normalising_loop(image_set.images, cells, GRID, mean, std),
        "legacy": _consume(legacy_grid_dataset(image_set, mean, std)),
    }, rounds)
    pipeline_ips = n / times["pipeline"]
    copy_ratio = times["copy"] / times["pipeline"]
    figures = [
        figure("grid pipeline (tf.data, 3x3, flip, normalise, batch 256)", pipeline_ips,
               "images/s"),
        figure("numpy per-sample loop, copy only (3x3)", n / times["copy"], "images/s",
               note="zero float32 canvas per image in a batch array, 32x32 tile copied in"),
        figure("numpy per-sample loop, normalise + copy (3x3)", n / times["normalise"],
               "images/s"),
        figure("pipeline / numpy copy-only loop", copy_ratio, "ratio", ">= 0.25",
               copy_ratio >= 0.25),
        figure("pipeline / numpy normalising loop", times["normalise"] / times["pipeline"],
               "ratio"),
        figure("  same pipeline before the fix (einsum, 3-vector normalise, float flip)",
               n / times["legacy"], "images/s"),
        figure("  before the fix / numpy copy-only loop", times["copy"] / times["legacy"],
               "ratio", ">= 0.25", times["copy"] / times["legacy"] >= 0.25),
    ]
    figures += pipeline_parts(image_set, mean, std, rounds)

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
            figure(f"grid pipeline / train step (w{width})", pipeline_ips / train_ips,
                   "ratio", ">= 5", pipeline_ips / train_ips >= 5),
        ]
        keras.backend.clear_session()

    # The shift-view pipeline against the AugShift step it feeds (48px canvas).
    views = data.shift_view_dataset(image_set, mean, std, 64, data.ViewProtocol(canvas_size=48), two_views=True)
    views_ips = n / median_time(_consume(views), rounds)
    depth, width = (10, 16) if smoke else (18, 32)
    model = models.augshift(10, 48, depth, width)
    (view_a, view_b), labels = next(iter(views))
    run = models.step_runner(models.train_step(model), ((view_a, view_b), labels))
    step_ips = 64 / median_time(run, rounds)
    figures += [
        figure("shift-view pipeline (2 views, 48px canvas, batch 64)", views_ips, "images/s"),
        figure(f"AugShift step ResNet-{depth} w{width} (48px, batch 64 x 2 views)", step_ips,
               "images/s"),
        figure("shift-view pipeline / AugShift step", views_ips / step_ips, "ratio", ">= 5",
               views_ips / step_ips >= 5),
    ]
    keras.backend.clear_session()
    return figures
