"""Results of location / classification runs: JSON, Markdown table, PNG chart.

Rows and JSON hold fractions in [0, 1]; the tables print percent and say so.
Besides raw accuracy, the report gives what a channel permutation *keeps*:
for a permuted variant, its above-chance accuracy as a share of the same
network's without the permutation, `(perm - chance) / (reference - chance)`,
per task, where chance is the held-out majority rate.

`summarize` computes the numbers and the verdicts (data, in results.json)
from the rows' per-image outcomes (each test image fills every cell, so
intervals and tests resample images, pooled over seeds):

* `<group>/<task>_above_chance`: the group's accuracy lies above the
  held-out majority rate (in every seed);
* `<group>/<task>_lost_to_permutation` (permuted groups): the unpermuted
  network scores higher than the permuted one on the same test images
  (paired by image); it needs the reference above chance;
* `<group>/class_keeps_more_than_location` (permuted groups): the class
  keeps a larger share of its above-chance accuracy under the permutation
  than location does, on the same test images (the paper's thesis); it
  needs the unpermuted reference above chance on both tasks and the
  permuted model above chance on at least one, and holds only where every
  seed agrees.

Holm's correction runs over every verdict of the report. `markdown` words
them; rows without per-image outcomes (results files before schema 3) give
"cannot be judged (no per-image outcomes)".
"""

import collections
import re

import numpy as np

from keras_gpos.base import stats
from keras_gpos.base.rendering import (
    correction_text, format_mean_spread, markdown_table, paper_agreement, pyplot, save_figure, verdict_text,
    write_files,
)
from keras_gpos.base.stats import mean_and_spread
from keras_gpos.reporting.budget import budget_markdown
from keras_gpos.base.verdicts import cannot_judge, correct, judged, requirement
from keras_gpos.reporting.grouping import group_rows

TASKS = ("location", "class")


def _group_key(row):
    return (row["model"], row["variant"], row["padding"], row["grid_size"])


def reference_variant(variant):
    """The same network without its permutation (`fc+permute@pooled` -> `fc`), or None."""
    if "+permute@" not in variant:
        return None
    return re.sub(r"\+permute@\w+", "", variant)


def group_label(entry):
    """The name of a summary group in verdict keys: `model/variant/padding/gGRID`."""
    return f"{entry['model']}/{entry['variant']}/{entry['padding']}/g{entry['grid_size']}"


def _majority(runs):
    """The held-out majority rate of a task's runs (1 / outputs for rows written before it was recorded)."""
    return runs[0].get("majority_rate", runs[0]["chance_accuracy"]) if runs else None


def _pooled(runs):
    """`(correct, trials)` per image summed over seeds, or the reason the runs cannot be pooled."""
    if not runs or any("per_image" not in r for r in runs):
        return "no_per_image_outcomes"
    if not _same_images(runs):
        return "different_images"
    correct_ = np.sum([np.asarray(r["per_image"]["correct"], np.int64) for r in runs], axis=0)
    return correct_, int(sum(r["per_image"]["trials"] for r in runs))


def _same_images(*runs_lists):
    rows = [r for runs in runs_lists for r in runs]
    return (len({len(r["per_image"]["correct"]) for r in rows}) == 1
            and len({r.get("test_digest") for r in rows}) == 1)


def _seed_rule(per_seed):
    agreement = stats.seed_agreement(per_seed)
    return {**agreement, "required": agreement["of"]}


def _test_text(images, what):
    return (f"{what}; bootstrap over {images} test images, each in every cell, pooled over seeds "
            f"({stats.DRAWS} draws, seed 0), one-sided")


def _above_chance_verdict(entry, task, runs):
    key = f"{group_label(entry)}/{task}_above_chance"
    claim = f"{task}_above_chance"
    pooled = _pooled(runs)
    if isinstance(pooled, str):
        return cannot_judge(key, claim, pooled)
    correct_, trials = pooled
    if len(correct_) < stats.MIN_IMAGES:
        return cannot_judge(key, claim, "too_few_images", images=len(correct_), minimum=stats.MIN_IMAGES)
    chance = _majority(runs)
    result = stats.above_chance(correct_, trials, chance)
    shifted = {**result, "estimate": result["estimate"] - chance,
               "interval": [v - chance for v in result["interval"]]}
    return judged(key, claim, shifted, _test_text(len(correct_), "accuracy minus the held-out majority rate"),
                  seeds=_seed_rule([r["accuracy"] - chance for r in runs]), accuracy=result["estimate"],
                  chance=chance, uniform_chance=runs[0]["chance_accuracy"])


def _thesis_verdict(entry, ref, runs, ref_runs):
    key = f"{group_label(entry)}/class_keeps_more_than_location"
    claim = "class_keeps_more_than_location"
    lists = [ref_runs["location"], runs["location"], ref_runs["class"], runs["class"]]
    if not all(lists):
        return cannot_judge(key, claim, "no_reference")
    pooled = [_pooled(r) for r in lists]
    reasons = [p for p in pooled if isinstance(p, str)]
    if reasons:
        return cannot_judge(key, claim, reasons[0])
    if not _same_images(*lists):
        return cannot_judge(key, claim, "different_images")
    images = len(pooled[0][0])
    if images < stats.MIN_IMAGES:
        return cannot_judge(key, claim, "too_few_images", images=images, minimum=stats.MIN_IMAGES)
    columns = np.stack([stats.per_image_rates(c, t) for c, t in pooled], axis=1)
    statistic = stats.kept_share_difference(_majority(runs["location"]), _majority(runs["class"]))
    result = stats.bootstrap_test(columns, statistic)
    by_seed = {}
    for position, runs_ in enumerate(lists):
        for r in runs_:
            by_seed.setdefault(r["seed"], [None] * 4)[position] = r["accuracy"]
    per_seed = [float(statistic(np.asarray(v))) if None not in v else None for v in by_seed.values()]
    per_seed = [v if v is not None and np.isfinite(v) else None for v in per_seed]
    theirs = {task: f"{group_label(ref)}/{task}_above_chance" for task in TASKS}
    mine = [f"{group_label(entry)}/{task}_above_chance" for task in TASKS]
    return judged(
        key, claim, result,
        _test_text(images, "class kept share minus location kept share, kept = (permuted - chance) / "
                           "(unpermuted - chance), paired by image"),
        requires=[requirement(theirs["location"], "reference_at_chance"),
                  requirement(theirs["class"], "reference_at_chance"),
                  requirement(mine, "model_at_chance")],
        seeds=_seed_rule(per_seed), reference=entry["reference_variant"],
        location_kept=entry["retained"]["location"], class_kept=entry["retained"]["class"])


def _loss_verdict(entry, ref, task, runs, ref_runs):
    """`<group>/<task>_lost_to_permutation`: the unpermuted reference beats the permuted model, by image."""
    key = f"{group_label(entry)}/{task}_lost_to_permutation"
    claim = f"{task}_lost_to_permutation"
    pooled = [_pooled(ref_runs), _pooled(runs)]
    reasons = [p for p in pooled if isinstance(p, str)]
    if reasons:
        return cannot_judge(key, claim, reasons[0])
    if not _same_images(ref_runs, runs):
        return cannot_judge(key, claim, "different_images")
    images = len(pooled[0][0])
    if images < stats.MIN_IMAGES:
        return cannot_judge(key, claim, "too_few_images", images=images, minimum=stats.MIN_IMAGES)
    result = stats.paired_difference(pooled[0][0], pooled[1][0], pooled[0][1], pooled[1][1])
    theirs = {r["seed"]: r["accuracy"] for r in ref_runs}
    per_seed = [theirs[r["seed"]] - r["accuracy"] for r in runs if r["seed"] in theirs]
    return judged(key, claim, result,
                  _test_text(images, "unpermuted minus permuted accuracy, paired by image"),
                  requires={f"{group_label(ref)}/{task}_above_chance": "reference_at_chance"},
                  seeds=_seed_rule(per_seed), reference=entry["reference_variant"])


def _kept_interval(ref_runs, runs):
    pooled = [_pooled(ref_runs), _pooled(runs)]
    if any(isinstance(p, str) for p in pooled) or not _same_images(ref_runs, runs):
        return None
    if len(pooled[0][0]) < stats.MIN_IMAGES:
        return None
    columns = np.stack([stats.per_image_rates(c, t) for c, t in pooled], axis=1)
    return stats.bootstrap_test(columns, stats.kept_share_statistic(_majority(runs)))["interval"]


def summarize(rows):
    """Groups evaluated runs by model x variant x padding x grid, and judges their claims.

    Each group reports location and class accuracy (mean, spread, the
    per-seed values and a bootstrap-over-images interval) with the held-out
    majority rate (`chance`) and `1 / outputs` (`uniform_chance`), and for
    permuted variants the retained above-chance share per task with its
    interval.

    Returns:
        `(summary, rule)`: the groups, each with its settled `verdicts`
        (claim -> verdict dict), and the report's multiple-comparison rule
        (see the module docstring).
    """
    grouped = collections.OrderedDict()
    ordered = sorted(rows, key=lambda r: (_group_key(r), r["task"], r["seed"]))
    for key, members in group_rows(ordered, _group_key, what="row (model, variant, padding, grid)").items():
        group = grouped.setdefault(key, {"model": members[0]["model"], "variant": members[0]["variant"],
                                         "padding": members[0]["padding"], "grid_size": members[0]["grid_size"],
                                         "location": [], "class": []})
        for row in members:
            group[row["task"]].append(row)
    summary, runs_of = [], []
    for group in grouped.values():
        entry = {key: group[key] for key in ("model", "variant", "padding", "grid_size")}
        for task in TASKS:
            runs = group[task]
            mean, std = mean_and_spread([r["accuracy"] for r in runs])
            pooled = _pooled(runs)
            entry[task] = {
                "mean": mean, "std": std,
                "interval": None if isinstance(pooled, str) else stats.accuracy_interval(*pooled),
                "per_seed": {str(r["seed"]): r["accuracy"] for r in runs},
                "chance": _majority(runs),
                "uniform_chance": runs[0]["chance_accuracy"] if runs else None,
                "runs": len(runs),
            }
        entry["data_checks"] = dict(collections.Counter(
            r["data_check"] for task in TASKS for r in group[task] if r.get("data_check")))
        summary.append(entry)
        runs_of.append(group)
    index = {(e["model"], e["variant"], e["padding"], e["grid_size"]): i for i, e in enumerate(summary)}
    verdicts = [_above_chance_verdict(entry, task, runs_of[i][task])
                for i, entry in enumerate(summary) for task in TASKS if runs_of[i][task]]
    for i, entry in enumerate(summary):
        reference = reference_variant(entry["variant"])
        r = index.get((entry["model"], reference, entry["padding"], entry["grid_size"])) if reference else None
        ref = summary[r] if r is not None else None
        entry["reference_variant"] = reference if ref else None
        entry["retained"] = {
            task: stats.kept_share(ref[task]["mean"], entry[task]["mean"], entry[task]["chance"]) if ref else None
            for task in TASKS
        }
        entry["retained_interval"] = {
            task: _kept_interval(runs_of[r][task], runs_of[i][task])
            if ref and runs_of[r][task] and runs_of[i][task] else None
            for task in TASKS
        }
        if ref:
            verdicts += [_loss_verdict(entry, ref, task, runs_of[i][task], runs_of[r][task])
                         for task in TASKS if runs_of[i][task] and runs_of[r][task]]
            verdicts.append(_thesis_verdict(entry, ref, runs_of[i], runs_of[r]))
    (settled,), rule = correct([verdicts])
    for entry in summary:
        prefix = group_label(entry) + "/"
        entry["verdicts"] = {v.claim: v.to_dict() for v in settled if v.key.startswith(prefix)}
    return summary, rule


def _percent(entry):
    return format_mean_spread([100 * v for v in entry["per_seed"].values()]) if entry["runs"] else "n/a"


def _interval(interval, scale=100, digits=1):
    if not interval or interval[0] is None:
        return "n/a"
    return f"{scale * interval[0]:.{digits}f}-{scale * interval[1]:.{digits}f}"


def _chance(entry):
    if entry["chance"] is None:
        return "n/a"
    return f"{100 * entry['chance']:.1f} (1/k {100 * entry['uniform_chance']:.1f})"


# What each claim says, and what the paper predicts of it (None: no prediction).
CLAIM_TEXT = {
    "location_above_chance": ("learns location (above the held-out majority rate)", None),
    "class_above_chance": ("learns the class (above the held-out majority rate)", None),
    "location_lost_to_permutation": ("loses location to the permutation (the unpermuted network scores higher)",
                                     None),
    "class_lost_to_permutation": ("loses the class to the permutation (the unpermuted network scores higher)",
                                  None),
    "class_keeps_more_than_location": (
        "keeps more of the class than of location under the permutation", True),
}


def verdict_lines(summary):
    """One line per verdict of the summary: the group, the claim, its state and numbers."""
    lines = []
    for entry in summary:
        for claim, verdict in entry.get("verdicts", {}).items():
            words, predicted = CLAIM_TEXT.get(claim, (claim.replace("_", " "), None))
            subject = entry["variant"] + (f" (vs {entry['reference_variant']})" if entry["reference_variant"]
                                          and claim not in ("location_above_chance", "class_above_chance") else "")
            lines.append(f"- {subject}, {entry['padding']}, {entry['grid_size']}x{entry['grid_size']}: "
                         f"{words}: {verdict_text(verdict)}.{paper_agreement(verdict, predicted)}")
    return lines


def markdown(summary, rule=None, title="Location and object classification"):
    headers = ["model", "variant", "padding", "grid", "location acc (%)", "location 95% interval",
               "location chance (%)", "class acc (%)", "class 95% interval", "class chance (%)", "seeds"]
    rows = [[e["model"], e["variant"], e["padding"], f"{e['grid_size']}x{e['grid_size']}",
             _percent(e["location"]), _interval(e["location"].get("interval")), _chance(e["location"]),
             _percent(e["class"]), _interval(e["class"].get("interval")), _chance(e["class"]),
             max(e["location"]["runs"], e["class"]["runs"])] for e in summary]
    text = f"## {title}\n\n" + markdown_table(headers, rows) + (
        "\nAccuracy on the test set with every test image placed in every grid cell; "
        "mean ± sample std over seeds, in percent, with a 95% bootstrap interval over test images "
        "(pooled over seeds). Chance: the held-out majority rate (what a constant answer scores; the "
        "verdicts test against it), with 1/k (k outputs) beside it. Model selection used a validation "
        "split of the training data, never the test set.\n") + _data_notes(summary)
    kept = [e for e in summary if e["reference_variant"]]
    if kept:
        def share(value, interval):
            if value is None:
                return "n/a"
            return f"{100 * value:.0f}%" + ("" if not interval else f" ({_interval(interval, 100, 0)})")

        text += "\n### What the channel permutation keeps\n\n" + markdown_table(
            ["variant", "compared with", "padding", "grid", "location kept", "class kept"],
            [[e["variant"], e["reference_variant"], e["padding"], f"{e['grid_size']}x{e['grid_size']}",
              share(e["retained"]["location"], (e.get("retained_interval") or {}).get("location")),
              share(e["retained"]["class"], (e.get("retained_interval") or {}).get("class"))] for e in kept],
        ) + ("\nKept = (accuracy - chance) / (accuracy without the permutation - chance): the share "
             "of the above-chance accuracy that survives, with its 95% bootstrap interval over test "
             "images.\n")
    lines = verdict_lines(summary)
    if lines:
        text += ("\n### What this run shows\n\n" + "\n".join(lines) + "\n\n" + correction_text(rule)
                 + " Over seeds, a claim holds only where it holds in every seed.\n")
    return text


def _data_notes(summary):
    """What the report could not check about the data, in words (nothing when everything was checked)."""
    checks = collections.Counter()
    for entry in summary:
        checks.update(entry.get("data_checks", {}))
    notes = []
    if checks.get("sizes"):
        notes.append(f"{checks['sizes']} run(s) were written by keras_gpos 0.1/0.2, which recorded the data by "
                     "size only: their data were checked by size, not content.")
    if checks.get("other"):
        notes.append(f"{checks['other']} run(s) were scored on other data than they were trained on "
                     "(--allow_other_data).")
    return "".join(f"\n{note}\n" for note in notes)


def plot(summary, path):
    plt = pyplot()

    kept = [e for e in summary if e["reference_variant"]]
    columns = 2 if kept else 1
    fig, axes = plt.subplots(1, columns, figsize=(max(6, 1.6 * len(summary) + 2) + 4 * (columns - 1), 4.4),
                             squeeze=False, gridspec_kw={"width_ratios": [max(2, len(summary)), 2][:columns]})
    ax = axes[0][0]
    labels = [f"{e['variant']}\n{e['padding']}, {e['grid_size']}x{e['grid_size']}" for e in summary]
    width = 0.38
    for offset, task, color in ((-width / 2, "location", "#1f77b4"), (width / 2, "class", "#ff7f0e")):
        present = [(i, e) for i, e in enumerate(summary) if e[task]["runs"]]
        if not present:  # e.g. a location-only sweep: no empty bars, no legend entry
            continue
        xs = [i + offset for i, _ in present]
        ax.bar(xs, [100 * e[task]["mean"] for _, e in present], width,
               yerr=[100 * (e[task]["std"] or 0.0) for _, e in present], capsize=3,
               label=f"{task} accuracy", color=color)
        for x, (_, entry) in zip(xs, present):
            ax.hlines(100 * entry[task]["chance"], x - width / 2, x + width / 2,
                      colors="black", linestyles="dotted")
    ax.set_xticks(range(len(summary)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Accuracy after global pooling (dotted: chance)", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8)
    if kept:
        ax = axes[0][1]
        for offset, task, color in ((-width / 2, "location", "#1f77b4"), (width / 2, "class", "#ff7f0e")):
            values = [e["retained"][task] for e in kept]
            xs = [i + offset for i, v in enumerate(values) if v is not None]
            ax.bar(xs, [100 * v for v in values if v is not None], width, color=color, label=task)
        ax.axhline(0, color="black", lw=0.8)
        ax.axhline(100, color="grey", lw=0.8, ls=":")
        ax.set_xticks(range(len(kept)))
        ax.set_xticklabels([f"{e['variant']}\nvs {e['reference_variant']}" for e in kept], fontsize=8)
        ax.set_ylabel("above-chance accuracy kept (%)")
        ax.set_title("What the permutation keeps", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def write_report(output_dir, runs, extra=None):
    """Writes results.json, results.md and results.png for evaluated run rows.

    Args:
        output_dir: where the files go.
        runs: list of rows from `keras_gpos.experiments.location.evaluate_run`.
        extra: optional dict merged into results.json; its `"budget"` (a suite's
            `BudgetOutcome.to_dict()`) is worded too.

    Returns:
        A `keras_gpos.reporting.Report`.
    """
    summary, rule = summarize(runs)
    payload = {"summary": summary, "verdict_rule": rule, "runs": runs, **(extra or {})}
    text = markdown(summary, rule) + budget_markdown(payload.get("budget"))
    return write_files(output_dir, payload, text, lambda p: plot(summary, p))
