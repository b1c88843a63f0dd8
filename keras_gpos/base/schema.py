"""The versions results files record: keras_gpos's own, and the layout of run.json and results.json.

1 (keras_gpos 0.1) stored accuracies in percent and no experiment name; 2
stores fractions in [0, 1], `experiment`, `keras_gpos_version` and
`schema_version`. Reading older files is `keras_gpos.reporting.schema`.
"""

SCHEMA_VERSION = 2

# The package version (`keras_gpos.__version__`), recorded in every run.json.
VERSION = "0.3.0"
