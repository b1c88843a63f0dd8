"""Evaluate trained runs and write results.json, results.md and results.png.

    python evaluate.py --runs='runs/quickstart/runs/*' --output_dir=results/quickstart

Each run directory must hold the `run.json` that `train.py` writes; the
experiment it records picks the evaluator. Location/classification runs are
re-scored on a test set rebuilt from the run's recorded config (override its
data folder with --data_dir; the data must be the ones the run recorded,
unless --allow_other_data); AugShift runs are tabulated from their recorded
scores. Runs are averaged only when everything but their seed (and task) is
the same. Position-attack results are written by train.py itself (re-attack
a trained model with its --model_path flag). The report never goes into one
of the runs or a folder a training holds. Errors are one line; --debug
shows the traceback.
"""

import os
import sys

from train import default_backend  # noqa: E402 - train.py's module level imports nothing heavy

os.environ.setdefault("KERAS_BACKEND", default_backend())
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def define_flags(flag_values):
    from absl import flags

    kwargs = dict(flag_values=flag_values)
    flags.DEFINE_list("runs", [], "Run directories (glob patterns allowed; an existing path is taken as it is).",
                      **kwargs)
    flags.DEFINE_string("output_dir", "results", "Where to write results.json/.md/.png (a folder of its own, "
                        "an earlier report's, or a suite folder).", **kwargs)
    flags.DEFINE_string("data_dir", "", "Override the data folder recorded in each run.", **kwargs)
    flags.DEFINE_boolean("allow_other_data", False, "Score runs on data other than those they recorded "
                         "(checked by content); the report marks them.", **kwargs)
    flags.DEFINE_integer("repeats", 1, "Test passes averaged per model (PermuteNet is stochastic).", **kwargs)
    flags.DEFINE_boolean("debug", False, "Show the full traceback of an error.", **kwargs)


def _evaluate(argv, state):
    from absl import flags as absl_flags

    from keras_gpos.experiments import flags as experiment_flags

    values = experiment_flags.share_logging_flags(absl_flags.FlagValues())
    define_flags(values)
    tokens = experiment_flags.expand_flagfiles(argv)
    if experiment_flags.wants_help([arg for arg, _ in tokens]):
        print(__doc__ + "\nflags:\n" + values.get_help())
        return 0
    leftovers = experiment_flags.parse_flags(argv, values, tokens)
    experiment_flags.refuse_leftovers(
        leftovers, tokens, lambda unknown: ValueError(
            f"evaluate.py does not take {', '.join('--' + name for name in unknown)}; its flags are --runs, "
            "--output_dir, --data_dir, --allow_other_data, --repeats and --debug."), program="evaluate.py")
    state.debug = values.debug
    if values.repeats < 1:
        raise ValueError(f"--repeats must be >= 1; got {values.repeats}.")
    from keras_gpos.experiments import evaluate_runs, expand_run_patterns
    from keras_gpos.experiments.cli import start_logging

    run_dirs = expand_run_patterns(values.runs)
    start_logging()  # bad runs stay command-line errors (exit 2); disk and import errors exit 1
    report = evaluate_runs(run_dirs, values.output_dir, data_dir=values.data_dir or None, repeats=values.repeats,
                           allow_other_data=values.allow_other_data)
    print(report.text)
    print(f"results: {report.json}, {report.markdown}; plot: {report.plot}")
    return 0


def main(argv):
    """Runs `evaluate.py` with `argv` (program name first) in this process; returns the exit code."""
    from train import run_program  # how the entry points end (train.py imports nothing heavy at load)

    return run_program("evaluate.py", _evaluate, argv)


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # TensorFlow can crash in Python's teardown
