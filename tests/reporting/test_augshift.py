"""The AugShift report's verdict, "more consistent than the baseline", on constructed per-image outcomes.

AugShift reports average a run group over seeds of one setting only.
"""

import json
import pathlib

import numpy as np
import pytest

from keras_gpos.base.schema import SCHEMA_VERSION
from keras_gpos.reporting.augshift import markdown, summarize, write_report
from keras_gpos.reporting.results import render_file

IMAGES, REPEATS = 80, 5


def _run(variant, seed, agree_rate, images=IMAGES, per_image=True, probe_chance=1 / 9):
    agree = np.random.default_rng([seed, int(100 * agree_rate)]).binomial(REPEATS, agree_rate, size=images)
    row = {"variant": variant, "group": variant if variant == "baseline" else f"{variant}_lam1_mse",
           "consistency_weight": 0.0 if variant == "baseline" else 1.0, "seed": seed, "epochs": 4,
           "test_accuracy": 0.5, "consistency": float(agree.sum() / (REPEATS * images)),
           "location_probe": {"test_accuracy": 0.3, "chance": probe_chance, "uniform_chance": 1 / 9},
           "view_latent_distance": 0.1, "train_seconds": 10.0, "best_epoch": 3,
           "accuracy_vs_shift": {"offsets": [0, 8], "accuracy": [0.5, 0.5]},
           "protocol": "canvas 48", "dataset": {"name": "embedded"}}
    if per_image:
        row["per_image"] = {"agree": agree.tolist(), "agree_trials": REPEATS, "images": images,
                            "eval_seed": 1234, "test_digest": "d0"}
    return row


def _verdict(rows, group="augshift_lam1_mse"):
    """The group's "more consistent than the baseline" verdict, with the summary and rule it came from."""
    summary, rule = summarize(rows)
    by_group = {e["group"]: e.get("verdicts", {}) for e in summary}
    return by_group[group]["more_consistent_than_baseline"], summary, rule


@pytest.mark.backend_agnostic
def test_augshift_more_consistent_in_every_seed_holds():
    rows = [_run(v, s, rate) for s in (0, 1) for v, rate in (("baseline", 0.6), ("augshift", 0.9))]
    verdict, summary, rule = _verdict(rows)
    assert verdict["state"] == "holds" and verdict["seeds"] == {"holds_in": 2, "of": 2, "required": 2}
    assert verdict["estimate"] == pytest.approx(0.3, abs=0.05) and rule["family"] == 1
    assert "augshift_lam1_mse is more consistent than the baseline: holds" in markdown(summary, rows, rule)


@pytest.mark.backend_agnostic
def test_two_identical_models_are_not_more_consistent():
    rows = [_run("baseline", s, 0.7) for s in (0, 1)]
    rows += [{**r, "variant": "augshift", "group": "augshift_lam1_mse"} for r in rows]
    verdict, _, _ = _verdict(rows)
    assert verdict["state"] == "does_not_hold" and verdict["estimate"] == 0.0


@pytest.mark.backend_agnostic
def test_one_seed_cannot_judge_a_training_method():
    verdict, _, _ = _verdict([_run("baseline", 0, 0.6), _run("augshift", 0, 0.9)])
    assert verdict["state"] == "cannot_be_judged" and verdict["reason"] == "one_seed"


@pytest.mark.backend_agnostic
def test_too_few_images_cannot_be_judged():
    rows = [_run(v, s, rate, images=6) for s in (0, 1) for v, rate in (("baseline", 0.6), ("augshift", 0.9))]
    assert _verdict(rows)[0]["reason"] == "too_few_images"


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_runs_without_per_image_outcomes_cannot_be_judged_and_chance_comes_from_the_runs():
    rows = [_run(v, s, rate, per_image=False, probe_chance=0.125) for s in (0, 1)
            for v, rate in (("baseline", 0.6), ("augshift", 0.9))]
    verdict, summary, rule = _verdict(rows)
    assert verdict["reason"] == "no_per_image_outcomes"
    text = markdown(summary, rows, rule)
    assert "chance 12.5% (held-out majority rate; 1/positions 11.1%)" in text and "chance 11.1%" not in text


@pytest.mark.backend_agnostic
def test_the_committed_augshift_report_renders_cannot_be_judged():
    path = pathlib.Path(__file__).parents[2] / "docs" / "results" / "augshift_cifar" / "results.json"
    text = render_file(path)
    assert "is more consistent than the baseline: cannot be judged here (no per-image outcomes)" in text


def _run_summary(folder, seed, epochs, offsets=(0, 8)):
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


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_runs_of_one_group_with_other_settings_are_refused_naming_the_field(tmp_path):
    _run_summary(tmp_path / "runs" / "baseline_seed0", 0, epochs=12)
    _run_summary(tmp_path / "runs" / "baseline_seed1", 1, epochs=6, offsets=(0, 4, 8))  # also another sweep length
    with pytest.raises(ValueError, match=r"share the run group 'baseline' but differ in settings\.canvas_size: "
                                         r"56 -> 64; settings\.epochs: 12 -> 6"):
        write_report(tmp_path)
    _run_summary(tmp_path / "other" / "baseline_seed1", 1, epochs=12)
    report = write_report(tmp_path / "report", [tmp_path / "runs" / "baseline_seed0", tmp_path / "other" /
                                                "baseline_seed1"])
    assert report.payload["summary"][0]["seeds"] == [0, 1]


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_an_augshift_run_summary_of_another_structure_is_one_line_naming_it(tmp_path):
    run = _run_summary(tmp_path / "runs" / "baseline_seed0", 0, epochs=12)
    summary = json.loads((run / "run.json").read_text())
    del summary["consistency"]
    (run / "run.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"run\.json is not a valid AugShift run summary: expected a JSON object "
                                         r"with .*; it lacks 'consistency'"):
        write_report(tmp_path)


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
