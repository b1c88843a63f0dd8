"""Section 4: plain, PermuteNet and AugShift train steps on the same batch; FLOP/s."""

import statistics

from benchmarks import models
from benchmarks.common import figure, interleaved_samples, median_time


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


def _median_of_steps(run, steps=2):
    return lambda: median_time(run, steps, warmup=0)


def bench_training_step(smoke, repeats):
    import numpy as np

    from benchmarks.common import compiled_matmul

    width, depth, size = (16, 10, 32) if smoke else (32, 18, 96)
    batch = 8 if smoke else 48
    x = np.random.default_rng(0).normal(size=(batch, size, size, 3)).astype("float32")
    y = np.zeros((batch,), "int64")
    # AugShift's second view: the same images, translated (as the shift-view
    # pipeline makes them); its step runs both views through the encoder.
    shifted = np.roll(x, shift=(size // 8, size // 8), axis=(1, 2))
    plain = models.classifier(9, size, depth, width)
    runners = {
        "plain": models.step_runner(models.train_step(plain), (x, y)),
        "permutenet": models.step_runner(
            models.train_step(models.classifier(9, size, depth, width, permute_at="pooled")),
            (x, y)),
        "augshift": models.step_runner(
            models.train_step(models.augshift(9, size, depth, width)), ((x, shifted), y)),
        "blurpool": models.step_runner(
            models.train_step(models.classifier(9, size, depth, width, blur_kernel_size=4)), (x, y)),
        "aps": models.step_runner(
            models.train_step(models.classifier(9, size, depth, width, padding="circular", downsample="aps")),
            (x, y)),
    }
    # Each sample is the median of 2 steps; the models alternate (in a
    # rotating order) so drift in machine load hits all alike.
    for run in runners.values():
        run()
    wall, busy = interleaved_samples(
        {name: _median_of_steps(run) for name, run in runners.items()},
        max(3, repeats - 2), warmup=0)
    times = {name: statistics.median(values) for name, values in wall.items()}
    cpu = {name: statistics.median(values) for name, values in busy.items()}
    overhead = times["permutenet"] / times["plain"] - 1.0
    cpu_overhead = cpu["permutenet"] / cpu["plain"] - 1.0
    augshift_ratio = times["augshift"] / times["plain"]

    flops = 3 * model_forward_flops(plain) * batch  # forward + backward
    n = 512 if smoke else 2048
    matmul = compiled_matmul(n)
    both, _ = interleaved_samples({"matmul": matmul,
                                   "plain": runners["plain"]}, max(3, repeats))
    # The matmul is the machine's reference: its fastest run (noise only
    # slows it); the step's median, so the fraction errs low.
    peak = 2 * n**3 / min(both["matmul"])
    achieved = flops / statistics.median(both["plain"])
    return [
        figure(f"plain step ResNet-{depth} w{width} (fc head, {size}px, batch {batch})",
               times["plain"] * 1e3, "ms"),
        figure("PermuteNet step (permutation after pooling)", times["permutenet"] * 1e3, "ms"),
        figure("ChannelPermutation overhead", 100 * overhead, "% of step", "< 3",
               overhead < 0.03),
        figure("  ChannelPermutation overhead in CPU time", 100 * cpu_overhead, "% of step",
               note="process CPU time (all threads) of the same steps"),
        figure(f"AugShift step (2 views x {batch}, consistency loss)", times["augshift"] * 1e3,
               "ms"),
        figure("AugShift / plain step", augshift_ratio, "ratio", "<= 2.2",
               augshift_ratio <= 2.2),
        figure("BlurPool (filter 4) / plain step", times["blurpool"] / times["plain"], "ratio",
               note="strided convolutions at stride 1, then a blur and subsampling"),
        figure("APS (circular padding) / plain step", times["aps"] / times["plain"], "ratio",
               note="strided convolutions (the stem's too) at stride 1, then polyphase sampling"),
        figure(f"float32 matmul {n}x{n} (fastest of the rounds)", peak / 1e9, "GFLOP/s"),
        figure("plain step achieved", achieved / 1e9, "GFLOP/s",
               note="3 x forward FLOPs (convolutions + dense) x batch / step time"),
        figure("step / matmul FLOP/s", achieved / peak, "fraction"),
    ]
