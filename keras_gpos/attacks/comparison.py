"""Top-N position channels against random channels, and region-specific attacks, judged.

`compare` turns a ranking and an `AttackEvaluator` into an
`AttackComparison`: the clean score, then for every N

* the drop in mIoU from zeroing the top-N overall position channels, next to
  the drops from N random channels (mean, spread, every draw), with an
  empirical p-value `(1 + #{random drop >= top drop}) / (1 + draws)`; the
  claim "top-N hurts more than random" *holds* when the top-N drop lies
  above the 95th percentile of the random drops;
* the region attacks: each signed ranking's top-N (e.g. `left`, `right`),
  scored on each half;
* the region *contrast*, an interaction that a weaker half cannot fake:
  `(first-ranked drop on first half - on second half) - (second-ranked drop
  on first half - on second half)`. Its random baseline forms the same
  contrast from independent pairs of random channel sets of the same N (one
  playing "first", one "second"); it holds when the measured contrast lies
  above the 95th percentile of the random contrasts.

The 95th percentile is the empirical one without interpolation (numpy's
`method="higher"`): with fewer than 20 draws it is the largest random value,
so a claim never holds while a random draw did at least as well.

Every random set is drawn from `numpy.random.default_rng([seed, n])`, so a
comparison is reproducible.
"""

import dataclasses

import numpy as np

from keras_gpos.attacks.rendering import comparison_markdown, comparison_plot
from keras_gpos.base.progress import Progress
from keras_gpos.base.stats import baseline_summary, empirical_p_value
from keras_gpos.base.validation import check_channel_count
from keras_gpos.base.vocabulary import SIDES


def random_channel_sets(num_channels, n, draws, seed=0):
    """`draws` sets of `n` distinct channels, drawn uniformly (reproducible for a seed)."""
    check_channel_count(n, num_channels)
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(num_channels, size=n, replace=False)) for _ in range(draws)]


@dataclasses.dataclass(frozen=True)
class AttackComparison:
    """The clean score, top-N vs random rows, region rows and contrasts.

    Use `to_dict()` (JSON-ready), `to_markdown()` and `plot(path)`.
    """

    clean: dict
    layer: str
    flip: str
    num_channels: int
    rows: list
    regions: list
    contrasts: list
    random_draws: int
    contrast_pairs: int

    @property
    def halves(self):
        return SIDES[self.flip]

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_markdown(self):
        """The comparison's tables (see `keras_gpos.attacks.rendering.comparison_markdown`)."""
        return comparison_markdown(self.to_dict())

    def plot(self, path, title=""):
        """Saves the comparison's figure as a PNG (`comparison_plot`)."""
        return comparison_plot(self.to_dict(), path, title)


def _drops(clean, scores):
    return {region: clean[region] - scores[region]["miou"] for region in clean}


def compare(evaluator, ranking, n_values, random_draws=10, region_n=None, contrast_pairs=20, seed=0,
            verbose=1):
    """Runs the comparison (see the module docstring).

    Args:
        evaluator: an `AttackEvaluator` whose regions include `"all"` and
            both halves of the ranking's flip.
        ranking: a `PositionRanking` of the masked layer.
        n_values: channel counts of the top-N vs random rows.
        random_draws: int >= 2. Random sets per N for the top-N baseline.
        region_n: channel counts of the region attacks and contrasts
            (default: `n_values`).
        contrast_pairs: int >= 0. Independent random pairs per N for the
            contrast baseline (0 skips the contrast).
        seed: int. Seed of the random sets.
        verbose: 0 silent, 1 progress (a bar in a terminal, plain lines in a log),
            2 one line at the end (`keras_gpos.base.progress`).

    Returns:
        An `AttackComparison`.
    """
    first, second = SIDES[ranking.flip]
    missing = [r for r in ("all", first, second) if r not in evaluator.regions]
    if missing:
        raise ValueError(
            f"the AttackEvaluator has no regions {missing}; build it with regions "
            f"{{'all': 'all', '{first}': '{first}', '{second}': '{second}'}}."
        )
    if isinstance(random_draws, bool) or not isinstance(random_draws, int) or random_draws < 2:
        raise ValueError(f"random_draws must be an int >= 2 (a spread needs two); got {random_draws!r}.")
    if isinstance(contrast_pairs, bool) or not isinstance(contrast_pairs, int) or contrast_pairs < 0:
        raise ValueError(f"contrast_pairs must be an int >= 0; got {contrast_pairs!r}.")
    n_values = tuple(n_values)
    region_n = n_values if region_n is None else tuple(region_n)
    for n in n_values + region_n:
        check_channel_count(n, ranking.num_channels, ranking.metadata.get("layer", "the layer"))
    draws_per_n = {n: random_draws for n in n_values}
    for n in region_n:
        draws_per_n[n] = max(draws_per_n.get(n, 0), 2 * contrast_pairs)
    total = 1 + sum(draws_per_n.values()) + len(n_values) + 2 * len(region_n)
    progress = Progress("AttackEvaluator.compare", total, verbose, unit="channel set")

    def evaluate(channels):
        scores = evaluator.evaluate(channels)
        progress.add(1)
        return scores

    clean_scores = evaluate(())
    clean = {region: clean_scores[region]["miou"] for region in ("all", first, second)}
    random_drops = {
        n: [_drops(clean, evaluate(channels))
            for channels in random_channel_sets(ranking.num_channels, n, draws, seed=seed * 1_000_003 + n)]
        for n, draws in draws_per_n.items()
    }
    rows = []
    for n in n_values:
        top_drop = _drops(clean, evaluate(ranking.top(n, "overall")))["all"]
        baseline = [d["all"] for d in random_drops[n]]
        stats = baseline_summary(baseline)
        rows.append({
            "n": n, "top_drop": top_drop, "random": stats, "random_values": baseline,
            "ratio": top_drop / stats["mean"] if stats["mean"] > 0 else None,
            "p_value": empirical_p_value(top_drop, baseline), "holds": bool(top_drop > stats["p95"]),
            "draws": len(baseline),
        })
    regions, contrasts = [], []
    for n in region_n:
        side_drops = {kind: _drops(clean, evaluate(ranking.top(n, kind))) for kind in (first, second)}
        for kind, drops in side_drops.items():
            regions.append({"ranking": kind, "n": n, "drops": {first: drops[first], second: drops[second]},
                            "hurts_more": first if drops[first] >= drops[second] else second})
        if contrast_pairs:
            def contrast(a, b):
                return (a[first] - a[second]) - (b[first] - b[second])

            measured = contrast(side_drops[first], side_drops[second])
            pool = random_drops[n]
            baseline = [contrast(pool[2 * i], pool[2 * i + 1]) for i in range(contrast_pairs)]
            stats = baseline_summary(baseline)
            contrasts.append({"n": n, "contrast": measured, "random": stats, "random_values": baseline,
                              "p_value": empirical_p_value(measured, baseline), "holds": bool(measured > stats["p95"])})
    progress.close()
    return AttackComparison(clean, ranking.metadata.get("layer", ""), ranking.flip, ranking.num_channels,
                            rows, regions, contrasts, random_draws, contrast_pairs)
