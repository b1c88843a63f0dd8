"""Versions of the result files, and the explicit upgrade of older ones.

Schema 1 (keras_gpos 0.1) stored accuracies, consistency and probe scores in
percent and no experiment name; schema 2 stores fractions in [0, 1] and
records `experiment`, `keras_gpos_version` and `schema_version`. Readers call
`read_run_summary`, which converts a schema-1 `run.json` by its version (in
memory; the file is never rewritten), so a report never mixes units.
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


def upgrade_summary(summary, source="run.json"):
    """A schema-2 copy of a `run.json` dict (schema-1 percent values divided by 100)."""
    version = summary.get("schema_version", 1)
    if version == SCHEMA_VERSION:
        return summary
    if version != 1:
        raise ValueError(
            f"{source} has schema_version {version}; this keras_gpos reads 1..{SCHEMA_VERSION} "
            "(upgrade keras_gpos to read it)."
        )
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


def read_run_summary(run_dir):
    """The `run.json` of a finished run, as schema 2.

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
