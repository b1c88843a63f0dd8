"""The location evaluation records per-image outcomes, and its report judges them.

A location run is identified by its content: the data it read (a digest of the decoded arrays),
not their size; evaluate re-checks them, and runs of keras_gpos 0.2 are checked by what they recorded.
"""

import json

import numpy as np
import pytest

from keras_gpos.base.files import read_json
from keras_gpos.base.schema import SCHEMA_VERSION
from keras_gpos.experiments import location
from keras_gpos.experiments.location import (
    evaluate_run,
    evaluate_runs,
    grid_targets,
    train_location,
)
from keras_gpos.runs.directory import RunDirectoryError


def test_grid_targets_follow_the_exhaustive_placement():
    assert grid_targets("location", [7, 3], 4).tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert grid_targets("class", [7, 3], 4).tolist() == [7, 7, 7, 7, 3, 3, 3, 3]


def test_evaluate_run_records_correct_canvases_per_test_image(tiny_location_run, tmp_path):
    config, summary = tiny_location_run
    row = evaluate_run(config.output_dir, repeats=2)
    correct = np.asarray(row["per_image"]["correct"])
    assert len(correct) == row["test_images"] == 12 and row["per_image"]["trials"] == 4 * 2
    # Per-image outcomes add up to the accuracy; the model is deterministic, so training's test score too.
    assert correct.sum() / (12 * 8) == pytest.approx(row["accuracy"])
    assert row["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-5)
    assert row["majority_rate"] == pytest.approx(0.25) and row["chance_accuracy"] == pytest.approx(0.25)
    assert len(row["test_digest"]) == 16
    report = evaluate_runs([config.output_dir], tmp_path)
    entry = report.payload["summary"][0]
    assert report.payload["schema_version"] == SCHEMA_VERSION
    assert set(entry["verdicts"]) == {"location_above_chance"}
    assert entry["verdicts"]["location_above_chance"]["state"] in ("holds", "does_not_hold")
    assert "### What this run shows" in report.text


def _change_one_pixel(cifar, name="test_batch.bin"):
    """Same size, other content: one pixel byte of the first record."""
    path = cifar / name
    data = bytearray(path.read_bytes())
    data[1] = (data[1] + 1) % 256
    path.write_bytes(bytes(data))


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(location, "fit_run", refuse)


@pytest.mark.adversarial
def test_data_that_change_but_keep_their_size_are_noticed(tiny_run_once, tmp_path, monkeypatch):
    tiny = tiny_run_once.copy(tmp_path)
    _no_training(monkeypatch)
    assert train_location(tiny.config)["best_epoch"] == 1  # the same data: reused
    _change_one_pixel(tiny.cifar)
    with pytest.raises(RunDirectoryError, match=r"data\.content\.test\.sha256: [0-9a-f]{12}… -> [0-9a-f]{12}….*"
                                                 r"\(the data differ from those it was trained on\)"):
        train_location(tiny.config)  # a finished run is not reused
    (tiny.run / "run.json").unlink()
    with pytest.raises(RunDirectoryError, match="the data differ"):
        train_location(tiny.config)  # nor an interrupted one resumed


@pytest.mark.adversarial
def test_evaluate_checks_the_data_it_is_pointed_at(tiny_run_once, tmp_path):
    other = tiny_run_once.copy(tmp_path)
    _change_one_pixel(other.cifar)
    with pytest.raises(ValueError, match=rf"{tiny_run_once.run} was trained on other data than {other.cifar} holds "
                                         r"now \(content\.test\.sha256: [0-9a-f]{12}… -> [0-9a-f]{12}…\); point "
                                         r"--data_dir at its data, or pass --allow_other_data"):
        evaluate_run(tiny_run_once.run, data_dir=str(other.cifar))
    row = evaluate_run(tiny_run_once.run, data_dir=str(other.cifar), allow_other_data=True)
    assert row["data_check"] == "other"
    assert evaluate_run(tiny_run_once.run)["data_check"] == "content"
    from tests.conftest import write_cifar_binary

    write_cifar_binary(other.cifar / "test_batch.bin", [i % 10 for i in range(13)], seed=2)
    with pytest.raises(ValueError, match=r"; test_images: 12 -> 13\)"):
        evaluate_run(tiny_run_once.run, data_dir=str(other.cifar))


def test_a_0_2_run_is_reused_evaluated_and_not_resumed_by_its_recorded_sizes(tiny_run_once, tmp_path, monkeypatch,
                                                                            caplog):
    tiny = tiny_run_once.copy(tmp_path)
    stored = read_json(tiny.run / "fingerprint.json")
    data = {k: v for k, v in stored["data"].items() if k != "content"}
    (tiny.run / "fingerprint.json").write_text(json.dumps({"settings": stored["settings"], "data": data}))
    (tiny.run / "manifest.json").unlink()
    _no_training(monkeypatch)
    summary = train_location(tiny.config)  # reuse: settings and sizes match
    assert summary["test_accuracy"] == read_json(tiny.run / "run.json")["test_accuracy"]
    assert "keras_gpos 0.2, which identified its data by size only" in caplog.text
    row = evaluate_run(tiny.run)
    assert row["data_check"] == "sizes" and np.isfinite(row["accuracy"])
    (tiny.run / "run.json").rename(tmp_path / "run.json.saved")
    with pytest.raises(RunDirectoryError, match="unfinished run of keras_gpos 0.2"):
        train_location(tiny.config)


@pytest.mark.adversarial
def test_a_run_summary_of_another_structure_is_one_line_naming_it(tiny_run_once, tmp_path):
    tiny = tiny_run_once.copy(tmp_path)
    summary = read_json(tiny.run / "run.json")
    del summary["normalization"]
    (tiny.run / "run.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"run\.json is not a valid run summary: expected 'normalization'"):
        evaluate_run(tiny.run)
