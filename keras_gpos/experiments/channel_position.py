"""The paper's central experiment as one suite of runs.

For each padding mode, grid size and seed it trains

* `gapnet` on location,
* `fc` (GAP + dense) on location and on object class,
* `fc+permute@pooled` (PermuteNet) on location and on object class,

then evaluates every saved model and writes one results table. Finished runs
are skipped, so an interrupted suite resumes where it stopped.

With `--audit` (the quickstart's flagfile turns it on) the suite then audits
its unpermuted fc networks (`keras_gpos.audit.position_audit` on the first
`--audit_images` test images: linear probes for location and class on the
pooled vector, ordered, sorted and summed) and its report leads with where
position lives (`keras_gpos.reporting.where_position_lives`), every verdict
in one Holm family. Each audit is kept in `<output_dir>/audit/<run>.json`
with what determined it (the model file's digest, the test images, the
settings); a rerun reuses it while those match, so a finished suite neither
retrains nor re-audits, and an interrupted one audits only what is missing.
"""

import dataclasses
import pathlib
import time

from absl import logging

from keras_gpos.experiments.config import option
from keras_gpos.experiments.sweeps import SweepAxis, check_twins, expand
from keras_gpos.experiments.location import LocationConfig, evaluate_run, memory_plan, prepare_data, train_location
from keras_gpos.layers.padding import check_padding_mode
from keras_gpos.models.classifier import permute_positions
from keras_gpos.reporting.location import write_report
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
# What a kept audit records of how it was made; another format is audited again.
AUDIT_FORMAT = 1
AUDIT_DEFAULTS = {"audit_images": 256, "audit_layers": 1}


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
    audit: bool = option(False, "After scoring, audit the unpermuted fc runs (linear probes for location and "
                                "class on their pooled vector: ordered, sorted, summed) and lead the report with "
                                "where position lives; audits are kept in <output_dir>/audit/ and reused.")
    audit_images: int = option(AUDIT_DEFAULTS["audit_images"], "Test images --audit reads (half fit the probes, "
                                                               "half are held out).")
    audit_layers: int = option(AUDIT_DEFAULTS["audit_layers"], "Stage ends --audit probes per network (1: the "
                                                               "pooled vector the head reads).")

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
        for name, default in AUDIT_DEFAULTS.items():
            check_positive_int(getattr(self, name), name)
            if not self.audit and getattr(self, name) != default:
                raise ValueError(f"{name}={getattr(self, name)} takes effect with --audit only; add --audit or "
                                 f"remove --{name}.")
        if self.audit and not any(VARIANTS[v][:2] == ("fc", "") for v in self.variants):
            raise ValueError(f"--audit audits the unpermuted fc runs (fc_location, fc_class); variants "
                             f"{list(self.variants)} hold none: add one or remove --audit.")

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
    for index, (name, run_config) in enumerate(runs, 1):
        logging.info("suite run %d/%d: %s", index, len(runs), name)
        train_location(run_config, splits=splits)
    rows = [evaluate_run(run_config.output_dir, repeats=config.eval_repeats, splits=splits) for _, run_config in runs]
    audits = audit_suite(config, runs, splits) if config.audit else None
    budget = f"{config.epochs} epoch{'s' * (config.epochs != 1)} of {len(splits.train):,} training images"
    report = write_report(
        config.output_dir, rows,
        {"experiment": "channel_position", "suite_config": config.to_dict(),
         "suite_seconds": time.time() - start},
        audits=audits, budget=budget,
    )
    logging.info("results table:\n%s", report.text)
    logging.info("results: %s, %s; plot: %s", report.json, report.markdown, report.plot)
    return report.payload


def audited_runs(runs):
    """The runs `--audit` audits: the unpermuted fc networks (the references PermuteNet is compared with)."""
    return [(name, run_config) for name, run_config in runs if run_config.head == "fc" and not run_config.permute_at]


def _audit_settings(config, run_config):
    """The `AuditConfig` of one run's audit: the first `audit_images` test images on the run's own grid."""
    from keras_gpos.experiments.audit import AuditConfig
    from keras_gpos.runs.directory import SUITE_AUDITS

    return AuditConfig(
        output_dir=str(pathlib.Path(config.output_dir) / SUITE_AUDITS), models=(run_config.output_dir,),
        dataset=config.dataset, images=config.audit_images, grid_size=max(2, run_config.grid_size),
        max_layers=config.audit_layers, probe_images=config.audit_images, seed=0, verbose=min(config.verbose, 1))


def _audit_key(settings, run_dir, test):
    """What determines an audit: the model file, the images, the settings, the backend and the format."""
    import keras

    from keras_gpos.base.files import file_digest
    from keras_gpos.base.schema import SCHEMA_VERSION

    from keras_gpos.base.records import normal

    fields = {k: v for k, v in settings.to_dict().items() if k not in ("output_dir", "models", "verbose")}
    return normal({"format": AUDIT_FORMAT, "schema_version": SCHEMA_VERSION, "keras_backend": keras.config.backend(),
            "model": file_digest(pathlib.Path(run_dir) / "model.keras"), "test_images": test.digest(),
            "settings": fields})


def _kept_audit(path, key):
    """The audit kept at `path` when it was made as `key` says, else None (a file not ours is an error)."""
    from keras_gpos.base.files import read_json

    if not path.exists():
        return None
    record = read_json(path)
    if not (isinstance(record, dict) and {"key", "audit"} <= set(record)):
        raise ValueError(f"{path} is not an audit this suite wrote (expected 'key' and 'audit'); move it or pick "
                         "another --output_dir.")
    if record["key"] != key:
        logging.info("%s was made from another model or other settings; auditing again", path)
        return None
    return record["audit"]


def audit_suite(config, runs, splits):
    """Audits the suite's unpermuted fc runs, reusing each audit kept in `<output_dir>/audit/` that still matches.

    Returns:
        The audit dicts, each with its `run` (name, variant, task, model,
        padding, grid_size, seed): the report's lead reads them.
    """
    from keras_gpos.base.files import write_json
    from keras_gpos.experiments.audit import audit_run_directory

    test = splits.test.head(config.audit_images)
    audits = []
    start = time.time()
    for name, run_config in audited_runs(runs):
        settings = _audit_settings(config, run_config)
        path = pathlib.Path(settings.output_dir) / f"{name}.json"
        key = _audit_key(settings, run_config.output_dir, test)
        audit = _kept_audit(path, key)
        if audit is None:
            audit = audit_run_directory(settings, run_config.output_dir, test.images, test.labels)
            write_json(path, {"key": key, "audit": audit})
        else:
            logging.info("%s: kept audit reused (same model, images and settings)", name)
        audits.append({**audit, "run": {
            "name": name, "variant": run_config.variant, "task": run_config.task,
            "model": f"{run_config.arch}{run_config.depth}-w{run_config.width}", "padding": run_config.padding,
            "grid_size": run_config.grid_size, "seed": run_config.seed}})
    logging.info("audit of %d run(s): %.0fs", len(audits), time.time() - start)
    return audits
