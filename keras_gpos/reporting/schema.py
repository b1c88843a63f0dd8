"""Versions of the result files, and the explicit upgrade of older ones.

Schema 1 (keras_gpos 0.1) stored accuracies, consistency and probe scores in
percent and no experiment name; schema 2 stores fractions in [0, 1] and
records `experiment`, `keras_gpos_version` and `schema_version`; schema 3 adds
per-image outcomes and verdicts (`keras_gpos.base.schema`). Readers call
`read_run_summary`, which converts an older `run.json` by its version (in
memory; the file is never rewritten), so a report never mixes units; a
schema-1 or -2 file has no per-image outcomes, so the verdicts of a report
built from it read "cannot be judged (no per-image outcomes)".
`upgrade_results` does the same for a whole results.json.
"""

import os

from keras_gpos.base.files import read_record
from keras_gpos.base.schema import SCHEMA_VERSION

# Percent-valued fields of schema-1 run.json files, by experiment.
_PERCENT_FIELDS = {
    "location": ("test_accuracy", "val_accuracy", "chance_accuracy"),
    "classification": ("test_accuracy", "val_accuracy", "chance_accuracy"),
    "augshift": ("test_accuracy", "consistency"),
}


def _legacy_experiment(summary):
    if "consistency" in summary:
        return "augshift"
    task = (summary.get("config") or {}).get("task") or summary.get("task")
    return "classification" if task == "class" else "location"


def _check_version(version, source):
    if version not in range(1, SCHEMA_VERSION + 1):
        raise ValueError(
            f"{source} has schema_version {version}; this keras_gpos reads 1..{SCHEMA_VERSION} "
            "(upgrade keras_gpos to read it)."
        )


def upgrade_summary(summary, source="run.json"):
    """A current-schema copy of a `run.json` dict (schema-1 percent values divided by 100).

    Schema 2 differs from 3 only by what it lacks (per-image outcomes), so
    it is marked `upgraded_from_schema: 2` and otherwise kept.
    """
    version = summary.get("schema_version", 1)
    if version == SCHEMA_VERSION:
        return summary
    _check_version(version, source)
    if version == 2:
        return {**summary, "schema_version": SCHEMA_VERSION, "upgraded_from_schema": 2}
    upgraded = dict(summary)
    experiment = upgraded.get("experiment") or _legacy_experiment(summary)
    upgraded["experiment"] = experiment
    for key in _PERCENT_FIELDS.get(experiment, ()):
        if isinstance(upgraded.get(key), (int, float)):
            upgraded[key] = upgraded[key] / 100.0
    if experiment == "augshift":
        probe = dict(upgraded.get("location_probe") or {})
        for key in ("test_accuracy", "train_accuracy", "chance"):
            if isinstance(probe.get(key), (int, float)):
                probe[key] = probe[key] / 100.0
        if probe:
            upgraded["location_probe"] = probe
        sweep = upgraded.get("accuracy_vs_shift")
        if isinstance(sweep, dict) and "accuracy" in sweep:
            upgraded["accuracy_vs_shift"] = {**sweep, "accuracy": [v / 100.0 for v in sweep["accuracy"]]}
    upgraded["schema_version"] = SCHEMA_VERSION
    upgraded["upgraded_from_schema"] = 1
    return upgraded


# Percent-valued fields of the rows of a schema-1 location results.json.
_PERCENT_ROW_FIELDS = ("accuracy", "chance_accuracy")


def upgrade_results(payload, source="results.json"):
    """A current-schema copy of a results.json dict, whatever its experiment.

    Location rows of schema 1 are converted from percent; AugShift rows go
    through `upgrade_summary`. Nothing is invented: rows and audits without
    per-image outcomes stay without them, and the reports built from them
    say their claims cannot be judged.

    Raises:
        ValueError: a schema this version cannot read, or a position-attack
            file of keras_gpos 0.1 (no comparison to judge).
    """
    version = payload.get("schema_version", 1)
    _check_version(version, source)
    upgraded = dict(payload)
    rows = payload.get("runs") or []
    experiment = payload.get("experiment")
    if experiment is None:
        if "attacks" in payload:
            raise ValueError(f"{source} was written by keras_gpos 0.1 (no comparison); re-attack the model "
                             "with --model_path to write a current one.")
        experiment = "augshift" if rows and "consistency" in rows[0] else "location"
        upgraded["experiment"] = experiment
    if experiment == "augshift":
        upgraded["runs"] = [upgrade_summary(r, f"{source}: run {i}") for i, r in enumerate(rows)]
    elif experiment == "position_attack":
        # An attack's claims rest on random channel sets, which older files kept: judge them now.
        from keras_gpos.attacks.comparison import judge_comparison

        def judge(record):
            comparison = record.get("comparison")
            if comparison is None or "verdict_rule" in comparison:
                return record
            return {**record, "comparison": judge_comparison(comparison)}

        upgraded = judge(upgraded)
        if rows:
            upgraded["runs"] = [judge(r) for r in rows]
    elif version == 1 and experiment in ("location", "classification", "channel_position"):
        def fractions(row):
            converted = {k: row[k] / 100.0 for k in _PERCENT_ROW_FIELDS if isinstance(row.get(k), (int, float))}
            return {**row, **converted, "accuracy_repeats": [v / 100.0 for v in row.get("accuracy_repeats", [])]}

        upgraded["runs"] = [fractions(r) for r in rows]
    if version != SCHEMA_VERSION:
        upgraded.update(schema_version=SCHEMA_VERSION, upgraded_from_schema=version)
    return upgraded


def read_run_summary(run_dir):
    """The `run.json` of a finished run, in the current schema.

    Raises:
        ValueError: no run.json (not a finished run), corrupt JSON, or a
            schema this version cannot read.
    """
    path = os.path.join(run_dir, "run.json")
    if not os.path.isdir(run_dir):
        raise ValueError(f"{run_dir} is not a run directory (it is a file or does not exist).")
    if not os.path.exists(path):
        raise ValueError(f"{run_dir} holds no finished run (no run.json).")
    summary = read_record(path, "run summary", optional={"schema_version": int, "experiment": str,
                                                         "config": dict})
    return upgrade_summary(summary, path)


# What an AugShift report reads of each run.json.
AUGSHIFT_FIELDS = {"group": str, "variant": str, "seed": int, "consistency_weight": (int, float), "epochs": int,
                   "test_accuracy": (int, float), "consistency": (int, float), "train_seconds": (int, float),
                   "accuracy_vs_shift": dict}


def read_augshift_summary(run_dir):
    """An AugShift run's `run.json` (schema 2), with the fields its report reads checked."""
    path = os.path.join(run_dir, "run.json")
    summary = read_run_summary(run_dir)
    read_record(path, "AugShift run summary", AUGSHIFT_FIELDS)
    sweep = summary["accuracy_vs_shift"]
    if not (isinstance(sweep.get("offsets"), list) and isinstance(sweep.get("accuracy"), list)
            and len(sweep["offsets"]) == len(sweep["accuracy"])):
        raise ValueError(f"{path} is not a valid AugShift run summary: expected 'accuracy_vs_shift' to hold "
                         "'offsets' and 'accuracy' lists of one length.")
    return summary
