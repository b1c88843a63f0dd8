"""Grid-canvas batches of an ImageSet (`grid_batches`), and `grid_dataset` on the current backend.

Backend-agnostic: the JAX run (tests/test_jax_backend.py) runs this file too.
"""

import numpy as np
import pytest

from keras_gpos import data
from keras_gpos.data.feed import numpy_stream

pytestmark = pytest.mark.backend_agnostic

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def _image_set(count, size=4, seed=0):
    rng = np.random.default_rng(seed)
    return data.ImageSet(rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8),
                         np.arange(count) % 5, tuple("abcde"))


def test_training_canvases_hold_each_image_in_its_labelled_cell_flipped_only_inside_it():
    images = _image_set(40)
    source = data.grid_batches(images, 3, "both", 16, training=True, mean=MEAN, std=STD, flip=True, seed=2)
    normalised = data.normalize(images.images, MEAN, STD)
    flipped, cells_seen = 0, set()
    for epoch in range(2):
        order = source.order(epoch)
        for index in range(source.steps):
            canvases, target = source.batch(epoch, index)
            ids = order[index * 16:(index + 1) * 16]
            np.testing.assert_array_equal(target["class"], images.labels[ids])
            assert target["location"].dtype == np.int64 and canvases.dtype == np.float32
            for canvas, cell, row in zip(canvases, target["location"], ids):
                r, c = divmod(int(cell), 3)
                tile = canvas[4 * r:4 * r + 4, 4 * c:4 * c + 4]
                mirrored = np.array_equal(tile, normalised[row][:, ::-1])
                assert mirrored or np.array_equal(tile, normalised[row])
                flipped += mirrored
                rest = canvas.copy()
                rest[4 * r:4 * r + 4, 4 * c:4 * c + 4] = 0
                assert not rest.any(), "the zeros background outside the cell"
                cells_seen.add(int(cell))
    assert cells_seen == set(range(9)) and 10 < flipped < 70


def test_evaluation_is_every_image_in_every_cell_in_order_and_the_same_on_every_pass():
    images = _image_set(5)
    source = data.grid_batches(images, 2, "class", batch_size=9, mean=MEAN, std=STD, background="noise")
    assert source.batch_size == 2 and source.steps == 3  # 9 // 4 images per batch
    passes = [list(numpy_stream(source)) for _ in range(2)]
    for a, b in zip(*passes):
        np.testing.assert_array_equal(a[0], b[0])
    canvases = np.concatenate([c for c, _ in passes[0]])
    labels = np.concatenate([y for _, y in passes[0]])
    np.testing.assert_array_equal(labels, np.repeat(images.labels, 4))
    normalised = data.normalize(images.images, MEAN, STD)
    for index, canvas in enumerate(canvases):
        r, c = divmod(index % 4, 2)
        np.testing.assert_array_equal(canvas[4 * r:4 * r + 4, 4 * c:4 * c + 4], normalised[index // 4])
    # Noise differs between canvases (not one repeated fill).
    assert not np.array_equal(canvases[0, 4:, 4:], canvases[1, 4:, 4:])


@pytest.mark.parametrize("target", ["location", "class", "both"])
def test_targets(target):
    images = _image_set(6)
    canvases, y = data.grid_batches(images, 2, target, 6, training=True).batch(0, 0)
    if target == "both":
        assert set(y) == {"location", "class"}
    else:
        assert y.shape == (6,) and y.dtype == np.int64 and (target == "class" or y.max() < 4)


def test_grid_dataset_feeds_the_same_batches_on_this_backend():
    images = _image_set(20)
    kwargs = dict(mean=MEAN, std=STD, background="white", flip=True, seed=4)
    source = data.grid_batches(images, 2, "location", 8, training=True, **kwargs)
    want = list(numpy_stream(source, 3, 1))
    feed = data.grid_dataset(images, 2, "location", 8, training=True, epochs=3, initial_epoch=1, **kwargs)
    got = [(np.asarray(x), np.asarray(y)) for x, y in feed]
    assert len(got) == len(want) == 2 * 3
    for (x, y), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(x, wx)
        np.testing.assert_array_equal(y, wy)


def test_bad_arguments_name_the_value():
    images = _image_set(4)
    with pytest.raises(ValueError, match="Unknown target 'cell'"):
        data.grid_dataset(images, 2, "cell")
    with pytest.raises(ValueError, match="batch_size must be a positive int; got 0"):
        data.grid_dataset(images, 2, batch_size=0)
    with pytest.raises(ValueError, match="Unknown background 'grey'"):
        data.grid_batches(images, 2, background="grey")
    with pytest.raises(ValueError, match="is empty"):
        data.grid_dataset(images.take(np.arange(0)), 2)
