"""A width-8 ResNet trains on 96 px canvases in a fresh process (tests/models/test_resnet.py
says why: TF 2.21's oneDNN aborted the process in the strided 1x1 projection's weight gradient)."""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.skipif(keras.config.backend() != "tensorflow", reason="the abort is in TensorFlow's oneDNN kernels")
def test_a_width_8_resnet_trains_on_96px_canvases_in_a_fresh_process(tmp_path):
    # The setting that aborted 3 of 3 runs before the fix (exit 134/139), in its own process.
    script = (
        "import numpy as np, keras, keras_gpos\n"
        "m = keras_gpos.models.build_classifier(9, (96, 96, 3), depth=18, width=8, head='fc')\n"
        "keras_gpos.training.compile_classifier(m)\n"
        "x = np.random.default_rng(0).normal(size=(32, 96, 96, 3)).astype('float32')\n"
        "m.fit(x, np.arange(32) % 9, batch_size=32, epochs=3, verbose=0)\n"
        "print('TRAINED')\n")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0 and "TRAINED" in result.stdout, (result.returncode, result.stderr[-2000:])
