"""Border modes at every kernel size and pad width (`keras_gpos.layers.padding`).

Each mode either pads exactly as NumPy's reference does, or refuses in one
line. Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_gpos.layers import PaddedConv2D, SpatialPadding2D
from keras_gpos.layers.padding import pad_spatial

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
