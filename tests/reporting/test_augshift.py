"""AugShift reports average a run group over seeds of one setting only."""

import json

import pytest

from keras_gpos.reporting.augshift import write_report

pytestmark = pytest.mark.backend_agnostic


def _run(folder, seed, epochs, offsets=(0, 8)):
    folder.mkdir(parents=True)
    row = {"variant": "baseline", "consistency_weight": 0.0, "seed": seed, "group": "baseline", "epochs": epochs,
           "best_epoch": 1, "train_seconds": 1.0, "protocol": "p", "dataset": {"name": "embedded"},
           "test_accuracy": 0.5, "consistency": 0.7, "schema_version": 2, "experiment": "augshift",
           "accuracy_vs_shift": {"offsets": list(offsets), "accuracy": [0.5] * len(offsets)}}
    (folder / "run.json").write_text(json.dumps(row))
    settings = {"variant": "baseline", "consistency_weight": 0.0, "seed": seed, "epochs": epochs,
                "canvas_size": 40 + 8 * len(offsets)}
    fingerprint = {"format": 2, "settings": settings, "keras_backend": "tensorflow", "data": {"dataset": "embedded"}}
    (folder / "fingerprint.json").write_text(json.dumps(fingerprint))
    return folder


@pytest.mark.adversarial
def test_runs_of_one_group_with_other_settings_are_refused_naming_the_field(tmp_path):
    _run(tmp_path / "runs" / "baseline_seed0", 0, epochs=12)
    _run(tmp_path / "runs" / "baseline_seed1", 1, epochs=6, offsets=(0, 4, 8))  # also another sweep length
    with pytest.raises(ValueError, match=r"share the run group 'baseline' but differ in settings\.canvas_size: "
                                         r"56 -> 64; settings\.epochs: 12 -> 6"):
        write_report(tmp_path)
    _run(tmp_path / "other" / "baseline_seed1", 1, epochs=12)
    report = write_report(tmp_path / "report", [tmp_path / "runs" / "baseline_seed0", tmp_path / "other" /
                                                "baseline_seed1"])
    assert report.payload["summary"][0]["seeds"] == [0, 1]


@pytest.mark.adversarial
def test_an_augshift_run_summary_of_another_structure_is_one_line_naming_it(tmp_path):
    run = _run(tmp_path / "runs" / "baseline_seed0", 0, epochs=12)
    summary = json.loads((run / "run.json").read_text())
    del summary["consistency"]
    (run / "run.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"run\.json is not a valid AugShift run summary: expected a JSON object "
                                         r"with .*; it lacks 'consistency'"):
        write_report(tmp_path)
