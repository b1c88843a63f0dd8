"""The attack comparison drawn: Markdown tables and a figure, from its dict.

Both take `AttackComparison.to_dict()` (or the same dict read back from a
results file), so a report never rebuilds the comparison object to draw it.
"""

import numpy as np

from keras_gpos.base.rendering import correction_text, markdown_table, pyplot, reason_text, save_figure
from keras_gpos.base.stats import ratio_to_baseline
from keras_gpos.base.vocabulary import SIDES

STATE_WORDS = {"holds": "yes", "does_not_hold": "no", "cannot_be_judged": "cannot be judged"}


def _number(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ratio(row):
    """The top / random cell: n/a, with why, where the random mean is too near zero for a ratio."""
    if row["random"]["mean"] is None:
        return "n/a"
    ratio = ratio_to_baseline(row["top_drop"], row["random"], row["draws"])  # files written before it re-read
    return "n/a (random drop ≈ 0)" if ratio is None else f"{ratio:.1f}"


def _state(record):
    """The short state of a row's verdict (older files: their `holds` flag, or no per-image outcomes)."""
    verdict = record.get("verdict")
    if verdict is None:
        return {True: "yes", False: "no"}.get(record.get("holds"), "n/a")
    if verdict["state"] == "cannot_be_judged":
        return "cannot be judged: " + reason_text(verdict)
    return STATE_WORDS[verdict["state"]]


def _hurts_more(record):
    verdict = record.get("verdict")
    if verdict is None:  # files before schema 3 named the larger drop, significant or not
        return f"{record['hurts_more']} (untested)"
    if verdict["state"] == "holds":
        return f"{record['hurts_more']} (p {verdict['p_value']:.3f}, Holm {verdict['p_adjusted']:.3f})"
    if verdict["state"] == "cannot_be_judged":
        return _state(record)
    return "no significant difference"


def comparison_markdown(record):
    """Markdown tables of an `AttackComparison.to_dict()`: top-N vs random, regions, contrasts."""
    first, second = SIDES[record["flip"]]
    clean, rows, regions, contrasts = record["clean"], record["rows"], record["regions"], record["contrasts"]
    num_channels, contrast_pairs = record["num_channels"], record["contrast_pairs"]

    def spread(entry):
        if entry["mean"] is None:
            return "n/a"
        return f"{entry['mean']:.3f}" + ("" if entry["std"] is None else f" ± {entry['std']:.3f}")

    lines = [
        f"Clean mIoU: all {_number(clean['all'])}, {first} half {_number(clean[first])}, "
        f"{second} half {_number(clean[second])}.",
        "",
        "### Top-N overall position channels vs N random channels (mIoU drop, whole image)",
        "",
        markdown_table(
            ["N", "N / channels", "top-N drop", "random drop (mean ± std)", "random draws",
             "random p95", "top / random", "p-value", "holds"],
            [[r["n"], f"{r['n'] / num_channels:.3f}", _number(r["top_drop"]), spread(r["random"]),
              r["draws"], _number(r["random"]["p95"]), _ratio(r),
              _number(r["p_value"]), _state(r)] for r in rows]),
        "### Region attacks (signed rankings; mIoU drop per half)",
        "",
        markdown_table(
            ["signed ranking", "N", f"{first}-half drop", f"{second}-half drop", "hurts more"],
            [[r["ranking"], r["n"], _number(r["drops"][first]), _number(r["drops"][second]),
              _hurts_more(r)] for r in regions]),
        f"Hurts more: the half whose drop exceeds the other's by more than the same {record['random_draws']} "
        "random channel sets per N do (one-sided, in the direction of the difference); otherwise no "
        "significant difference.",
        "",
        f"### Region contrast ({first}-ranked vs {second}-ranked; {contrast_pairs} random pairs per N)",
        "",
        markdown_table(
            ["N", "contrast", "random contrast (mean ± std)", "random p95", "p-value", "holds"],
            [[c["n"], _number(c["contrast"]), spread(c["random"]), _number(c["random"]["p95"]),
              _number(c["p_value"]), _state(c)] for c in contrasts]),
        f"Contrast = ({first}-ranked drop on {first} - on {second}) - ({second}-ranked drop on {first} "
        f"- on {second}); a half that is weaker for any perturbation cancels out. Holds = its empirical "
        "p-value against the random baseline stays at or below alpha after correction; a baseline of "
        "fewer than 19 draws cannot give p <= 0.05, so its claim cannot be judged.",
        "",
        correction_text(record.get("verdict_rule"), intervals=False)
        or "Verdicts: this results file predates them (schema 3); its holds column is the older rule "
           "(above the random p95), uncorrected.",
        "",
    ]
    return "\n".join(lines)



def comparison_plot(record, path, title=""):
    """Saves the figure of an `AttackComparison.to_dict()` as a PNG; returns its path."""
    plt = pyplot()
    first, second = SIDES[record["flip"]]
    # A region without labelled pixels has no drops to draw (its verdicts say why).
    rows = [r for r in record["rows"] if r["top_drop"] is not None]
    regions = [r for r in record["regions"] if None not in r["drops"].values()]
    contrasts = [c for c in record["contrasts"] if c["contrast"] is not None]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ns = [r["n"] for r in rows]
    axes[0].axhline(0, color="k", lw=0.8, ls=":")
    axes[0].plot(ns, [r["top_drop"] for r in rows], "o-", color="tab:red", label="top-N channels")
    axes[0].errorbar(ns, [r["random"]["mean"] for r in rows],
                     yerr=[r["random"]["std"] or 0.0 for r in rows], fmt="s--", color="tab:gray",
                     capsize=3, label="N random channels (mean ± std)")
    axes[0].plot(ns, [r["random"]["p95"] for r in rows], "v:", color="tab:gray", label="random p95")
    axes[0].set_xlabel("N channels zeroed")
    axes[0].set_ylabel("mIoU drop")
    axes[0].set_title("Overall attack")
    axes[0].legend(fontsize=8)
    labels = [f"{r['ranking']}\nN={r['n']}" for r in regions]
    x = np.arange(len(labels))
    for offset, half in zip((-0.19, 0.19), (first, second)):
        axes[1].bar(x + offset, [r["drops"][half] for r in regions], 0.38, label=f"{half}-half drop")
    axes[1].set_xticks(x, labels, fontsize=8)
    axes[1].set_ylabel("mIoU drop")
    axes[1].set_title("Region attacks")
    axes[1].legend(fontsize=8)
    cn = [c["n"] for c in contrasts]
    for c in contrasts:
        axes[2].scatter([c["n"]] * len(c["random_values"]), c["random_values"], s=8, color="tab:gray",
                        alpha=0.5)
    axes[2].plot(cn, [c["contrast"] for c in contrasts], "o-", color="tab:red", label="measured")
    axes[2].plot(cn, [c["random"]["p95"] for c in contrasts], "v:", color="tab:gray", label="random p95")
    axes[2].axhline(0, color="k", lw=0.8, ls=":")
    axes[2].set_xlabel("N")
    axes[2].set_ylabel("region contrast")
    axes[2].set_title(f"{first} vs {second} contrast (grey: random pairs)")
    axes[2].legend(fontsize=8)
    fig.suptitle(title or f"{record['layer']}: {record['flip']} flip", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
