"""The AugShift report's verdict, "more consistent than the baseline", on constructed per-image outcomes."""

import pathlib

import numpy as np
import pytest

from keras_gpos.reporting.augshift import markdown, summarize
from keras_gpos.reporting.results import render_file

pytestmark = pytest.mark.backend_agnostic

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


def test_augshift_more_consistent_in_every_seed_holds():
    rows = [_run(v, s, rate) for s in (0, 1) for v, rate in (("baseline", 0.6), ("augshift", 0.9))]
    verdict, summary, rule = _verdict(rows)
    assert verdict["state"] == "holds" and verdict["seeds"] == {"holds_in": 2, "of": 2, "required": 2}
    assert verdict["estimate"] == pytest.approx(0.3, abs=0.05) and rule["family"] == 1
    assert "augshift_lam1_mse is more consistent than the baseline: holds" in markdown(summary, rows, rule)


def test_two_identical_models_are_not_more_consistent():
    rows = [_run("baseline", s, 0.7) for s in (0, 1)]
    rows += [{**r, "variant": "augshift", "group": "augshift_lam1_mse"} for r in rows]
    verdict, _, _ = _verdict(rows)
    assert verdict["state"] == "does_not_hold" and verdict["estimate"] == 0.0


def test_one_seed_cannot_judge_a_training_method():
    verdict, _, _ = _verdict([_run("baseline", 0, 0.6), _run("augshift", 0, 0.9)])
    assert verdict["state"] == "cannot_be_judged" and verdict["reason"] == "one_seed"


def test_too_few_images_cannot_be_judged():
    rows = [_run(v, s, rate, images=6) for s in (0, 1) for v, rate in (("baseline", 0.6), ("augshift", 0.9))]
    assert _verdict(rows)[0]["reason"] == "too_few_images"


@pytest.mark.adversarial
def test_runs_without_per_image_outcomes_cannot_be_judged_and_chance_comes_from_the_runs():
    rows = [_run(v, s, rate, per_image=False, probe_chance=0.125) for s in (0, 1)
            for v, rate in (("baseline", 0.6), ("augshift", 0.9))]
    verdict, summary, rule = _verdict(rows)
    assert verdict["reason"] == "no_per_image_outcomes"
    text = markdown(summary, rows, rule)
    assert "chance 12.5% (held-out majority rate; 1/positions 11.1%)" in text and "chance 11.1%" not in text


def test_the_committed_augshift_report_renders_cannot_be_judged():
    path = pathlib.Path(__file__).parents[2] / "docs" / "results" / "augshift_cifar" / "results.json"
    text = render_file(path)
    assert "is more consistent than the baseline: cannot be judged here (no per-image outcomes)" in text
