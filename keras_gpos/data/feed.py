"""What `model.fit` reads: a keyed batch source, fed on the current Keras backend.

A source is a `keras_gpos.data.KeyedBatches` (or any object with `steps`,
`seed` and `batch(epoch, index)` returning NumPy arrays). Its stream holds
the batches of epochs `initial_epoch .. epochs - 1` in turn, so `fit` takes
it with `steps_per_epoch=source.steps` and a resumed run starts the stream
at its epoch; `epochs=None` is one epoch of fresh random key per pass
(random, not reproducible).

* TensorFlow: a `tf.data.Dataset`. `Dataset.range(steps)` is mapped over
  whole batches through `tf.numpy_function` (`num_parallel_calls`, order
  kept), then prefetched. `MirroredStrategy` splits each batch between
  its replicas. Under a multi-worker strategy it shards by data: each
  worker keeps every n-th batch of the stream (tf.data puts the shard
  after the map, so each worker also builds the batches it drops: n times
  the input work, acceptable while multi-host runs are out of scope).
* Every other backend: a `keras.utils.PyDataset` whose batches a few
  threads build ahead of the one asked for (NumPy releases the GIL in its
  copies and arithmetic). No TensorFlow is imported. A training stream
  (a shuffled source with `epochs` given) is handed to `fit` as a generator
  over that PyDataset: `fit(shuffle=True)`, Keras' default, reads a
  PyDataset's items in a random order, which would break a resumed run's
  equality with an uninterrupted one; a generator, like a tf.data stream,
  is read once, in order.

Both give the same batches: they call the same `source.batch`.
"""

import concurrent.futures
import os
import weakref

import keras
import numpy as np

from keras_gpos.base.backend import requires_tensorflow
from keras_gpos.base.validation import check_non_negative_int, check_positive_int
from keras_gpos.data.keyed import stream_length

# Epoch numbers drawn for `epochs=None` streams: any value a BatchKey takes.
_FRESH_EPOCHS = 2**62


def fit_input(source, epochs=1, initial_epoch=0, threads=None):
    """The stream of `source` as the current backend's `fit` input.

    Args:
        source: a `keras_gpos.data.KeyedBatches`.
        epochs: int, or None for one epoch with a fresh random key on
            every pass. The default, 1, is one deterministic pass over epoch
            0 (evaluation).
        initial_epoch: int. First epoch of the stream.
        threads: int or None. Batches built at once (TensorFlow: None lets
            tf.data tune it; elsewhere None is `min(4, cpu count)`).

    Returns:
        A `tf.data.Dataset` on TensorFlow. Elsewhere a `KeyedPyDataset`
        (a `keras.utils.PyDataset`), or for a training stream (a shuffled
        source with `epochs` given) a generator over one.

    Examples:
        >>> source = keras_gpos.data.KeyedBatches(
        ...     (np.arange(10.0),), 4, lambda rows, key: (rows[:, None], rows[:, None]), seed=0)
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> history = model.fit(keras_gpos.data.fit_input(source, epochs=2), epochs=2,
        ...                     steps_per_epoch=source.steps, verbose=0)
        >>> len(history.history["loss"]), source.steps
        (2, 3)
    """
    if keras.config.backend() == "tensorflow":
        return tf_dataset(source, epochs, initial_epoch, threads)
    feed = KeyedPyDataset(source, epochs, initial_epoch, threads)
    if epochs is not None and getattr(source, "shuffle", False):
        return iter(feed)  # a training stream: read once, in order (see the module docstring)
    return feed


def numpy_stream(source, epochs=1, initial_epoch=0):
    """The same stream as plain NumPy batches, built one at a time (tests, digests)."""
    if epochs is None:
        epoch = int(np.random.default_rng().integers(_FRESH_EPOCHS))
        return (source.batch(epoch, index) for index in range(source.steps))
    return source.stream(epochs, initial_epoch)


def _check_stream(epochs, initial_epoch, threads):
    if epochs is not None:
        check_non_negative_int(epochs, "epochs")
    check_non_negative_int(initial_epoch, "initial_epoch")
    if threads is not None:
        check_positive_int(threads, "threads")


def tf_dataset(source, epochs=1, initial_epoch=0, threads=None):
    """The stream of `source` as a `tf.data.Dataset` (see the module docstring)."""
    tf = requires_tensorflow("keras_gpos.data.tf_dataset")
    _check_stream(epochs, initial_epoch, threads)
    # One batch tells the structure, dtypes and shapes (and fails early on bad data).
    probe = source.batch(initial_epoch if epochs is not None else 0, 0)
    leaves = keras.tree.flatten(probe)
    dtypes = [tf.as_dtype(np.asarray(leaf).dtype) for leaf in leaves]
    shapes = [(None,) + np.shape(leaf)[1:] for leaf in leaves]
    steps = source.steps

    def build(epoch, index):
        return [np.asarray(leaf) for leaf in keras.tree.flatten(source.batch(int(epoch), int(index)))]

    def numpy_batch(epoch, index):
        flat = tf.numpy_function(build, [epoch, index], dtypes, stateful=False)
        for tensor, shape in zip(flat, shapes):
            tensor.set_shape(shape)
        return keras.tree.pack_sequence_as(probe, flat)

    parallel = tf.data.AUTOTUNE if threads is None else threads
    if epochs is None:
        # A fresh epoch number on every pass over the dataset.
        draws = tf.data.Dataset.random(seed=source.seed, rerandomize_each_iteration=True).take(1)
        keys = draws.flat_map(lambda draw: tf.data.Dataset.range(steps).map(
            lambda index: (tf.math.floormod(draw, _FRESH_EPOCHS), index)))
        dataset = keys.map(numpy_batch, num_parallel_calls=parallel, deterministic=True)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
    else:
        total = stream_length(source, epochs, initial_epoch)
        dataset = tf.data.Dataset.range(total).map(
            lambda step: numpy_batch(initial_epoch + step // steps, step % steps),
            num_parallel_calls=parallel, deterministic=True)
    options = tf.data.Options()
    # A range has no files to shard: each worker keeps every n-th batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


class KeyedPyDataset(keras.utils.PyDataset):
    """The stream of a keyed source as a `keras.utils.PyDataset` (any backend).

    Item `i` is batch `i % steps` of epoch `initial_epoch + i // steps`.
    While item `i` is read, `threads` threads build the next ones; a read out
    of order drops that look-ahead and builds the item at once, so random
    access is exact too.

    Args:
        source, epochs, initial_epoch, threads: see `fit_input`.
    """

    def __init__(self, source, epochs=1, initial_epoch=0, threads=None):
        super().__init__()
        _check_stream(epochs, initial_epoch, threads)
        self.source = source
        self.fresh = epochs is None
        self.initial_epoch = initial_epoch
        self.length = source.steps if self.fresh else stream_length(source, epochs, initial_epoch)
        self.threads = min(4, os.cpu_count() or 1) if threads is None else threads
        self._epoch = self._draw_epoch() if self.fresh else None
        self._pending = {}
        self._pool = None

    @staticmethod
    def _draw_epoch():
        return int(np.random.default_rng().integers(_FRESH_EPOCHS))

    def __len__(self):
        return self.length

    def locate(self, item):
        """`(epoch, index)` of item `item`."""
        if self.fresh:
            return self._epoch, item
        steps = self.source.steps
        return self.initial_epoch + item // steps, item % steps

    def _executor(self):
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="keras_gpos_feed")
            weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        return self._pool

    def __getitem__(self, item):
        item = int(item)
        if not 0 <= item < self.length:
            raise IndexError(f"item {item} is out of range for a stream of {self.length} batches.")
        key = self.locate(item)
        future = self._pending.pop(key, None)
        if future is None:
            for stale in self._pending.values():
                stale.cancel()
            self._pending.clear()
        if self.threads > 1:
            pool = self._executor()
            for ahead in range(item + 1, min(item + 1 + 2 * self.threads, self.length)):
                ahead_key = self.locate(ahead)
                if ahead_key not in self._pending:
                    self._pending[ahead_key] = pool.submit(self.source.batch, *ahead_key)
        return self.source.batch(*key) if future is None else future.result()

    def on_epoch_end(self):
        if self.fresh:
            self._epoch = self._draw_epoch()

    def __iter__(self):
        if self.fresh:
            self._epoch = self._draw_epoch()
        for item in range(self.length):
            yield self[item]
