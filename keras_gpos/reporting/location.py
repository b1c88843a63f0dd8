"""Results of location / classification runs: JSON, Markdown table, PNG chart.

Rows and JSON hold fractions in [0, 1]; the tables print percent and say so.
Besides raw accuracy, the report gives what a channel permutation *keeps*:
for a permuted variant, its above-chance accuracy as a share of the same
network's without the permutation, `(perm - chance) / (reference - chance)`,
per task. The paper's thesis is that location keeps little and class keeps
much.
"""

import collections
import re

from keras_gpos.base.rendering import format_mean_spread, markdown_table, pyplot, save_figure, write_files
from keras_gpos.base.stats import mean_and_spread
from keras_gpos.reporting.grouping import group_rows

TASKS = ("location", "class")


def _group_key(row):
    return (row["model"], row["variant"], row["padding"], row["grid_size"])


def reference_variant(variant):
    """The same network without its permutation (`fc+permute@pooled` -> `fc`), or None."""
    if "+permute@" not in variant:
        return None
    return re.sub(r"\+permute@\w+", "", variant)


def _retained(mean, reference, chance):
    if mean is None or reference is None or chance is None or reference - chance <= 0:
        return None
    return (mean - chance) / (reference - chance)


def summarize(rows):
    """Groups evaluated runs by model x variant x padding x grid.

    Each group reports location and class accuracy (mean, spread and the
    per-seed values) with their chance levels, and for permuted variants the
    retained above-chance share per task.
    """
    groups = collections.OrderedDict()
    ordered = sorted(rows, key=lambda r: (_group_key(r), r["task"], r["seed"]))
    for key, members in group_rows(ordered, _group_key, what="row (model, variant, padding, grid)").items():
        group = groups.setdefault(key, {"model": members[0]["model"], "variant": members[0]["variant"],
                                        "padding": members[0]["padding"], "grid_size": members[0]["grid_size"],
                                        "location": [], "class": []})
        for row in members:
            group[row["task"]].append(row)
    summary = []
    for group in groups.values():
        entry = {key: group[key] for key in ("model", "variant", "padding", "grid_size")}
        for task in TASKS:
            runs = group[task]
            mean, std = mean_and_spread([r["accuracy"] for r in runs])
            entry[task] = {
                "mean": mean, "std": std,
                "per_seed": {str(r["seed"]): r["accuracy"] for r in runs},
                "chance": runs[0]["chance_accuracy"] if runs else None,
                "runs": len(runs),
            }
        entry["data_checks"] = dict(collections.Counter(
            r["data_check"] for task in TASKS for r in group[task] if r.get("data_check")))
        summary.append(entry)
    by_key = {(e["model"], e["variant"], e["padding"], e["grid_size"]): e for e in summary}
    for entry in summary:
        reference = reference_variant(entry["variant"])
        ref = by_key.get((entry["model"], reference, entry["padding"], entry["grid_size"])) if reference else None
        entry["reference_variant"] = reference if ref else None
        entry["retained"] = {
            task: _retained(entry[task]["mean"], ref[task]["mean"], entry[task]["chance"]) if ref else None
            for task in TASKS
        }
    return summary


def _percent(entry):
    return format_mean_spread([100 * v for v in entry["per_seed"].values()]) if entry["runs"] else "n/a"


def _chance(entry):
    return "n/a" if entry["chance"] is None else f"{100 * entry['chance']:.1f}"


def markdown(summary, title="Location and object classification"):
    headers = ["model", "variant", "padding", "grid", "location acc (%)", "location chance (%)",
               "class acc (%)", "class chance (%)", "seeds"]
    rows = [[e["model"], e["variant"], e["padding"], f"{e['grid_size']}x{e['grid_size']}",
             _percent(e["location"]), _chance(e["location"]), _percent(e["class"]), _chance(e["class"]),
             max(e["location"]["runs"], e["class"]["runs"])] for e in summary]
    text = f"## {title}\n\n" + markdown_table(headers, rows) + (
        "\nAccuracy on the test set with every test image placed in every grid cell; "
        "mean ± sample std over seeds, in percent. Model selection used a validation split of "
        "the training data, never the test set.\n") + _data_notes(summary)
    kept = [e for e in summary if e["reference_variant"]]
    if kept:
        def share(value):
            return "n/a" if value is None else f"{100 * value:.0f}%"

        text += "\n### What the channel permutation keeps\n\n" + markdown_table(
            ["variant", "compared with", "padding", "grid", "location kept", "class kept"],
            [[e["variant"], e["reference_variant"], e["padding"], f"{e['grid_size']}x{e['grid_size']}",
              share(e["retained"]["location"]), share(e["retained"]["class"])] for e in kept],
        ) + ("\nKept = (accuracy - chance) / (accuracy without the permutation - chance): the share "
             "of the above-chance accuracy that survives. The paper's thesis: location keeps "
             "little, class keeps much.\n")
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
        extra: optional dict merged into results.json.

    Returns:
        A `keras_gpos.reporting.Report`.
    """
    summary = summarize(runs)
    payload = {"summary": summary, "runs": runs, **(extra or {})}
    return write_files(output_dir, payload, markdown(summary), lambda p: plot(summary, p))
