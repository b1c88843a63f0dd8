"""Parse train.py's command line into `(experiment, config)` without touching
the global absl FLAGS (a fresh FlagValues per call)."""

from keras_gpos.experiments import flags as experiment_flags


def parse_train_flags(argv):
    name, config, _ = experiment_flags.parse(["train.py", *argv])
    return name, config
