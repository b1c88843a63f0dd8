"""Train a keras_gpos experiment: `python train.py --flagfile=flags/quickstart.cfg`.

Flags are generated from the experiment configs; `python train.py --helpfull`
lists them. See README.md for the experiments and flagfiles.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402


def main(argv):
    logging.set_verbosity(logging.WARNING)
    from keras_gpos import experiments
    from keras_gpos.experiments.flags import explicit_values

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    experiment = flags.FLAGS.experiment
    try:
        config = experiments.make_config(
            experiment, **explicit_values(flags.FLAGS, _DEFINED)
        )
    except ValueError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    experiments.run_experiment(experiment, config)
    return 0


def define_flags():
    from keras_gpos import experiments
    from keras_gpos.experiments.flags import define_config_flags

    flags.DEFINE_enum(
        "experiment", "channel_position", sorted(experiments.EXPERIMENTS),
        "Which experiment to run.",
    )
    return define_config_flags(
        flags, [cls for cls, _ in experiments.EXPERIMENTS.values()], flags.FLAGS
    )


if __name__ == "__main__":
    _DEFINED = define_flags()
    app.run(main)
