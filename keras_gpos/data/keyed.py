"""Batches keyed by `(seed, epoch, batch index)`: any batch of any epoch, in any process.

Every random choice of an input pipeline (the order of an epoch, a flip, a
grid cell, a noise background, a view's offset) is drawn from
`numpy.random.default_rng([seed, epoch, index, purpose])`, a generator that
depends on nothing else. So batch `index` of epoch `epoch` is the same in a
fresh process, after a resume, on a worker thread that builds batches out of
order, and on every Keras backend: the transforms are NumPy, written once.

* `BatchKey`: the key of one batch; `key.rng("flip")` is its generator for
  one purpose.
* `KeyedBatches`: the batches of one epoch of in-memory arrays, each made
  by `make_batch(*rows, key)`; shuffled per epoch for training, in order
  for evaluation.
* `batch_array`: the output buffer of a transform, aligned so that
  `tf.numpy_function` hands it to TensorFlow without a copy.

`keras_gpos.data.feed` turns a `KeyedBatches` into what `fit` reads.
"""

import dataclasses
import sys
import threading

import numpy as np

from keras_gpos.base.validation import check_non_negative_int, check_positive_int, check_seed

# One stream of random numbers per purpose, so adding a transform never
# moves the draws of another.
PURPOSES = {"order": 0, "flip": 1, "cells": 2, "noise": 3, "views": 4, "evaluation_noise": 5}

# TensorFlow wraps a returned array without copying it when its data is
# aligned to this many bytes (EIGEN_MAX_ALIGN_BYTES); NumPy aligns to 16.
ALIGNMENT = 64


@dataclasses.dataclass(frozen=True)
class BatchKey:
    """The key of one batch: its generators depend on `(seed, epoch, index)` only.

    Args:
        seed: int in [0, 2**31). The seed of the whole stream.
        epoch: int >= 0.
        index: int >= 0. The batch's index inside its epoch.

    Examples:
        >>> key = keras_gpos.data.BatchKey(seed=0, epoch=3, index=7)
        >>> key.rng("flip").random() == keras_gpos.data.BatchKey(0, 3, 7).rng("flip").random()
        True
    """

    seed: int
    epoch: int
    index: int

    def __post_init__(self):
        check_seed(self.seed)
        check_non_negative_int(self.epoch, "epoch")
        check_non_negative_int(self.index, "index")

    def rng(self, purpose):
        """A fresh `numpy.random.Generator` for one purpose (`PURPOSES`)."""
        if purpose not in PURPOSES:
            raise ValueError(f"Unknown purpose {purpose!r}; expected one of {list(PURPOSES)}.")
        return np.random.default_rng([self.seed, self.epoch, self.index, PURPOSES[purpose]])


class BufferPool:
    """Large output buffers, reused once nothing refers to them any more.

    A batch's canvas is tens of MB. Freed by another thread (TensorFlow
    drops a tensor wherever it is done with it), such a block goes back to
    the system, and the next one costs the kernel a fresh zeroed mapping:
    measured, that doubled the CPU time per batch of the tf.data feed. The
    pool keeps the blocks instead. A block is handed out again only when
    the pool holds the last reference to it: every NumPy view of a block,
    and every tensor that wraps one without copying, keeps a reference.

    Args:
        limit: int. Bytes of blocks kept at most; beyond it blocks are not pooled.
        smallest: int. Blocks below this many bytes are not pooled (cheap to allocate).
    """

    def __init__(self, limit=1 << 30, smallest=1 << 20):
        self.limit = limit
        self.smallest = smallest
        self._blocks = []
        self._lock = threading.Lock()

    def take(self, nbytes):
        """A uint8 block of `nbytes` that nothing else refers to."""
        if nbytes < self.smallest:
            return np.empty(nbytes, np.uint8)
        with self._lock:
            blocks = self._blocks
            # Free: referenced only by the list and by getrefcount's own argument.
            free = [i for i in range(len(blocks)) if sys.getrefcount(blocks[i]) == 2]
            for i in free:
                if blocks[i].nbytes == nbytes:
                    return blocks[i]
            held = sum(block.nbytes for block in blocks)
            for i in reversed(free):  # make room: drop free blocks of other sizes
                if held + nbytes <= self.limit:
                    break
                held -= blocks.pop(i).nbytes
            block = np.empty(nbytes, np.uint8)
            if held + nbytes <= self.limit:
                blocks.append(block)
            return block


POOL = BufferPool()


def batch_array(shape, dtype=np.float32, fill=None):
    """A C-contiguous array whose data is aligned to `ALIGNMENT` bytes (from `POOL`).

    Args:
        shape: tuple of ints.
        dtype: NumPy dtype.
        fill: None (uninitialised), or a scalar or array broadcast into it.
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = POOL.take(size + ALIGNMENT)
    start = -raw.ctypes.data % ALIGNMENT
    array = raw[start:start + size].view(dtype).reshape(shape)
    if fill is not None:
        array[...] = fill
    return array


def rng_of(seed):
    """A `numpy.random.Generator` from an int, ints (a sequence or array), a Generator (as is) or None."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    seed = np.asarray(seed)
    if not np.issubdtype(seed.dtype, np.integer) or np.any(seed < 0):
        raise ValueError(f"seed must be ints >= 0 or a numpy.random.Generator; got {seed.tolist()!r}.")
    return np.random.default_rng(seed.tolist())


class KeyedBatches:
    """The batches of one epoch of in-memory arrays, keyed by `(seed, epoch, index)`.

    Training (`shuffle=True`) orders the rows of epoch `e` by a permutation
    drawn from `BatchKey(seed, e, 0).rng("order")`; evaluation keeps them in
    order. Batch `i` holds rows `i * batch_size ...` of that order (the last
    one may be smaller) and is `make_batch(*rows, BatchKey(seed, e, i))`.

    Args:
        arrays: tuple of NumPy arrays with one example per row.
        batch_size: int. Rows per batch.
        make_batch: function `(*rows, key) -> batch`, a tuple (possibly
            nested, or holding a dict) of NumPy arrays. It may change the
            rows in place: they are a fresh copy.
        seed: int in [0, 2**31).
        shuffle: bool. A new order every epoch (training).

    Attributes:
        steps: int. Batches per epoch.
    """

    def __init__(self, arrays, batch_size, make_batch, seed=0, shuffle=True):
        self.arrays = tuple(np.asarray(array) for array in arrays)
        if not self.arrays:
            raise ValueError("KeyedBatches needs at least one array.")
        self.count = len(self.arrays[0])
        for array in self.arrays[1:]:
            if len(array) != self.count:
                raise ValueError(
                    f"arrays hold {self.count} and {len(array)} rows; every array needs one row per example."
                )
        if self.count == 0:
            raise ValueError("KeyedBatches got no examples.")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.make_batch = make_batch
        self.seed = check_seed(seed)
        self.shuffle = bool(shuffle)
        self.steps = steps_per_epoch(self.count, self.batch_size)
        self._orders = {}
        self._lock = threading.Lock()

    def order(self, epoch):
        """Row order of `epoch` (cached for the two latest epochs: workers build batches of both)."""
        if not self.shuffle:
            return None
        with self._lock:
            order = self._orders.get(epoch)
        if order is None:
            order = BatchKey(self.seed, epoch, 0).rng("order").permutation(self.count)
            with self._lock:
                self._orders[epoch] = order
                while len(self._orders) > 2:
                    self._orders.pop(next(iter(self._orders)))  # the oldest
        return order

    def batch(self, epoch, index):
        """Batch `index` of epoch `epoch` (evaluation: every epoch is epoch 0)."""
        epoch, index = int(epoch), int(index)
        if not 0 <= index < self.steps:
            raise ValueError(f"batch index {index} is out of range for an epoch of {self.steps} batches.")
        if not self.shuffle:
            epoch = 0
        start, stop = index * self.batch_size, min((index + 1) * self.batch_size, self.count)
        order = self.order(epoch)
        if order is None:
            rows = tuple(array[start:stop].copy() for array in self.arrays)
        else:
            ids = order[start:stop]
            rows = tuple(array[ids] for array in self.arrays)
        return self.make_batch(*rows, BatchKey(self.seed, epoch, index))

    def stream(self, epochs=1, initial_epoch=0):
        """The batches of epochs `initial_epoch .. epochs - 1`, in turn, as NumPy (no prefetch)."""
        for step in range(stream_length(self, epochs, initial_epoch)):
            yield self.batch(initial_epoch + step // self.steps, step % self.steps)


def steps_per_epoch(count, batch_size):
    """Batches per training epoch of `count` examples (the last one may be smaller)."""
    return -(-int(count) // int(batch_size))


def stream_length(source, epochs, initial_epoch):
    """Batches in the stream of epochs `initial_epoch .. epochs - 1` of `source`."""
    epochs = check_non_negative_int(epochs, "epochs")
    initial_epoch = check_non_negative_int(initial_epoch, "initial_epoch")
    return max(0, epochs - initial_epoch) * source.steps
