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
    correction_text, fixed, format_mean_spread, markdown_table, paper_agreement, pyplot, save_figure, verdict_text,
    write_files,
)
from keras_gpos.base.stats import mean_and_spread
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
    """`summarize_with_audits(rows)` without audits: `(summary, rule)`."""
    summary, verdicts = _judge(rows)
    (settled,), rule = correct([verdicts])
    return _with_verdicts(summary, settled), rule


def summarize_with_audits(rows, audits=()):
    """Groups evaluated runs by model x variant x padding x grid, and judges their claims.

    Each group reports location and class accuracy (mean, spread, the
    per-seed values and a bootstrap-over-images interval) with the held-out
    majority rate (`chance`) and `1 / outputs` (`uniform_chance`), and for
    permuted variants the retained above-chance share per task with its
    interval.

    `audits` (audit dicts of some of the runs, `keras_gpos.audit`) are
    judged in the same family: one Holm correction over every verdict of
    the report.

    Returns:
        `(summary, rule, audits)`: the groups, each with its settled
        `verdicts` (claim -> verdict dict), the report's multiple-comparison
        rule (see the module docstring), and the audits with their settled
        verdicts.
    """
    from keras_gpos.audit.verdicts import audit_groups, with_settled_verdicts

    summary, verdicts = _judge(rows)
    audits = list(audits)
    settled, rule = correct([verdicts] + audit_groups(audits))
    return _with_verdicts(summary, settled[0]), rule, with_settled_verdicts(audits, settled[1:], rule)


def _with_verdicts(summary, settled):
    for entry in summary:
        prefix = group_label(entry) + "/"
        entry["verdicts"] = {v.claim: v.to_dict() for v in settled if v.key.startswith(prefix)}
    return summary


def _judge(rows):
    """`(summary, provisional verdicts)` of evaluated rows (see `summarize_with_audits`)."""
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
    return summary, verdicts


def _percent(entry):
    return format_mean_spread([100 * v for v in entry["per_seed"].values()]) if entry["runs"] else "n/a"


def _interval(interval, scale=100, digits=1):
    if not interval or interval[0] is None:
        return "n/a"
    return f"{fixed(scale * interval[0], digits)} to {fixed(scale * interval[1], digits)}"


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


def markdown(summary, rule=None, title="Location and object classification", audits=None, budget=None):
    """The report's Markdown; with `audits` (settled), it leads with where position lives.

    The lead (`keras_gpos.reporting.where_position_lives`) holds the tables and
    the text generated from the verdicts; the audits' own tables follow the
    results table, and every verdict is listed one by one at the end.
    """
    if audits:
        from keras_gpos.audit.rendering import audit_markdown
        from keras_gpos.reporting import where_position_lives

        body = _markdown(summary, rule, title, heading="Every verdict")
        return (where_position_lives.markdown(summary, audits, budget, rule) + "\n" + body + "\n"
                + audit_markdown(audits, "Audit details", level=2))
    return _markdown(summary, rule, title)


def _markdown(summary, rule, title, heading="What this run shows"):
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
            return f"{fixed(100 * value, 0)}%" + ("" if not interval else f" ({_interval(interval, 100, 0)})")

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
        text += (f"\n### {heading}\n\n" + "\n".join(lines) + "\n\n" + correction_text(rule)
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


TASK_COLOURS = {"location": "#1f77b4", "class": "#ff7f0e"}
VIEW_COLOURS = {"ordered": "#1f77b4", "sorted": "#ff7f0e", "sum": "#2ca02c"}
VIEW_WORDS = {"ordered": "ordered", "sorted": "sorted (order-free)", "sum": "channel sum"}
BAR = 0.38


def _slots(count, width=BAR):
    """Offsets of `count` bars side by side, centred on their tick (one bar sits on it)."""
    return [(j - (count - 1) / 2) * width for j in range(count)]


def _legend_below(ax, order):
    """The legend under the axes, in `order` of labels: bars reach 100%, so no corner inside is free."""
    handles = dict(zip(*reversed(ax.get_legend_handles_labels())))
    labels = [label for label in order if label in handles]
    ax.legend([handles[label] for label in labels], labels, loc="upper center", bbox_to_anchor=(0.5, -0.2),
              ncol=len(labels), fontsize=8, frameon=False)


def _accuracy_panel(ax, summary):
    labelled, whiskers = set(), False
    for i, entry in enumerate(summary):
        tasks = [task for task in TASKS if entry[task]["runs"]]
        for offset, task in zip(_slots(len(tasks)), tasks):
            x, result = i + offset, entry[task]
            # A spread needs seeds: one seed has none, so it gets no whisker (and no cap).
            spread = 100 * result["std"] if result["runs"] > 1 and result["std"] is not None else None
            whiskers = whiskers or spread is not None
            ax.bar(x, 100 * result["mean"], BAR, yerr=spread, capsize=3 if spread is not None else 0,
                   color=TASK_COLOURS[task], label=None if task in labelled else f"{task} accuracy")
            labelled.add(task)
            ax.hlines(100 * result["chance"], x - BAR / 2, x + BAR / 2, colors="black", linestyles="dotted")
    ax.set_xticks(range(len(summary)))
    ax.set_xticklabels([f"{e['variant']}\n{e['padding']}, {e['grid_size']}x{e['grid_size']}" for e in summary],
                       fontsize=8)
    ax.set_xlim(-0.6, len(summary) - 0.4)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    key = "dotted: chance" + ("; whiskers: std over seeds" if whiskers else "")
    ax.set_title(f"Accuracy after global pooling\n({key})", fontsize=10)
    _legend_below(ax, [f"{task} accuracy" for task in TASKS])


def _kept_panel(ax, kept):
    labelled = set()
    for i, entry in enumerate(kept):
        tasks = [task for task in TASKS if entry["retained"][task] is not None]
        for offset, task in zip(_slots(len(tasks)), tasks):
            share = 100 * entry["retained"][task]
            bars = ax.bar(i + offset, share, BAR, color=TASK_COLOURS[task], label=None if task in labelled else task)
            ax.bar_label(bars, labels=[f"{fixed(share, 0)}%"], fontsize=8, padding=2)  # a share near 0 has no bar
            labelled.add(task)
    ax.axhline(0, color="black", lw=0.8)
    ax.axhline(100, color="grey", lw=0.8, ls=":")
    shares = [100 * e["retained"][t] for e in kept for t in TASKS if e["retained"][t] is not None]
    ax.set_ylim(min([0] + shares) - 8, max([100] + shares) + 10)  # room for the value printed on each bar
    ax.set_xticks(range(len(kept)))
    ax.set_xticklabels([f"{e['variant']}\nvs {e['reference_variant']}" for e in kept], fontsize=8)
    ax.set_xlim(-0.6, len(kept) - 0.4)
    ax.set_ylabel("above-chance accuracy kept (%)")
    ax.set_title("What the permutation keeps", fontsize=10)
    if labelled:
        _legend_below(ax, TASKS)


def _probe_groups(audits):
    """`[(label, probes)]`: each audited network's pooled-vector probes, per task."""
    from keras_gpos.reporting.where_position_lives import network_name, probe_layer

    seeds = {a["run"]["seed"] for a in audits}
    groups = []
    for audit in audits:
        run = audit["run"]
        name = f"{network_name(run['variant'])}, {run['task']}-trained" + (
            f", seed {run['seed']}" if len(seeds) > 1 else "")
        for task in TASKS:
            probes = probe_layer(audit).get(task)
            if probes is not None:
                groups.append((f"{name}\nprobe for the {task}", probes))
    return groups


def _probe_panel(ax, groups):
    views = ("ordered", "sorted", "sum")
    width = 0.8 / len(views)
    labelled = set()
    for i, (_, probes) in enumerate(groups):
        for offset, view in zip(_slots(len(views), width), views):
            ax.bar(i + offset, 100 * probes[view]["accuracy"], width, color=VIEW_COLOURS[view],
                   label=None if view in labelled else VIEW_WORDS[view])
            labelled.add(view)
        ax.hlines(100 * probes["ordered"]["chance"], i - 0.4, i + 0.4, colors="black", linestyles="dotted")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([label for label, _ in groups], fontsize=8)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylim(0, 105)
    ax.set_ylabel("probe accuracy (%)")
    ax.set_title("Where position lives: probes of the pooled vector\n(dotted: chance)", fontsize=10)
    _legend_below(ax, list(VIEW_WORDS.values()))


def figure(summary, audits=None):
    """The report's matplotlib figure: accuracies, what the permutation keeps, and the audits' probes.

    One bar per task an entry was trained on, centred on its own label;
    whiskers only where seeds give a spread; legends under the axes.
    """
    plt = pyplot()
    kept = [e for e in summary if e["reference_variant"]]
    groups = _probe_groups(audits) if audits else []
    slots = [len(summary)] + [len(kept)] * bool(kept) + [len(groups)] * bool(groups)
    widths = [max(4.5, 1.7 * n + 1) for n in slots]
    fig, axes = plt.subplots(1, len(slots), figsize=(sum(widths) + 0.5, 4.8), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    panels = iter(axes[0])
    _accuracy_panel(next(panels), summary)
    if kept:
        _kept_panel(next(panels), kept)
    if groups:
        _probe_panel(next(panels), groups)
    fig.tight_layout()
    return fig


def plot(summary, path, audits=None):
    """Saves `figure(summary, audits)` as a PNG at `path`; returns the path."""
    return save_figure(figure(summary, audits), path)


def write_report(output_dir, runs, extra=None, audits=None, budget=None):
    """Writes results.json, results.md and results.png for evaluated run rows.

    Args:
        output_dir: where the files go.
        runs: list of rows from `keras_gpos.experiments.location.evaluate_run`.
        extra: optional dict merged into results.json.
        audits: optional audit dicts of some of the runs, each with its
            `run` (variant, task, model, padding, grid_size, seed): the report
            then leads with where position lives, and its verdicts share one
            correction (`summarize_with_audits`).
        budget: optional words for the training budget, quoted by the text
            under the lead's tables.

    Returns:
        A `keras_gpos.reporting.Report`.
    """
    if audits:
        summary, rule, audits = summarize_with_audits(runs, audits)
        payload = {"summary": summary, "verdict_rule": rule, "runs": runs, "audits": audits, "budget": budget,
                   **(extra or {})}
    else:
        summary, rule = summarize(runs)
        payload = {"summary": summary, "verdict_rule": rule, "runs": runs, **(extra or {})}
    return write_files(output_dir, payload, markdown(summary, rule, audits=audits, budget=budget),
                       lambda p: plot(summary, p, audits))
