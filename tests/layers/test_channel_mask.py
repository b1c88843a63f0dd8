"""ChannelMask: the layer contract, exactly the chosen channels zeroed or filled, any shape, bad sets."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_gpos.layers import ChannelMask
from tests.layer_test_utils import run_layer_test


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_channel_mask_layer_contract(mode):
    run_layer_test(ChannelMask, {"channels": [1, 3], "mode": mode}, (2, 4, 5, 6), (2, 4, 5, 6))


def test_channel_mask_zeroes_or_fills_exactly_the_chosen_channels():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 5)).astype("float32")
    mask = ChannelMask(channels=[0, 3])
    out = keras.ops.convert_to_numpy(mask(x))
    np.testing.assert_array_equal(out[..., [0, 3]], 0.0)
    np.testing.assert_array_equal(out[..., [1, 2, 4]], x[..., [1, 2, 4]])
    mask.set_channels(tf.constant([4]))  # a tensor works as well as a list
    out = keras.ops.convert_to_numpy(mask(x))
    np.testing.assert_array_equal(out[..., 4], 0.0)
    np.testing.assert_array_equal(out[..., :4], x[..., :4])

    fill = ChannelMask(channels=[1], mode="mean")
    fill.build(x.shape)
    fill.set_fill_values([0.0, 7.0, 0.0, 0.0, 0.0])
    out = keras.ops.convert_to_numpy(fill(x))
    np.testing.assert_array_equal(out[..., 1], 7.0)
    np.testing.assert_array_equal(out[..., 0], x[..., 0])


@pytest.mark.backend_agnostic
def test_channel_mask_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Unknown mask mode 'noise'"):
        ChannelMask(mode="noise")
    with pytest.raises(ValueError, match=r"non-negative indices; got \[-1\]"):
        ChannelMask(channels=[-1])
    with pytest.raises(ValueError, match=r"channel indices \[5\] are out of range for a layer with 5 channels"):
        ChannelMask(channels=[5])(np.zeros((1, 2, 2, 5), "float32"))
    mask = ChannelMask()
    mask(np.zeros((1, 2, 2, 5), "float32"))
    with pytest.raises(ValueError, match=r"\[7\] are out of range"):
        mask.set_channels([1, 7])
    with pytest.raises(ValueError, match="integer indices"):
        mask.set_channels([1.5])


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
@settings(max_examples=40, deadline=None)
@given(channels=st.integers(1, 9), rank=st.integers(2, 4),
       dtype=st.sampled_from(["float16", "float32", "float64"]),
       chosen=st.lists(st.integers(-3, 12), max_size=6), mode=st.sampled_from(["zero", "mean"]),
       seed=st.integers(0, 2**16))
def test_channel_mask_any_shape_dtype_and_channel_set(channels, rank, dtype, chosen, mode, seed):
    from keras_gpos.layers import ChannelMask

    shape = (2,) + (3,) * (rank - 2) + (channels,)
    x = np.random.default_rng(seed).normal(size=shape).astype(dtype)
    bad = [c for c in chosen if not 0 <= c < channels]
    if any(c < 0 for c in chosen):
        with pytest.raises(ValueError, match="non-negative"):
            ChannelMask(channels=chosen, mode=mode)
        return
    layer = ChannelMask(channels=chosen, mode=mode)
    if bad:
        message = re.escape(f"channel indices {bad} are out of range for a layer with {channels} ")
        with pytest.raises(ValueError, match=message):
            layer(x)
        return
    fill = np.arange(channels, dtype="float32") + 1.0
    layer.build(x.shape)
    layer.set_fill_values(fill)
    out = keras.ops.convert_to_numpy(layer(x))
    # Keras casts float inputs to the layer's compute dtype (float32).
    assert out.shape == x.shape and out.dtype == np.dtype(layer.compute_dtype)
    keep = [c for c in range(channels) if c not in chosen]
    np.testing.assert_array_equal(out[..., keep], x[..., keep].astype(out.dtype))
    expected = 0.0 if mode == "zero" else np.broadcast_to(fill[sorted(set(chosen))],
                                                          out[..., sorted(set(chosen))].shape)
    np.testing.assert_allclose(out[..., sorted(set(chosen))], expected, rtol=1e-3)
    with pytest.raises(ValueError, match="out of range"):
        layer.set_channels([channels])


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
@pytest.mark.parametrize("channels, message", [
    ([1.5], "integer indices"), ([True], "integer indices"), (["a"], "integer indices"),
    ([[0, 1]], None),
])
def test_channel_mask_rejects_non_integer_channel_sets(channels, message):
    from keras_gpos.layers import ChannelMask

    if message is None:  # nested lists are flattened: a valid set
        assert ChannelMask(channels=channels).channels == [0, 1]
        return
    with pytest.raises(ValueError, match=message):
        ChannelMask(channels=channels)
