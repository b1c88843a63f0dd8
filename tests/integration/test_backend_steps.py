"""The experiments give the same numbers on TensorFlow and on JAX.

The test process (TensorFlow) builds each experiment's model through the
experiment's own code, saves its weights and first training batch, and takes
one training step; a subprocess with every `tensorflow` import blocked and
`KERAS_BACKEND=jax` loads the same weights and batch and takes the same step
(`tests/integration/backend_step.py`). Outputs before the step and the step's
loss agree within 1e-4 (the models are at initialisation, so neither side sits
at chance by accident of training: the numbers are the network's, not an
accuracy). The same flagfile gives the same training batches on both feeds
(`tf.data` and `PyDataset`): equal digests.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tests.integration.backend_step import CASES, build_case, data_digests, step_numbers
from tests.no_tensorflow import BLOCK_TENSORFLOW

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")]


@pytest.fixture(scope="module")
def both_backends(tmp_path_factory):
    import keras

    folder = tmp_path_factory.mktemp("backends")
    tensorflow = {}
    for name in CASES:
        keras.utils.set_random_seed(0)
        model, inference, x, y = build_case(name)
        model.save_weights(str(folder / f"{name}.weights.h5"))
        views = x if isinstance(x, (tuple, list)) else (x,)
        np.savez(folder / f"{name}.npz", y=y, **{f"x{index}": view for index, view in enumerate(views)})
        tensorflow[name] = step_numbers(model, inference, x, y)
    script = BLOCK_TENSORFLOW + (f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
                                 "from tests.integration.backend_step import main\n"
                                 f"main({str(folder)!r}, {str(REPO)!r})\n")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    jax = json.loads(result.stdout.strip().splitlines()[-1])
    assert jax["backend"] == "jax"
    return tensorflow, jax, data_digests(str(REPO))


@pytest.mark.parametrize("name", CASES)
def test_one_step_of_each_experiment_model_agrees_across_backends(both_backends, name):
    tensorflow, jax, _ = both_backends
    ours, theirs = tensorflow[name], jax["steps"][name]
    assert len(ours["outputs"]) == len(theirs["outputs"]) > 0
    np.testing.assert_allclose(theirs["outputs"], ours["outputs"], rtol=0, atol=1e-4)
    assert abs(theirs["loss"] - ours["loss"]) <= 1e-4, (theirs["loss"], ours["loss"])
    # The outputs vary with the input: agreement is not two constant vectors.
    assert np.ptp(ours["outputs"]) > 1e-3


def test_the_same_flags_give_the_same_batches_on_both_feeds(both_backends):
    _, jax, tensorflow_digests = both_backends
    assert set(tensorflow_digests) == set(jax["digests"]) and len(tensorflow_digests) == 3
    assert jax["digests"] == tensorflow_digests
