"""View placement primitives (`translate`, `roll`) and the two-view helpers, against pixel loops.

Backend-agnostic: the JAX run (tests/test_jax_backend.py) runs this file too.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_gpos.data import shift_views

pytestmark = pytest.mark.backend_agnostic


def _pixel_translate(images, oy, ox, out_h, out_w, fill):
    out = np.full((len(images), out_h, out_w, images.shape[-1]), fill, np.float32)
    for n, image in enumerate(images):
        for y in range(image.shape[0]):
            for x in range(image.shape[1]):
                if 0 <= y + oy[n] < out_h and 0 <= x + ox[n] < out_w:
                    out[n, y + oy[n], x + ox[n]] = image[y, x]
    return out


@settings(max_examples=30, deadline=None, derandomize=True)
@given(height=st.integers(1, 6), width=st.integers(1, 6), out=st.tuples(st.integers(1, 9), st.integers(1, 9)),
       fill=st.sampled_from([0.0, -1.5, 2.0]), seed=st.integers(0, 1000))
def test_translate_is_the_pixel_by_pixel_move_for_any_offset(height, width, out, fill, seed):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(3, height, width, 2)).astype(np.float32)
    oy, ox = rng.integers(-8, 10, 3), rng.integers(-8, 10, 3)
    got = shift_views.translate(images, oy, ox, out, fill)
    np.testing.assert_array_equal(got, _pixel_translate(images, oy, ox, *out, fill))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(height=st.integers(1, 7), width=st.integers(1, 7), seed=st.integers(0, 1000))
def test_roll_is_numpys_roll_per_image(height, width, seed):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(3, height, width, 2)).astype(np.float32)
    oy, ox = rng.integers(-9, 9, 3), rng.integers(-9, 9, 3)
    got = shift_views.roll(images, oy, ox)
    for view, image, dy, dx in zip(got, images, oy, ox):
        np.testing.assert_array_equal(view, np.roll(image, (dy, dx), axis=(0, 1)))


def test_two_view_helpers_are_the_protocols_views_with_the_same_seed():
    from keras_gpos.data import ViewProtocol

    images = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype(np.float32)
    cases = [(shift_views.canvas_views(images, 12, -0.5, seed=3), ViewProtocol("canvas", 12, fill=-0.5)),
             (shift_views.shifted_views(images, 2, 0.5, seed=3), ViewProtocol("shift", max_shift=2, fill=0.5))]
    for (a, b), protocol in cases:
        want_a, want_b = protocol.views(images, np.random.default_rng(3))
        np.testing.assert_array_equal(a, want_a)
        np.testing.assert_array_equal(b, want_b)
        assert not np.array_equal(a, b)
    one = shift_views.one_view(images, ViewProtocol("crop"), seed=1)
    assert one.shape == (4, 7, 7, 3)


def test_seeds_must_be_non_negative_ints():
    with pytest.raises(ValueError, match=r"seed must be ints >= 0 or a numpy.random.Generator; got \[-1, 2\]"):
        shift_views.canvas_views(np.zeros((1, 4, 4, 1)), 6, seed=[-1, 2])
