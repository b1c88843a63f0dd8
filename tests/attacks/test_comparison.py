"""The attack comparison's verdicts on an evaluator whose answers are known: one test per state."""

import numpy as np
import pytest

from keras_gpos.attacks.comparison import compare
from keras_gpos.ranking.position_ranking import PositionRanking

pytestmark = pytest.mark.backend_agnostic

CHANNELS = 64


class _Evaluator:
    """mIoU per half falls by each masked channel's effect on that half; "all" is their mean.

    `regions` names the halves; a half in `unlabelled` holds no labelled
    pixels (its mIoU is None, as `AttackEvaluator.evaluate` reports it).
    """

    regions = {"all": "all", "left": "left", "right": "right"}

    def __init__(self, left_effect, right_effect, unlabelled=()):
        self.effect = {"left": np.asarray(left_effect), "right": np.asarray(right_effect)}
        self.unlabelled = unlabelled
        self.calls = 0

    def evaluate(self, channels):
        self.calls += 1
        channels = np.asarray(channels, int)
        halves = {half: 0.9 - float(self.effect[half][channels].sum()) for half in ("left", "right")}
        scores = {half: {"miou": None if half in self.unlabelled else value} for half, value in halves.items()}
        scores["all"] = {"miou": (halves["left"] + halves["right"]) / 2}
        return scores


def _sided():
    """Channels 0-3 hold the left half, 4-7 the right one; the other 56 barely matter."""
    left, right = np.full(CHANNELS, 0.0005), np.full(CHANNELS, 0.0005)
    left[:4], right[4:8] = 0.1, 0.1
    return _Evaluator(left, right)


def _ranking(overall, signed):
    return PositionRanking(np.asarray(overall, float), np.asarray(signed, float), np.zeros(CHANNELS),
                           "horizontal", 10, {"layer": "sided"})


def _sided_ranking():
    overall = np.zeros(CHANNELS)
    overall[:8] = np.arange(8, 0, -1)
    signed = np.zeros(CHANNELS)
    signed[:4], signed[4:8] = 1.0, -1.0
    return _ranking(overall, signed)


def test_position_channels_hurt_more_than_random_and_their_own_half_more():
    comparison = compare(_sided(), _sided_ranking(), (4,), random_draws=200, contrast_pairs=200, verbose=0)
    row = comparison.rows[0]
    assert row["verdict"]["state"] == "holds" and row["holds"] and row["draws"] == 200
    hurts = {r["ranking"]: r["hurts_more"] for r in comparison.regions}
    assert hurts == {"left": "left", "right": "right"}
    assert comparison.contrasts[0]["verdict"]["state"] == "holds"
    assert comparison.verdict_rule == {"correction": "holm", "alpha": 0.05, "family": 4}
    text = comparison.to_markdown()
    assert "left (p 0.005, Holm" in text and "Holm's correction over the 4 tested claims" in text


@pytest.mark.adversarial
def test_a_ranking_no_better_than_random_hurts_no_half_more():
    # Every channel hurts both halves alike: the top-N set is any set. Before
    # the fix the region row said "hurts more: left" (ties went to the first half).
    evaluator = _Evaluator(np.full(CHANNELS, 0.002), np.full(CHANNELS, 0.002))
    ranking = _ranking(np.linspace(1, 0, CHANNELS), np.linspace(1, -1, CHANNELS))
    comparison = compare(evaluator, ranking, (4,), random_draws=30, contrast_pairs=20, verbose=0)
    assert comparison.rows[0]["verdict"]["state"] == "does_not_hold"
    assert all(r["hurts_more"] is None and r["verdict"]["state"] == "does_not_hold" for r in comparison.regions)
    assert comparison.contrasts[0]["verdict"]["state"] == "does_not_hold"
    assert "no significant difference" in comparison.to_markdown()


@pytest.mark.adversarial
def test_counts_mean_what_they_say_and_too_few_draws_cannot_judge():
    # Before the fix random_draws=5 with contrast_pairs=5 reported 10 draws.
    evaluator = _sided()
    comparison = compare(evaluator, _sided_ranking(), (4,), random_draws=5, contrast_pairs=5, verbose=0)
    assert comparison.rows[0]["draws"] == 5 and len(comparison.rows[0]["random_values"]) == 5
    assert comparison.regions[0]["draws"] == 5 and len(comparison.contrasts[0]["random_values"]) == 5
    # One pool of 10 sets for N=4 (the contrast's 5 pairs), shared: clean + 10 + top + 2 signed.
    assert evaluator.calls == 1 + 10 + 1 + 2
    # The smallest p-value 5 draws can give is 1/6 > 0.05: no claim can be judged.
    for record in comparison.rows + comparison.regions + comparison.contrasts:
        assert record["verdict"]["state"] == "cannot_be_judged" and record["verdict"]["reason"] == "too_few_draws"
    assert "too few random draws" in comparison.to_markdown()


def test_a_half_without_labelled_pixels_cannot_be_judged():
    evaluator = _sided()
    evaluator.unlabelled = ("right",)
    comparison = compare(evaluator, _sided_ranking(), (4,), random_draws=40, contrast_pairs=20, verbose=0)
    assert comparison.rows[0]["verdict"]["state"] == "holds"  # the whole image still has pixels
    for record in comparison.regions + comparison.contrasts:
        assert record["verdict"]["reason"] == "no_labelled_pixels"
    assert comparison.contrasts[0]["contrast"] is None
    assert "cannot be judged: no labelled pixels" in comparison.to_markdown()
