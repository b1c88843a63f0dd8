"""The library on the JAX backend, and without TensorFlow.

* One subprocess runs the backend-agnostic tests (`tests/test_layers.py`,
  `tests/test_backends.py`, the data layer's `tests/data/`, ...) with
  `KERAS_BACKEND=jax`.
* One subprocess blocks every `tensorflow` import, then imports keras_gpos
  and uses the core on JAX: layers, models, losses, metrics, ranking,
  attacks, the audit and `AugShiftModel.fit`; a TensorFlow-only entry point
  says so. The same process splits the CPU into two JAX devices
  (`XLA_FLAGS=--xla_force_host_platform_device_count=2`) and checks that
  data-parallel training (`keras_gpos.training.data_parallel`) matches one
  device.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

from tests.no_tensorflow import BLOCK_TENSORFLOW

REPO = pathlib.Path(__file__).resolve().parents[1]
# The data layer's tests, every one backend-agnostic or skipped off TensorFlow.
DATA_LAYER_TESTS = [f"tests/data/test_{name}.py" for name in (
    "keyed", "transforms", "grid", "pipeline", "view_protocol", "shift_views", "view_pipeline",
    "segmentation_batches", "feed")] + ["tests/audit/test_canvases.py"]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="jax is not installed (pip install 'keras_gpos[jax]' to run the JAX backend checks)",
)

NO_TENSORFLOW = BLOCK_TENSORFLOW + r"""
import numpy as np, keras, jax
assert keras.config.backend() == "jax" and len(jax.devices()) == 2, (keras.config.backend(), jax.devices())
import keras_gpos
from keras_gpos.training import AugShiftModel, data_parallel
from keras_gpos.losses import ShiftConsistencyLoss

# The core, without TensorFlow.
model = keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc", permute_at="pooled")
x = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")
protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
print(keras_gpos.metrics.consistency_and_accuracy(model, x, np.zeros(8, int), protocol, repeats=1)["consistency"])
segmenter = keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8)
scenes = keras_gpos.data.make_street_scenes(4, (32, 48))
ranking = keras_gpos.ranking.rank_position_channels(segmenter, "stage4_out", scenes)
attacked = keras_gpos.attacks.insert_channel_mask(segmenter, "stage4_out")
evaluator = keras_gpos.attacks.AttackEvaluator(attacked, (scenes.images.astype("float32"), np.minimum(scenes.masks, 2)), 3)
comparison = evaluator.compare(ranking, (2,), random_draws=2, contrast_pairs=2, verbose=0)
assert evaluator.trace_count == 1, evaluator.trace_count
if hasattr(keras_gpos, "audit"):
    audit = keras_gpos.audit.position_audit(model, x, layers=["stage4_out"], grid_size=2, verbose=0)
    print("audit", audit.to_dict()["layers"][0]["location"]["ordered"]["accuracy"])
# The data layer feeds fit without TensorFlow; only the tf.data feed needs it.
shapes = keras_gpos.data.make_shapes_dataset(8)
canvases, cells = keras_gpos.data.grid_dataset(shapes, 2, batch_size=8)[0]
assert canvases.shape == (8, 64, 64, 3) and cells.tolist() == [0, 1, 2, 3] * 2, (canvases.shape, cells)
try:
    keras_gpos.data.tf_dataset(keras_gpos.data.grid_batches(shapes, 2))
    raise AssertionError("tf_dataset ran without TensorFlow")
except ImportError as error:
    assert "needs TensorFlow" in str(error), error

# Data parallel over two JAX devices matches one device.
def train(parallel):
    keras.distribution.set_distribution(None)
    if parallel:
        data_parallel()
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(6, 3),
                                keras.layers.BatchNormalization(), keras.layers.ReLU()])
    model = AugShiftModel(encoder, keras.layers.Dense(3), ShiftConsistencyLoss(1.0))
    model.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 16, 16, 16, 3)).astype("float32")
    history = model.fit((a, b), np.arange(16) % 3, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return history.history["loss"], [np.asarray(w) for w in model.get_weights()]

one_loss, one_weights = train(False)
two_loss, two_weights = train(True)
np.testing.assert_allclose(two_loss, one_loss, rtol=1e-4)
for got, want in zip(two_weights, one_weights):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
assert not [m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow.")]
print("NO_TENSORFLOW_OK", max(abs(g - w).max() for g, w in zip(two_weights, one_weights)))
"""


def test_backend_agnostic_tests_pass_on_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_layers.py", "tests/base/test_backend.py",
         "tests/layers/test_keras_layer_test.py", "tests/training/test_augshift.py",
         "tests/base/test_progress.py",
         "tests/test_backends.py", "tests/test_audit.py", *DATA_LAYER_TESTS, "-k", "not mirrored"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


def test_the_core_runs_without_tensorflow_and_data_parallel_matches_one_device():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-4000:]
    assert "NO_TENSORFLOW_OK" in result.stdout
    print(result.stdout.strip().splitlines()[-1])
