"""Statistics shared by every verdict: intervals and tests over images, seeds and random baselines.

The unit of resampling is the *image*. A location evaluation pastes every
test image into every grid cell, so the canvases of one image are not
independent: an accuracy's interval comes from a bootstrap that resamples
images (each with all its canvases), never canvases. Per-image outcomes are
stored as the number of correct trials per image (`correct`) out of the same
number of trials for every image (`trials`: cells x repeats).

* `bootstrap_test`: the estimate of any statistic of per-image column means,
  its percentile interval and a one-sided p-value against a null value
  (shifted bootstrap: `(1 + #{rep - est >= est - null}) / (1 + draws)`, so it
  is never 0; an estimate within `TOLERANCE` of the null is the null). Where
  the first `DRAWS` replicates leave p at or below `REFINE_BELOW`, ten times
  as many (`REFINED_DRAWS`) estimate it: with 2,000 alone its floor,
  1/2,001, times Holm's factor over more than 100 claims (an audit of five
  networks at four layers has 140) exceeds 0.05, and no claim could hold. The
  interval always comes from the first `DRAWS` replicates;
* `above_chance`: an accuracy against chance, where chance is the held-out
  majority rate (what a constant predictor scores); `1 / classes` is reported
  beside it, never tested against;
* `paired_difference`: two accuracies on the same images (ordered vs
  order-free probes, permuted vs unpermuted, AugShift vs baseline);
* `seed_agreement`: over seeds, in how many the effect has the claimed sign;
* `holm`: Holm's step-down adjustment of the p-values of one report;
* random baselines (`empirical_p_value`, `baseline_summary`) for claims whose
  null is a random draw (random channel sets), not a resampling of images.

Every resampling is seeded (`numpy.random.default_rng(seed)`): the same data
always give the same interval and p-value.
"""

import numpy as np

DRAWS = 2000
# A p-value the first DRAWS replicates put at or below this is estimated again from REFINED_DRAWS replicates
# (floor 1/20,001: Holm over up to 1,000 claims can still reach 0.05).
REFINE_BELOW = 0.01
REFINED_DRAWS = 20_000
LEVEL = 0.95
ALPHA = 0.05
# Fewer held-out images than this and no by-image verdict is given: a
# bootstrap over a handful of images understates its own spread.
MIN_IMAGES = 10
# Indices drawn per chunk of bootstrap replicates (memory stays bounded).
_CHUNK = 1_000_000
# Differences below this are floating-point rounding (12/108 - 1/9 is 1e-17), never an effect:
# accuracies are multiples of 1 / (images x trials), far above it.
TOLERANCE = 1e-9


def mean_and_spread(values):
    """`(mean, sample std)`; std is None for fewer than two values, both None for none."""
    values = [float(v) for v in values]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, var**0.5


def empirical_p_value(measured, baseline):
    """`(1 + #{baseline >= measured}) / (1 + len(baseline))`: never 0, one-sided."""
    baseline = np.asarray(baseline, np.float64)
    return float((1 + np.sum(baseline >= measured)) / (1 + baseline.size))


def smallest_empirical_p(draws):
    """The smallest p-value `empirical_p_value` can give with `draws` random draws."""
    return 1.0 / (1 + draws)


def baseline_summary(values):
    """Mean, sample std and 95th percentile (no interpolation) of a random baseline.

    The percentile is numpy's `method="higher"`: with fewer than 20 values it
    is the largest one, so nothing beats it that a random draw matched.
    """
    values = np.asarray(values, np.float64)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else None,
        "p95": float(np.percentile(values, 95, method="higher")),
    }


def per_image_rates(correct, trials):
    """`correct / trials` per image, as float64 (`correct`: `(images,)` counts)."""
    correct = np.asarray(correct, np.float64)
    if correct.ndim != 1:
        raise ValueError(f"per-image outcomes must be one count per image; got shape {correct.shape}.")
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials per image must be a positive int; got {trials!r}.")
    if correct.size and (correct.min() < 0 or correct.max() > trials):
        raise ValueError(f"per-image correct counts must lie in 0..{trials}; got {correct.min()}..{correct.max()}.")
    return correct / trials


def bootstrap_column_means(columns, draws=DRAWS, seed=0):
    """`(draws, k)` column means of `columns` `(images, k)` resampled by image (rows), seeded."""
    columns = np.asarray(columns, np.float64)
    if columns.ndim == 1:
        columns = columns[:, None]
    count = len(columns)
    if count == 0:
        raise ValueError("a bootstrap over images needs at least one image.")
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK // count)
    out = np.empty((draws, columns.shape[1]))
    for start in range(0, draws, chunk):
        stop = min(draws, start + chunk)
        index = rng.integers(0, count, size=(stop - start, count))
        out[start:stop] = columns[index].mean(axis=1)
    return out


def bootstrap_test(columns, statistic, null=0.0, draws=DRAWS, level=LEVEL, seed=0):
    """A statistic of per-image column means: estimate, interval and one-sided p-value.

    Args:
        columns: `(images, k)` per-image values (e.g. accuracy of two probes).
        statistic: maps `(..., k)` column means to `(...)` values (vectorised).
        null: the value of the statistic under the null hypothesis; the
            alternative is `statistic > null`.
        draws, level, seed: bootstrap replicates, interval level, seed.

    Returns:
        `{"estimate", "interval": [low, high], "p_value", "p_draws", "images", "draws", "level", "seed"}`;
        `p_draws` is how many replicates the p-value counts (ten times
        `draws`, at most `REFINED_DRAWS`, where the first `draws` put it at or
        below `REFINE_BELOW`; see the module docstring). A replicate the statistic leaves undefined (NaN)
        never counts for the alternative.
    """
    columns = np.asarray(columns, np.float64)
    if columns.ndim == 1:
        columns = columns[:, None]
    estimate = float(statistic(columns.mean(axis=0)))
    replicates = np.asarray(statistic(bootstrap_column_means(columns, draws, seed)), np.float64)
    finite = replicates[np.isfinite(replicates)]
    tail = (1.0 - level) / 2
    interval = ([float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail))]
                if finite.size else [None, None])
    def supporting(values):  # replicates at least as far from the estimate as the estimate is from the null
        return int(np.sum(np.isfinite(values) & (values - estimate >= estimate - null - TOLERANCE)))

    p_draws = draws
    if not np.isfinite(estimate):
        p_value = 1.0
    else:
        count = supporting(replicates)
        if (1 + count) / (1 + draws) <= REFINE_BELOW and draws < REFINED_DRAWS:
            p_draws = min(REFINED_DRAWS, 10 * draws)  # a caller that asked for few draws gets few more
            more = bootstrap_column_means(columns, p_draws - draws, seed + 1)
            count += supporting(np.asarray(statistic(more), np.float64))
        p_value = float((1 + count) / (1 + p_draws))
    return {"estimate": estimate if np.isfinite(estimate) else None, "interval": interval, "p_value": p_value,
            "p_draws": int(p_draws), "images": int(len(columns)), "draws": int(draws), "level": float(level),
            "seed": int(seed)}


def accuracy_interval(correct, trials, draws=DRAWS, level=LEVEL, seed=0):
    """`[low, high]` bootstrap-over-images interval of an accuracy given per-image counts."""
    return bootstrap_test(per_image_rates(correct, trials), lambda m: m[..., 0], 0.0, draws, level, seed)["interval"]


def above_chance(correct, trials, chance, draws=DRAWS, level=LEVEL, seed=0):
    """Is the accuracy above `chance` (the held-out majority rate)? One-sided, by image.

    Returns:
        `bootstrap_test`'s dict with `"chance"` added.
    """
    result = bootstrap_test(per_image_rates(correct, trials), lambda m: m[..., 0], float(chance), draws, level, seed)
    return {**result, "chance": float(chance)}


def paired_difference(correct_a, correct_b, trials_a, trials_b=None, draws=DRAWS, level=LEVEL, seed=0):
    """Accuracy of A minus accuracy of B on the same images; the alternative is A > B.

    Raises:
        ValueError: the two outcome lists cover different numbers of images.
    """
    a = per_image_rates(correct_a, trials_a)
    b = per_image_rates(correct_b, trials_a if trials_b is None else trials_b)
    if a.shape != b.shape:
        raise ValueError(f"a paired test needs the same images: {a.size} vs {b.size} per-image outcomes.")
    return bootstrap_test(np.stack([a, b], axis=1), lambda m: m[..., 0] - m[..., 1], 0.0, draws, level, seed)


def kept_share(ordered, reduced, chance):
    """`(reduced - chance) / (ordered - chance)`: the share of above-chance accuracy kept (None if undefined)."""
    if ordered is None or reduced is None or chance is None or ordered - chance <= 0:
        return None
    return (reduced - chance) / (ordered - chance)


def kept_share_statistic(chance):
    """Vectorised kept share of `(..., 2)` means (full, reduced); NaN where full is not above chance."""
    def statistic(m):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(m[..., 0] > chance, (m[..., 1] - chance) / (m[..., 0] - chance), np.nan)
    return statistic


def kept_share_difference(chance_a, chance_b):
    """Vectorised `kept_b - kept_a` of `(..., 4)` means (full a, reduced a, full b, reduced b).

    The claim "b keeps a larger share of its above-chance accuracy than a"
    (the class against location without the channel order, or under a
    channel permutation); NaN where either full accuracy is not above chance.
    """
    kept_a, kept_b = kept_share_statistic(chance_a), kept_share_statistic(chance_b)

    def statistic(m):
        return kept_b(m[..., 2:4]) - kept_a(m[..., 0:2])
    return statistic


def seed_agreement(effects, null=0.0):
    """`{"holds_in": k, "of": n}`: the seeds whose effect lies above `null` (None effects are skipped)."""
    present = [float(e) for e in effects if e is not None]
    return {"holds_in": int(sum(e > null for e in present)), "of": len(present)}


def holm(p_values):
    """Holm's step-down adjusted p-values, in the input order (monotone, capped at 1).

    A hypothesis is rejected at level alpha when its adjusted p-value is at
    most alpha; this controls the family-wise error rate over the whole list.
    """
    p = np.asarray(p_values, np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()

__all__ = [
    "DRAWS", "LEVEL", "ALPHA", "MIN_IMAGES", "TOLERANCE", "mean_and_spread", "empirical_p_value",
    "smallest_empirical_p", "baseline_summary", "per_image_rates", "bootstrap_column_means", "bootstrap_test",
    "accuracy_interval", "above_chance", "paired_difference", "kept_share", "kept_share_statistic",
    "kept_share_difference", "seed_agreement", "holm"
]
