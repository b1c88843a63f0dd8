"""The location report's verdicts on constructed per-image outcomes: one test per state."""

import json
import pathlib

import numpy as np
import pytest

from keras_gpos.reporting.location import figure, markdown, summarize
from keras_gpos.reporting.results import render_file

pytestmark = pytest.mark.backend_agnostic

IMAGES = 60
CHANCE = {"location": 1 / 9, "class": 0.1}


def _row(variant, task, rate, seed=0, images=IMAGES, digest="d0"):
    correct = np.random.default_rng([seed, int(1000 * rate), len(variant)]).binomial(9, rate, size=images)
    return {"model": "resnet10-w16", "variant": variant, "padding": "zero", "grid_size": 3, "task": task,
            "seed": seed, "accuracy": float(correct.sum() / (9 * images)), "chance_accuracy": CHANCE[task],
            "majority_rate": CHANCE[task], "per_image": {"correct": correct.tolist(), "trials": 9},
            "test_images": images, "test_digest": digest}


def _suite(fc_location, perm_location, fc_class, perm_class, seeds=(0,), **kwargs):
    rows = []
    for seed in seeds:
        rows += [_row("fc", "location", fc_location, seed, **kwargs),
                 _row("fc+permute@pooled", "location", perm_location, seed, **kwargs),
                 _row("fc", "class", fc_class, seed, **kwargs),
                 _row("fc+permute@pooled", "class", perm_class, seed, **kwargs)]
    return rows


def _thesis(rows):
    summary, rule = summarize(rows)
    permuted = next(e for e in summary if e["variant"] == "fc+permute@pooled")
    return permuted["verdicts"]["class_keeps_more_than_location"], summary, rule


def test_the_papers_thesis_holds_where_location_is_lost_and_the_class_kept():
    verdict, summary, rule = _thesis(_suite(1.0, 1 / 9, 0.8, 0.75))
    assert verdict["state"] == "holds" and verdict["estimate"] > 0.7
    permuted = next(e for e in summary if e["variant"] == "fc+permute@pooled")
    assert permuted["verdicts"]["location_above_chance"]["state"] == "does_not_hold"
    assert permuted["verdicts"]["class_above_chance"]["state"] == "holds"
    low, high = permuted["retained_interval"]["class"]
    assert low < permuted["retained"]["class"] < high
    assert permuted["verdicts"]["location_lost_to_permutation"]["state"] == "holds"
    assert rule["family"] == 7
    text = markdown(summary, rule)
    assert "The paper's claim agrees with this run." in text and "The paper's thesis" not in text


def test_a_permuted_model_at_chance_on_both_tasks_cannot_test_the_thesis():
    verdict, _, _ = _thesis(_suite(1.0, 1 / 9, 0.6, 0.1))
    assert verdict["state"] == "cannot_be_judged" and verdict["reason"] == "model_at_chance"


def test_a_reference_at_chance_leaves_no_share_to_keep():
    verdict, summary, _ = _thesis(_suite(1.0, 0.5, 0.1, 0.1))
    assert verdict["state"] == "cannot_be_judged" and verdict["reason"] == "reference_at_chance"
    assert "This run cannot test the paper's claim." in markdown(summary)


def test_two_identical_models_keep_everything_on_both_tasks():
    rows = _suite(0.9, 0.9, 0.7, 0.7)
    for row in rows:  # the permuted model answers exactly as the unpermuted one, image by image
        if row["variant"] != "fc":
            twin = next(r for r in rows if r["variant"] == "fc" and r["task"] == row["task"])
            row.update(per_image=twin["per_image"], accuracy=twin["accuracy"])
    verdict, summary, _ = _thesis(rows)
    assert verdict["state"] == "does_not_hold" and verdict["estimate"] == 0.0
    permuted = next(e for e in summary if e["variant"] == "fc+permute@pooled")
    assert permuted["verdicts"]["location_lost_to_permutation"]["estimate"] == 0.0
    assert permuted["verdicts"]["location_lost_to_permutation"]["state"] == "does_not_hold"


def test_too_few_images_cannot_be_judged():
    verdict, summary, _ = _thesis(_suite(1.0, 1 / 9, 0.8, 0.75, images=5))
    assert verdict["reason"] == "too_few_images"
    assert {v["reason"] for e in summary for v in e["verdicts"].values()} == {"too_few_images"}


def test_different_test_images_cannot_be_paired():
    rows = _suite(1.0, 1 / 9, 0.8, 0.75)
    rows[1]["test_digest"] = "another"
    verdict, _, _ = _thesis(rows)
    assert verdict["reason"] == "different_images"


def test_over_seeds_the_thesis_holds_only_where_every_seed_agrees():
    rows = _suite(1.0, 1 / 9, 0.8, 0.75, seeds=(0, 1))
    verdict, _, _ = _thesis(rows)
    assert verdict["state"] == "holds" and verdict["seeds"] == {"holds_in": 2, "of": 2, "required": 2}
    # Seed 1's PermuteNet keeps all of location and half the class: that seed disagrees.
    rows[5] = _row("fc+permute@pooled", "location", 1.0, seed=1)
    rows[7] = _row("fc+permute@pooled", "class", 0.45, seed=1)
    verdict, _, _ = _thesis(rows)
    assert verdict["state"] == "does_not_hold" and verdict["seeds"]["holds_in"] == 1


def test_a_committed_long_run_renders_cannot_be_judged_instead_of_a_fixed_thesis():
    # The quickstart's report is regenerated with per-image outcomes (issue 27); a long run's is not.
    path = pathlib.Path(__file__).parents[2] / "docs" / "results" / "permutenet_long_embedded" / "results.json"
    assert "per_image" not in json.loads(path.read_text())["runs"][0]  # written before schema 3
    text = render_file(path)
    assert "cannot be judged here (no per-image outcomes)" in text
    assert "The paper's thesis" not in text and "The paper's claim agrees" not in text


# -- the figure (issue 30, pictures) ------------------------------------------

def _figure(rows):
    summary, _ = summarize(rows)
    return figure(summary)


def _close(fig):
    import matplotlib.pyplot as plt

    plt.close(fig)


def _whiskers(ax):
    from matplotlib.container import ErrorbarContainer

    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_one_seed_draws_no_whisker_and_two_seeds_do():
    one = _figure(_suite(1.0, 0.3, 0.6, 0.4))
    assert not [w for ax in one.axes for w in _whiskers(ax)]
    two = _figure(_suite(1.0, 0.3, 0.6, 0.4, seeds=(0, 1)))
    assert len(_whiskers(two.axes[0])) == 4  # fc and PermuteNet, each on both tasks
    assert "whiskers: std over seeds" in two.axes[0].get_title() and "whiskers" not in one.axes[0].get_title()
    _close(one)
    _close(two)


def test_every_label_sits_under_its_own_bars():
    # GAPNet is trained on location only: its one bar is centred on its label, not in the location slot.
    rows = _suite(1.0, 0.3, 0.6, 0.4)[:3] + [_row("gapnet", "location", 1.0)]  # PermuteNet: location only
    fig = _figure(rows)
    for ax in fig.axes:
        centres = {}
        for bar in ax.patches:
            centre = bar.get_x() + bar.get_width() / 2
            centres.setdefault(round(centre), []).append(centre)
        ticks = list(ax.get_xticks())
        assert sorted(centres) == ticks, (ax.get_title(), centres, ticks)
        for tick, members in centres.items():
            assert abs(np.mean(members) - tick) < 1e-9, (ax.get_title(), tick, members)
    _close(fig)


def test_the_legends_cover_no_bar_and_no_label_and_the_labels_do_not_overlap():
    # Permutations that keep nearly everything fill the kept panel to 100%: no corner inside it is free.
    kept_all = [_row(f"fc+permute@stage{stage}", task, rate) for stage in (1, 2)
                for task, rate in (("location", 1.0), ("class", 0.6))]
    fig = _figure(_suite(1.0, 1.0, 0.6, 0.6) + kept_all + [_row("gapnet", "location", 1.0)])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert len(fig.axes) == 2
    for ax in fig.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        labels = [label.get_window_extent(renderer) for label in ax.get_xticklabels()]
        drawn = [bar.get_window_extent(renderer) for bar in ax.patches if bar.get_height() != 0] + labels
        assert drawn and not [box for box in drawn if box.overlaps(legend)], ax.get_title()
        assert not [(a, b) for a, b in zip(labels, labels[1:]) if a.overlaps(b)], ax.get_title()
        assert fig.bbox.x0 - 1 <= legend.x0 and legend.x1 <= fig.bbox.x1 + 1 and legend.y0 >= fig.bbox.y0 - 1
    _close(fig)
