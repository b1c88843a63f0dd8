"""Normalisation and the horizontal flip (NumPy, any backend).

The backend_agnostic tests also run on JAX (tests/integration/test_jax_backend.py selects them by marker).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_gpos.data.transforms import flip_left_right, normalize

pytestmark = pytest.mark.backend_agnostic


@settings(max_examples=25, deadline=None, derandomize=True)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 6), st.integers(1, 4)),
       seed=st.integers(0, 2**16))
def test_normalize_is_pixel_over_255_minus_mean_over_std_per_channel(shape, seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    mean, std = rng.uniform(0.2, 0.8, shape[-1]), rng.uniform(0.1, 0.4, shape[-1])
    got = normalize(pixels, mean, std)
    assert got.dtype == np.float32 and got.shape == pixels.shape
    np.testing.assert_allclose(got, (pixels / 255.0 - mean) / std, rtol=1e-6, atol=1e-5)


def test_normalize_takes_scalar_statistics_and_refuses_a_zero_std():
    np.testing.assert_array_equal(normalize(np.array([[0, 51, 255]], np.uint8), 0.2, 0.2), [[-1.0, 0.0, 4.0]])
    with pytest.raises(ValueError, match=r"positive stds; got mean=\[0.5, 0.5\], std=\[0.2, 0.0\]"):
        normalize(np.zeros((1, 2, 2, 2), np.uint8), (0.5, 0.5), (0.2, 0.0))


@pytest.mark.parametrize("shape", [(6, 3, 5, 3), (6, 4, 7), (6, 2, 3, 2, 2)])
def test_flip_mirrors_only_the_chosen_images_in_place(shape):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    flips = np.array([True, False, True, True, False, False])
    out = images.copy()
    assert flip_left_right(out, flips) is out
    for image, flipped, chosen in zip(images, out, flips):
        np.testing.assert_array_equal(flipped, image[:, ::-1] if chosen else image)
    # A non-contiguous batch is flipped alike; no flags, nothing changes.
    np.testing.assert_array_equal(flip_left_right(np.asfortranarray(images), flips), out)
    np.testing.assert_array_equal(flip_left_right(images.copy(), np.zeros(6, bool)), images)


def test_flip_needs_one_flag_per_image():
    with pytest.raises(ValueError, match=r"one bool per image .* got \(2,\) flips for shape \(3, 2, 2\)"):
        flip_left_right(np.zeros((3, 2, 2)), [True, False])
