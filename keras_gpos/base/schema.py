"""The versions results files record: keras_gpos's own, and the layout of run.json and results.json.

1 (keras_gpos 0.1) stored accuracies in percent and no experiment name; 2
stores fractions in [0, 1], `experiment`, `keras_gpos_version` and
`schema_version`; 3 adds per-image outcomes (what a later test by image
needs: correct canvases per test image for location and class runs, correct
cells per held-out image for every audit probe, agreeing view pairs and
correct views per test image for AugShift runs) and verdicts (holds, does
not hold, cannot be judged here, with the report's Holm correction in
`verdict_rule`). Reading older files is `keras_gpos.reporting.schema`: their
claims read "cannot be judged (no per-image outcomes)".
"""

SCHEMA_VERSION = 3

# The package version (`keras_gpos.__version__`), recorded in every run.json.
VERSION = "0.3.0"

# A run's fingerprint: what determines it. Format 2 (this version) holds `settings`, `keras_backend`
# and `data` with each split's content; keras_gpos 0.2 wrote no `format` and the data by size only.
FINGERPRINT_FILE = "fingerprint.json"
FINGERPRINT_FORMAT = 2


def read_fingerprint(path):
    """A stored `fingerprint.json`, its structure checked (one line naming the file otherwise)."""
    from keras_gpos.base.files import read_record

    return read_record(path, "run fingerprint", {"settings": dict},
                       {"data": dict, "format": int, "keras_backend": str})

__all__ = [
    "SCHEMA_VERSION", "VERSION", "FINGERPRINT_FILE", "FINGERPRINT_FORMAT", "read_fingerprint"
]
