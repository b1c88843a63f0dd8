"""Train a keras_gpos experiment: `python train.py --flagfile=flags/quickstart.cfg`.

`python train.py --help` lists the experiments; `--experiment=NAME --help`
lists that experiment's flags with its own defaults. Errors are one line
(`train.py: error: ...`) and a non-zero exit; `--debug` shows the traceback.
See README.md for the experiments and flagfiles.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

USAGE_ERROR, RUN_ERROR = 2, 1


def fail(error, code):
    """Prints one line and exits without Python's teardown (TensorFlow can crash in it)."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f"{text} ({error.filename})"
    print(f"train.py: error: {text}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def parse_flags(argv):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow":
        fail(f"the experiments run on TensorFlow (tf.data, tf.distribute); KERAS_BACKEND={backend} "
             "is for the library (layers, losses, metrics, ranking, attacks, audit). Unset it or set "
             "KERAS_BACKEND=tensorflow.", USAGE_ERROR)
    from keras_gpos.experiments import flags as experiment_flags

    try:
        return experiment_flags.parse(argv, flags.FLAGS)
    except experiment_flags.HelpRequested as request:
        print(request.text)
        sys.exit(0)
    except ValueError as error:
        fail(error, USAGE_ERROR)


def main(parsed):
    name, config, debug = parsed
    from keras_gpos.experiments.flags import configure_logging

    configure_logging()
    from keras_gpos.experiments import run_experiment
    from keras_gpos.training import NonFiniteLossError

    try:
        run_experiment(name, config)
    except (ValueError, OSError, NonFiniteLossError) as error:
        if debug:
            raise
        fail(error, RUN_ERROR)
    return 0


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
