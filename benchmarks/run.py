"""Benchmark suite: throughput of the hot paths, as ratios taken in one run.

    python -m benchmarks.run --out results/bench.json
    python -m benchmarks.run --smoke        # tiny sizes, checks the suite runs

Every figure is measured after a warm-up, repeated, and reported as the
median. The machine is shared and noisy, so absolute times drift; the
ratios (measured back to back, alternating the things compared, in one
process) are the figures to compare with the targets. Benchmarks are not
tests: nothing here fails on a number.

Sections: input pipeline (benchmarks/input_pipeline.py), channel ranking,
attack sweep and scaling (benchmarks/segmentation.py), training step
(benchmarks/training_step.py), audit and probe speed (benchmarks/audit.py). Writes the figures as JSON to `--out` and a
Markdown table next to it.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time


def _backend_from_argv(argv):
    """`--backend` read before Keras is imported (a process has one backend)."""
    for index, arg in enumerate(argv):
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
        if arg == "--backend" and index + 1 < len(argv):
            return argv[index + 1]
    return "tensorflow"


BACKEND = _backend_from_argv(sys.argv[1:])
os.environ["KERAS_BACKEND"] = "tensorflow" if BACKEND == "both" else BACKEND
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("backend", "tensorflow", ["tensorflow", "jax", "both"],
                  "Keras backend: tensorflow (every section), jax (the backend-agnostic sections: "
                  "attack sweep, training step, audit) or both (TensorFlow here, then the "
                  "backend-agnostic sections again on JAX in a subprocess, merged as '<section> (jax)').")
flags.DEFINE_string("out", "results/bench.json", "Where to write the figures as JSON.")
flags.DEFINE_boolean("smoke", False, "Tiny sizes and one repeat: checks the suite runs.")
flags.DEFINE_integer("repeats", 5, "Timed repeats per figure (median reported).")
flags.DEFINE_list("sections", [], "Run only these sections (default: all), e.g. "
                  "'input pipeline,attack sweep'.")

SECTIONS = ("input pipeline", "channel ranking", "attack sweep", "training step", "scaling", "audit",
            "probe speed")
# Sections that run on any backend (the others time tf.data or TF's allocator).
PORTABLE = ("attack sweep", "training step", "audit", "probe speed")


def _met(f):
    return "" if f["met"] is None else ("yes" if f["met"] else "NO")


def _value(f):
    return f"{f['value']:.3g}" if abs(f["value"]) < 1000 else f"{f['value']:.0f}"


def print_table(sections):
    print(f"{'figure':66} {'value':>10} {'unit':>10} {'target':>8} {'met':>4}")
    for section, figures in sections.items():
        print(f"-- {section}")
        for f in figures:
            print(f"{f['name'][:66]:66} {_value(f):>10} {f['unit']:>10} "
                  f"{(f['target'] or ''):>8} {_met(f):>4}")
    notes = sorted({f["note"] for figures in sections.values() for f in figures if f["note"]})
    if notes:
        print("notes:")
        for note in notes:
            print(f"  - {note}")


def markdown(sections, seconds):
    lines = [f"Benchmark suite, {os.cpu_count()} CPUs, {seconds:.0f} s.", "",
             "| section | figure | value | unit | target | met |", "|---|---|---|---|---|---|"]
    order = [name for name in SECTIONS if name in sections]
    order += [name for name in sections if name not in order]
    for section in order:
        for f in sections[section]:
            name = f["name"].replace("|", "\\|")
            name = "↳ " + name.strip() if name.startswith("  ") else name
            lines.append(f"| {section} | {name} | {_value(f)} | {f['unit']} | "
                         f"{f['target'] or ''} | {_met(f)} |")
    return "\n".join(lines) + "\n"


def run_sections(smoke, repeats, only=()):
    from benchmarks import audit, input_pipeline, segmentation, training_step

    setup = None

    def segmentation_setup():
        nonlocal setup
        if setup is None:
            setup = segmentation.Setup(smoke)
        return setup

    benches = {
        "input pipeline": lambda: input_pipeline.bench_input_pipeline(smoke, repeats),
        "channel ranking": lambda: segmentation.bench_ranking(segmentation_setup(), repeats),
        "attack sweep": lambda: segmentation.bench_attack(segmentation_setup(), repeats),
        "scaling": lambda: segmentation.bench_scaling(segmentation_setup(), repeats),
        "training step": lambda: training_step.bench_training_step(smoke, repeats),
        "audit": lambda: audit.bench_audit(smoke, repeats),
        "probe speed": lambda: audit.bench_probe_speed(smoke),
    }
    sections = {}
    unknown = set(only) - set(SECTIONS)
    if unknown:
        raise ValueError(f"Unknown sections {sorted(unknown)}; expected some of {list(SECTIONS)}.")
    for name in SECTIONS:
        if only and name not in only:
            continue
        if BACKEND == "jax" and name not in PORTABLE:
            print(f"[bench] {name}: skipped on jax (TensorFlow-only section)", flush=True)
            continue
        start = time.time()
        print(f"[bench] {name} ...", flush=True)
        sections[name] = benches[name]()
        print(f"[bench] {name}: {time.time() - start:.0f}s", flush=True)
    return sections


def _jax_sections(smoke, repeats, only):
    """The portable sections again, on JAX in a subprocess; named '<section> (jax)'."""
    wanted = [name for name in PORTABLE if not only or name in only]
    if not wanted:
        return {}
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder) / "jax.json"
        command = [sys.executable, "-m", "benchmarks.run", "--backend=jax", f"--out={out}",
                   f"--sections={','.join(wanted)}", f"--repeats={repeats}"] + (["--smoke"] if smoke else [])
        print("[bench] running the portable sections on jax:", " ".join(command[3:]), flush=True)
        subprocess.run(command, check=True, env={**os.environ, "KERAS_BACKEND": "jax"})
        payload = json.loads(out.read_text())
    return {f"{name} (jax)": figures for name, figures in payload["sections"].items()}


def main(argv):
    del argv
    from keras_gpos.base.files import write_json, write_text

    repeats = 1 if FLAGS.smoke else FLAGS.repeats
    start = time.time()
    sections = run_sections(FLAGS.smoke, repeats, FLAGS.sections)
    if BACKEND == "both":
        sections.update(_jax_sections(FLAGS.smoke, repeats, FLAGS.sections))
    seconds = time.time() - start
    print_table(sections)
    write_json(FLAGS.out, {"sections": sections, "smoke": FLAGS.smoke, "seconds": seconds,
                           "repeats": repeats, "cpus": os.cpu_count(), "backend": BACKEND})
    write_text(pathlib.Path(FLAGS.out).with_suffix(".md"), markdown(sections, seconds))
    print(f"[bench] wrote {FLAGS.out} ({seconds:.0f}s)")


if __name__ == "__main__":
    app.run(main)
