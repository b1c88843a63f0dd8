"""The feed: a keyed source as `fit` input on the current backend, the same batches on every backend.

The backend-agnostic tests run on TensorFlow here and on JAX in the JAX run
(tests/integration/test_jax_backend.py). The TensorFlow-only ones check the tf.data
feed under distribution; tests/cli/test_feed_on_jax.py runs a JAX process with
TensorFlow blocked and compares digests of the first batches of every stream.
"""

import hashlib
import pathlib

import keras
import numpy as np
import pytest

from keras_gpos import data

REPO = pathlib.Path(__file__).resolve().parents[2]
on_tensorflow = pytest.mark.skipif(keras.config.backend() != "tensorflow", reason="the tf.data feed")


def _nested(rows, key):
    """Batches with a nested structure, recording their key."""
    x = rows.astype(np.float32)[:, None] * np.ones((1, 2), np.float32)
    return (x, x + 1.0), {"key": np.full(len(rows), key.epoch * 100 + key.index), "rows": rows}


def _as_numpy(batch):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), batch)


def _same(a, b):
    flat_a, flat_b = keras.tree.flatten(a), keras.tree.flatten(b)
    return len(flat_a) == len(flat_b) and all(np.array_equal(x, y) for x, y in zip(flat_a, flat_b))


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("epochs, initial_epoch", [(3, 0), (3, 2), (2, 2)])
def test_the_feed_holds_the_stream_of_epochs_initial_to_last(epochs, initial_epoch):
    source = data.KeyedBatches((np.arange(11),), 4, _nested, seed=2)
    feed = data.fit_input(source, epochs, initial_epoch)
    got = [_as_numpy(batch) for batch in feed]
    want = list(data.numpy_stream(source, epochs, initial_epoch))
    assert len(got) == len(want) == (epochs - initial_epoch) * 3
    assert all(_same(g, w) for g, w in zip(got, want))


@pytest.mark.backend_agnostic
def test_fit_reads_each_batch_of_the_resumed_stream_once_in_order():
    built = []

    def batch(rows, key):
        built.append((key.epoch, key.index))
        return rows.astype(np.float32)[:, None], rows.astype(np.float32)[:, None]

    source = data.KeyedBatches((np.arange(12),), 4, batch, seed=0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    feed = data.fit_input(source, epochs=4, initial_epoch=1, threads=1)
    built.clear()
    model.fit(feed, epochs=4, initial_epoch=1, steps_per_epoch=source.steps, verbose=0)
    assert sorted(built) == [(epoch, index) for epoch in (1, 2, 3) for index in range(3)]


@pytest.mark.backend_agnostic
def test_batches_held_by_the_consumer_are_never_overwritten_by_later_ones():
    # Canvases of 1.7 MB come from the buffer pool: a block must not be reused while
    # a batch (or a tensor wrapping it without a copy) is alive.
    shapes = data.make_shapes_dataset(64)
    source = data.grid_batches(shapes, 3, "location", 16, training=True, flip=True, seed=1)
    want = [keras.tree.map_structure(np.copy, batch) for batch in data.numpy_stream(source, 2)]
    held = list(data.fit_input(source, epochs=2))
    assert len(held) == len(want) == 8
    for got, expected in zip(held, want):
        assert _same(_as_numpy(got), expected)


@pytest.mark.backend_agnostic
def test_the_python_feed_builds_ahead_and_reads_in_any_order():
    source = data.KeyedBatches((np.arange(50),), 4, _nested, seed=1)
    want = list(data.numpy_stream(source, 3))
    feed = data.KeyedPyDataset(source, 3, threads=3)
    assert len(feed) == len(want) == 39
    for item in [0, 1, 2, 20, 3, 38, 13, 14, 0]:
        assert _same(feed[item], want[item])
    assert all(_same(g, w) for g, w in zip(feed, want))
    with pytest.raises(IndexError, match="item 39 is out of range for a stream of 39 batches"):
        feed[39]


@pytest.mark.backend_agnostic
def test_fresh_epochs_give_a_new_shuffle_on_every_pass():
    source = data.KeyedBatches((np.arange(30),), 30, _nested, seed=1)
    feed = data.fit_input(source, epochs=None)
    passes = [[_as_numpy(batch)[1]["rows"] for batch in feed] for _ in range(2)]
    assert [len(p) for p in passes] == [1, 1]
    first, second = passes[0][0], passes[1][0]
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(30))
    assert first.tolist() != second.tolist()


@pytest.mark.backend_agnostic
def test_bad_streams_name_the_value():
    source = data.KeyedBatches((np.arange(5),), 2, _nested)
    with pytest.raises(ValueError, match="epochs must be an int >= 0; got -1"):
        data.fit_input(source, epochs=-1)
    with pytest.raises(ValueError, match="threads must be a positive int; got 0"):
        data.fit_input(source, threads=0)


def streams_digest(count=2):
    """sha256 of the first `count` batches of each stream, fed by `fit_input` on this backend."""
    shapes = data.make_shapes_dataset(24)
    mean, std = data.normalization_stats(shapes)
    scenes = data.make_street_scenes(6, (16, 24))
    streams = [data.grid_dataset(shapes, 3, "both", 8, training=True, mean=mean, std=std, background=background,
                                 flip=True, seed=5, epochs=3, initial_epoch=1) for background in data.BACKGROUNDS]
    streams.append(data.grid_dataset(shapes, 2, "location", 8, mean=mean, std=std, background="noise", seed=5))
    for mode in ("canvas", "shift", "crop", "circular"):
        protocol = data.ViewProtocol(mode, canvas_size=40, max_shift=5, fill=0.5)
        streams.append(data.shift_view_dataset(shapes, mean, std, 8, protocol, two_views=mode != "crop", seed=5,
                                               epochs=2))
    streams.append(data.segmentation_dataset(scenes, 4, training=True, flip=True, seed=5, epochs=2))
    digest = hashlib.sha256()
    for stream in streams:
        for number, batch in enumerate(stream):
            if number == count:
                break
            for leaf in keras.tree.flatten(_as_numpy(batch)):
                digest.update(str((leaf.dtype, leaf.shape)).encode())
                digest.update(np.ascontiguousarray(leaf).tobytes())
    return digest.hexdigest()


@on_tensorflow
def test_the_tensorflow_feed_is_a_dataset_with_batch_free_shapes_that_shards_by_batch():
    import tensorflow as tf
    from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset

    source = data.KeyedBatches((np.arange(20),), 4, _nested, seed=0)
    feed = data.tf_dataset(source, epochs=2)
    assert isinstance(feed, tf.data.Dataset) and int(feed.cardinality()) == 10
    (x, _), labels = feed.element_spec
    assert x.shape.as_list() == [None, 2] and x.dtype == tf.float32 and labels["rows"].dtype == tf.int64
    # Two workers: each keeps every other batch of the stream, together all of it.
    want = [batch[1]["key"].tolist() for batch in data.numpy_stream(source, 2)]
    shards = [[b[1]["key"].numpy().tolist() for b in _AutoShardDataset(feed, 2, worker)] for worker in (0, 1)]
    assert shards == [want[0::2], want[1::2]]


@on_tensorflow
def test_mirrored_training_on_the_feed_matches_one_device():
    import tensorflow as tf

    from keras_gpos.training import get_strategy

    def batch(rows, key):
        x = key.rng("noise").normal(size=(len(rows), 3)).astype(np.float32)
        return x, (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]

    source = data.KeyedBatches((np.arange(16),), 8, batch, seed=0)

    def train(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
            model.compile(keras.optimizers.SGD(0.1), "mse")
        history = model.fit(data.tf_dataset(source, epochs=2), epochs=2, steps_per_epoch=source.steps, verbose=0)
        return history.history["loss"], model.get_weights()

    assert len(tf.config.list_logical_devices("CPU")) >= 2, "conftest should provide two logical CPUs"
    one_loss, one_weights = train(tf.distribute.get_strategy())
    two_loss, two_weights = train(get_strategy("mirrored"))
    np.testing.assert_allclose(two_loss, one_loss, rtol=1e-5)
    for got, want in zip(two_weights, one_weights):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
