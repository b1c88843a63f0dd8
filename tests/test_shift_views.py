"""Shift views: two views that differ only by a translation (NumPy, the one placement)."""

import numpy as np
import pytest
import tensorflow as tf

import keras_gpos
from keras_gpos.data import shift_views as views


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


def test_views_work_inside_tf_data_graph():
    images = keras_gpos.data.ImageSet(
        np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8),
        np.arange(20) % 3, ("a", "b", "c"),
    )
    canvas = keras_gpos.data.ViewProtocol("canvas", canvas_size=12)
    two = keras_gpos.data.shift_view_dataset(images, (0.5,) * 3, (0.2,) * 3, 8, canvas)
    (a, b), y = next(iter(two))
    assert a.shape == (8, 12, 12, 3) and b.shape == (8, 12, 12, 3) and y.shape == (8,)
    shift = keras_gpos.data.ViewProtocol("shift", max_shift=2)
    one = keras_gpos.data.shift_view_dataset(images, (0.5,) * 3, (0.2,) * 3, 8, shift, two_views=False)
    x, y = next(iter(one))
    assert x.shape == (8, 8, 8, 3)
    # The same (images, labels) pair of arrays works too (issue: a tuple raised AttributeError).
    pair = keras_gpos.data.shift_view_dataset((images.images, images.labels), (0.5,) * 3, (0.2,) * 3, 8, canvas)
    (a, _), _ = next(iter(pair))
    assert a.shape == (8, 12, 12, 3)
    with pytest.raises(ValueError, match="ImageSet or an \\(images, labels\\) pair"):
        keras_gpos.data.shift_view_dataset(images.images, (0.5,) * 3, (0.2,) * 3, 8, canvas)


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


def test_training_views_are_keyed_by_seed_and_epoch():
    # A resumed run starts the stream at its epoch and must see the same views.
    images = keras_gpos.data.make_shapes_dataset(20)
    protocol = keras_gpos.data.ViewProtocol("canvas", canvas_size=40)
    full = keras_gpos.data.shift_view_dataset(images, (0.5,) * 3, (0.2,) * 3, 8, protocol, seed=5, epochs=3)
    resumed = keras_gpos.data.shift_view_dataset(images, (0.5,) * 3, (0.2,) * 3, 8, protocol, seed=5,
                                                 epochs=3, initial_epoch=2)
    full_batches = [(a.numpy(), b.numpy(), y.numpy()) for (a, b), y in full]
    resumed_batches = [(a.numpy(), b.numpy(), y.numpy()) for (a, b), y in resumed]
    assert len(full_batches) == 9 and len(resumed_batches) == 3
    for want, got in zip(full_batches[6:], resumed_batches):
        for w, g in zip(want, got):
            np.testing.assert_array_equal(w, g)
    # Epochs differ from each other.
    assert not np.array_equal(full_batches[0][2], full_batches[3][2])


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
