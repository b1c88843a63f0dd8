"""AugShift's view batches (`shift_view_batches`): one flip per image shared by both views, then two placements.

The backend_agnostic tests also run on JAX (tests/integration/test_jax_backend.py selects them by marker).
"""

import numpy as np
import pytest

import keras_gpos
from keras_gpos import data

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)

FILL = -100.0  # no normalised pixel takes it


def _images(count=24, seed=0):
    rng = np.random.default_rng(seed)
    return data.ImageSet(rng.integers(0, 256, (count, 6, 6, 3), dtype=np.uint8), np.arange(count) % 3,
                         ("a", "b", "c"))


def _content(view):
    """The 6x6 block of a canvas view that is not fill."""
    ys, xs = np.nonzero(view[..., 0] != FILL)
    return view[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


@pytest.mark.backend_agnostic
def test_both_views_hold_the_same_normalised_image_flipped_alike():
    images = _images()
    protocol = data.ViewProtocol("canvas", canvas_size=10, fill=FILL)
    source = data.shift_view_batches(images, MEAN, STD, 8, protocol, two_views=True, flip=True, seed=1)
    normalised = data.normalize(images.images, MEAN, STD)
    flipped = moved = 0
    for epoch in range(2):
        order = source.order(epoch)
        for index in range(source.steps):
            (view_a, view_b), labels = source.batch(epoch, index)
            ids = order[index * 8:(index + 1) * 8]
            np.testing.assert_array_equal(labels, images.labels[ids])
            for a, b, row in zip(view_a, view_b, ids):
                tile_a, tile_b = _content(a), _content(b)
                np.testing.assert_array_equal(tile_a, tile_b)
                mirrored = np.array_equal(tile_a, normalised[row][:, ::-1])
                assert mirrored or np.array_equal(tile_a, normalised[row])
                flipped += mirrored
                moved += not np.array_equal(a, b)
    assert 5 < flipped < 43 and moved > 40


@pytest.mark.backend_agnostic
def test_one_view_batches_and_already_normalised_floats():
    images = _images()
    floats = data.normalize(images.images, MEAN, STD)
    protocol = data.ViewProtocol("shift", max_shift=2)
    source = data.shift_view_batches((floats, images.labels), None, None, 10, protocol, two_views=False, flip=False)
    view, labels = source.batch(0, 2)
    assert view.shape == (4, 6, 6, 3) and labels.tolist() == images.labels[source.order(0)[20:]].tolist()


@pytest.mark.backend_agnostic
def test_bad_arguments_name_the_problem():
    images = _images()
    with pytest.raises(ValueError, match="protocol must be a keras_gpos.data.ViewProtocol"):
        data.shift_view_batches(images, MEAN, STD, 8, protocol="canvas")
    with pytest.raises(ValueError, match="uint8 images need mean and std"):
        data.shift_view_batches(images, None, None, 8)
    with pytest.raises(ValueError, match="float images are taken as already normalised"):
        data.shift_view_batches((images.images.astype("float32"), images.labels), MEAN, STD, 8)
    with pytest.raises(ValueError, match="canvas_size=4 is smaller than the 6x6 images"):
        data.shift_view_batches(images, MEAN, STD, 8, data.ViewProtocol(canvas_size=4))
    with pytest.raises(ValueError, match=r"ImageSet or an \(images, labels\) pair"):
        data.shift_view_dataset(images.images, MEAN, STD, 8)


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
