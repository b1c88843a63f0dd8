"""Border modes at every kernel size and pad width (`keras_gpos.layers.padding`).

Each mode either pads exactly as NumPy's reference does, or refuses in one
line. Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_gpos
from keras_gpos.layers import ChannelPermutation, PaddedConv2D, SpatialPadding2D
from keras_gpos.layers.padding import pad_spatial
from tests.layer_test_utils import run_layer_test

pytestmark = pytest.mark.backend_agnostic

NUMPY_MODE = {"zero": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _reference(x, pads, mode):
    (top, bottom), (left, right) = pads
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), mode=NUMPY_MODE[mode])


def _numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(height=st.integers(1, 4), width=st.integers(1, 4), top=st.integers(0, 9), bottom=st.integers(0, 9),
       left=st.integers(0, 9), right=st.integers(0, 9), mode=st.sampled_from(["replicate", "circular", "zero"]))
def test_padding_matches_numpy_at_every_pad_width(height, width, top, bottom, left, right, mode):
    x = np.arange(2 * height * width * 2, dtype="float32").reshape(2, height, width, 2)
    pads = ((top, bottom), (left, right))
    np.testing.assert_array_equal(_numpy(pad_spatial(x, pads, mode)), _reference(x, pads, mode))


@pytest.mark.adversarial
def test_circular_padding_wider_than_the_map_wraps_instead_of_nan_or_a_gather_error():
    # Finding 3: a 9x9 circular kernel on a 3x3 map padded by 4 > 3 gave NaN on JAX and a raw
    # GatherV2 error on TensorFlow. It now wraps periodically, as a circular convolution does.
    x = np.random.default_rng(0).normal(size=(1, 3, 3, 2)).astype("float32")
    conv = PaddedConv2D(2, 9, padding_mode="circular", use_bias=False)
    out = _numpy(conv(x))
    assert out.shape == (1, 3, 3, 2) and np.all(np.isfinite(out))
    kernel = _numpy(conv.conv.kernel)
    reference = _numpy(keras.ops.conv(_reference(x, ((4, 4), (4, 4)), "circular"), kernel, padding="valid"))
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)
    layer = SpatialPadding2D(((5, 0), (0, 7)), "circular")
    np.testing.assert_array_equal(_numpy(layer(x)), _reference(x, ((5, 0), (0, 7)), "circular"))


@pytest.mark.adversarial
@pytest.mark.parametrize("kernel_size", [2, (1, 2), (2, 1), 4])
def test_replicate_padding_with_an_even_kernel_works(kernel_size):
    # Finding 9: an even kernel pads 0 before, and the empty index list reached TensorFlow's
    # gather as float ("GatherV2 Tindices float").
    x = np.random.default_rng(1).normal(size=(1, 5, 6, 2)).astype("float32")
    out = _numpy(PaddedConv2D(3, kernel_size, padding_mode="replicate")(x))
    assert out.shape == (1, 5, 6, 3) and np.all(np.isfinite(out))
    layer = SpatialPadding2D(((0, 1), (0, 1)), "replicate")
    np.testing.assert_array_equal(_numpy(layer(x)), _reference(x, ((0, 1), (0, 1)), "replicate"))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(size=st.integers(1, 5), kernel=st.tuples(st.integers(1, 7), st.integers(1, 7)),
       mode=st.sampled_from(["zero", "reflect", "replicate", "circular", "partial"]))
def test_every_mode_works_at_every_kernel_size_or_refuses_in_one_line(size, kernel, mode):
    x = np.ones((1, size, size, 1), "float32")
    conv = PaddedConv2D(1, kernel, padding_mode=mode)
    too_small = mode == "reflect" and max(max(k - 1 - (k - 1) // 2, (k - 1) // 2) for k in kernel) >= size
    if too_small:
        with pytest.raises(ValueError, match="reflect padding of .* needs a map larger than that") as error:
            conv(x)
        assert "\n" not in str(error.value)
    else:
        out = _numpy(conv(x))
        assert out.shape == (1, size, size, 1) and np.all(np.isfinite(out))


@pytest.mark.parametrize("mode", ["zero", "reflect", "replicate", "circular"])
def test_spatial_padding_layer_contract(mode):
    run_layer_test(SpatialPadding2D, {"padding": 2, "mode": mode}, (2, 6, 7, 3), (2, 10, 11, 3))


@pytest.mark.parametrize("mode", keras_gpos.layers.PADDING_MODES)
def test_padded_conv_layer_contract(mode):
    expected = (2, 6, 6, 4) if mode == "none" else (2, 8, 8, 4)
    run_layer_test(PaddedConv2D, {"filters": 4, "kernel_size": 3, "padding_mode": mode},
                   (2, 8, 8, 3), expected)


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
