"""Train a keras_gpos experiment: `python train.py --flagfile=flags/quickstart.cfg`.

Flags are generated from the experiment configs; `python train.py --helpfull`
lists them. See README.md for the experiments and flagfiles.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from keras_gpos.experiments import flags as experiment_flags  # noqa: E402

FLAGS = flags.FLAGS
_DEFINED = experiment_flags.define_experiment_flags(flags, FLAGS)


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from keras_gpos import experiments

    try:
        experiment, config = experiment_flags.config_from_flags(FLAGS, _DEFINED)
    except ValueError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    experiments.run_experiment(experiment, config)
    return 0


if __name__ == "__main__":
    app.run(main)
