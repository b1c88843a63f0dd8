"""Statistics shared by every verdict: spreads, random baselines and empirical p-values."""

import numpy as np


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
