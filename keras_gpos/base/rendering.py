"""Rendering primitives every floor may use: Markdown tables, figures and a report's three files.

Library results (`PositionAudit`, `AttackComparison`, `PositionRanking`)
draw themselves through these for their one-call conveniences; experiment
reports in `keras_gpos.reporting` compose the same primitives.
"""

import dataclasses
import pathlib

from keras_gpos.base.files import _atomic_with, write_json, write_text
from keras_gpos.base.schema import SCHEMA_VERSION
from keras_gpos.base.stats import mean_and_spread


def format_value(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def fixed(value, digits=1):
    """`value` with `digits` decimals, never `-0` (a share a hair below zero prints as 0)."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and not float(text) else text


def markdown_table(headers, rows):
    """A GitHub-flavoured Markdown table from a header list and row lists."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(format_value(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def format_mean_spread(values, digits=1):
    """`"mean ± std"` of `values` (`"mean"` for one value, `"n/a"` for none)."""
    mean, std = mean_and_spread(values)
    if mean is None:
        return "n/a"
    if std is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display is ever needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi=110):
    """Saves a matplotlib figure atomically as PNG, closes it, returns the path."""
    import matplotlib.pyplot as plt

    try:
        return _atomic_with(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    finally:
        plt.close(fig)


@dataclasses.dataclass(frozen=True)
class Report:
    """The files of one report and its content.

    Attributes:
        json, markdown, plot: paths of results.json, results.md and the PNG.
        text: str. The Markdown table (also printed by the CLIs).
        payload: dict. What results.json holds.
    """

    json: pathlib.Path
    markdown: pathlib.Path
    plot: pathlib.Path
    text: str
    payload: dict


def write_files(output_dir, payload, text, plot_function, plot_name="results.png"):
    """Writes results.json (with `schema_version`), results.md and the plot; returns a `Report`."""
    output_dir = pathlib.Path(output_dir)
    payload = {**payload, "schema_version": SCHEMA_VERSION}
    write_json(output_dir / "results.json", payload)
    write_text(output_dir / "results.md", text)
    plot = plot_function(output_dir / plot_name)
    return Report(output_dir / "results.json", output_dir / "results.md", plot, text, payload)


STATE_TEXT = {"holds": "holds", "does_not_hold": "does not hold", "cannot_be_judged": "cannot be judged here"}
REASON_TEXT = {
    "probe_at_chance": "the probe it reads is at chance",
    "model_at_chance": "the model it compares is at chance",
    "reference_at_chance": "the unpermuted reference is at chance, so there is no share to keep",
    "no_labelled_pixels": "no labelled pixels",
    "too_few_images": "too few images",
    "too_few_draws": "too few random draws for a p-value at or below alpha",
    "one_seed": "one seed; a claim about training needs several",
    "no_per_image_outcomes": "no per-image outcomes",
    "no_reference": "nothing to compare with",
    "different_images": "the compared evaluations scored different images",
    "no_random_baseline": "this file kept no random baseline for it",
}


def _signed(value, percent):
    return "n/a" if value is None else (f"{100 * value:+.1f}" if percent else f"{value:+.3f}")


def p_text(p, equals=""):
    """`0.0123` (after `equals`), or `< 0.0001` where four decimals would print 0 (a refined bootstrap reaches 5e-5)."""
    return "< 0.0001" if p < 0.0001 else f"{equals}{p:.4f}"


def verdict_text(verdict, percent=True):
    """A verdict dict in words: its state, then its numbers or the reason it cannot be judged.

    `percent` prints the estimate and interval in percentage points (else as
    fractions with three digits).
    """
    state = verdict["state"]
    if state == "cannot_be_judged":
        reason = reason_text(verdict)
        unmet = (verdict.get("context") or {}).get("unmet")
        return f"cannot be judged here ({reason}{f': {unmet} does not hold' if unmet else ''})"
    parts = []
    if verdict.get("estimate") is not None:
        low, high = verdict.get("interval") or (None, None)
        interval = "" if low is None else (f", {100 * (verdict.get('level') or 0.95):.0f}% interval "
                                           f"{_signed(low, percent)} to {_signed(high, percent)}")
        parts.append(f"{_signed(verdict['estimate'], percent)}{' pt' if percent else ''}{interval}")
    if verdict.get("p_value") is not None:
        adjusted = verdict.get("p_adjusted")
        holm = "" if adjusted is None else f", Holm {p_text(adjusted)}"
        parts.append(f"p {p_text(verdict['p_value'], '= ')}{holm}")
    seeds = verdict.get("seeds")
    if seeds:
        parts.append(f"in {seeds['holds_in']} of {seeds['of']} seeds")
    return STATE_TEXT[state] + (f" ({'; '.join(parts)})" if parts else "")


def correction_text(rule, intervals=True):
    """The multiple-comparison rule of a report (`keras_gpos.base.verdicts.correct`'s rule) in words.

    `intervals` adds how the report's intervals were made (bootstraps over images).
    """
    if not rule:
        return ""
    if not rule["family"]:
        return "Verdicts: no claim of this report could be tested (each says why)."
    return (f"Verdicts: a claim holds when its one-sided test rejects at family-wise level {rule['alpha']:g} "
            f"after Holm's correction over the {rule['family']} tested claims of this report"
            + ("; intervals are 95% percentile bootstraps over images (seeded), uncorrected." if intervals
               else "."))


def reason_text(verdict):
    """Why a verdict cannot be judged, in words."""
    return REASON_TEXT.get(verdict.get("reason"), verdict.get("reason") or "unknown reason")


def paper_agreement(verdict, predicted):
    """Whether a verdict agrees with what the paper predicts (`predicted`: True holds, False does not,
    None no prediction), as a sentence to append ('' without a prediction)."""
    if predicted is None:
        return ""
    if verdict["state"] == "cannot_be_judged":
        return " This run cannot test the paper's claim."
    if (verdict["state"] == "holds") == predicted:
        return " The paper's claim agrees with this run."
    return " The paper's claim does not agree with this run."

__all__ = [
    "format_value", "markdown_table", "format_mean_spread", "pyplot", "save_figure", "Report", "write_files",
    "STATE_TEXT", "REASON_TEXT", "verdict_text", "correction_text", "reason_text", "paper_agreement"
]
