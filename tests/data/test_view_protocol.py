"""The shift-view protocols' geometry, checked exactly on constructed images.

Every pixel of a constructed image holds its own index, so the source of
each pixel of a view is known: a view is right when all its image pixels
moved by one offset inside the protocol's range, none is missing, and every
other pixel is the fill. The backend_agnostic tests also run on JAX
(tests/integration/test_jax_backend.py selects them by marker).
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_gpos
from keras_gpos.data import ViewProtocol
from keras_gpos.data import shift_views as views
from tests.data.test_shift_views import _reference_translate

FILL = -0.5


def _indexed(count, height, width):
    """Images whose pixel (y, x) of image n holds 1 + y * width + x in channel 0, and that + 0.25 in channel 1."""
    first = 1.0 + np.arange(height * width, dtype=np.float32).reshape(height, width)
    image = np.stack([first, first + 0.25], axis=-1)
    return np.repeat(image[None], count, axis=0)


def _offset_of(view, protocol, height, width):
    """The one `(dy, dx)` that moved every image pixel of `view`, checking fill and coverage."""
    content = view[..., 0] != FILL if protocol.mode != "circular" else np.ones(view.shape[:2], bool)
    np.testing.assert_array_equal(view[..., 1][content], view[..., 0][content] + 0.25)
    assert np.all(view[~content] == FILL), "every pixel the image does not cover is the fill"
    ys, xs = np.nonzero(content)
    source = view[ys, xs, 0].astype(int) - 1
    sy, sx = np.divmod(source, width)
    if protocol.mode == "crop":
        dy, dx = sy - ys, sx - xs
    elif protocol.mode == "circular":
        dy, dx = (ys - sy) % height, (xs - sx) % width
    else:
        dy, dx = ys - sy, xs - sx
    assert len(set(dy.tolist())) == 1 and len(set(dx.tolist())) == 1, "a rigid translation"
    dy, dx = int(dy[0]), int(dx[0])
    out_h, out_w = view.shape[:2]
    if protocol.mode == "shift":
        expected = (height - abs(dy)) * (width - abs(dx))
    elif protocol.mode == "crop":
        expected = out_h * out_w
    else:
        expected = height * width
    assert len(ys) == expected == len(set(source.tolist())), "no image pixel lost or repeated"
    return dy, dx


PROTOCOLS = st.one_of(
    st.builds(lambda size: ViewProtocol("canvas", canvas_size=size, fill=FILL), st.integers(9, 14)),
    st.builds(lambda shift: ViewProtocol("shift", max_shift=shift, fill=FILL), st.integers(0, 7)),
    st.just(ViewProtocol("crop", fill=FILL)),
    st.just(ViewProtocol("circular", fill=FILL)),
)


@pytest.mark.backend_agnostic
@settings(max_examples=40, deadline=None, derandomize=True)
@given(protocol=PROTOCOLS, height=st.integers(8, 9), width=st.integers(8, 10), seed=st.integers(0, 1000))
def test_each_view_is_the_image_moved_by_an_offset_in_range_on_the_fill(protocol, height, width, seed):
    if protocol.mode == "canvas" and protocol.canvas_size < max(height, width):
        return
    images = _indexed(4, height, width)
    rng = np.random.default_rng(seed)
    oy, ox = protocol.random_offsets(rng, 4, images.shape[1:])
    (ylo, yhi), (xlo, xhi) = protocol.offset_range(images.shape[1:])
    assert np.all((ylo <= oy) & (oy <= yhi)) and np.all((xlo <= ox) & (ox <= xhi))
    views = protocol.place(images, oy, ox)
    assert views.shape[1:] == protocol.input_shape(images.shape[1:]) and views.dtype == np.float32
    for view, dy, dx in zip(views, oy, ox):
        assert _offset_of(view, protocol, height, width) == (int(dy), int(dx))
    # Two views: the same image, each at its own independent offset in range.
    view_a, view_b = protocol.views(images, np.random.default_rng(seed))
    pairs = [(_offset_of(a, protocol, height, width), _offset_of(b, protocol, height, width))
             for a, b in zip(view_a, view_b)]
    for (ay, ax), (by, bx) in pairs:
        assert ylo <= ay <= yhi and ylo <= by <= yhi and xlo <= ax <= xhi and xlo <= bx <= xhi


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("protocol, expected", [
    (ViewProtocol("canvas", canvas_size=12, fill=FILL), ((0, 4), (0, 4), (12, 12, 2))),
    (ViewProtocol("shift", max_shift=3, fill=FILL), ((-3, 3), (-3, 3), (8, 8, 2))),
    (ViewProtocol("crop", fill=FILL), ((0, 1), (0, 1), (7, 7, 2))),
    (ViewProtocol("circular", fill=FILL), ((0, 7), (0, 7), (8, 8, 2))),
])
def test_offset_ranges_and_view_sizes(protocol, expected):
    assert protocol.offset_range((8, 8, 2)) + (protocol.input_shape((8, 8, 2)),) == expected


@pytest.mark.backend_agnostic
def test_independent_offsets_cover_the_range_and_the_views_differ_by_their_difference():
    protocol = ViewProtocol("shift", max_shift=2, fill=FILL)
    images = _indexed(300, 8, 8)
    view_a, view_b = protocol.views(images, np.random.default_rng(0))
    differences = set()
    for a, b in zip(view_a, view_b):
        (ay, ax), (by, bx) = _offset_of(a, protocol, 8, 8), _offset_of(b, protocol, 8, 8)
        differences.add((by - ay, bx - ax))
    # Up to 2 * max_shift apart per axis, every difference reached on each axis.
    assert {y for y, _ in differences} == {x for _, x in differences} == set(range(-4, 5))


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("protocol", [ViewProtocol("canvas", canvas_size=13, fill=FILL),
                                      ViewProtocol("shift", max_shift=3, fill=FILL),
                                      ViewProtocol("crop", fill=FILL), ViewProtocol("circular", fill=FILL)])
def test_the_accuracy_sweep_places_the_image_on_the_diagonal(protocol):
    # keras_gpos.metrics.accuracy_vs_shift: protocol.place(images, d, d) for d in diagonal_offsets.
    images = _indexed(2, 8, 8)
    offsets = protocol.diagonal_offsets(images.shape[1:], stride=2)
    assert offsets[0] == 0 and offsets[-1] == protocol.offset_range(images.shape[1:])[0][1]
    for offset in offsets:
        moved = protocol.place(images, np.full(2, offset), np.full(2, offset))
        assert all(_offset_of(view, protocol, 8, 8) == (offset, offset) for view in moved)


@pytest.mark.backend_agnostic
def test_integer_images_become_float_views_and_bad_offsets_are_refused():
    protocol = ViewProtocol("canvas", canvas_size=6)
    view = protocol.place(np.ones((1, 4, 4, 1), np.uint8), [2], [1])
    assert view.dtype == np.float32 and view[0, 2:6, 1:5].min() == 1 and view.sum() == 16
    with pytest.raises(ValueError, match="1 y and 2 x offsets for 1 images"):
        protocol.place(np.ones((1, 4, 4, 1)), [0], [0, 1])
    with pytest.raises(ValueError, match=r"images must be \(batch, height, width, channels\)"):
        protocol.place(np.ones((4, 4, 1)), [0], [0])


@pytest.mark.parametrize("protocol", [
    keras_gpos.data.ViewProtocol("canvas", canvas_size=13, fill=-0.5),
    keras_gpos.data.ViewProtocol("shift", max_shift=3, fill=0.25),
])
def test_numpy_views_equal_the_tensorflow_translation(protocol):
    # The metrics and the training pipeline both place views through the
    # protocol: every pixel where the pixel-by-pixel reference puts it.
    rng = np.random.default_rng(3)
    images = rng.normal(size=(5, 8, 8, 2)).astype("float32")
    oy, ox = protocol.random_offsets(rng, 5, images.shape[1:])
    got = protocol.place(images, oy, ox)
    out_h, out_w = (8, 8) if protocol.mode == "shift" else (13, 13)
    want = _reference_translate(images, oy, ox, out_h, out_w, protocol.fill)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert protocol.input_shape(images.shape[1:]) == got.shape[1:]


@pytest.mark.parametrize("mode", ["crop", "circular"])
def test_crop_and_circular_views_in_numpy_and_tensorflow(mode):
    protocol = keras_gpos.data.ViewProtocol(mode)
    rng = np.random.default_rng(5)
    images = rng.normal(size=(3, 16, 16, 2)).astype("float32")
    oy, ox = protocol.random_offsets(rng, 3, images.shape[1:])
    views_np = protocol.place(images, oy, ox)
    assert views_np.shape[1:] == protocol.input_shape(images.shape[1:])
    if mode == "crop":
        assert protocol.input_shape((32, 32, 3)) == (28, 28, 3) and protocol.offset_range((32, 32, 3))[0] == (0, 4)
        np.testing.assert_array_equal(views_np[0], images[0, oy[0]:oy[0] + 14, ox[0]:ox[0] + 14])
    else:
        np.testing.assert_array_equal(views_np[1], np.roll(images[1], (oy[1], ox[1]), axis=(0, 1)))
    view_a, view_b = views.make_views(tf.constant(images), protocol, seed=tf.constant([1, 2]))
    assert tuple(view_a.shape[1:]) == protocol.input_shape(images.shape[1:])
    # Pipeline views are crops / rolls of the images too: same multiset of values per image for rolls.
    if mode == "circular":
        np.testing.assert_allclose(np.sort(view_a[0].ravel()), np.sort(images[0].ravel()), rtol=1e-6)
