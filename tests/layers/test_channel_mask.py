"""ChannelMask: the layer contract, exactly the chosen channels zeroed or filled, any shape, bad sets."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gpos.layers import ChannelMask
from tests.layer_test_utils import run_layer_test


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
