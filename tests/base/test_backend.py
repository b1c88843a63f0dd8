"""The one per-backend compile (`keras_gpos.base.backend`): traced once, and random layers stay random.

Backend-agnostic: the main process runs it on TensorFlow and the JAX run
(tests/integration/test_jax_backend.py, by marker) runs it on JAX.
"""

import keras
import numpy as np
import pytest

from keras_gpos.base.backend import ModelFunction, compiled_forward, traces
from keras_gpos.layers import ChannelPermutation

pytestmark = pytest.mark.backend_agnostic


def _permuting_model(seed):
    inputs = keras.Input((16,))
    return keras.Model(inputs, ChannelPermutation(seed=seed)(inputs))


def test_a_permutation_draws_a_new_order_at_every_compiled_call():
    # On JAX the compiled call must carry the seed generator's new state back;
    # dropping it would give one fixed order at every call (a silent PermuteNet bug).
    model = _permuting_model(seed=3)
    forward = compiled_forward(model)
    x = np.tile(np.arange(16, dtype="float32"), (2, 1))
    orders = [tuple(forward(x)[0].astype(int)) for _ in range(6)]
    assert len(set(orders)) > 1, f"six compiled calls gave one order: {orders[0]}"
    assert all(sorted(order) == list(range(16)) for order in orders)
    assert traces(model) == 1


def test_the_same_seed_gives_the_same_orders_on_a_fresh_start():
    x = np.tile(np.arange(16, dtype="float32"), (2, 1))
    runs = []
    for _ in range(2):
        forward = compiled_forward(_permuting_model(seed=7))
        runs.append([tuple(forward(x)[0].astype(int)) for _ in range(3)])
    assert runs[0] == runs[1]


def test_a_model_function_carries_state_through_a_custom_step_and_traces_once():
    model = _permuting_model(seed=5)
    step = ModelFunction(model, lambda call, x: keras.ops.argmax(call(x), axis=-1), [((16,), "float32")])
    x = np.tile(np.eye(16, dtype="float32")[:1], (4, 1))  # channel 0 hot: argmax is where it went
    where = {int(keras.ops.convert_to_numpy(step(x))[0]) for _ in range(8)}
    assert len(where) > 1
    assert step.traces == 1


def test_backend_is_the_one_asked_for():
    import os

    assert keras.config.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")
