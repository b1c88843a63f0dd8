"""Evaluate trained runs and write results.json, results.md and results.png.

    python evaluate.py --runs=runs/quickstart/runs/* --output_dir=results/quickstart

Each run directory must hold the `run.json` and `model.keras` that
`train.py` writes. Location/classification runs are re-scored on a test set
rebuilt from the run's recorded config (override its data folder with
--data_dir); AugShift runs (`--experiment=augshift`) are tabulated from
their recorded scores. Position-attack results are written by train.py
itself (re-attack a trained model with its --model_path flag).
"""

import glob
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_list("runs", [], "Run directories (glob patterns allowed).")
    flags.DEFINE_string("output_dir", "results", "Where to write results.json/.md/.png.")
    flags.DEFINE_string("data_dir", "", "Override the data folder recorded in each run.")
    flags.DEFINE_integer("repeats", 1, "Test passes averaged per model (PermuteNet is stochastic).")


def run_kind(run_dirs):
    """`"location"` or `"augshift"`, read from each run's run.json."""
    from keras_gpos.reporting import read_json

    kinds = set()
    for run_dir in run_dirs:
        path = os.path.join(run_dir, "run.json")
        if not os.path.exists(path):
            raise ValueError(f"{run_dir} holds no finished run (no run.json).")
        summary = read_json(path)
        kinds.add("augshift" if "consistency" in summary else "location")
    if len(kinds) > 1:
        raise ValueError("--runs mixes AugShift and location runs; evaluate them separately.")
    if not kinds:
        raise ValueError("No run directories to evaluate.")
    return kinds.pop()


def main(argv):
    logging.set_verbosity(logging.WARNING)
    from keras_gpos.experiments import evaluate_runs

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    run_dirs = []
    for pattern in FLAGS.runs:
        matches = sorted(glob.glob(pattern))
        if not matches:
            print(f"evaluate.py: error: --runs pattern {pattern!r} matches nothing.", file=sys.stderr)
            return 2
        run_dirs.extend(m for m in matches if os.path.isdir(m))
    if FLAGS.repeats < 1:
        print(f"evaluate.py: error: --repeats must be >= 1; got {FLAGS.repeats}.", file=sys.stderr)
        return 2
    try:
        kind = run_kind(run_dirs)
        if kind == "augshift":
            from keras_gpos.experiments.augshift import write_report

            write_report(FLAGS.output_dir, run_dirs=run_dirs)
            out = FLAGS.output_dir
            print(f"[keras_gpos] results: {out}/results.json, {out}/results.md; "
                  f"plot: {out}/results.png")
        else:
            evaluate_runs(run_dirs, FLAGS.output_dir, data_dir=FLAGS.data_dir or None,
                          repeats=FLAGS.repeats)
    except ValueError as error:
        print(f"evaluate.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
