"""Parse train.py's command line into `(experiment, config)` without touching
the global absl FLAGS (a fresh FlagValues per call)."""

from absl import flags

from keras_gpos.experiments import flags as experiment_flags


def parse_train_flags(argv):
    values = flags.FlagValues()
    defined = experiment_flags.define_experiment_flags(flags, values)
    values(["train.py", *argv])
    return experiment_flags.config_from_flags(values, defined)
