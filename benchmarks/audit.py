"""Section 6: the position audit's cost against the bare forward passes it needs.

Probe speed (issue 26's target, not a test): on MobileNetV2 at 64 px with
256 images and class labels (the trial that measured 208 s of probe
fitting against 8 s of forward passes), the audit's probe fitting next to
its forward passes, with the 128-direction cap and without it, and the
largest change the cap makes to any probe accuracy.

The audit pushes, per batch of images, the images resized to the input, both
flips and every image in every grid cell through one multi-output feature
model. Its forward part (canvases, flips, pooled features, streaming sums)
is timed against the same number of images through the same feature model
with nothing else done (the bare forward passes); probe fitting is timed
apart. Peak memory at 1x and 4x images shows where it stops growing (the
probes keep the features of the first `probe_images` images only).
"""

import time

import numpy as np

from benchmarks.common import figure, interleaved_samples

GRID = 3


def _bare_forward(pooled, batches):
    from keras_gpos.base.backend import compiled_forward

    forward = compiled_forward(pooled)

    def run():
        for batch in batches:
            forward(batch)
    return run


def _audit_run(model, images, layers, probe_images=512):
    from keras_gpos.audit import position_audit

    timing = {}

    def run():
        audit = position_audit(model, images, layers=layers, grid_size=GRID, verbose=0, batch_size=16,
                               probe_images=probe_images)
        timing.update(audit.timing)
    return run, timing


def _bench_model(label, model, images, layers, repeats):
    from keras_gpos.audit.canvases import make_canvases, resize_images
    from keras_gpos.ranking.position_ranking import pooled_feature_model

    shape = tuple(model.inputs[0].shape[1:])
    pooled = pooled_feature_model(model, layers)
    batches = []
    for start in range(0, len(images), 16):
        chunk = images[start:start + 16]
        full = resize_images(chunk, shape[0], shape[1])
        canvases, _ = make_canvases(chunk, shape, GRID)
        batches.append(np.concatenate([full, full[:, :, ::-1], full[:, ::-1], canvases]))
    audit_run, timing = _audit_run(model, images, layers)
    probe_times = []

    def audit_forward():
        audit_run()
        probe_times.append(timing["probe_seconds"])

    rounds = max(2, repeats - 2)
    wall, _ = interleaved_samples({"audit": audit_forward, "bare": _bare_forward(pooled, batches)}, rounds)
    # Per round: that round's wall time minus that round's probe fitting (the
    # first call was the warm-up). Subtracting one round's probe time from the
    # median of all rounds could go negative on a loaded machine.
    probe_times = probe_times[-rounds:]
    forward_part = float(np.median([w - p for w, p in zip(wall["audit"], probe_times)]))
    bare = float(np.median(wall["bare"]))
    probe = float(np.median(probe_times))
    ratio = forward_part / bare
    count = sum(len(b) for b in batches)
    return [
        figure(f"{label}: bare forward passes ({count} inputs, {len(layers)} layers)", bare, "s"),
        figure(f"{label}: audit without probe fitting", forward_part, "s",
               note="whole audit wall time minus its probe-fitting time, median of rounds"),
        figure(f"{label}: audit forward part / bare forward passes", ratio, "ratio", "<= 1.3",
               ratio <= 1.3),
        figure(f"  {label}: probe fitting (3 views x location and class probes per layer)", probe, "s"),
    ]


def bench_probe_speed(smoke):
    """Probe fitting vs forward passes on MobileNetV2-sized layers; capped vs every direction."""
    import keras

    from keras_gpos.audit import position_audit
    from keras_gpos.data import load_image_dataset
    from keras_gpos.metrics.probe import MAX_FEATURES

    count, side = (16, 32) if smoke else (256, 64)
    _, test = load_image_dataset("embedded", seed=0, embedded_test_size=count)
    images = test.images[:count].astype("float32") / 127.5 - 1.0
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(side, side, 3), weights=None)
    audits = {}
    for label, cap in (("capped", MAX_FEATURES), ("every direction", None)):
        audits[label] = position_audit(model, (images, test.labels[:count]), grid_size=GRID, verbose=0,
                                       probe_features=cap)
    capped, full = audits["capped"], audits["every direction"]
    forward = capped.timing["forward_seconds"]
    ratio = capped.timing["probe_seconds"] / forward
    changes = [abs(a[task][view]["accuracy"] - b[task][view]["accuracy"])
               for a, b in zip(capped.layers, full.layers) for task in ("location", "class")
               for view in ("ordered", "sorted", "sum")]
    layers = ", ".join(f"{layer['name']} ({layer['channels']} ch)" for layer in capped.layers)
    label = f"MobileNetV2 {side}px, {count} images, {len(capped.layers)} layers"
    return [
        figure(f"{label}: audit forward passes", forward, "s", note=layers),
        figure(f"{label}: probe fitting, at most {MAX_FEATURES} directions", capped.timing["probe_seconds"], "s",
               note="6 probes per layer (3 views x location and class), verdicts included"),
        figure(f"{label}: probe fitting / forward passes", ratio, "ratio", "<= 1.0", ratio <= 1.0),
        figure(f"  {label}: probe fitting, every direction", full.timing["probe_seconds"], "s"),
        figure(f"  {label}: largest probe accuracy change from the cap", 100 * max(changes), "points",
               note=f"over {len(changes)} probes"),
    ]


def bench_audit(smoke, repeats):
    import keras

    from benchmarks.common import PeakMemory
    from keras_gpos.audit import default_layers
    from keras_gpos.models import build_classifier

    rng = np.random.default_rng(0)
    count = 16 if smoke else 256
    images = rng.normal(size=(count, 32, 32, 3)).astype("float32")
    keras.utils.set_random_seed(0)
    width, side = (8, 48) if smoke else (32, 96)
    model = build_classifier(9, (side, side, 3), depth=18, width=width, head="fc")
    layers = default_layers(model, 4)
    figures = _bench_model(f"ResNet-18 w{width} {side}px, {count} images", model, images, layers, repeats)

    probe_images = 8 if smoke else 64
    peaks = {}
    if keras.config.backend() != "tensorflow":
        return figures  # the peak-memory figures read TensorFlow's allocator
    for factor in (1, 4):
        data = np.concatenate([images] * factor)
        run, _ = _audit_run(model, data, layers, probe_images=probe_images)
        run()  # warm
        with PeakMemory() as memory:
            run()
        peaks[factor] = memory
    ratio = peaks[4].total_peak / peaks[1].total_peak
    for factor, memory in peaks.items():
        figures.append(figure(f"audit peak memory, {factor}x = {factor * count} images", memory.total_peak / 2**20,
                              "MB", note=f"probes keep the features of the first {probe_images} images"))
    figures.append(figure("audit peak memory 4x / 1x", ratio, "ratio", "<= 1.10", ratio <= 1.10))

    if not smoke and keras.config.backend() == "tensorflow":  # the 224 px models: once, on TensorFlow
        for name, factory in (("ResNet50", keras.applications.ResNet50),
                              ("MobileNetV2", keras.applications.MobileNetV2)):
            app = factory(input_shape=(224, 224, 3), weights=None)
            app_layers = default_layers(app, 6)
            start = time.perf_counter()
            figures += _bench_model(f"{name} 224px, {count} images", app, images, app_layers, 3)
            figures.append(figure(f"  {name}: benchmark time for this model", time.perf_counter() - start, "s",
                                  note=f"layers {', '.join(app_layers)}"))
    return figures
