"""Command-line flags of `train.py`, one experiment at a time, parsed strictly.

`--experiment` (given on the command line or in a flagfile, with one dash or
two) is found first; only that experiment's config fields become flags, with
that experiment's own defaults and help texts. So `train.py
--experiment=augshift --help` lists exactly AugShift's flags, `train.py
--help` lists the experiments, and a flag of another experiment is a one-line
error naming its owner. Only the flags a user set reach the config, so the
dataclass defaults apply.

The parser takes what it is given or refuses it, in one line naming where:

* flags may start with one dash or two, take `=value` or the next argument;
* anything that is not a flag (a positional argument, `--` and what follows,
  an em-dash `—epochs=3`) is refused, naming it and where it came from;
* a flagfile is read line by line: every line is one flag (`--name=value`) or
  a comment (`#`, `//`); a line that is not, a comment after a flag's value
  (`--epochs=3  # short`, for every kind of flag: a value never ends at a
  `#`), and a byte-order mark, are refused naming the file and line;
* a flag is given once per source (the command line, or one flagfile): a
  flag given again in the same source, before a flagfile that sets it, or in
  two flagfiles side by side is refused, naming both places. A flag given
  after a `--flagfile` (on the command line, or in the file that includes
  it) overrides that flagfile's value: `--flagfile=flags/x.cfg --epochs=1`;
* a flag spelled with dashes (`--learning-rate`) is named as unknown, with
  its underscore spelling;
* a suite's plural flags go through `keras_gpos.experiments.sweeps`: a value
  given twice, or a plural flag given with its single-run twin (whatever
  the values), is refused.
"""

import dataclasses
import pathlib
import os
import re

from absl import flags as absl_flags

from keras_gpos.experiments.config import field_help, field_kind

DEFAULT_EXPERIMENT = "channel_position"
HELP_FLAGS = ("help", "h", "helpshort", "helpfull", "?")
# absl's logging flags, which train.py and evaluate.py take too (`--verbosity=1` shows everything).
LOGGING_FLAGS = ("verbosity", "v", "logtostderr", "alsologtostderr", "log_dir", "stderrthreshold",
                 "showprefixforinfo", "logger_levels")
_FLAG = re.compile(r"--?([A-Za-z_][A-Za-z0-9_]*)(=.*)?", re.DOTALL)
_DASHED_FLAG = re.compile(r"--?([A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)+)(=.*)?", re.DOTALL)
# A comment after a flagfile value: whitespace, then `#` or `//`.
_INLINE_COMMENT = re.compile(r"\s(#|//)")
_BOM = b"\xef\xbb\xbf"


class HelpRequested(Exception):
    """`--help` was given; `text` is what to print."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text


def _split_flag(arg):
    """`(name, value or None)` of a flag argument (one dash or two), or `(None, None)`."""
    match = _FLAG.fullmatch(arg)
    if match is None:
        return None, None
    return match.group(1), None if match.group(2) is None else match.group(2)[1:]


class Origin(str):
    """Where an argument came from, in words (`"the command line"`, `"x.cfg line 3"`); `sources` holds one
    entry per level, from the command line down to the flagfile that holds it (the position of the
    `--flagfile` that read it in its parent), so a repeated flag can tell an override from a repetition."""

    def __new__(cls, text, sources):
        origin = super().__new__(cls, text)
        origin.sources = tuple(sources)
        return origin


def dashed_flag_hint(arg):
    """`" (flag names use underscores: --learning_rate)"` for `--learning-rate=...`, else `""`."""
    match = _DASHED_FLAG.fullmatch(arg)
    if match is None:
        return ""
    return f" (flag names use underscores: --{match.group(1).replace('-', '_')})"


def _read_flagfile(path, tokens, seen, sources):
    path = os.path.expanduser(path)
    key = os.path.realpath(path)
    if key in seen:
        raise ValueError(f"flagfile {path} includes itself (through {' -> '.join(seen)}).")
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise ValueError(f"cannot read flagfile {path}: {error.strerror or error}.") from error
    if raw.startswith(_BOM):
        raise ValueError(f"{path} line 1 starts with a UTF-8 byte-order mark, which would hide its flag; "
                         "save the file as UTF-8 without BOM.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"flagfile {path} is not UTF-8 text ({error.reason} at byte {error.start}).") from error
    args, numbers = [], []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "//")):
            continue
        if _split_flag(line)[0] is None:
            if dashed_flag_hint(line):
                raise ValueError(f"{path} line {number}: {line!r} is not a known flag{dashed_flag_hint(line)}.")
            raise ValueError(f"{path} line {number}: {line!r} is not a flag; every line of a flagfile is one "
                             "--name=value flag or a comment (# or //).")
        comment = _INLINE_COMMENT.search(line)
        if comment:
            raise ValueError(f"{path} line {number}: {line!r} has a comment after its value, which would be read "
                             f"as part of it; put the comment on a line of its own ({comment.group(1)} first).")
        args.append(line)
        numbers.append(number)
    _expand(args, path, tokens, (*seen, key), numbers, sources)


def _expand(args, where, tokens, seen, numbers=None, sources=(0,)):
    index = 0
    while index < len(args):
        arg = args[index]
        origin = Origin(where if numbers is None else f"{where} line {numbers[index]}", sources)
        name, value = _split_flag(arg)
        if name == "flagfile":
            if value is None:
                if numbers is not None or index + 1 >= len(args):
                    raise ValueError(f"--flagfile needs a file name ({origin}); write --flagfile=PATH.")
                index += 1
                value = args[index]
            _read_flagfile(value, tokens, seen, (*sources, index))  # (reading, line) is unique
        else:
            tokens.append((arg, origin))
        index += 1


def expand_flagfiles(argv):
    """`[(argument, where it came from)]`: `argv[1:]` with every `--flagfile` replaced by its
    flags (recursively); where is `"the command line"` or `"<flagfile> line <n>"`.

    Raises:
        ValueError: an unreadable flagfile, a byte-order mark, or a line that is not a flag.
    """
    tokens = []
    _expand(list(argv[1:]), "the command line", tokens, ())
    return tokens


def requested_experiment(args):
    """The last `--experiment` value in the (expanded) arguments, or None."""
    found = None
    for index, arg in enumerate(args):
        name, value = _split_flag(arg)
        if name != "experiment":
            continue
        if value is None and index + 1 < len(args):
            value = args[index + 1]
        found = value
    return found


def wants_help(args):
    return any(_split_flag(arg)[0] in HELP_FLAGS or arg in ("-?", "--?") for arg in args)


def _experiments():
    from keras_gpos.experiments import EXPERIMENTS

    return EXPERIMENTS


def _flag_fields(experiment):
    """The config fields of `experiment` that are flags (not the ones it sets itself)."""
    fixed = dict(experiment.fixed_flags)
    return [field for field in dataclasses.fields(experiment.config_class) if field.name not in fixed]


def usage_text():
    """What `train.py` prints without any flag: the usage and the experiments."""
    return help_text()


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
    for field in _flag_fields(experiment):
        kind, _ = field_kind(field)
        default = field.default
        if kind == "tuple":
            default = ",".join(str(v) for v in default)
        lines.append(f"  --{field.name}: {field_help(field)}")
        lines.append(f"      (default: {default!r})")
    lines += ["  --debug: show the full traceback of an error.", "  --flagfile: read flags from a file."]
    found = flagfiles_of(name)
    if found:
        lines += ["", "flagfiles that reproduce this experiment's figures (python train.py --flagfile=...):"]
        lines += [f"  {path}: {purpose}" for path, purpose in found]
    return "\n".join(lines)


# The flagfiles shipped with a clone of the repository (absent from a wheel install).
FLAGFILE_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _flagfile_experiment(path, root, seen=()):
    """The `--experiment` a flagfile sets, itself or through the flagfiles it includes; None if none."""
    if path in seen or not path.is_file():
        return None
    found = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line.startswith("--experiment="):
            found = line.split("=", 1)[1]
        elif line.startswith("--flagfile=") and found is None:
            found = _flagfile_experiment(root / line.split("=", 1)[1], root, seen + (path,))
    return found


def flagfiles_of(name, root=None):
    """`[(relative path, first comment line)]` of the flagfiles under `root/flags` that run experiment `name`."""
    root = FLAGFILE_ROOT if root is None else pathlib.Path(root)
    found = []
    for path in sorted((root / "flags").rglob("*.cfg")):
        if _flagfile_experiment(path, root) == name:
            comments = [line[1:].strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                        if line.startswith("#")]
            found.append((path.relative_to(root).as_posix(), comments[0] if comments else ""))
    return found


def unknown_flags_error(name, unknown):
    """The one-line refusal of flags experiment `name` does not take, naming their owners."""
    experiments = _experiments()
    fixed = dict(experiments[name].fixed_flags)
    for flag in unknown:
        if flag in fixed:
            return ValueError(f"experiment {name!r} does not take --{flag}: {fixed[flag]}.")
    owners = sorted({other for other, e in experiments.items() if other != name and set(unknown)
                     & {f.name for f in _flag_fields(e)}})
    where = f" (a flag of {', '.join(owners)})" if owners else ""
    return ValueError(
        f"experiment {name!r} does not take {', '.join('--' + u for u in sorted(set(unknown)))}{where}; "
        f"remove it or pick the experiment it belongs to (python train.py --experiment={name} --help)."
    )


def refuse_leftovers(leftovers, tokens, unknown_error, program="train.py"):
    """Refuses what the flag parser did not take: unknown flags first, then any other argument.

    Args:
        leftovers: the arguments absl left (`FlagValues(argv, known_only=True)[1:]`).
        tokens: `expand_flagfiles`'s `(argument, origin)` pairs, to say where one came from.
        unknown_error: function `[flag names] -> exception` for unknown flags.
        program: str. The program named in the message.
    """
    names = _all_field_names()
    end = leftovers.index("--") if "--" in leftovers else len(leftovers)
    unknown = []
    for arg in leftovers[:end]:
        flag, _ = _split_flag(arg)
        if flag is not None:
            unknown.append(flag[2:] if flag.startswith("no") and flag not in names and flag[2:] in names else flag)
    if unknown:
        raise unknown_error(unknown)
    if not leftovers:
        return
    arg = next((arg for arg in leftovers[:end] if _split_flag(arg)[0] is None), "--")
    origin = next((where for token, where in tokens if token == arg), "the command line")
    if arg == "--":
        raise ValueError(f"'--' ({origin}) ends the flags, but {program} takes no arguments, so "
                         f"{leftovers[end + 1:]} would be ignored; remove '--' and write them as --name=value flags.")
    if dashed_flag_hint(arg):
        raise ValueError(f"unknown flag {arg.split('=', 1)[0]!r} ({origin}){dashed_flag_hint(arg)}.")
    hint = f" (it starts with {arg[0]!r}, not a dash)" if arg[:1] in "\u2010\u2012\u2013\u2014\u2212" else ""
    raise ValueError(f"unexpected argument {arg!r} ({origin}){hint}: {program} takes only flags "
                     "(--name=value or -name=value); nothing else would be read.")


def _all_field_names():
    return {f.name for e in _experiments().values() for f in dataclasses.fields(e.config_class)}


def define_config_flags(fields, flag_values):
    """Defines one flag per config field in `fields`; returns `{name: (kind, element)}`."""
    defined = {}
    for field in fields:
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
    """`{name: value}` for the config flags the user set explicitly (absl's `present`)."""
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
    return define_config_flags(_flag_fields(_experiments()[name]), flag_values)


def share_logging_flags(flag_values, source=None):
    """Registers absl's logging flags of `source` (the global `FLAGS`) in `flag_values`, so
    `--verbosity=1` parsed there sets absl's verbosity."""
    source = absl_flags.FLAGS if source is None else source
    for name in LOGGING_FLAGS:
        if name in source and name not in flag_values:
            flag_values[name] = source[name]
    return flag_values


def parse_flags(argv, flag_values, tokens=None):
    """Parses `argv` (flagfiles expanded) into `flag_values`; returns what absl did not take.

    Raises:
        ValueError: a bad value, an unknown flag (named) or any argument that is not a flag.
    """
    tokens = expand_flagfiles(argv) if tokens is None else tokens
    try:
        leftovers = flag_values([argv[0], *(arg for arg, _ in tokens)], known_only=True)[1:]
    except absl_flags.Error as error:
        raise ValueError(" ".join(str(error).split())) from error
    refuse_repeats(tokens, flag_values)
    return leftovers


def _overrides(earlier, later):
    """Whether `later` (an `Origin`) is given in a source that read `earlier`'s flagfile before it."""
    old, new = getattr(earlier, "sources", (0,)), getattr(later, "sources", (0,))
    return len(old) > len(new) and old[:len(new)] == new


def refuse_repeats(tokens, flag_values):
    """Refuses a flag given twice, except where a later one overrides a flagfile read before it.

    Args:
        tokens: `expand_flagfiles`'s `(argument, origin)` pairs.
        flag_values: the `FlagValues` they were parsed into (unknown flags are left to `refuse_leftovers`).

    Raises:
        ValueError: naming the flag and both places it was given.
    """
    last = {}
    index = 0
    while index < len(tokens):
        arg, origin = tokens[index]
        index += 1
        name, value = _split_flag(arg)
        if name is not None and name not in flag_values and name.startswith("no") and name[2:] in flag_values:
            name = name[2:]  # --noflip is --flip
        if name is None or name not in flag_values:
            continue
        if value is None and not flag_values[name].boolean:
            index += 1  # `--epochs 3`: its value is the next argument
        if name in last and not _overrides(last[name][1], origin):
            earlier_arg, earlier = last[name]
            both = f"{earlier_arg!r} ({earlier}) and {arg!r} ({origin})"
            if getattr(earlier, "sources", (0,)) == getattr(origin, "sources", (0,)):
                why = "give it once (a flag given after a --flagfile overrides that flagfile's value)"
            elif _overrides(origin, earlier):
                why = ("the flagfile read after it would override it silently; give the flag after the "
                       "--flagfile to override the flagfile")
            else:
                why = "two flagfiles read side by side set it; set it in one, or after both to override them"
            raise ValueError(f"--{name} is given twice: {both}; {why}.")
        last[name] = (arg, origin)


def parse(argv, flag_values=None):
    """`(experiment name, frozen config, debug)` from a `train.py` command line.

    Args:
        argv: `sys.argv`-like list (program name first).
        flag_values: an `absl.flags.FlagValues` to define the flags in (a
            fresh one by default); it must not hold an experiment's flags yet.

    Raises:
        HelpRequested: `--help` was given (its `text` is the help).
        ValueError: an unknown experiment or flag, a bad value, an argument
            that is not a flag, or flags that contradict each other (one
            line, naming the flag and where it was given).
    """
    from keras_gpos.experiments.registry import make_config
    from keras_gpos.experiments.sweeps import resolve_given

    tokens = expand_flagfiles(argv)
    args = [arg for arg, _ in tokens]
    name = requested_experiment(args)
    if wants_help(args):
        raise HelpRequested(help_text(name))
    name = name or DEFAULT_EXPERIMENT
    if name not in _experiments():
        raise ValueError(f"Unknown experiment {name!r}; expected one of {sorted(_experiments())}.")
    flag_values = absl_flags.FlagValues() if flag_values is None else flag_values
    defined = define_flags(name, flag_values)
    refuse_leftovers(parse_flags(argv, flag_values, tokens), tokens, lambda unknown: unknown_flags_error(name, unknown))
    given = {flag for flag in defined if flag_values[flag].present}
    experiment = _experiments()[name]
    defaults = {field.name: field.default for field in dataclasses.fields(experiment.config_class)}
    values = resolve_given(experiment.sweep_axes, explicit_values(flag_values, defined), given, defaults)
    config = make_config(name, **values)
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
