"""The layers and classifiers use keras.ops only, so they run on JAX too.

Runs the layer tests and a model forward/fit pass in a subprocess with
KERAS_BACKEND=jax (the backend is fixed per process).
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

_JAX_SCRIPT = r"""
import numpy as np, keras
assert keras.config.backend() == "jax", keras.config.backend()
from keras_gpos.models import build_classifier
for padding in ("zero", "reflect", "replicate", "circular", "none", "partial"):
    model = build_classifier(4, input_shape=(32, 32, 3), depth=10, width=4, head="fc",
                             padding=padding, permute_at="stage2", seed=0)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    hist = model.fit(x, np.array([0, 1, 2, 3]), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
print("JAX_MODELS_OK")
"""


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="jax is not installed (pip install 'keras_gpos[jax]' to run the JAX backend check)",
)
def test_layers_and_models_run_on_the_jax_backend():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    layers = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_layers.py", "-k", "not mirrored"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    assert layers.returncode == 0, layers.stdout[-3000:] + layers.stderr[-3000:]
    assert " passed" in layers.stdout
    models = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=900,
    )
    assert models.returncode == 0, models.stderr[-3000:]
    assert "JAX_MODELS_OK" in models.stdout
