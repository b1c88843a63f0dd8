"""The statistics module: intervals and tests over images, seeds and Holm's correction."""

import numpy as np
import pytest

from keras_gpos.base import stats
from keras_gpos.base.stats import ratio_to_baseline

pytestmark = pytest.mark.backend_agnostic


def _counts(rate, images, trials=9, seed=0):
    """Per-image correct counts of a model that is right with probability `rate` per canvas."""
    return np.random.default_rng(seed).binomial(trials, rate, size=images)


def test_an_accuracy_interval_resamples_images_and_covers_the_accuracy():
    correct = _counts(0.7, 200)
    low, high = stats.accuracy_interval(correct, 9)
    assert low < correct.sum() / (9 * 200) < high and high - low < 0.1
    # The same data and seed give the same interval; another seed another one.
    assert stats.accuracy_interval(correct, 9) == [low, high]
    assert stats.accuracy_interval(correct, 9, seed=1) != [low, high]


def test_an_image_that_fills_every_cell_counts_once():
    # All canvases of an image agree (right in every cell or in none): 9 canvases
    # per image are one observation, so the interval is as wide as for 1 canvas
    # per image, three times wider than independent canvases would give.
    per_image = np.random.default_rng(0).binomial(1, 0.5, size=400)
    by_image = stats.accuracy_interval(per_image * 9, 9)
    independent = stats.accuracy_interval(_counts(0.5, 400), 9)
    assert (by_image[1] - by_image[0]) > 2 * (independent[1] - independent[0])


def test_above_chance_rejects_a_clear_effect_and_not_chance():
    clear = stats.above_chance(_counts(0.6, 100), 9, chance=1 / 9)
    assert clear["p_value"] == pytest.approx(1 / (1 + stats.REFINED_DRAWS)) and clear["chance"] == pytest.approx(1 / 9)
    # Exactly at chance on average (0 or 2 of 9 cells per image): p is about one half.
    at_chance = stats.above_chance(np.tile([0, 2], 50), 9, chance=1 / 9)
    assert at_chance["p_value"] > 0.3


def test_a_constant_outcome_is_judged_without_dividing_by_zero():
    perfect = stats.above_chance(np.full(50, 9), 9, chance=0.5)
    assert perfect["p_value"] == pytest.approx(1 / (1 + stats.REFINED_DRAWS)) and perfect["interval"] == [1.0, 1.0]
    never = stats.above_chance(np.zeros(50, int), 9, chance=0.5)
    assert never["p_value"] == 1.0
    # Exactly at chance in every image: 1/9 - 1/9 rounds to 1e-17, which is no effect.
    exact = stats.above_chance(np.ones(50, int), 9, chance=1 / 9)
    assert exact["p_value"] == 1.0


def test_a_paired_difference_of_identical_models_is_not_significant():
    a = _counts(0.7, 200)
    same = stats.paired_difference(a, a, 9)
    assert same["estimate"] == 0.0 and same["interval"] == [0.0, 0.0] and same["p_value"] == 1.0
    better = stats.paired_difference(_counts(0.9, 200), a, 9)
    assert better["estimate"] > 0.1 and better["p_value"] < 0.01


def test_the_paired_test_uses_the_pairing():
    # A large shared per-image difficulty cancels out in the pair: a 5-point
    # gain on every image is certain by image, though tiny beside the spread.
    difficulty = np.random.default_rng(0).integers(0, 80, size=100)
    result = stats.paired_difference(difficulty + 5, difficulty, 100)
    assert result["interval"] == [pytest.approx(0.05), pytest.approx(0.05)] and result["p_value"] < 0.001
    with pytest.raises(ValueError, match="same images"):
        stats.paired_difference(np.ones(4), np.ones(5), 9)


def test_per_image_outcomes_are_checked():
    with pytest.raises(ValueError, match="0..9"):
        stats.per_image_rates([10], 9)
    with pytest.raises(ValueError, match="positive int"):
        stats.per_image_rates([1], 0)
    with pytest.raises(ValueError, match="one count per image"):
        stats.per_image_rates([[1, 2]], 9)


def test_seed_agreement_counts_the_seeds_with_the_claimed_sign():
    assert stats.seed_agreement([0.2, 0.1, -0.05, None]) == {"holds_in": 2, "of": 3}


def test_holm_adjusts_step_down_and_keeps_the_order():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    assert stats.holm([]) == [] and stats.holm([0.9, 0.3]) == pytest.approx([0.9, 0.6])


def test_kept_share_is_undefined_without_an_above_chance_reference():
    assert stats.kept_share(0.9, 0.5, 0.1) == pytest.approx(0.5)
    assert stats.kept_share(0.1, 0.5, 0.1) is None and stats.kept_share(None, 0.5, 0.1) is None


def test_a_bootstrap_of_many_images_stays_in_bounded_memory():
    # 20,000 images x 2,000 draws would be 40M indices at once; chunks keep it small.
    result = stats.above_chance(np.full(20_000, 3), 9, chance=0.2, draws=300)
    assert result["interval"] == [pytest.approx(1 / 3), pytest.approx(1 / 3)]


def test_kept_share_statistics_are_vectorised_and_undefined_at_chance():
    difference = stats.kept_share_difference(0.1, 0.1)
    means = np.array([[0.9, 0.1, 0.7, 0.6], [0.1, 0.1, 0.7, 0.6]])
    values = difference(means)
    assert values[0] == pytest.approx(5 / 6) and np.isnan(values[1])
    assert stats.kept_share_statistic(0.25)(np.array([1.0, 0.625])) == pytest.approx(0.5)


def test_a_clear_effect_still_holds_after_holm_over_an_audits_many_claims():
    # An audit of five networks at four layers makes 140 claims. With 2,000 replicates alone a clear effect's p
    # is 1/2,001, and Holm's factor 140 lifts it to 0.07: nothing could hold. Refined, its p reaches the level.
    counts = _counts(0.6, 100)
    clear = stats.above_chance(counts, 9, chance=1 / 9)
    assert clear["p_draws"] == stats.REFINED_DRAWS and stats.holm([clear["p_value"]] * 140)[0] <= stats.ALPHA
    # The interval is the first replicates' (the refinement only counts more of them for p).
    assert clear["interval"] == stats.accuracy_interval(counts, 9)
    # A p-value far above the refinement's threshold is counted on the first replicates only.
    at_chance = stats.above_chance(np.tile([0, 2], 50), 9, chance=1 / 9)
    assert at_chance["p_draws"] == stats.DRAWS


@pytest.mark.adversarial
@pytest.mark.parametrize("value, baseline, draws, expected", [
    (-0.0015, {"mean": 0.0001, "std": 0.01}, 5, None),  # within noise of zero: no ratio (was -15)
    (0.02, {"mean": 0.002, "std": 0.0095}, 40, None),  # 2 standard errors are 0.003
    (0.02, {"mean": 0.0, "std": 0.0}, 5, None),
    (0.02, {"mean": 0.01, "std": 0.001}, 5, pytest.approx(2.0)),
    (0.02, {"mean": 0.01, "std": None}, 1, pytest.approx(2.0)),
    (None, {"mean": 0.01, "std": 0.001}, 5, None),
])
def test_a_ratio_needs_a_random_mean_clearly_above_zero(value, baseline, draws, expected):
    assert ratio_to_baseline(value, baseline, draws) == expected
