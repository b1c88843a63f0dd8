"""The experiment registry: each experiment is a config, a run and an evaluate function.

`train.py` and `evaluate.py` dispatch through `EXPERIMENTS`; `run.json`
records the experiment name, so `evaluate.py` finds the right evaluator.
"""

import dataclasses

EXPERIMENTS = {}


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One registered experiment.

    Attributes:
        name: str. The `--experiment` value.
        config_class: the frozen config dataclass (its fields are the flags).
        run: function `config -> results dict`.
        evaluate: function `(run_dirs, output_dir, data_dir=None, repeats=1)
            -> results dict`, or None when results are written by `run`.
        summary: str. One line for `train.py --help`.
        reads_runs_of: experiment names whose run directories `evaluate` reads.
        sweep_axes: the suite's `SweepAxis` tuple (plural flags and their
            single-run twins; see `keras_gpos.experiments.sweeps`).
        fixed_flags: `((field, why), ...)`: config fields the experiment sets
            itself; they are not flags of it (a given one is refused, saying why).
    """

    name: str
    config_class: type
    run: object
    evaluate: object = None
    summary: str = ""
    reads_runs_of: tuple = ()
    sweep_axes: tuple = ()
    fixed_flags: tuple = ()


def register_experiment(experiment):
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"experiment {experiment.name!r} is registered twice.")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def get_experiment(name):
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}; expected one of {sorted(EXPERIMENTS)}.")
    return EXPERIMENTS[name]


def evaluator_for(kind):
    """The experiment whose `evaluate` reads run directories of experiment `kind`."""
    for experiment in EXPERIMENTS.values():
        if experiment.evaluate is not None and kind in (experiment.name, *experiment.reads_runs_of):
            return experiment
    raise ValueError(f"no evaluator reads runs of experiment {kind!r}; its results are written by train.py.")


def make_config(experiment, **values):
    """Builds the config of `experiment` from explicitly given values.

    Raises:
        ValueError: unknown experiment, or a value that the experiment does
            not take (a flag that would be silently ignored).
    """
    config_class = get_experiment(experiment).config_class
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        owners = sorted({name for name, other in EXPERIMENTS.items() if name != experiment
                         and set(unknown) & {f.name for f in dataclasses.fields(other.config_class)}})
        where = f" (a flag of {', '.join(owners)})" if owners else ""
        raise ValueError(
            f"experiment {experiment!r} does not take {', '.join('--' + u for u in unknown)}{where}; "
            "remove it or pick the experiment it belongs to."
        )
    return config_class(**values)
