"""Sections 2, 3 and 5: channel ranking, the attack sweep, and how both scale.

The model is a small DeepLab (ResNet-10, width 16, 128 channels at
`stage4_out`) on embedded street scenes, untrained: speed does not depend on
the weights, and building it takes a second.
"""

import time

import numpy as np

from benchmarks.common import (
    PeakMemory,
    figure,
    interleaved_samples,
    interleaved_times,
    linear_fit,
    median_time,
)

LAYER = "stage4_out"
BATCH = 32
N_VALUES = (1, 2, 4, 8, 16, 32, 64, 96)
SETS_PER_N = 6  # top-N overall, left, right + 3 random draws


class Setup:
    """Street scenes and the DeepLab model, shared by the three sections."""

    def __init__(self, smoke):
        from keras_gpos.data import make_street_scenes
        from keras_gpos.models import build_deeplab

        self.smoke = smoke
        size = (32, 48) if smoke else (64, 96)
        self.scenes = make_street_scenes(16 if smoke else 64, size, seed=0)
        self.pool = self.scenes.images.astype(np.float32)
        self.model = build_deeplab(self.scenes.num_classes, size + (3,), depth=10, width=16)
        self._ranking = None
        self._evaluator = None

    @property
    def ranking(self):
        """The model's ranking on the scene pool (the top-N channel sets come from it)."""
        if self._ranking is None:
            from keras_gpos.ranking import rank_position_channels

            self._ranking = rank_position_channels(self.model, LAYER, self.pool)
        return self._ranking

    @property
    def val(self):
        return self.scenes.head(8 if self.smoke else 32)

    @property
    def evaluator(self):
        """One AttackEvaluator over the validation scenes, shared by the sweeps."""
        if self._evaluator is None:
            from keras_gpos.attacks import AttackEvaluator, insert_channel_mask

            # Arrays, not tf.data: the section runs on every backend.
            self.dataset = (self.val.images.astype(np.float32), self.val.masks.astype(np.int32))
            attacked = insert_channel_mask(self.model, LAYER)
            self._evaluator = AttackEvaluator(attacked, self.dataset, self.scenes.num_classes,
                                              batch_size=4 if self.smoke else 16)
        return self._evaluator


def stream(pool, count, batch=BATCH):
    """`count` images in batches, cycling through `pool` (views, no copies)."""
    for start in range(0, count, batch):
        first = start % len(pool)
        yield pool[first:first + min(batch, count - start)]


def single_image_ranking(features_fn, images):
    """The straightforward script: each image and its mirror, two forward passes."""
    sum_abs = 0.0
    for image in images:
        z = features_fn(image[None]).numpy()
        z_flip = features_fn(image[None, :, ::-1]).numpy()
        sum_abs = sum_abs + np.abs(z - z_flip)
    return sum_abs / len(images)


def bench_ranking(setup, repeats):
    import tensorflow as tf

    from keras_gpos.ranking import rank_position_channels
    from keras_gpos.base.graph import feature_model

    model, pool = setup.model, setup.pool
    features = feature_model(model, LAYER)
    pooled = tf.function(lambda x: tf.reduce_mean(features(x, training=False), axis=(1, 2)))
    # rank_position_channels caches its compiled forward pass per (model,
    # layer), so only the first call traces; the images/s of a long run is
    # still taken as the slope between two dataset sizes, timed alternately.
    small, large = len(pool), 4 * len(pool)
    n_single = len(pool) // 2
    rounds = max(2, repeats)
    size = 256 if setup.smoke else 2048
    a, b = tf.random.normal((size, size)), tf.random.normal((size, size))
    matmul = tf.function(lambda: tf.matmul(a, b))
    samples, _ = interleaved_samples({
        "small": _ranking_run(model, pool, small),
        "large": _ranking_run(model, pool, large),
        "single": lambda: single_image_ranking(pooled, pool[:n_single]),
        "matmul": lambda: matmul().numpy(),
    }, rounds)
    times = {name: float(np.median(values)) for name, values in samples.items()}
    # The matmul is the machine's reference: its fastest run (noise only slows it).
    times["matmul"] = min(samples["matmul"])
    if times["large"] > times["small"]:
        per_image = (times["large"] - times["small"]) / (large - small)
        how = f"images/s = {large - small} / difference"
    else:  # noise swamped the difference (tiny smoke sizes): end-to-end rate
        per_image = times["large"] / large
        how = "difference not positive (noise): end-to-end rate of the larger run"
    batched_ips = 1.0 / per_image
    fixed = times["small"] - small * per_image
    single_ips = n_single / times["single"]
    figures = [
        figure(f"batched streaming ranking (batch {BATCH}, both views in 1 pass)",
               batched_ips, "images/s"),
        figure("  fixed cost per call (compiled pass cached after the first call)", fixed, "s",
               note=f"ranking {small} and {large} images: {times['small']:.3f}s, "
               f"{times['large']:.3f}s; {how}"),
        figure("single-image loop (2 forward passes per image, compiled)", single_ips,
               "images/s"),
        figure("batched / single-image loop", batched_ips / single_ips, "ratio", ">= 5",
               batched_ips / single_ips >= 5),
    ]
    # Why the ratio is what it is: how close each is to the machine's FLOP/s.
    from benchmarks.training_step import model_forward_flops

    flops = 2 * model_forward_flops(features)  # both views of an image
    peak = 2 * size**3 / times["matmul"]
    batched_fraction = batched_ips * flops / peak
    single_fraction = single_ips * flops / peak
    figures += [
        figure(f"  float32 matmul {size}x{size} (fastest of the rounds)", peak / 1e9,
               "GFLOP/s"),
        figure("  batched ranking FLOP/s / matmul FLOP/s", batched_fraction, "fraction",
               note=f"{flops / 1e9:.3f} GFLOP per image (2 views, convolutions to {LAYER})"),
        figure("  single-image loop FLOP/s / matmul FLOP/s", single_fraction, "fraction"),
        figure("  batched / single if batched ran at the matmul's FLOP/s", 1 / single_fraction,
               "ratio", note="the ceiling of the ratio on this machine"),
    ]

    # Peak memory at 1x and 4x the images, streamed from a generator so the
    # data itself is not counted; a warm-up run first fills TF's caches.
    base = len(pool)
    rank_position_channels(model, LAYER, stream(pool, base))
    peaks = {}
    for factor in (1, 4):
        with PeakMemory() as memory:
            rank_position_channels(model, LAYER, stream(pool, factor * base))
        peaks[factor] = memory
    ratio = peaks[4].total_peak / peaks[1].total_peak
    method = ("TF CPU allocator peak (get_memory_info after reset_memory_stats) + "
              "tracemalloc peak (NumPy/Python); images streamed from a generator")
    for factor, memory in peaks.items():
        figures += [
            figure(f"peak memory, {factor}x = {factor * base} images", memory.total_peak / 2**20,
                   "MB", note=method),
            figure(f"  of which TF allocator peak ({factor}x)",
                   memory.tf_peak / 2**20, "MB",
                   note=f"Python heap {memory.py_peak / 2**20:.2f} MB"),
            figure(f"  process RSS growth during the run ({factor}x)",
                   memory.rss_growth / 2**20, "MB",
                   note="largest RSS seen by a 2 ms sampler minus RSS at the start"),
        ]
    figures.append(figure("peak memory 4x / 1x", ratio, "ratio", "<= 1.10", ratio <= 1.10,
                          note=method))
    return figures


def _channel_sets(ranking, num_channels, n_values):
    """Named channel sets: per N, the top-N of each ranking kind and 3 random draws."""
    from keras_gpos.attacks import random_channel_sets

    sets = {}
    for n in n_values:
        for kind in ranking.kinds:
            sets[f"top{n}_{kind}"] = ranking.top(n, kind)
        for draw, channels in enumerate(random_channel_sets(num_channels, n, 3, seed=n)):
            sets[f"random{n}_{draw}"] = channels
    return sets


def bench_attack(setup, repeats):
    from keras_gpos.attacks import AttackEvaluator, insert_channel_mask

    model, scenes, val = setup.model, setup.scenes, setup.val
    evaluator = setup.evaluator
    dataset = setup.dataset
    num_channels = evaluator.mask.num_channels
    sets = _channel_sets(setup.ranking, num_channels, N_VALUES)
    assert len(sets) == len(N_VALUES) * SETS_PER_N
    one_set = setup.ranking.top(8)
    evaluator.evaluate(one_set)  # traces, once

    def sweep():
        for channels in sets.values():
            evaluator.evaluate(channels)

    # Alternate single passes and whole sweeps so load drift hits both alike.
    # Each round's ratio uses the passes timed right before its sweep.
    pass_times, sweep_times = [], []
    for _ in range(max(1, repeats - 2)):
        pass_times.append(median_time(lambda: evaluator.evaluate(one_set), 5, warmup=0))
        start = time.perf_counter()
        sweep()
        sweep_times.append(time.perf_counter() - start)
    one_pass = float(np.median(pass_times))
    sweep_time = float(np.median(sweep_times))
    ratio = float(np.median([s / (len(sets) * p) for s, p in zip(sweep_times, pass_times)]))

    rebuilds = 1 if setup.smoke else 3
    rebuild_times = []
    for channels in list(sets.values())[:rebuilds]:
        start = time.perf_counter()
        fresh = insert_channel_mask(model, LAYER, channels=channels)
        AttackEvaluator(fresh, dataset, scenes.num_classes, batch_size=4 if setup.smoke else 16).evaluate(channels)
        rebuild_times.append(time.perf_counter() - start)
    rebuild_total = float(np.mean(rebuild_times)) * len(sets)
    return [
        figure(f"one compiled evaluation pass ({len(val)} scenes, 3 regions)", one_pass * 1e3,
               "ms"),
        figure(f"sweep: {len(N_VALUES)} N x {SETS_PER_N} sets = {len(sets)} evaluations",
               sweep_time, "s"),
        figure(f"sweep / ({len(sets)} x one pass)", ratio, "ratio", "<= 1.2", ratio <= 1.2,
               note="median over rounds of sweep time / 48 x the median pass timed just before"),
        figure("AttackEvaluator traces (after the sweep)", evaluator.trace_count, "traces",
               "== 1", evaluator.trace_count == 1),
        figure("rebuild masked model + fresh evaluation, per setting", rebuild_total
               / len(sets), "s", note=f"mean of {rebuilds} rebuilds"),
        figure(f"rebuild-every-setting script / sweep ({len(sets)} settings)",
               rebuild_total / sweep_time, "ratio",
               note=f"rebuild time extrapolated from {rebuilds} of {len(sets)} settings"),
    ]


def _fit_figures(label, unit, sizes, wall, cpu):
    """Linear fits of wall and CPU time; the targets are judged on CPU time.

    On a machine shared with other jobs, their bursts land on some sizes and
    not others; this process's CPU time measures the work it did.
    """
    figures = []
    for clock, times in (("CPU", cpu), ("wall", wall)):
        slope, intercept, r2, deviation = linear_fit(sizes, times)
        points = ", ".join(f"{s}: {t:.3f}s" for s, t in zip(sizes, times))
        judged = clock == "CPU"
        figures += [
            figure(f"{label}, {clock} time: slope", slope, unit,
                   note=f"{clock} time, least squares over {points}; intercept {intercept:.3f}s"),
            figure(f"{label}, {clock} time: R^2 of the linear fit", r2, "",
                   ">= 0.98" if judged else None, r2 >= 0.98 if judged else None),
            figure(f"{label}, {clock} time: max |time - fit| / fit", deviation, "fraction",
                   "<= 0.1" if judged else None, deviation <= 0.1 if judged else None),
        ]
    return figures


def _ranking_run(model, pool, count):
    from keras_gpos.ranking import rank_position_channels

    return lambda: rank_position_channels(model, LAYER, stream(pool, count))


def bench_scaling(setup, repeats):
    model, pool = setup.model, setup.pool
    sizes = [k * 2 * len(pool) for k in (1, 2, 3, 4)]
    rounds = max(1, repeats - 2)
    wall, cpu = interleaved_times({
        size: _ranking_run(model, pool, size) for size in sizes
    }, rounds, warmup=0, cpu=True)
    figures = _fit_figures("ranking vs images", "s/image", sizes,
                           [wall[s] for s in sizes], [cpu[s] for s in sizes])

    evaluator = setup.evaluator
    evaluator.evaluate(())  # traces here if the attack sweep section did not run
    counts = (2, 4, 6, 8)
    sets = {count: _channel_sets(setup.ranking, evaluator.mask.num_channels, N_VALUES[:count])
            for count in counts}

    def sweep(count):
        def run():
            for channels in sets[count].values():
                evaluator.evaluate(channels)
        return run

    wall, cpu = interleaved_times({count: sweep(count) for count in counts}, rounds, warmup=0,
                                  cpu=True)
    figures += _fit_figures(f"sweep vs N values ({SETS_PER_N} sets each)", "s/N value",
                            counts, [wall[c] for c in counts], [cpu[c] for c in counts])
    figures.append(figure("AttackEvaluator traces (after all sweeps)", evaluator.trace_count,
                          "traces", "== 1", evaluator.trace_count == 1))
    return figures
