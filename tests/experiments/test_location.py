"""The location evaluation records per-image outcomes, and its report judges them."""

import numpy as np
import pytest

from keras_gpos.base.schema import SCHEMA_VERSION
from keras_gpos.experiments.location import evaluate_run, evaluate_runs, grid_targets


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
