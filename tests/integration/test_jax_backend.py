"""The library on the JAX backend, and without TensorFlow (slow: each test starts a JAX process).

* One process runs every test marked `backend_agnostic`, selected by marker over the whole
  `tests/` tree, with `KERAS_BACKEND=jax`: a moved file keeps its JAX coverage. The same
  selection runs directly as `KERAS_BACKEND=jax pytest -m backend_agnostic`.
* One process computes on JAX what the library reports for models built and saved here on
  TensorFlow (tests/integration/backend_numbers.py): the same weights give the same numbers.
* One process blocks every `tensorflow` import, then imports keras_gpos
  and uses the core on JAX: layers, models, losses, metrics, ranking,
  attacks, the audit and `AugShiftModel.fit`; a TensorFlow-only entry point
  says so. The same process splits the CPU into two JAX devices
  (`XLA_FLAGS=--xla_force_host_platform_device_count=2`) and checks that
  data-parallel training (`keras_gpos.training.data_parallel`) matches one
  device.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tests.no_tensorflow import BLOCK_TENSORFLOW

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                       reason="jax is not installed (pip install 'keras_gpos[jax]' to run the JAX backend checks)"),
]

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
evaluator = keras_gpos.attacks.AttackEvaluator(
    attacked, (scenes.images.astype("float32"), np.minimum(scenes.masks, 2)), 3)
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
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "backend_agnostic", "tests",
         "-k", "not mirrored"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


def test_tensorflow_and_jax_give_the_same_numbers_on_the_same_weights(tmp_path):
    # Was test_ranking_consistency_and_probe_run (tests/test_backends.py), which ran on each backend
    # but asserted only that consistency, accuracy and probe accuracy lie in [0, 1]; the audit's
    # impact test likewise asserted only 0 <= clean accuracy <= 1.
    from tests.integration.backend_numbers import numbers, save_models

    save_models(tmp_path)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-m", "tests.integration.backend_numbers", str(tmp_path)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    jax = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("NUMBERS "))[8:])
    tf = numbers(tmp_path)
    assert (tf["backend"], jax["backend"]) == ("tensorflow", "jax")
    logits = np.asarray(tf["logits"])
    np.testing.assert_allclose(jax["logits"], logits, rtol=1e-4, atol=1e-5 * np.abs(logits).max())
    ranking = np.asarray(tf["ranking"])
    assert tf["ranking_channels"] == jax["ranking_channels"] == 32 and np.all(np.isfinite(ranking))
    np.testing.assert_allclose(jax["ranking"], ranking, rtol=1e-4, atol=1e-5 * np.abs(ranking).max())
    # Counts of agreeing or correct argmaxes, and probes fitted by L-BFGS on the same features:
    # equal, not merely in [0, 1].
    for key in ("consistency", "accuracy", "probe_accuracy", "audit_location", "audit_clean_accuracy",
                "audit_top_drop"):
        assert jax[key] == tf[key], (key, jax[key], tf[key])
    for channels, regions in tf["miou"].items():
        for region, value in regions.items():
            assert jax["miou"][channels][region] == pytest.approx(value, abs=1e-5), (channels, region)


def test_the_core_runs_without_tensorflow_and_data_parallel_matches_one_device():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-4000:]
    assert "NO_TENSORFLOW_OK" in result.stdout
    print(result.stdout.strip().splitlines()[-1])
