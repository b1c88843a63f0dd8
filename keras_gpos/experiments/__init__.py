"""Experiments: one frozen config class and one entry function each.

`EXPERIMENTS` maps the `--experiment` name to `(config class, run function)`;
`train.py` is a thin wrapper around it.
"""

from keras_gpos.experiments.augshift import AugShiftConfig, run_augshift
from keras_gpos.experiments.channel_position import ChannelPositionConfig
from keras_gpos.experiments.channel_position import evaluate_runs
from keras_gpos.experiments.channel_position import run_channel_position
from keras_gpos.experiments.config import CommonConfig
from keras_gpos.experiments.location import ClassificationConfig
from keras_gpos.experiments.location import LocationConfig
from keras_gpos.experiments.location import evaluate_run
from keras_gpos.experiments.location import train_location
from keras_gpos.experiments.position_attack import PositionAttackConfig, run_position_attack

EXPERIMENTS = {
    "location": (LocationConfig, train_location),
    "classification": (ClassificationConfig, train_location),
    "channel_position": (ChannelPositionConfig, run_channel_position),
    "augshift": (AugShiftConfig, run_augshift),
    "position_attack": (PositionAttackConfig, run_position_attack),
}


def make_config(experiment, **values):
    """Builds the config of `experiment` from explicitly given values.

    Raises:
        ValueError: unknown experiment, or a value that the experiment does
            not take (a flag that would be silently ignored).
    """
    import dataclasses

    if experiment not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {experiment!r}; expected one of {sorted(EXPERIMENTS)}.")
    config_class = EXPERIMENTS[experiment][0]
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"experiment {experiment!r} does not take {', '.join('--' + u for u in unknown)}; "
            "remove them or pick the experiment they belong to."
        )
    return config_class(**values)


def run_experiment(experiment, config):
    if getattr(config, "strategy", None) == "multi_worker_mirrored":
        # TensorFlow configures multi-worker collectives only before its
        # first op; the experiment's later get_strategy call reuses this one.
        from keras_gpos.training import get_strategy

        get_strategy(config.strategy)
    return EXPERIMENTS[experiment][1](config)
