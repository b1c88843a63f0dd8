"""Grid-canvas batches of an ImageSet (`grid_batches`), and `grid_dataset` on the current backend.

The backend_agnostic tests also run on JAX (tests/integration/test_jax_backend.py selects them by marker).
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_gpos import data
from keras_gpos.data.feed import numpy_stream

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def _image_set(count, size=4, seed=0):
    rng = np.random.default_rng(seed)
    return data.ImageSet(rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8),
                         np.arange(count) % 5, tuple("abcde"))


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("target", ["location", "class", "both"])
def test_targets(target):
    images = _image_set(6)
    canvases, y = data.grid_batches(images, 2, target, 6, training=True).batch(0, 0)
    if target == "both":
        assert set(y) == {"location", "class"}
    else:
        assert y.shape == (6,) and y.dtype == np.int64 and (target == "class" or y.max() < 4)


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
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


def _cell_of_image(canvas, k):
    """The grid cell whose content differs from the zero background."""
    h = canvas.shape[0] // k
    energy = [np.abs(canvas[r * h:(r + 1) * h, c * h:(c + 1) * h]).sum()
              for r in range(k) for c in range(k)]
    return int(np.argmax(energy))


def test_grid_dataset_training_labels_match_where_the_image_is():
    s = data.make_shapes_dataset(40)
    mean, std = data.normalization_stats(s)
    ds = data.grid_dataset(s, 3, "both", batch_size=16, training=True, mean=mean, std=std,
                           flip=True)
    seen = set()
    for canvas, target in ds:
        for x, loc in zip(canvas.numpy(), target["location"].numpy()):
            assert _cell_of_image(x, 3) == loc
            seen.add(int(loc))
    assert len(seen) >= 6  # random cells, not a constant


def test_grid_dataset_evaluation_is_exhaustive_and_deterministic():
    s = data.make_shapes_dataset(10)
    ds = data.grid_dataset(s, 2, "class", batch_size=8)
    first = [(x.numpy(), y.numpy()) for x, y in ds]
    second = [(x.numpy(), y.numpy()) for x, y in ds]
    labels = np.concatenate([y for _, y in first])
    np.testing.assert_array_equal(labels, np.repeat(s.labels, 4))
    for (x1, _), (x2, _) in zip(first, second):
        np.testing.assert_array_equal(x1, x2)


def test_grid_dataset_noise_background_is_the_same_on_every_pass_and_after_a_resume():
    s = data.make_shapes_dataset(12)
    evaluation = data.grid_dataset(s, 2, "location", batch_size=8, background="noise", seed=3)
    first, second = ([x.numpy() for x, _ in evaluation] for _ in range(2))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][0], first[1][0])  # noise, not one repeated fill

    def epoch(dataset, number):
        return [x.numpy() for x, _ in dataset.skip(number * 3).take(3)]

    full = data.grid_dataset(s, 2, "location", batch_size=4, training=True, background="noise",
                             seed=3, epochs=2)
    resumed = data.grid_dataset(s, 2, "location", batch_size=4, training=True, background="noise",
                                seed=3, epochs=2, initial_epoch=1)
    for a, b in zip(epoch(full, 1), epoch(resumed, 0)):
        np.testing.assert_array_equal(a, b)


def test_grid_dataset_rejects_empty_set_and_bad_target():
    s = data.make_shapes_dataset(4)
    with pytest.raises(ValueError, match="Unknown target 'cell'"):
        data.grid_dataset(s, 2, "cell")
    empty = s.take(np.arange(0))
    with pytest.raises(ValueError, match="is empty"):
        data.grid_dataset(empty, 2)


def test_grid_dataset_runs_in_graph_over_all_backgrounds():
    s = data.make_shapes_dataset(6)
    for background in data.BACKGROUNDS:
        ds = data.grid_dataset(s, 2, "location", batch_size=4, training=True,
                               background=background)
        for canvas, _ in ds:
            assert bool(tf.reduce_all(tf.math.is_finite(canvas)))
