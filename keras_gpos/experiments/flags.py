"""absl flags generated from the experiment configs (used by train.py only).

Every config field becomes one flag with the field's help text; a field
shared by several experiments is defined once. Only flags the user set are
passed on, so each experiment's own dataclass defaults apply and a flag the
chosen experiment does not take is an error, not silently ignored.
"""

import dataclasses

from keras_gpos.experiments.config import field_help, field_kind


def define_config_flags(flags_module, config_classes, flag_values):
    """Defines one flag per config field; returns the set of names."""
    defined = {}
    for config_class in config_classes:
        for field in dataclasses.fields(config_class):
            if field.name in defined:
                continue
            kind, element = field_kind(field)
            default = field.default
            helptext = field_help(field)
            kwargs = dict(flag_values=flag_values)
            if kind == "tuple":
                flags_module.DEFINE_list(field.name, [str(v) for v in default], helptext, **kwargs)
            elif element is bool:
                flags_module.DEFINE_boolean(field.name, default, helptext, **kwargs)
            elif element is int:
                flags_module.DEFINE_integer(field.name, default, helptext, **kwargs)
            elif element is float:
                flags_module.DEFINE_float(field.name, default, helptext, **kwargs)
            else:
                flags_module.DEFINE_string(field.name, default, helptext, **kwargs)
            defined[field.name] = (kind, element)
    return defined


def explicit_values(flag_values, defined):
    """`{name: value}` for the config flags the user set explicitly."""
    values = {}
    for name, (kind, element) in defined.items():
        flag = flag_values[name]
        if not flag.present:
            continue
        value = flag.value
        if kind == "tuple":
            try:
                value = tuple(element(v) for v in value)
            except ValueError as error:
                raise ValueError(f"--{name}: {error}") from error
        values[name] = value
    return values


def define_experiment_flags(flags_module, flag_values, default_experiment="channel_position"):
    """Defines `--experiment` plus every config field of every experiment."""
    from keras_gpos import experiments

    flags_module.DEFINE_enum(
        "experiment", default_experiment, sorted(experiments.EXPERIMENTS),
        "Which experiment to run.", flag_values=flag_values,
    )
    return define_config_flags(
        flags_module, [cls for cls, _ in experiments.EXPERIMENTS.values()], flag_values
    )


def config_from_flags(flag_values, defined):
    """`(experiment name, frozen config)` from parsed flags.

    Raises:
        ValueError: a flag the experiment does not take, or a bad value.
    """
    from keras_gpos import experiments

    experiment = flag_values["experiment"].value
    return experiment, experiments.make_config(experiment, **explicit_values(flag_values, defined))
