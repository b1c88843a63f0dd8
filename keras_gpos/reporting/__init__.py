"""Reports: each experiment's results as JSON, a Markdown table and a PNG.

One module per experiment (`location`, `augshift`, `position_attack`), each
with `write_report(output_dir, runs, extra=None) -> Report`. The atomic file
layer they write through is `keras_gpos.files`.
"""

from keras_gpos.reporting.report import Report
from keras_gpos.reporting.tables import format_mean_spread
from keras_gpos.reporting.tables import markdown_table
from keras_gpos.reporting.tables import mean_and_spread
