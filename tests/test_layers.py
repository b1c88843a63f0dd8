"""Shared layer checks and behaviour of the padding and permutation layers."""

import keras
import numpy as np
import pytest

import keras_gpos
from keras_gpos.layers import ChannelPermutation, PaddedConv2D, SpatialPadding2D
from tests.layer_test_utils import run_layer_test

pytestmark = pytest.mark.backend_agnostic


@pytest.mark.parametrize("mode", ["zero", "reflect", "replicate", "circular"])
def test_spatial_padding_layer_contract(mode):
    run_layer_test(SpatialPadding2D, {"padding": 2, "mode": mode}, (2, 6, 7, 3), (2, 10, 11, 3))


@pytest.mark.parametrize("mode", keras_gpos.layers.PADDING_MODES)
def test_padded_conv_layer_contract(mode):
    expected = (2, 6, 6, 4) if mode == "none" else (2, 8, 8, 4)
    run_layer_test(PaddedConv2D, {"filters": 4, "kernel_size": 3, "padding_mode": mode},
                   (2, 8, 8, 3), expected)


@pytest.mark.parametrize("per_sample", [False, True])
def test_channel_permutation_layer_contract(per_sample):
    run_layer_test(ChannelPermutation, {"per_sample": per_sample, "seed": 3}, (4, 5, 5, 8),
                   (4, 5, 5, 8))


def test_padding_modes_match_numpy():
    x = np.arange(2 * 4 * 5 * 1, dtype="float32").reshape(2, 4, 5, 1)
    numpy_modes = {"zero": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
    for mode, np_mode in numpy_modes.items():
        got = keras.ops.convert_to_numpy(SpatialPadding2D(((1, 2), (2, 1)), mode=mode)(x))
        want = np.pad(x, [(0, 0), (1, 2), (2, 1), (0, 0)], mode=np_mode)
        np.testing.assert_array_equal(got, want, err_msg=mode)


def test_partial_conv_keeps_border_of_constant_image():
    # On a constant image, zero padding dims the border outputs; partial
    # convolution rescales them so the output is constant again.
    x = np.ones((1, 6, 6, 1), "float32")
    outputs = {}
    for mode in ("zero", "partial"):
        conv = PaddedConv2D(1, 3, padding_mode=mode, use_bias=False, kernel_initializer="ones")
        outputs[mode] = keras.ops.convert_to_numpy(conv(x))[0, ..., 0]
    assert outputs["zero"][0, 0] == pytest.approx(4.0)
    np.testing.assert_allclose(outputs["partial"], 9.0, rtol=1e-6)


def test_circular_conv_is_translation_equivariant():
    # Circular padding has no border: shifting the input circularly shifts
    # the output the same way. Zero padding breaks this at the border.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 8, 8, 2)).astype("float32")
    shifted = np.roll(x, 3, axis=2)
    conv = PaddedConv2D(3, 3, padding_mode="circular")
    a = keras.ops.convert_to_numpy(conv(x))
    b = keras.ops.convert_to_numpy(conv(shifted))
    np.testing.assert_allclose(np.roll(a, 3, axis=2), b, rtol=1e-5, atol=1e-5)
    zero = PaddedConv2D(3, 3, padding_mode="zero")
    a0 = keras.ops.convert_to_numpy(zero(x))
    b0 = keras.ops.convert_to_numpy(zero(shifted))
    assert not np.allclose(np.roll(a0, 3, axis=2), b0, atol=1e-4)


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


def test_channel_permutation_per_sample_differs_across_batch():
    layer = ChannelPermutation(per_sample=True, seed=2)
    x = np.tile(np.arange(32, dtype="float32"), (6, 4, 4, 1))
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(np.sort(out, axis=-1), x)
    # One order per sample, the same at every spatial position.
    np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1, :1, :], out.shape))
    assert len({tuple(row) for row in out[:, 0, 0, :]}) > 1


def test_channel_permutation_active_at_inference():
    model = keras.Sequential([keras.Input((8,)), ChannelPermutation(seed=0)])
    x = np.arange(8, dtype="float32")[None]
    outs = {tuple(model.predict(x, verbose=0)[0]) for _ in range(5)}
    assert len(outs) > 1


def test_channel_permutation_same_seed_same_sequence():
    x = np.arange(10, dtype="float32")[None]
    a, b = ChannelPermutation(seed=7), ChannelPermutation(seed=7)
    for _ in range(3):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a(x)),
                                      keras.ops.convert_to_numpy(b(x)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"padding_mode": "mirror"}, "Unknown padding mode 'mirror'"),
        ({"filters": 0}, "filters must be a positive int"),
        ({"kernel_size": 3, "strides": 2, "dilation_rate": 2}, "strides > 1 together"),
    ],
)
def test_padded_conv_rejects_bad_arguments(kwargs, message):
    args = {"filters": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        PaddedConv2D(**args)


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="Unknown padding mode 'edge'"):
        SpatialPadding2D(1, mode="edge")
    with pytest.raises(ValueError, match="axis=0 is not a channel axis"):
        ChannelPermutation(axis=0)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="per_sample must be a bool"):
        ChannelPermutation(per_sample="yes")
    with pytest.raises(ValueError, match="reflect padding"):
        SpatialPadding2D(3, mode="reflect")(np.zeros((1, 2, 2, 1)))


@pytest.mark.parametrize("kernel_size, dilation_rate, groups", [(3, 1, 1), ((3, 5), 1, 1), (3, 2, 2), ((1, 4), 1, 1)])
def test_padded_conv_zero_stride_1_equals_keras_same(kernel_size, dilation_rate, groups):
    # The drop-in promise: same weights, same outputs as Conv2D(padding="same").
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 10, 4)).astype("float32")
    ours = PaddedConv2D(6, kernel_size, padding_mode="zero", dilation_rate=dilation_rate, groups=groups,
                        activation="relu")
    keras_conv = keras.layers.Conv2D(6, kernel_size, padding="same", dilation_rate=dilation_rate,
                                     groups=groups, activation="relu")
    ours.build(x.shape)
    keras_conv.build(x.shape)
    bias = rng.normal(size=(6,)).astype("float32")
    keras_conv.set_weights([ours.conv.get_weights()[0], bias])
    ours.bias.assign(bias)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)), keras.ops.convert_to_numpy(keras_conv(x)),
                               rtol=1e-5, atol=1e-5)


def test_padded_conv_stride_2_pads_symmetrically_unlike_keras_same():
    # Documented difference: on an even input, Keras' "same" pads (0, 1) for a
    # 3x3 kernel at stride 2; PaddedConv2D pads (1, 1) like the paper's code.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 8, 8, 2)).astype("float32")
    ours = PaddedConv2D(3, 3, strides=2, use_bias=False)
    ours.build(x.shape)
    kernel = ours.conv.get_weights()[0]
    same = keras.layers.Conv2D(3, 3, strides=2, padding="same", use_bias=False)
    valid = keras.layers.Conv2D(3, 3, strides=2, padding="valid", use_bias=False)
    for layer in (same, valid):
        layer.build((1, 10, 10, 2) if layer is valid else x.shape)
        layer.set_weights([kernel])
    got = keras.ops.convert_to_numpy(ours(x))
    symmetric = keras.ops.convert_to_numpy(valid(np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])))
    np.testing.assert_allclose(got, symmetric, rtol=1e-5, atol=1e-5)
    assert got.shape == (1, 4, 4, 3)
    assert not np.allclose(got, keras.ops.convert_to_numpy(same(x)), atol=1e-3)


def test_padded_conv_takes_conv2d_arguments_and_round_trips():
    conv = PaddedConv2D(4, (3, 1), strides=(2, 1), padding_mode="replicate", activation="relu",
                        use_bias=True, bias_initializer="ones", kernel_regularizer="l2",
                        kernel_constraint="non_neg", name="c")
    out = keras.ops.convert_to_numpy(conv(np.ones((1, 6, 5, 2), "float32")))
    assert out.shape == (1, 3, 5, 4) and np.all(out >= 0)
    clone = PaddedConv2D.from_config(conv.get_config())
    assert clone.kernel_size == (3, 1) and clone.strides == (2, 1) and clone.activation is conv.activation


def test_reflect_padding_of_a_too_small_map_names_the_layer():
    with pytest.raises(ValueError, match=r"conv7: reflect padding of 3 px .* \(2, 2\).*replicate"):
        PaddedConv2D(2, 7, padding_mode="reflect", name="conv7")(np.zeros((1, 2, 2, 1)))
    out = PaddedConv2D(2, 7, padding_mode="replicate")(np.zeros((1, 2, 2, 1)))
    assert tuple(out.shape) == (1, 2, 2, 2)
