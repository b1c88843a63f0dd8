"""The plural flags of the suites, owned in one place.

A suite (`channel_position`, `augshift`) trains one leaf run per combination
of its sweep axes: `--seeds`, `--paddings`, `--grid_sizes`, `--variants`. An
axis may have a single-run twin (`--seeds` and `--seed`). This module

* refuses a value given twice on any axis (`--seeds=0,0` would train, or
  count, one run twice);
* refuses an axis given together with its twin, whatever the values
  (`--seed=0 --seeds=1,2`): the command line says which flags were given
  (absl's `present`), so a value that equals the default is no excuse;
* turns a given twin into a one-value axis (`--seed=3` is `--seeds=3`, also
  where the axis has values by default);
* expands the axes into the leaf runs, in order;
* validates a suite's `--budget_s` (`keras_gpos.runs.budget` decides which
  runs fit; the next invocation continues).
"""

import dataclasses
import itertools

BUDGET_HELP = ("Seconds this invocation may spend training the suite (0: no limit): a run starts only if it "
               "should end within them, judged by the measured time of the suite's finished runs; the next "
               "invocation continues, and the report says which runs ran and which did not.")


@dataclasses.dataclass(frozen=True)
class SweepAxis:
    """One plural field of a suite config.

    Attributes:
        plural: str. The tuple field (`"seeds"`).
        single: str or None. The single-run field it replaces (`"seed"`).
    """

    plural: str
    single: str = None


def check_unique(config):
    """Refuses a value given twice in any tuple field of a config (one run or one row counted twice)."""
    from keras_gpos.experiments.config import field_kind

    for field in dataclasses.fields(config):
        if field_kind(field)[0] != "tuple":
            continue
        values = getattr(config, field.name)
        seen, doubled = set(), []
        for value in values:
            if value in seen and value not in doubled:
                doubled.append(value)
            seen.add(value)
        if doubled:
            shown = ", ".join(str(v) for v in doubled)
            raise ValueError(f"--{field.name} holds {shown} more than once ({','.join(str(v) for v in values)}); "
                             "give each value once.")


def resolve_given(axes, values, given, defaults):
    """The explicitly given flag values with the sweep rules applied (command line only).

    Args:
        axes: the experiment's `SweepAxis` tuple.
        values: `{flag: value}` of the flags given.
        given: names of the flags given on the command line or in a flagfile.
        defaults: `{field: default}` of the experiment's config: where an axis
            has values of its own by default (AugShift's seeds 0,1), a given
            twin replaces them (`--seed=3` trains seed 3 only).

    Raises:
        ValueError: an axis and its single-run twin were both given.
    """
    values = dict(values)
    for axis in axes:
        if axis.single is None or axis.single not in given:
            continue
        if axis.plural in given:
            raise ValueError(
                f"--{axis.plural} and --{axis.single} contradict each other (a suite sweeps --{axis.plural}; "
                f"--{axis.single} is one run of it); give one of them."
            )
        if defaults[axis.plural]:
            values[axis.plural] = (values[axis.single],)
    return values


def axis_values(config, axis):
    """The values a suite sweeps on `axis`: the plural field, or its single twin when that is empty."""
    values = tuple(getattr(config, axis.plural))
    if not values and axis.single is not None:
        values = (getattr(config, axis.single),)
    return values


def check_twins(config, axes, defaults):
    """In a config built in Python: an axis and a twin set to another value than the axis holds contradict.

    The command line refuses any given pair (`resolve_given`); here only values
    can be seen, so a twin left at its default (`defaults`) passes.
    """
    for axis in axes:
        if axis.single is None:
            continue
        plural, single = tuple(getattr(config, axis.plural)), getattr(config, axis.single)
        if plural and single != defaults[axis.single] and plural != (single,):
            raise ValueError(f"--{axis.plural} and --{axis.single} contradict each other; give one of them.")


def expand(config, axes):
    """Every combination of the axes' values, in axis order: a list of `{plural: value}`."""
    names = [axis.plural for axis in axes]
    return [dict(zip(names, combination))
            for combination in itertools.product(*(axis_values(config, axis) for axis in axes))]


def check_budget(config):
    """A suite's `budget_s` is >= 0 and one process decides it (workers of a multi-worker run would decide apart)."""
    if not config.budget_s >= 0:
        raise ValueError(f"budget_s must be >= 0 seconds (0: no limit); got {config.budget_s}.")
    if config.budget_s and config.strategy == "multi_worker_mirrored":
        raise ValueError("budget_s cannot be used with strategy=multi_worker_mirrored: each worker would judge the "
                         "budget by its own clock and they could start different runs; leave budget_s at 0.")
