"""Benchmark: cost of one AugShift training step relative to a plain step.

    python benchmarks/augshift_step.py --depth=18 --width=32 --batch_size=64

Both steps see the same batch of B images placed on the same canvas size:
the plain step trains the classifier on one view (B canvases), the AugShift
step on two views (2B canvases through the encoder, cross-entropy on both,
plus the consistency loss). Each is compiled by `fit` once, warmed up, and
timed over `--steps` steps (median of `--repeats` timings). The issue's
target is a ratio of at most about 2: the extra work should be the second
view, nothing more. On a shared CPU the absolute times vary with load; the
ratio, measured back to back, is the figure to quote.
"""

import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("depth", 18, "ResNet depth.")
flags.DEFINE_integer("width", 32, "ResNet width.")
flags.DEFINE_integer("canvas_size", 48, "Canvas side (32px images).")
flags.DEFINE_integer("batch_size", 64, "Images per step (AugShift runs 2x canvases).")
flags.DEFINE_integer("steps", 10, "Timed steps per repeat.")
flags.DEFINE_integer("repeats", 3, "Timing repeats (median reported).")
flags.DEFINE_integer("blur_kernel_size", 0, "0: plain ResNet; 1..7: BlurPool ResNet.")
flags.DEFINE_string("output_json", "", "Append the figures to this JSON file (e.g. "
                    "results/augshift_cifar/step_time.json, which the augshift report quotes).")


def _prepare(model, dataset):
    """Compiles the train function and warms it up; returns a step callable."""
    model.fit(dataset.take(2), epochs=1, verbose=0)
    step_fn = model.make_train_function()
    batches = list(dataset.take(FLAGS.steps))

    def run():
        start = time.perf_counter()
        for data in batches:
            logs = step_fn(iter([data]))
        float(logs["loss"])  # wait for the last step
        return (time.perf_counter() - start) / len(batches)

    return run


def main(argv):
    del argv
    import keras
    import numpy as np

    from keras_gpos.data import ImageSet, shift_view_dataset
    from keras_gpos.experiments.augshift import AugShiftConfig, build_variant
    from keras_gpos.training.recipe import compile_classifier

    rng = np.random.default_rng(0)
    images = ImageSet(
        rng.integers(0, 256, (FLAGS.batch_size * 4, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, FLAGS.batch_size * 4), tuple(str(i) for i in range(10)),
    )
    config = AugShiftConfig(dataset="embedded", depth=FLAGS.depth, width=FLAGS.width,
                            canvas_size=FLAGS.canvas_size,
                            blur_kernel_size=FLAGS.blur_kernel_size or 4)
    variant_suffix = "_blurpool" if FLAGS.blur_kernel_size else ""
    runners = {}
    for name, variant, two_views in (
        ("plain", "baseline" if not variant_suffix else "blurpool", False),
        ("augshift", "augshift" + variant_suffix, True),
    ):
        keras.utils.set_random_seed(0)
        model, _, _ = build_variant(config, variant, 1.0, 10, (32, 32, 3))
        compile_classifier(model, config.learning_rate, config.beta_1)
        dataset = shift_view_dataset(images, (0.5,) * 3, (0.25,) * 3, FLAGS.batch_size,
                                     config.protocol, two_views=two_views)
        dataset = dataset.cache()  # time the step, not the input pipeline
        runners[name] = _prepare(model, dataset)
    # Alternate the two so a change in machine load hits both alike.
    timings = {name: [] for name in runners}
    for _ in range(FLAGS.repeats):
        for name, run in runners.items():
            timings[name].append(run())
    results = {name: statistics.median(values) for name, values in timings.items()}
    for name, value in results.items():
        print(f"{name:9s} step: {1000 * value:8.1f} ms median of {FLAGS.repeats} "
              f"(batch {FLAGS.batch_size} images, {'2 views' if name == 'augshift' else '1 view'})")
    ratios = [a / p for a, p in zip(timings["augshift"], timings["plain"])]
    print("per-repeat ratios: " + ", ".join(f"{r:.2f}" for r in ratios))
    ratio = results["augshift"] / results["plain"]
    model_name = (f"ResNet-{FLAGS.depth} width {FLAGS.width}, {FLAGS.canvas_size}px canvas, "
                  f"blur {FLAGS.blur_kernel_size or 'off'}")
    print(f"ratio augshift/plain: {ratio:.2f} (target: <= ~2.0) | {model_name}, "
          f"{os.cpu_count()} CPUs")
    if FLAGS.output_json:
        import json
        import pathlib

        from keras_gpos.base.files import write_json

        path = pathlib.Path(FLAGS.output_json)
        record = json.loads(path.read_text()) if path.exists() else {"runs": []}
        record["runs"].append({
            "model": model_name, "batch_size": FLAGS.batch_size, "steps": FLAGS.steps,
            "repeats": FLAGS.repeats, "plain_ms": 1000 * results["plain"],
            "augshift_ms": 1000 * results["augshift"], "ratio": ratio,
            "per_repeat_ratios": ratios, "cpus": os.cpu_count(),
        })
        write_json(path, record)


if __name__ == "__main__":
    app.run(main)
