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
