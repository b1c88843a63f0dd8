"""ChannelPermutation: a fresh permutation per call (shared or per sample), seeded, any shape."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_gpos.layers import ChannelPermutation
from tests.layer_test_utils import run_layer_test


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("per_sample", [False, True])
def test_channel_permutation_layer_contract(per_sample):
    run_layer_test(ChannelPermutation, {"per_sample": per_sample, "seed": 3}, (4, 5, 5, 8),
                   (4, 5, 5, 8))


@pytest.mark.backend_agnostic
def test_channel_permutation_is_a_fresh_permutation_per_call():
    layer = ChannelPermutation(seed=1)
    x = np.tile(np.arange(16, dtype="float32"), (3, 1))
    first = keras.ops.convert_to_numpy(layer(x))
    second = keras.ops.convert_to_numpy(layer(x))
    for out in (first, second):
        np.testing.assert_array_equal(np.sort(out, axis=-1), x)  # a permutation
        np.testing.assert_array_equal(out, np.broadcast_to(out[:1], out.shape))  # shared by batch
    assert not np.array_equal(first, second)  # fresh each call
    assert not np.array_equal(first[0], x[0])


@pytest.mark.backend_agnostic
def test_channel_permutation_per_sample_differs_across_batch():
    layer = ChannelPermutation(per_sample=True, seed=2)
    x = np.tile(np.arange(32, dtype="float32"), (6, 4, 4, 1))
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(np.sort(out, axis=-1), x)
    # One order per sample, the same at every spatial position.
    np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1, :1, :], out.shape))
    assert len({tuple(row) for row in out[:, 0, 0, :]}) > 1


@pytest.mark.backend_agnostic
def test_channel_permutation_active_at_inference():
    model = keras.Sequential([keras.Input((8,)), ChannelPermutation(seed=0)])
    x = np.arange(8, dtype="float32")[None]
    outs = {tuple(model.predict(x, verbose=0)[0]) for _ in range(5)}
    assert len(outs) > 1


@pytest.mark.backend_agnostic
def test_channel_permutation_same_seed_same_sequence():
    x = np.arange(10, dtype="float32")[None]
    a, b = ChannelPermutation(seed=7), ChannelPermutation(seed=7)
    for _ in range(3):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a(x)),
                                      keras.ops.convert_to_numpy(b(x)))


@pytest.mark.backend_agnostic
@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=4),
       per_sample=st.booleans(), seed=st.integers(0, 2**16))
def test_channel_permutation_any_shape_is_a_permutation(shape, per_sample, seed):
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    out = keras.ops.convert_to_numpy(ChannelPermutation(per_sample=per_sample, seed=seed)(x))
    assert out.shape == x.shape
    np.testing.assert_allclose(np.sort(out, axis=-1), np.sort(x, axis=-1))
