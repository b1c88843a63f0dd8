"""The paper's central experiment as one suite of runs.

For each padding mode, grid size and seed it trains

* `gapnet` on location,
* `fc` (GAP + dense) on location and on object class,
* `fc+permute@pooled` (PermuteNet) on location and on object class,

then evaluates every saved model and writes one results table. Finished runs
are skipped, so an interrupted suite resumes where it stopped; with `budget_s`
only the runs that fit start (`keras_gpos.runs.budget`), the next invocation
continues, and the report lists what ran and what did not.
"""

import dataclasses
import pathlib
import time

from absl import logging

from keras_gpos.experiments.config import option
from keras_gpos.experiments.sweeps import BUDGET_HELP, SweepAxis, check_budget, check_twins, expand
from keras_gpos.experiments.location import LocationConfig, evaluate_run, memory_plan, prepare_data, train_location
from keras_gpos.layers.padding import check_padding_mode
from keras_gpos.models.classifier import permute_positions
from keras_gpos.reporting.location import write_report
from keras_gpos.runs.budget import RunBudget, is_finished
from keras_gpos.base.validation import check_one_of, check_positive_int

# (name, head, permute_at, task)
VARIANTS = {
    "gapnet_location": ("gapnet", "", "location"),
    "fc_location": ("fc", "", "location"),
    "permutenet_location": ("fc", "pooled", "location"),
    "fc_class": ("fc", "", "class"),
    "permutenet_class": ("fc", "pooled", "class"),
    "gapnet_class": ("gapnet", "", "class"),
}
DEFAULT_VARIANTS = (
    "gapnet_location", "fc_location", "permutenet_location", "fc_class", "permutenet_class",
)
# The suite's sweep axes with their single-run twins, in the order runs are trained.
SWEEP_AXES = (SweepAxis("paddings", "padding"), SweepAxis("grid_sizes", "grid_size"), SweepAxis("seeds", "seed"))
# Fields of a leaf run that its variant sets: the suite takes none of them.
PER_VARIANT = ("task", "head", "permute_at")


@dataclasses.dataclass(frozen=True)
class ChannelPositionConfig(LocationConfig):
    """A sweep of GAPNet / PermuteNet runs; single-run fields are the base."""

    variants: tuple[str, ...] = option(DEFAULT_VARIANTS, "Runs of the suite: " + ",".join(VARIANTS) + ".")
    paddings: tuple[str, ...] = option((), "Padding modes to sweep (empty: --padding).")
    grid_sizes: tuple[int, ...] = option((), "Grid sizes to sweep (empty: --grid_size).")
    seeds: tuple[int, ...] = option((), "Training seeds to sweep (empty: --seed).")
    permute_ats: tuple[str, ...] = option(
        (), "Where the permutenet variants permute (empty: pooled): stage1..stage4|head|pooled. "
        "'head' runs with the gapnet head (with the fc head it would equal 'pooled')."
    )
    eval_repeats: int = option(1, "Test passes averaged per model (PermuteNet is stochastic).")
    budget_s: float = option(0.0, BUDGET_HELP)

    def __post_init__(self):
        super().__post_init__()
        # A sweep list replaces its single-run field; setting both would
        # leave one silently ignored (the command line refuses any given pair).
        defaults = {f.name: f.default for f in dataclasses.fields(LocationConfig)}
        check_twins(self, SWEEP_AXES, defaults)
        for name in PER_VARIANT:
            if getattr(self, name) != defaults[name]:
                raise ValueError(f"channel_position sets --{name} per variant (--variants, --permute_ats); "
                                 f"got {name}={getattr(self, name)!r}: remove it.")
        if not self.variants:
            raise ValueError("variants must not be empty.")
        for variant in self.variants:
            check_one_of(variant, "variant", VARIANTS)
        for padding in self.paddings:
            check_padding_mode(padding, name="padding")
        for size in self.grid_sizes:
            check_positive_int(size, "grid_sizes")
        for position in self.permute_ats:
            if position not in permute_positions(self.arch):
                raise ValueError(
                    f"Unknown permute position {position!r} in permute_ats; expected one of "
                    f"{list(permute_positions(self.arch))}."
                )
        check_positive_int(self.eval_repeats, "eval_repeats")
        check_budget(self)

    def run_configs(self):
        """`(run name, LocationConfig)` for every run of the suite."""
        base = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(LocationConfig)
        }
        runs = []
        for leaf in expand(self, SWEEP_AXES + (SweepAxis("variants"),)):
            padding, grid_size, seed, variant = (leaf["paddings"], leaf["grid_sizes"], leaf["seeds"],
                                                 leaf["variants"])
            head, permute_at, task = VARIANTS[variant]
            positions = (self.permute_ats or (permute_at,)) if permute_at else ("",)
            for position in positions:
                label = variant
                if position and position != "pooled":
                    label = variant.replace("permutenet", f"permutenet-{position}")
                run_head = "gapnet" if position == "head" else head
                name = f"{label}_{padding}_g{grid_size}_s{seed}"
                runs.append((name, LocationConfig(**{
                    **base, "head": run_head, "permute_at": position, "task": task,
                    "padding": padding, "grid_size": grid_size, "seed": seed,
                    "output_dir": str(pathlib.Path(self.output_dir) / "runs" / name),
                })))
        return runs


def run_channel_position(config):
    """Trains every run of the suite, evaluates them and writes the report.

    Every leaf run is validated first (flags, memory, data), so a bad value
    fails before the first run starts. Finished runs with the same settings
    are skipped, so an interrupted suite resumes where it stopped.

    Returns:
        The results.json content (see `keras_gpos.reporting.location`).
    """
    from keras_gpos.runs.directory import check_report_folder

    runs = config.run_configs()
    for _, run_config in runs:
        memory_plan(run_config).check()
    check_report_folder(config.output_dir)  # the suite's report goes beside its runs/
    splits = prepare_data(config)  # loaded (and digested) once: every run shares the data
    start = time.time()
    budget = RunBudget(config.budget_s)
    finished = []
    for index, (name, run_config) in enumerate(runs, 1):
        logging.info("suite run %d/%d: %s", index, len(runs), name)
        done = budget.run(name, name.rsplit("_s", 1)[0], is_finished(run_config.output_dir, config.overwrite),
                          lambda run_config=run_config: train_location(run_config, splits=splits))
        if not done:
            logging.info("%s not started: it would not end within --budget_s=%g", name, config.budget_s)
        else:
            finished.append(run_config)
    outcome = budget.outcome().to_dict()
    if not finished:
        logging.info("no run of the suite finished within --budget_s=%g; nothing to report", config.budget_s)
        return {"budget": outcome}
    rows = [evaluate_run(run_config.output_dir, repeats=config.eval_repeats, splits=splits) for run_config in finished]
    report = write_report(
        config.output_dir, rows,
        {"experiment": "channel_position", "suite_config": config.to_dict(),
         "suite_seconds": time.time() - start, **({"budget": outcome} if config.budget_s else {})},
    )
    logging.info("results table:\n%s", report.text)
    logging.info("results: %s, %s; plot: %s", report.json, report.markdown, report.plot)
    return report.payload
