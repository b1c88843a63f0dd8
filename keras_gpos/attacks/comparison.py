"""Top-N position channels against random channels, and region-specific attacks, judged.

`compare` turns a ranking and an `AttackEvaluator` into an
`AttackComparison`: the clean score, then for every N

* the drop in mIoU from zeroing the top-N overall position channels, next to
  the drops from exactly `random_draws` sets of N random channels (mean,
  spread, every draw), with an empirical p-value
  `(1 + #{random drop >= top drop}) / (1 + draws)`: the claim "top-N hurts
  more than random";
* the region attacks: each signed ranking's top-N (e.g. `left`, `right`),
  scored on each half. "Hurts more: left" is a claim too: the ranking's
  left-minus-right drop difference must lie beyond what the same
  `random_draws` random sets do to the two halves (one-sided, in the
  direction of the difference); otherwise `hurts_more` is None;
* the region *contrast*, an interaction that a weaker half cannot fake:
  `(first-ranked drop on first half - on second half) - (second-ranked drop
  on first half - on second half)`. Its random baseline forms the same
  contrast from exactly `contrast_pairs` independent pairs of random channel
  sets of the same N (one playing "first", one "second").

Every claim is a verdict (`keras_gpos.base.verdicts`): holds, does not hold,
or cannot be judged here, with Holm's correction over all the verdicts of
the comparison (`verdict_rule`). It cannot be judged when a region holds no
labelled pixels (its mIoU is None) or when the random baseline is too small
for any p-value at or below alpha (`1 / (1 + draws) > alpha`: fewer than 19
draws at alpha 0.05). The 95th percentile is reported beside it (the
empirical one without interpolation, numpy's `method="higher"`).

Every random set is drawn from `numpy.random.default_rng(seed * 1_000_003 + n)`;
the baselines of one N share its first draws, so a comparison is
reproducible and every count in it is the count used.
"""

import dataclasses

import numpy as np

from keras_gpos.attacks.channel_attack import mask_layer_name
from keras_gpos.attacks.rendering import comparison_markdown, comparison_plot
from keras_gpos.base.progress import Progress
from keras_gpos.base.stats import ALPHA, baseline_summary, empirical_p_value, smallest_empirical_p
from keras_gpos.base.stats import ratio_to_baseline
from keras_gpos.base.validation import check_channel_count
from keras_gpos.base.verdicts import cannot_judge, correct, judged
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
    verdict_rule: dict = None

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
    """Drop per region; None where a region holds no labelled pixels (its mIoU is None)."""
    return {region: None if clean[region] is None or scores[region]["miou"] is None
            else clean[region] - scores[region]["miou"] for region in clean}


def _empirical_verdict(key, claim, measured, baseline, what, regions_needed, clean, **context):
    """A verdict on `measured` against a random baseline (one-sided, empirical p-value)."""
    if any(clean[region] is None for region in regions_needed):
        return cannot_judge(key, claim, "no_labelled_pixels",
                            regions=[r for r in regions_needed if clean[r] is None])
    if smallest_empirical_p(len(baseline)) > ALPHA:
        return cannot_judge(key, claim, "too_few_draws", draws=len(baseline),
                            smallest_p=smallest_empirical_p(len(baseline)), alpha=ALPHA)
    result = {"estimate": measured, "p_value": empirical_p_value(measured, baseline)}
    return judged(key, claim, result, f"{what}; empirical p = (1 + #random >= measured) / (1 + "
                                      f"{len(baseline)} random draws), one-sided", **context)


def _check_same_layer(mask, ranking):
    """Refuses a ranking of another layer than the masked one: its channel ids would name other channels."""
    layer = ranking.metadata.get("layer")
    if ranking.num_channels != mask.num_channels:
        raise ValueError(f"the ranking is of layer {layer!r} with {ranking.num_channels} channels but the mask "
                         f"{mask.name!r} covers {mask.num_channels}; rank the masked layer.")
    # insert_channel_mask names the mask after its layer ('a/b' -> 'a_b_channel_mask'); a mask named
    # otherwise (inserted by hand), or a ranking of a feature callable, is checked by its channel count only.
    names = {mask_layer_name(layer), mask_layer_name(layer.split("/")[-1])} if isinstance(layer, str) else set()
    by_model = ranking.metadata.get("layer_output_shape") is not None
    if by_model and names and mask.name.endswith("_channel_mask") and not (
            mask.name in names or mask.name.endswith("_" + mask_layer_name(layer.split("/")[-1]))):
        raise ValueError(f"the ranking is of layer {layer!r} but the mask {mask.name!r} follows another layer; "
                         "rank the masked layer.")


def compare(evaluator, ranking, n_values, random_draws=10, region_n=None, contrast_pairs=20, seed=0,
            verbose=1):
    """Runs the comparison (see the module docstring).

    Args:
        evaluator: an `AttackEvaluator` whose regions include `"all"` and
            both halves of the ranking's flip.
        ranking: a `PositionRanking` of the masked layer.
        n_values: channel counts of the top-N vs random rows.
        random_draws: int >= 2. Random sets per N for the top-N baseline and
            the region attacks' baseline (exactly this many).
        region_n: channel counts of the region attacks and contrasts
            (default: `n_values`).
        contrast_pairs: int >= 0. Independent random pairs per N for the
            contrast baseline (exactly this many; 0 skips the contrast).
        seed: int. Seed of the random sets.
        verbose: 0 silent, 1 progress (a bar in a terminal, plain lines in a log),
            2 one line at the end (`keras_gpos.base.progress`).

    Returns:
        An `AttackComparison`; each row, region row and contrast carries its
        settled `verdict`.
    """
    first, second = SIDES[ranking.flip]
    missing = [r for r in ("all", first, second) if r not in evaluator.regions]
    if missing:
        raise ValueError(
            f"the AttackEvaluator has no regions {missing}; build it with regions "
            f"{{'all': 'all', '{first}': '{first}', '{second}': '{second}'}}."
        )
    if getattr(evaluator, "mask", None) is not None:  # an AttackEvaluator (duck-typed stand-ins have none)
        _check_same_layer(evaluator.mask, ranking)
    if isinstance(random_draws, bool) or not isinstance(random_draws, int) or random_draws < 2:
        raise ValueError(f"random_draws must be an int >= 2 (a spread needs two); got {random_draws!r}.")
    if isinstance(contrast_pairs, bool) or not isinstance(contrast_pairs, int) or contrast_pairs < 0:
        raise ValueError(f"contrast_pairs must be an int >= 0; got {contrast_pairs!r}.")
    n_values = tuple(n_values)
    region_n = n_values if region_n is None else tuple(region_n)
    for n in n_values + region_n:
        check_channel_count(n, ranking.num_channels, ranking.metadata.get("layer", "the layer"))
    # One pool of random sets per N; each baseline takes exactly the draws it names from its start.
    pool_size = {n: random_draws for n in n_values + region_n}
    for n in region_n:
        pool_size[n] = max(pool_size[n], 2 * contrast_pairs)
    total = 1 + sum(pool_size.values()) + len(n_values) + 2 * len(region_n)
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
        for n, draws in pool_size.items()
    }
    rows = []
    for n in n_values:
        top_drop = _drops(clean, evaluate(ranking.top(n, "overall")))["all"]
        baseline = [d["all"] for d in random_drops[n][:random_draws]]
        judged_ = clean["all"] is not None
        stats = baseline_summary(baseline) if judged_ else {"mean": None, "std": None, "p95": None}
        rows.append({
            "n": n, "top_drop": top_drop, "random": stats, "random_values": baseline,
            "ratio": ratio_to_baseline(top_drop, stats, len(baseline)) if judged_ else None,
            "p_value": empirical_p_value(top_drop, baseline) if judged_ else None,
            "draws": len(baseline),
        })
    regions, contrasts = [], []
    for n in region_n:
        side_drops = {kind: _drops(clean, evaluate(ranking.top(n, kind))) for kind in (first, second)}
        halves_known = clean[first] is not None and clean[second] is not None
        for kind, drops in side_drops.items():
            regions.append({"ranking": kind, "n": n, "drops": {first: drops[first], second: drops[second]},
                            "difference": drops[first] - drops[second] if halves_known else None,
                            "random_differences": ([d[first] - d[second] for d in random_drops[n][:random_draws]]
                                                   if halves_known else []),
                            "draws": random_draws})
        if contrast_pairs:
            def contrast(a, b):
                return (a[first] - a[second]) - (b[first] - b[second])

            pool = random_drops[n]
            if halves_known:
                measured = contrast(side_drops[first], side_drops[second])
                baseline = [contrast(pool[2 * i], pool[2 * i + 1]) for i in range(contrast_pairs)]
                stats = baseline_summary(baseline)
            else:
                measured, baseline, stats = None, [], {"mean": None, "std": None, "p95": None}
            contrasts.append({"n": n, "contrast": measured, "random": stats, "random_values": baseline,
                              "p_value": empirical_p_value(measured, baseline) if halves_known else None,
                              "pairs": contrast_pairs})
    progress.close()
    record = judge_comparison({"clean": clean, "flip": ranking.flip, "rows": rows, "regions": regions,
                               "contrasts": contrasts, "random_draws": random_draws,
                               "contrast_pairs": contrast_pairs})
    return AttackComparison(clean, ranking.metadata.get("layer", ""), ranking.flip, ranking.num_channels,
                            record["rows"], record["regions"], record["contrasts"], random_draws, contrast_pairs,
                            record["verdict_rule"])


def _region_verdict(row, first, second, clean):
    key = f"N={row['n']}/{row['ranking']}-ranked/hurts_one_half_more"
    claim = "hurts_one_half_more"
    if "random_differences" not in row:  # a file written before schema 3 kept no random half drops
        if clean[first] is None or clean[second] is None:
            return cannot_judge(key, claim, "no_labelled_pixels")
        return cannot_judge(key, claim, "no_random_baseline", n=row["n"], ranking=row["ranking"])
    difference = row["difference"]
    sign = 1.0 if (difference or 0.0) >= 0 else -1.0
    verdict = _empirical_verdict(
        key, claim, None if difference is None else sign * difference,
        [sign * b for b in row["random_differences"]],
        f"|{first}-half drop - {second}-half drop| of the {row['ranking']}-ranked set against random sets, in "
        "the direction of the measured difference", (first, second), clean, n=row["n"], ranking=row["ranking"],
        side=(first if sign > 0 else second) if difference else None)
    if difference == 0 and verdict.state != "cannot_be_judged":  # no difference to attribute to a half
        verdict = judged(verdict.key, verdict.claim, {"estimate": 0.0, "p_value": 1.0}, verdict.test,
                         **verdict.context)
    return verdict


def judge_comparison(record):
    """An `AttackComparison.to_dict()` (of any schema) with its claims judged and settled by Holm.

    Rows and contrasts are judged from their stored measurements and random
    baselines, so a comparison written before schema 3 gets verdicts too;
    its region rows kept no random half drops, so "hurts more" cannot be
    judged there.

    Returns:
        A copy with a `verdict` on every row, region row and contrast,
        `holds` (rows, contrasts) and `hurts_more` (regions: the half, or None
        without a significant difference), and `verdict_rule`.
    """
    first, second = SIDES[record["flip"]]
    clean = record["clean"]
    verdicts, keys = [], []
    for row in record["rows"]:
        verdicts.append(_empirical_verdict(
            f"N={row['n']}/top_n_hurts_more_than_random", "top_n_hurts_more_than_random", row["top_drop"],
            row["random_values"], "top-N mIoU drop against the drops of N random channels", ("all",), clean,
            n=row["n"]))
        keys.append(("rows", row))
    for row in record["regions"]:
        verdicts.append(_region_verdict(row, first, second, clean))
        keys.append(("regions", row))
    for row in record["contrasts"]:
        verdicts.append(_empirical_verdict(
            f"N={row['n']}/region_contrast", "region_contrast_beats_random", row["contrast"], row["random_values"],
            f"region contrast against {len(row['random_values'])} pairs of random channel sets", (first, second),
            clean, n=row["n"]))
        keys.append(("contrasts", row))
    (settled,), rule = correct([verdicts])
    out = {**record, "rows": [], "regions": [], "contrasts": [], "verdict_rule": rule}
    for (part, row), verdict in zip(keys, settled):
        verdict = verdict.to_dict()
        row = {**row, "verdict": verdict}
        if part == "regions":
            row["hurts_more"] = verdict["context"].get("side") if verdict["state"] == "holds" else None
        else:
            row["holds"] = verdict["state"] == "holds"
        out[part].append(row)
    return out
