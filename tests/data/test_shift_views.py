"""View placement primitives (`translate`, `roll`) and the two-view helpers, against pixel loops.

The backend_agnostic tests also run on JAX (tests/integration/test_jax_backend.py selects them by marker).
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_gpos
from keras_gpos.data import shift_views
from keras_gpos.data import shift_views as views


def _pixel_translate(images, oy, ox, out_h, out_w, fill):
    out = np.full((len(images), out_h, out_w, images.shape[-1]), fill, np.float32)
    for n, image in enumerate(images):
        for y in range(image.shape[0]):
            for x in range(image.shape[1]):
                if 0 <= y + oy[n] < out_h and 0 <= x + ox[n] < out_w:
                    out[n, y + oy[n], x + ox[n]] = image[y, x]
    return out


@pytest.mark.backend_agnostic
@settings(max_examples=30, deadline=None, derandomize=True)
@given(height=st.integers(1, 6), width=st.integers(1, 6), out=st.tuples(st.integers(1, 9), st.integers(1, 9)),
       fill=st.sampled_from([0.0, -1.5, 2.0]), seed=st.integers(0, 1000))
def test_translate_is_the_pixel_by_pixel_move_for_any_offset(height, width, out, fill, seed):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(3, height, width, 2)).astype(np.float32)
    oy, ox = rng.integers(-8, 10, 3), rng.integers(-8, 10, 3)
    got = shift_views.translate(images, oy, ox, out, fill)
    np.testing.assert_array_equal(got, _pixel_translate(images, oy, ox, *out, fill))


@pytest.mark.backend_agnostic
@settings(max_examples=20, deadline=None, derandomize=True)
@given(height=st.integers(1, 7), width=st.integers(1, 7), seed=st.integers(0, 1000))
def test_roll_is_numpys_roll_per_image(height, width, seed):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(3, height, width, 2)).astype(np.float32)
    oy, ox = rng.integers(-9, 9, 3), rng.integers(-9, 9, 3)
    got = shift_views.roll(images, oy, ox)
    for view, image, dy, dx in zip(got, images, oy, ox):
        np.testing.assert_array_equal(view, np.roll(image, (dy, dx), axis=(0, 1)))


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
def test_seeds_must_be_non_negative_ints():
    with pytest.raises(ValueError, match=r"seed must be ints >= 0 or a numpy.random.Generator; got \[-1, 2\]"):
        shift_views.canvas_views(np.zeros((1, 4, 4, 1)), 6, seed=[-1, 2])


def _reference_translate(images, oy, ox, out_h, out_w, fill):
    """Loop-by-pixel numpy reference of `translate`."""
    b, h, w, c = images.shape
    out = np.full((b, out_h, out_w, c), fill, dtype=np.float32)
    for n in range(b):
        for y in range(h):
            for x in range(w):
                ty, tx = y + oy[n], x + ox[n]
                if 0 <= ty < out_h and 0 <= tx < out_w:
                    out[n, ty, tx] = images[n, y, x]
    return out


@pytest.mark.parametrize("output_size,fill", [(None, 0.0), (None, -1.5), ((11, 13), 0.0), ((11, 13), 2.0)])
def test_translate_matches_numpy_reference(output_size, fill):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(4, 6, 7, 2)).astype("float32")
    oy, ox = np.array([-2, 0, 3, 5]), np.array([1, -3, 0, 6])
    got = views.translate(images, oy, ox, output_size, fill)
    out_h, out_w = output_size or (6, 7)
    np.testing.assert_allclose(got, _reference_translate(images, oy, ox, out_h, out_w, fill), atol=1e-6)


def _locate(canvas, image):
    """Top-left corner of `image` inside `canvas` (exact match), or None."""
    h, w = image.shape[:2]
    for y in range(canvas.shape[0] - h + 1):
        for x in range(canvas.shape[1] - w + 1):
            if np.array_equal(canvas[y:y + h, x:x + w], image):
                return y, x
    return None


def test_canvas_views_hold_the_whole_image_on_constant_background():
    rng = np.random.default_rng(1)
    images = rng.uniform(0.5, 1.0, size=(6, 8, 8, 3)).astype("float32")
    view_a, view_b = keras_gpos.data.canvas_views(images, 14, fill=-0.25, seed=tf.constant([3, 4]))
    offsets = []
    for n in range(6):
        for view in (view_a[n], view_b[n]):
            corner = _locate(view, images[n])
            assert corner is not None, "the image must appear unchanged on the canvas"
            mask = np.ones(view.shape[:2], bool)
            mask[corner[0]:corner[0] + 8, corner[1]:corner[1] + 8] = False
            assert np.all(view[mask] == -0.25), "everything else is the constant fill"
            offsets.append(corner)
    # Positions are random and independent between the views.
    assert len(set(offsets)) > 6


def test_canvas_views_are_reproducible_with_a_seed_and_vary_without():
    images = tf.random.normal((4, 8, 8, 1), seed=0)
    seed = tf.constant([7, 8])
    a1, b1 = views.canvas_views(images, 16, seed=seed)
    a2, b2 = views.canvas_views(images, 16, seed=seed)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(a1, b1)


def test_shifted_views_use_constant_fill_never_reflect():
    images = np.arange(1, 1 + 10 * 10, dtype="float32").reshape(1, 10, 10, 1)
    images = np.repeat(images, 32, axis=0)
    view_a, view_b = keras_gpos.data.shifted_views(images, 3, fill=0.0, seed=tf.constant([1, 2]))
    for view in (view_a, view_b):
        for n in range(32):
            filled = view[n, ..., 0] == 0.0
            # Content pixels are all distinct and nonzero: a shift of (dy, dx)
            # leaves exactly |dy| rows and |dx| columns of fill, nothing invented.
            rows = int(np.all(filled, axis=1).sum())
            cols = int(np.all(filled, axis=0).sum())
            assert rows <= 3 and cols <= 3
            assert filled.sum() == rows * 10 + cols * 10 - rows * cols
            assert len(np.unique(view[n][~filled])) == (10 - rows) * (10 - cols)


def test_views_differ_only_by_translation():
    rng = np.random.default_rng(2)
    images = rng.normal(size=(8, 8, 8, 3)).astype("float32")
    view_a, view_b = views.canvas_views(images, 12, seed=tf.constant([0, 1]))
    for n in range(8):
        a, b = view_a[n], view_b[n]
        ya, xa = _locate(a, images[n])
        yb, xb = _locate(b, images[n])
        moved = views.translate(a[None], [yb - ya], [xb - xa], None, 0.0)[0]
        np.testing.assert_allclose(moved, b, atol=1e-6)


def test_bad_view_arguments_name_the_value():
    images = tf.zeros((2, 8, 8, 3))
    with pytest.raises(ValueError, match="max_shift=8 is larger"):
        views.shifted_views(images, 8)
    with pytest.raises(ValueError, match="max_shift must be an int >= 0; got -1"):
        views.shifted_views(images, -1)
    with pytest.raises(ValueError, match="canvas_size=6 is smaller"):
        views.canvas_views(images, 6)
    with pytest.raises(ValueError, match="Unknown view mode 'reflect'"):
        keras_gpos.data.ViewProtocol("reflect")
    with pytest.raises(ValueError, match="fill must be a finite number"):
        keras_gpos.data.ViewProtocol(fill=float("nan"))
    with pytest.raises(ValueError, match=r"images must be \(batch, height, width, channels\); got shape \(2, 8, 3\)"):
        views.canvas_views(tf.zeros((2, 8, 3)), 12)
