"""The attack comparison's verdicts on an evaluator whose answers are known: one test per state."""

import keras
import numpy as np
import pytest

from keras_gpos.attacks import AttackEvaluator, insert_channel_mask, random_channel_sets
from keras_gpos.attacks.comparison import compare
from keras_gpos.ranking.position_ranking import PositionRanking

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

pytestmark = pytest.mark.backend_agnostic


def test_random_channel_sets_are_distinct_and_checked():
    sets = random_channel_sets(32, 8, 5, seed=1)
    assert len(sets) == 5 and all(len(set(s.tolist())) == 8 for s in sets)
    assert len({tuple(s) for s in sets}) == 5
    with pytest.raises(ValueError, match="N=33 is larger than the 32 channels"):
        random_channel_sets(32, 33, 5)


def _sided_segmenter(k=4, size=16):
    """Channels 0..k-1 see only the left half, k..2k-1 only the right half; class 1
    wins on a pixel while the channels of its half are intact."""
    left = np.zeros((size, size, 1), "float32")
    left[:, : size // 2] = 1.0
    halves = np.concatenate([np.repeat(left, k, axis=-1), np.repeat(1.0 - left, k, axis=-1)], axis=-1)
    inputs = keras.Input((size, size, 1))
    features = keras.layers.Lambda(lambda x: x * keras.ops.convert_to_tensor(halves), name="sided")(inputs)
    support = keras.layers.Lambda(lambda f: keras.ops.sum(f, axis=-1, keepdims=True))(features)
    logits = keras.layers.Lambda(lambda s: keras.ops.concatenate([0.5 * keras.ops.ones_like(s), s], -1))(support)
    return keras.Model(inputs, logits)


def test_the_region_contrast_finds_side_specific_channels_and_random_pairs_do_not():
    from keras_gpos.attacks import compare
    from keras_gpos.ranking import rank_position_channels

    model = _sided_segmenter()
    # Content brighter on the left (as street scenes keep to one side): left channels
    # respond more to the image than to its mirror.
    ramp = np.linspace(1.0, 0.2, 16, dtype="float32")[None, None, :, None]
    images = np.repeat(ramp, 6, axis=0) * np.ones((6, 16, 16, 1), "float32")
    ranking = rank_position_channels(model, "sided", images)
    assert set(ranking.top(4, "left").tolist()) == {0, 1, 2, 3}
    assert set(ranking.top(4, "right").tolist()) == {4, 5, 6, 7}
    masks = np.ones((6, 16, 16), "int32")
    evaluator = AttackEvaluator(insert_channel_mask(model, "sided"), (images, masks), 2,
                                regions={"all": "all", "left": "left", "right": "right"})
    comparison = compare(evaluator, ranking, n_values=(4,), random_draws=6, contrast_pairs=20, seed=0, verbose=0)
    contrast = comparison.contrasts[0]
    assert contrast["contrast"] > 0.5 and contrast["holds"]
    assert contrast["random"]["p95"] < contrast["contrast"] and contrast["p_value"] <= 1 / 21 + 1e-9
    left_row = next(r for r in comparison.regions if r["ranking"] == "left")
    assert left_row["drops"]["left"] > 0.5 and left_row["drops"]["right"] == pytest.approx(0.0, abs=1e-6)
    # Six random sets cannot make "hurts more: left" significant (p >= 1/7): it is not claimed.
    assert left_row["hurts_more"] is None and left_row["verdict"]["reason"] == "too_few_draws"
    assert len(contrast["random_values"]) == 20
    # With 20 or fewer draws the 95th percentile is the largest random value, not an interpolation
    # below it: a claim cannot hold while a random set did as well.
    assert contrast["random"]["p95"] == max(contrast["random_values"])
    row = comparison.rows[0]
    assert row["random"]["p95"] == max(row["random_values"])
