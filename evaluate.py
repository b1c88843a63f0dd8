"""Evaluate trained runs and write results.json, results.md and results.png.

    python evaluate.py --runs='runs/quickstart/runs/*' --output_dir=results/quickstart

Each run directory must hold the `run.json` that `train.py` writes; the
experiment it records picks the evaluator. Location/classification runs are
re-scored on a test set rebuilt from the run's recorded config (override its
data folder with --data_dir); AugShift runs are tabulated from their
recorded scores. Position-attack results are written by train.py itself
(re-attack a trained model with its --model_path flag). Errors are one line;
--debug shows the traceback.
"""

import glob
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_list("runs", [], "Run directories (glob patterns allowed).")
    flags.DEFINE_string("output_dir", "results", "Where to write results.json/.md/.png.")
    flags.DEFINE_string("data_dir", "", "Override the data folder recorded in each run.")
    flags.DEFINE_integer("repeats", 1, "Test passes averaged per model (PermuteNet is stochastic).")
    flags.DEFINE_boolean("debug", False, "Show the full traceback of an error.")


def fail(error, code=2):
    print(f"evaluate.py: error: {' '.join(str(error).split())}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_directories(patterns):
    """Expands `--runs` patterns; every match must be a run directory."""
    run_dirs = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise ValueError(f"--runs pattern {pattern!r} matches nothing.")
        for match in matches:
            if not os.path.isdir(match):
                raise ValueError(f"--runs entry {match} is a file, not a run directory.")
            run_dirs.append(match)
    if not run_dirs:
        raise ValueError("No run directories to evaluate (give --runs).")
    return run_dirs


def main(argv):
    from keras_gpos.experiments.flags import configure_logging

    configure_logging()
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from keras_gpos.experiments import evaluate_runs
    from keras_gpos.runs.directory import check_output_path

    try:
        if FLAGS.repeats < 1:
            raise ValueError(f"--repeats must be >= 1; got {FLAGS.repeats}.")
        run_dirs = run_directories(FLAGS.runs)
        check_output_path(FLAGS.output_dir)
        report = evaluate_runs(run_dirs, FLAGS.output_dir, data_dir=FLAGS.data_dir or None,
                               repeats=FLAGS.repeats)
    except (ValueError, OSError) as error:
        if FLAGS.debug:
            raise
        fail(error, 2 if isinstance(error, ValueError) else 1)
    print(report.text)
    print(f"results: {report.json}, {report.markdown}; plot: {report.plot}")
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
