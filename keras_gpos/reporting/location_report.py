"""Results of location / classification runs: JSON, Markdown table, PNG chart."""

import collections
import pathlib

from keras_gpos.reporting.files import save_figure, write_json, write_text
from keras_gpos.reporting.tables import format_mean_spread, markdown_table, mean_and_spread


def _group_key(row):
    return (row["model"], row["variant"], row["padding"], row["grid_size"])


def summarize(rows):
    """Groups evaluated runs by model x variant x padding x grid.

    Each group reports location and class accuracy (mean, spread and the
    per-seed values) with their chance levels.
    """
    groups = collections.OrderedDict()
    for row in sorted(rows, key=lambda r: (_group_key(r), r["task"], r["seed"])):
        group = groups.setdefault(
            _group_key(row),
            {
                "model": row["model"], "variant": row["variant"], "padding": row["padding"],
                "grid_size": row["grid_size"], "location": [], "class": [],
            },
        )
        group[row["task"]].append(row)
    summary = []
    for group in groups.values():
        entry = {key: group[key] for key in ("model", "variant", "padding", "grid_size")}
        for task in ("location", "class"):
            runs = group[task]
            mean, std = mean_and_spread([r["accuracy"] for r in runs])
            entry[task] = {
                "mean": mean,
                "std": std,
                "per_seed": {str(r["seed"]): r["accuracy"] for r in runs},
                "chance": runs[0]["chance_accuracy"] if runs else None,
                "runs": len(runs),
            }
        summary.append(entry)
    return summary


def markdown(summary, title="Location and object classification"):
    headers = [
        "model", "variant", "padding", "grid", "location acc (%)", "location chance",
        "class acc (%)", "class chance", "seeds",
    ]
    rows = []
    for entry in summary:
        loc, cls = entry["location"], entry["class"]
        rows.append([
            entry["model"], entry["variant"], entry["padding"],
            f"{entry['grid_size']}x{entry['grid_size']}",
            format_mean_spread(list(loc["per_seed"].values())) if loc["runs"] else "n/a",
            loc["chance"], format_mean_spread(list(cls["per_seed"].values())) if cls["runs"] else "n/a",
            cls["chance"], max(loc["runs"], cls["runs"]),
        ])
    note = (
        "\nAccuracy on the test set with every test image placed in every grid cell; "
        "mean ± sample std over seeds. Model selection used a validation split of the "
        "training data, never the test set.\n"
    )
    return f"## {title}\n\n" + markdown_table(headers, rows) + note


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{e['variant']}\n{e['padding']}, {e['grid_size']}x{e['grid_size']}" for e in summary]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(summary) + 2), 4.2))
    width = 0.38
    for offset, task, color in ((-width / 2, "location", "#1f77b4"), (width / 2, "class", "#ff7f0e")):
        # Groups without a run of this task get no bar (not a zero bar).
        present = [(i, e) for i, e in enumerate(summary) if e[task]["runs"]]
        xs = [i + offset for i, _ in present]
        ax.bar(xs, [e[task]["mean"] for _, e in present], width,
               yerr=[e[task]["std"] or 0.0 for _, e in present], capsize=3,
               label=f"{task} accuracy", color=color)
        for x, (_, entry) in zip(xs, present):
            ax.hlines(entry[task]["chance"], x - width / 2, x + width / 2,
                      colors="black", linestyles="dotted")
    ax.set_xticks(range(len(summary)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Position after global pooling: location vs class accuracy (dotted: chance)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def write_report(rows, output_dir, extra=None):
    """Writes results.json, results.md and results.png; returns their paths."""
    output_dir = pathlib.Path(output_dir)
    summary = summarize(rows)
    payload = {"summary": summary, "runs": rows}
    if extra:
        payload.update(extra)
    write_json(output_dir / "results.json", payload)
    text = markdown(summary)
    write_text(output_dir / "results.md", text)
    png = plot(summary, output_dir / "results.png")
    return {"json": output_dir / "results.json", "markdown": output_dir / "results.md",
            "plot": png, "table": text}
