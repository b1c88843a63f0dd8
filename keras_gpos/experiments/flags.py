"""Command-line flags of `train.py`, one experiment at a time.

`--experiment` (given on the command line or in a flagfile) is found first;
only that experiment's config fields become flags, with that experiment's
own defaults and help texts. So `train.py --experiment=augshift --help`
lists exactly AugShift's flags, `train.py --help` lists the experiments, and
a flag of another experiment is a one-line error naming its owner. Only the
flags a user set reach the config, so the dataclass defaults apply.
"""

import dataclasses

from absl import flags as absl_flags

from keras_gpos.experiments.config import field_help, field_kind

DEFAULT_EXPERIMENT = "channel_position"
HELP_FLAGS = ("help", "h", "helpshort", "helpfull", "?")
# Flags of train.py itself (not config fields).
CLI_FLAGS = ("experiment", "debug", "flagfile")


class HelpRequested(Exception):
    """`--help` was given; `text` is what to print."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text


def expand_flagfiles(argv):
    """`argv[1:]` with every `--flagfile` replaced by its flags (recursively)."""
    try:
        return absl_flags.FlagValues().read_flags_from_files(list(argv[1:]), force_gnu=True)
    except absl_flags.Error as error:
        raise ValueError(str(error)) from error


def _flag_name(arg):
    if not arg.startswith("-") or arg in ("-", "--"):
        return None
    return arg.lstrip("-").split("=", 1)[0]


def requested_experiment(args):
    """The last `--experiment` value in the (expanded) arguments, or None."""
    found = None
    for index, arg in enumerate(args):
        if arg.startswith("--experiment="):
            found = arg.split("=", 1)[1]
        elif arg == "--experiment" and index + 1 < len(args):
            found = args[index + 1]
    return found


def wants_help(args):
    return any(_flag_name(arg) in HELP_FLAGS for arg in args)


def _experiments():
    from keras_gpos.experiments import EXPERIMENTS

    return EXPERIMENTS


def help_text(name=None):
    """The help of one experiment (its flags), or the list of experiments."""
    experiments = _experiments()
    if name is None:
        lines = ["usage: python train.py --experiment=NAME [flags] (or --flagfile=flags/<name>.cfg)", "",
                 "experiments:"]
        width = max(len(n) for n in experiments)
        for key, experiment in sorted(experiments.items()):
            lines.append(f"  {key.ljust(width)}  {experiment.summary}")
        lines += ["", "python train.py --experiment=NAME --help lists that experiment's flags.",
                  "--debug shows the full traceback of an error."]
        return "\n".join(lines)
    experiment = experiments.get(name)
    if experiment is None:
        raise ValueError(f"Unknown experiment {name!r}; expected one of {sorted(experiments)}.")
    lines = [f"python train.py --experiment={name} [flags]", "", experiment.summary, "", "flags:"]
    for field in dataclasses.fields(experiment.config_class):
        kind, _ = field_kind(field)
        default = field.default
        if kind == "tuple":
            default = ",".join(str(v) for v in default)
        lines.append(f"  --{field.name}: {field_help(field)}")
        lines.append(f"      (default: {default!r})")
    lines += ["  --debug: show the full traceback of an error.", "  --flagfile: read flags from a file."]
    return "\n".join(lines)


def check_flag_names(name, args, extra_allowed=()):
    """Refuses flags the experiment does not take, naming the experiments that do."""
    experiments = _experiments()
    fields = {f.name: f for f in dataclasses.fields(experiments[name].config_class)}
    booleans = {n for n, f in fields.items() if field_kind(f)[1] is bool}
    unknown = []
    for arg in args:
        flag = _flag_name(arg)
        if flag is None or flag in fields or flag in CLI_FLAGS or flag in extra_allowed:
            continue
        if flag.startswith("no") and flag[2:] in booleans:
            continue
        unknown.append(flag)
    if not unknown:
        return
    owners = sorted({other for other, e in experiments.items() if other != name and set(unknown)
                     & {f.name for f in dataclasses.fields(e.config_class)}})
    where = f" (a flag of {', '.join(owners)})" if owners else ""
    raise ValueError(
        f"experiment {name!r} does not take {', '.join('--' + u for u in sorted(set(unknown)))}{where}; "
        f"remove it or pick the experiment it belongs to (python train.py --experiment={name} --help)."
    )


def define_config_flags(config_class, flag_values):
    """Defines one flag per field of `config_class`; returns `{name: (kind, element)}`."""
    defined = {}
    for field in dataclasses.fields(config_class):
        kind, element = field_kind(field)
        default, helptext = field.default, field_help(field)
        kwargs = dict(flag_values=flag_values)
        if kind == "tuple":
            absl_flags.DEFINE_list(field.name, [str(v) for v in default], helptext, **kwargs)
        elif element is bool:
            absl_flags.DEFINE_boolean(field.name, default, helptext, **kwargs)
        elif element is int:
            absl_flags.DEFINE_integer(field.name, default, helptext, **kwargs)
        elif element is float:
            absl_flags.DEFINE_float(field.name, default, helptext, **kwargs)
        else:
            absl_flags.DEFINE_string(field.name, default, helptext, **kwargs)
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


def define_flags(name, flag_values):
    """Defines `--experiment`, `--debug` and experiment `name`'s config flags."""
    absl_flags.DEFINE_enum("experiment", DEFAULT_EXPERIMENT, sorted(_experiments()),
                           "Which experiment to run.", flag_values=flag_values)
    absl_flags.DEFINE_boolean("debug", False, "Show the full traceback of an error.",
                              flag_values=flag_values)
    return define_config_flags(_experiments()[name].config_class, flag_values)


def parse(argv, flag_values=None):
    """`(experiment name, frozen config, debug)` from a `train.py` command line.

    Args:
        argv: `sys.argv`-like list (program name first).
        flag_values: an `absl.flags.FlagValues` to define the flags in (a
            fresh one by default; `train.py` passes the global `FLAGS`).

    Raises:
        HelpRequested: `--help` was given (its `text` is the help).
        ValueError: an unknown experiment or flag, a bad value, or flags
            that contradict each other (one line, naming the flag).
    """
    from keras_gpos.experiments.registry import make_config

    args = expand_flagfiles(argv)
    name = requested_experiment(args)
    if wants_help(args):
        raise HelpRequested(help_text(name))
    name = name or DEFAULT_EXPERIMENT
    if name not in _experiments():
        raise ValueError(f"Unknown experiment {name!r}; expected one of {sorted(_experiments())}.")
    flag_values = absl_flags.FlagValues() if flag_values is None else flag_values
    already = set(flag_values) - set(CLI_FLAGS)
    check_flag_names(name, args, extra_allowed=already)
    defined = define_flags(name, flag_values)
    try:
        flag_values([argv[0], *args])
    except absl_flags.Error as error:
        raise ValueError(str(error)) from error
    config = make_config(name, **explicit_values(flag_values, defined))
    return name, config, bool(flag_values["debug"].value)


class _ProgressFilter:
    """Keeps INFO records of keras_gpos (progress) and WARNING+ of everyone.

    TensorFlow logs its own INFO chatter (SavedModel signatures, savers)
    through absl too; at the default verbosity only keras_gpos' progress
    should show. `--verbosity=1` (absl's flag) shows everything.
    """

    def filter(self, record):
        import logging as std_logging

        if record.levelno >= std_logging.WARNING:
            return True
        return "keras_gpos" in record.pathname.replace("\\", "/").split("/") or record.pathname.endswith(
            ("train.py", "evaluate.py"))


def configure_logging():
    """absl logging at INFO for keras_gpos progress, other libraries' INFO hidden."""
    from absl import logging

    if logging.get_verbosity() > logging.INFO:  # --verbosity=1 or more: show everything
        return
    logging.set_verbosity(logging.INFO)
    logging.get_absl_handler().addFilter(_ProgressFilter())
