"""Reports: each experiment's results as JSON, a Markdown table and a PNG.

One module per experiment (`location`, `augshift`, `position_attack`,
`audit`), each with `write_report(output_dir, runs, extra=None) -> Report`,
composed from the library results' dicts and the base floor's rendering
primitives (`keras_gpos.base.rendering`); `schema` reads older result files and
`results` rewords any results.json (claims of files before schema 3 read "cannot be
judged (no per-image outcomes)").
"""

from keras_gpos.base.rendering import Report
from keras_gpos.base.rendering import format_mean_spread
from keras_gpos.base.rendering import markdown_table
from keras_gpos.base.stats import mean_and_spread

__all__ = [
    "Report", "format_mean_spread", "markdown_table", "mean_and_spread"
]
