"""The experiment layer's structure: per-experiment flags, the registry,
logging, and reading runs of older schema versions (the import floors are
tests/test_architecture.py)."""

import ast
import json
import pathlib
import subprocess
import sys

import pytest

import keras_gpos
from keras_gpos.experiments import EXPERIMENTS, flags as experiment_flags
from keras_gpos.base.schema import SCHEMA_VERSION

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = pathlib.Path(keras_gpos.__file__).parent


def test_help_lists_the_experiments_and_each_experiments_own_flags():
    overview = experiment_flags.help_text()
    for name, experiment in EXPERIMENTS.items():
        assert name in overview and experiment.summary in overview
    augshift = experiment_flags.help_text("augshift")
    assert "--consistency_weights:" in augshift and "--grid_size:" not in augshift
    assert "(default: 64)" in augshift.split("--batch_size:")[1].splitlines()[1]  # AugShift's own default
    location = experiment_flags.help_text("location")
    assert "(default: 48)" in location.split("--batch_size:")[1].splitlines()[1]
    assert "--consistency_weights" not in location


def test_train_help_on_the_command_line_and_through_a_flagfile():
    result = subprocess.run([sys.executable, "train.py", "--flagfile=flags/augshift_cifar.cfg", "--help"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--consistency_weights:" in result.stdout and "--paddings:" not in result.stdout
    result = subprocess.run([sys.executable, "train.py", "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and all(name in result.stdout for name in EXPERIMENTS)


def test_a_flag_of_another_experiment_names_its_owner():
    with pytest.raises(ValueError, match=r"does not take --canvas_size \(a flag of augshift\)"):
        experiment_flags.parse(["train.py", "--experiment=location", "--canvas_size=40"])
    with pytest.raises(ValueError, match="Unknown experiment 'locaton'"):
        experiment_flags.parse(["train.py", "--experiment=locaton"])


def test_every_experiment_is_a_config_a_run_and_an_optional_evaluator():
    assert set(EXPERIMENTS) == {"location", "classification", "channel_position", "augshift",
                                "position_attack", "audit"}
    from keras_gpos.experiments import evaluator_for

    assert evaluator_for("classification").name == "location"
    assert evaluator_for("augshift").name == "augshift"
    assert evaluator_for("position_attack").name == "position_attack"  # judges claims over seeds
    with pytest.raises(ValueError, match="written by train.py"):
        evaluator_for("audit")


def test_the_library_logs_instead_of_printing():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, offenders


def test_schema_1_percent_runs_are_converted_explicitly(tmp_path):
    from keras_gpos.reporting.augshift import write_report

    base = {"variant": "baseline", "consistency_weight": 0.0, "seed": 0, "group": "baseline", "epochs": 1,
            "best_epoch": 1, "train_seconds": 1.0, "protocol": "p", "dataset": {"name": "x"},
            "accuracy_vs_shift": {"offsets": [0, 8], "accuracy": [40.0, 30.0]}}
    old = {**base, "test_accuracy": 40.0, "consistency": 70.0,
           "location_probe": {"test_accuracy": 90.0, "chance": 100 / 9}}
    new = {**base, "seed": 1, "test_accuracy": 0.42, "consistency": 0.72,
           "accuracy_vs_shift": {"offsets": [0, 8], "accuracy": [0.4, 0.3]},
           "location_probe": {"test_accuracy": 0.88}, "schema_version": 2, "experiment": "augshift"}
    for name, record in (("old", old), ("new", new)):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "run.json").write_text(json.dumps(record))
    report = write_report(tmp_path)
    entry = report.payload["summary"][0]
    assert entry["test_accuracy"]["per_seed"] == [pytest.approx(0.40), pytest.approx(0.42)]
    assert entry["location_probe"]["per_seed"] == [pytest.approx(0.90), pytest.approx(0.88)]
    upgraded = [row for row in report.payload["runs"] if row["seed"] == 0]
    assert upgraded[0]["upgraded_from_schema"] == 1 and report.payload["schema_version"] == SCHEMA_VERSION
    assert "41.0 ± 1.4" in report.text  # percent in the table, from fractions
    (tmp_path / "runs" / "new" / "run.json").write_text(json.dumps({**new, "schema_version": 9}))
    with pytest.raises(ValueError, match="schema_version 9"):
        write_report(tmp_path)


def test_a_run_of_keras_gpos_0_1_is_reused_when_its_settings_match(tmp_path):
    from keras_gpos.experiments.location import LocationConfig, train_location

    config = LocationConfig(output_dir=str(tmp_path / "run"), dataset="embedded", embedded_train_size=64,
                            embedded_test_size=8, grid_size=2, depth=10, width=4, epochs=1, batch_size=16,
                            verbose=0)
    summary = train_location(config)
    run = tmp_path / "run"
    # Make it look like 0.1 wrote it: no fingerprint, percent values, no schema.
    (run / "fingerprint.json").unlink()
    legacy = {k: v for k, v in summary.items() if k not in ("schema_version", "experiment", "keras_gpos_version")}
    legacy.update(test_accuracy=100 * summary["test_accuracy"], val_accuracy=100 * summary["val_accuracy"],
                  chance_accuracy=25.0)
    record = dict(summary["config"])
    del record["pooled_batchnorm"]  # a field 0.1 did not have
    (run / "config.json").write_text(json.dumps(record))
    (run / "run.json").write_text(json.dumps(legacy))
    again = train_location(config)
    assert again["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    assert again["chance_accuracy"] == pytest.approx(0.25) and again["upgraded_from_schema"] == 1
    from keras_gpos.runs.directory import RunDirectoryError

    with pytest.raises(RunDirectoryError, match="width: 4 -> 6"):
        train_location(config.replace(width=6))
