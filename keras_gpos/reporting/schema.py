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


def _version(record, source, rates):
    """`record`'s schema_version; without one, 1 only where keras_gpos 0.1 (percent, no version) must have written it.

    Args:
        rates: the record's accuracy-like numbers (percent in schema 1, fractions since).

    Raises:
        ValueError: naming the file, when the schema cannot be told: it records what only schema 2 and
            later write, or every rate is in [0, 1] (fractions and percent alike).
    """
    if "schema_version" in record:
        return record["schema_version"]
    later = [key for key in ("experiment", "keras_gpos_version") if key in record]
    if later:
        raise ValueError(f"{source} has no schema_version but records {later[0]!r}, which only schema 2 and later "
                         "write (fractions; keras_gpos 0.1 wrote percent and no version): restore its schema_version.")
    if rates and all(0 <= rate <= 1 for rate in rates):
        raise ValueError(f"{source} has no schema_version and its rates ({', '.join(f'{r:g}' for r in rates[:3])}) "
                         "read as fractions and as percent alike: add schema_version (1: percent, as keras_gpos 0.1 "
                         "wrote; 2 or later: fractions).")
    return 1


def _rates(record, fields):
    """The numbers of `fields` in `record` (a dotted name reads inside a dict; a list's numbers all count)."""
    found = []
    for field in fields:
        value = record
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                found.append((field, item))
    return found


def check_rates(record, fields, source):
    """Refuses a rate outside [0, 1] (a hand-edited 41.2 would render as 4120%), naming the field."""
    for field, value in _rates(record, fields):
        if not 0 <= value <= 1:
            raise ValueError(f"{source}: {field} is {value:g}, outside [0, 1] (schema 2 and later store "
                             "fractions, not percent).")


# What holds a rate in [0, 1], by experiment, in a run.json and in a results.json row.
_RATE_FIELDS = {
    "location": ("test_accuracy", "val_accuracy", "chance_accuracy", "accuracy", "accuracy_repeats", "majority_rate"),
    "augshift": ("test_accuracy", "consistency", "location_probe.test_accuracy", "accuracy_vs_shift.accuracy"),
}
_RATE_FIELDS["classification"] = _RATE_FIELDS["channel_position"] = _RATE_FIELDS["location"]


def upgrade_summary(summary, source="run.json"):
    """A current-schema copy of a `run.json` dict (schema-1 percent values divided by 100).

    Schema 2 differs from 3 only by what it lacks (per-image outcomes), so
    it is marked `upgraded_from_schema: 2` and otherwise kept.
    """
    experiment = summary.get("experiment") or _legacy_experiment(summary)
    version = _version(summary, source, [v for _, v in _rates(summary, _PERCENT_FIELDS.get(experiment, ()))])
    if version == SCHEMA_VERSION:
        check_rates(summary, _RATE_FIELDS.get(experiment, ()), source)
        return summary
    _check_version(version, source)
    if version == 2:
        check_rates(summary, _RATE_FIELDS.get(experiment, ()), source)
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
    check_rates(upgraded, _RATE_FIELDS.get(experiment, ()), f"{source} (schema 1, read as percent)")
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
    rows = payload.get("runs") or []
    row_rates = [v for row in rows if isinstance(row, dict)
                 for _, v in _rates(row, ("accuracy", "chance_accuracy", "test_accuracy", "consistency"))]
    version = _version(payload, source, row_rates)
    _check_version(version, source)
    upgraded = dict(payload)
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
    if experiment in ("location", "classification", "channel_position"):
        for index, row in enumerate(upgraded.get("runs") or []):
            check_rates(row, _RATE_FIELDS[experiment], f"{source}: run {index}")
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
