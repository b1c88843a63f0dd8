"""Result files (JSON, Markdown, PNG), written atomically."""

from keras_gpos.reporting.files import read_json
from keras_gpos.reporting.files import save_figure
from keras_gpos.reporting.files import save_keras_model
from keras_gpos.reporting.files import write_json
from keras_gpos.reporting.files import write_text
from keras_gpos.reporting.tables import format_mean_spread
from keras_gpos.reporting.tables import markdown_table
from keras_gpos.reporting.tables import mean_and_spread
