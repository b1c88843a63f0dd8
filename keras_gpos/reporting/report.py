"""What every experiment's `write_report(output_dir, runs, extra=None)` returns."""

import dataclasses
import pathlib

from keras_gpos.files import write_json, write_text
from keras_gpos.training.run import SCHEMA_VERSION


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
