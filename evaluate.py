"""Evaluate trained runs and write results.json, results.md and results.png.

    python evaluate.py --runs=runs/quickstart/runs/* --output_dir=results/quickstart

Each run directory must hold the `run.json` and `model.keras` that
`train.py` writes; the test set is rebuilt from the run's recorded config
(override its data folder with --data_dir).
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
        evaluate_runs(run_dirs, FLAGS.output_dir, data_dir=FLAGS.data_dir or None,
                      repeats=FLAGS.repeats)
    except ValueError as error:
        print(f"evaluate.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
