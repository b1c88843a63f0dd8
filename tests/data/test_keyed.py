"""Keyed batches: any batch of any epoch from `(seed, epoch, index)`, and resume as the tail of the stream.

The backend_agnostic tests also run on JAX (tests/integration/test_jax_backend.py selects them by marker).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_gpos.data.keyed import ALIGNMENT, BatchKey, BufferPool, KeyedBatches, batch_array, steps_per_epoch

pytestmark = pytest.mark.backend_agnostic


def _rows_and_key(rows, key):
    """A batch that records which rows it got and draws one number per purpose."""
    return rows, np.array([key.epoch, key.index]), key.rng("flip").random(2), key.rng("cells").random(2)


def _equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_a_key_gives_the_same_draws_every_time_and_different_ones_per_purpose_epoch_and_index():
    draws = {(e, i, p): BatchKey(3, e, i).rng(p).random(4).tolist()
             for e in range(2) for i in range(2) for p in ("flip", "cells", "noise")}
    assert len({tuple(v) for v in draws.values()}) == len(draws)
    assert BatchKey(3, 1, 1).rng("noise").random(4).tolist() == draws[(1, 1, "noise")]
    assert BatchKey(4, 1, 1).rng("noise").random(4).tolist() != draws[(1, 1, "noise")]


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": -1, "epoch": 0, "index": 0}, r"seed must be an int in \[0, 2147483647\]; got -1"),
    ({"seed": 0, "epoch": -2, "index": 0}, "epoch must be an int >= 0; got -2"),
    ({"seed": 0, "epoch": 0, "index": 1.5}, "index must be an int >= 0; got 1.5"),
])
def test_bad_keys_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchKey(**kwargs)


def test_an_unknown_purpose_is_refused():
    with pytest.raises(ValueError, match="Unknown purpose 'colour'"):
        BatchKey(0, 0, 0).rng("colour")


@settings(max_examples=30, deadline=None, derandomize=True)
@given(count=st.integers(1, 23), batch_size=st.integers(1, 9), epochs=st.integers(1, 4), data=st.data())
def test_every_epoch_visits_each_example_once_and_resuming_gives_the_tail(count, batch_size, epochs, data):
    source = KeyedBatches((np.arange(count),), batch_size, _rows_and_key, seed=5)
    full = list(source.stream(epochs))
    assert len(full) == epochs * steps_per_epoch(count, batch_size) == epochs * source.steps
    for epoch in range(epochs):
        rows = np.concatenate([batch[0] for batch in full[epoch * source.steps:(epoch + 1) * source.steps]])
        assert sorted(rows.tolist()) == list(range(count))
    initial = data.draw(st.integers(0, epochs))
    # A resumed run, in a fresh object, sees exactly the batches the uninterrupted one saw.
    resumed = list(KeyedBatches((np.arange(count),), batch_size, _rows_and_key, seed=5).stream(epochs, initial))
    tail = full[initial * source.steps:]
    assert len(resumed) == len(tail) and all(_equal(a, b) for a, b in zip(resumed, tail))


def test_batches_can_be_built_in_any_order():
    source = KeyedBatches((np.arange(40),), 6, _rows_and_key, seed=1)
    in_order = list(source.stream(3))
    # Out of order, epochs interleaved (as workers build them), and in a fresh object.
    fresh = KeyedBatches((np.arange(40),), 6, _rows_and_key, seed=1)
    for step in [13, 2, 20, 0, 7, 14, 1]:
        assert _equal(fresh.batch(step // source.steps, step % source.steps), in_order[step])


def test_epochs_are_shuffled_differently_and_evaluation_keeps_the_order():
    training = KeyedBatches((np.arange(30),), 30, _rows_and_key, seed=0)
    first, second = (training.batch(epoch, 0)[0].tolist() for epoch in (0, 1))
    assert sorted(first) == sorted(second) == list(range(30)) and first != second
    evaluation = KeyedBatches((np.arange(30),), 8, _rows_and_key, seed=0, shuffle=False)
    batches = list(evaluation.stream(1))
    assert [b[0].tolist() for b in batches] == [list(range(i, min(i + 8, 30))) for i in range(0, 30, 8)]
    # Evaluation is epoch 0 whatever the epoch asked for: every pass is the same.
    assert _equal(evaluation.batch(5, 1), batches[1])


def test_make_batch_gets_a_copy_it_may_change():
    images = np.arange(12).reshape(6, 2)

    def scribble(rows, key):
        rows[:] = -1
        return (rows,)

    for shuffle in (True, False):
        list(KeyedBatches((images,), 4, scribble, shuffle=shuffle).stream(1))
    assert images.min() == 0


def test_bad_sources_name_the_problem():
    with pytest.raises(ValueError, match="arrays hold 3 and 2 rows"):
        KeyedBatches((np.zeros(3), np.zeros(2)), 2, _rows_and_key)
    with pytest.raises(ValueError, match="got no examples"):
        KeyedBatches((np.zeros(0),), 2, _rows_and_key)
    with pytest.raises(ValueError, match="batch_size must be a positive int; got 0"):
        KeyedBatches((np.zeros(3),), 0, _rows_and_key)
    with pytest.raises(ValueError, match="batch index 2 is out of range for an epoch of 2 batches"):
        KeyedBatches((np.zeros(3),), 2, _rows_and_key).batch(0, 2)


@pytest.mark.parametrize("dtype", ["float32", "uint8", "int64"])
def test_batch_arrays_are_aligned_contiguous_and_filled(dtype):
    for shape in [(3, 5, 7, 3), (1,), (0, 4)]:
        array = batch_array(shape, dtype, 2)
        assert array.shape == shape and array.dtype == dtype and array.flags.c_contiguous
        assert np.all(array == 2) and (array.size == 0 or array.ctypes.data % ALIGNMENT == 0)


def test_the_pool_hands_a_block_out_again_only_once_nothing_refers_to_it():
    pool = BufferPool(limit=3 * 4096, smallest=1024)
    first = pool.take(4096)
    address = first.ctypes.data
    view = first[8:].view(np.float32)  # a view keeps the block
    del first
    second = pool.take(4096)
    assert second.ctypes.data != address and not np.shares_memory(second, view)
    del view
    assert pool.take(4096).ctypes.data == address
    # Small blocks and blocks beyond the limit are plain allocations.
    assert pool.take(512).ctypes.data not in {address, second.ctypes.data}
    kept = [pool.take(4096) for _ in range(3)]
    assert len({block.ctypes.data for block in kept + [second]}) == 4
