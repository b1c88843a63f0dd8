"""BlurPool2D (anti-aliased downsampling): the layer contract, its filters and what blurring buys."""

import keras
import numpy as np
import pytest

import keras_gpos
from keras_gpos.layers import BlurPool2D
from keras_gpos.layers.blur_pool import binomial_filter
from tests.layer_test_utils import run_layer_test

pytestmark = pytest.mark.backend_agnostic


@pytest.mark.parametrize("kernel_size,input_hw,output_hw", [(1, 8, 4), (4, 9, 5), (7, 8, 4)])
def test_blur_pool_layer_contract(kernel_size, input_hw, output_hw):
    run_layer_test(BlurPool2D, {"kernel_size": kernel_size, "strides": 2},
                   (2, input_hw, input_hw, 3), (2, output_hw, output_hw, 3))


def test_binomial_filters_are_normalised_outer_products():
    np.testing.assert_allclose(binomial_filter(3), np.outer([1, 2, 1], [1, 2, 1]) / 16.0)
    np.testing.assert_allclose(binomial_filter(4), np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0)
    for size in range(1, 8):
        assert binomial_filter(size).shape == (size, size)
        assert abs(binomial_filter(size).sum() - 1.0) < 1e-6


def test_constant_map_stays_constant_thanks_to_reflect_padding():
    # Zero padding would darken the border; reflect padding keeps a constant
    # map constant, so BlurPool adds no position signal of its own.
    out = BlurPool2D(5)(np.full((1, 9, 9, 2), 3.0, "float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), 3.0, rtol=1e-6)


def _shift_change(kernel_size, x):
    """Mean change of the pooled map when the input moves 1px to the left,
    relative to the input's mean magnitude."""
    pool = BlurPool2D(kernel_size)
    a = keras.ops.convert_to_numpy(pool(x[:, :, :-1]))
    b = keras.ops.convert_to_numpy(pool(x[:, :, 1:]))
    return np.abs(a - b).mean() / np.abs(x).mean()


def test_blurring_removes_aliasing_of_the_finest_pattern():
    # Vertical stripes +1/-1: plain stride-2 subsampling (kernel 1) sees all
    # +1 before and all -1 after a 1px shift; any binomial blur averages the
    # stripes to 0 in both cases.
    stripes = np.tile(np.array([1.0, -1.0], "float32"), 17)[None, None, :, None]
    stripes = np.repeat(stripes, 16, axis=1)
    assert _shift_change(1, stripes) > 1.9
    for kernel_size in (3, 4, 5):
        assert _shift_change(kernel_size, stripes) < 0.05


def test_blurring_makes_downsampling_more_stable_on_smooth_images():
    # A Brownian surface (integrated noise: an image-like 1/f^2 spectrum).
    # Measured relative changes: kernel 1: 0.66, 4: 0.40, 7: 0.37; the floor
    # 0.75x leaves room for other seeds while still requiring a clear gain.
    rng = np.random.default_rng(0)
    x = np.cumsum(np.cumsum(rng.normal(size=(1, 33, 33, 1)), axis=1), axis=2)
    x = (x - x.mean()).astype("float32")
    assert _shift_change(4, x) < 0.75 * _shift_change(1, x)
    assert _shift_change(7, x) <= _shift_change(4, x)


@pytest.mark.parametrize("bad", [0, 8, 2.0, True, None])
def test_bad_kernel_size_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="kernel_size must be one of"):
        BlurPool2D(bad)


def test_bad_stride_and_too_small_input_are_clear_errors():
    with pytest.raises(ValueError, match="strides must be a positive int; got 0"):
        BlurPool2D(3, strides=0)
    with pytest.raises(ValueError, match="reflect padding"):
        BlurPool2D(7)(np.zeros((1, 3, 3, 1), "float32"))


def test_blur_pool_is_public():
    assert keras_gpos.layers.BlurPool2D is BlurPool2D
