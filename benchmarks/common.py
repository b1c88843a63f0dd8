"""Timing, figures and fits shared by the benchmark sections."""

import statistics
import threading
import time
import tracemalloc

import numpy as np


def median_time(fn, repeats, warmup=1):
    """Median wall time of `fn()` over `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_samples(fns, rounds, warmup=1):
    """Wall and CPU seconds of every call, `({name: [...]}, {name: [...]})`.

    One call of each per round, so a change in machine load (the machine is
    shared) hits all of them alike; the order rotates every round so none
    always runs right after the same neighbour. CPU time is this process's
    (all threads), which other jobs on the machine inflate far less.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    wall = {name: [] for name in names}
    busy = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            start, start_cpu = time.perf_counter(), time.process_time()
            fns[name]()
            wall[name].append(time.perf_counter() - start)
            busy[name].append(time.process_time() - start_cpu)
    return wall, busy


def interleaved_times(fns, rounds, warmup=1, cpu=False):
    """`{name: median seconds}` of `interleaved_samples` (and of CPU time if `cpu`)."""
    wall, busy = interleaved_samples(fns, rounds, warmup)
    medians = {name: statistics.median(values) for name, values in wall.items()}
    if cpu:
        return medians, {name: statistics.median(values) for name, values in busy.items()}
    return medians


def compiled_matmul(n, seed=0):
    """A compiled `n x n` float32 matmul on the current backend (the FLOP/s reference)."""
    import keras

    rng = np.random.default_rng(seed)
    a, b = (keras.ops.convert_to_tensor(rng.normal(size=(n, n)).astype("float32")) for _ in range(2))
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda: tf.matmul(a, b))
        return lambda: fn().numpy()
    if keras.config.backend() == "jax":
        import jax

        fn = jax.jit(lambda x, y: x @ y)
        return lambda: fn(a, b).block_until_ready()
    return lambda: keras.ops.convert_to_numpy(keras.ops.matmul(a, b))


def figure(name, value, unit, target=None, met=None, note=""):
    return {"name": name, "value": float(value), "unit": unit, "target": target,
            "met": None if met is None else bool(met), "note": note}


def linear_fit(x, y):
    """Least squares `y = slope * x + intercept`, R^2 and the largest |y - fit| / fit."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    fit = slope * x + intercept
    residual = ((y - fit) ** 2).sum()
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1.0 - residual / total if total > 0 else 1.0
    deviation = float(np.max(np.abs(y - fit) / np.abs(fit)))
    return float(slope), float(intercept), float(r2), deviation


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class PeakMemory:
    """Peak memory of a block: TF's CPU allocator, Python/NumPy heap, RSS growth.

    * `tf_peak`: `tf.config.experimental.get_memory_info("CPU:0")["peak"]`
      after `reset_memory_stats`, minus the bytes already held at entry
      (tensors the block allocates, e.g. activations).
    * `py_peak`: `tracemalloc` peak (NumPy arrays and Python objects).
    * `rss_growth`: largest resident set size seen by a 2 ms sampling thread,
      minus the size at entry (whatever the process took from the OS).
    """

    def __enter__(self):
        import tensorflow as tf

        self._tf = tf
        tf.config.experimental.reset_memory_stats("CPU:0")
        self._tf_start = tf.config.experimental.get_memory_info("CPU:0")["current"]
        self._rss_start = self._rss_peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        tracemalloc.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.002):
            self._rss_peak = max(self._rss_peak, _rss_bytes())

    def __exit__(self, *exc):
        _, self.py_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        self._stop.set()
        self._thread.join()
        self._rss_peak = max(self._rss_peak, _rss_bytes())
        self.rss_growth = self._rss_peak - self._rss_start
        info = self._tf.config.experimental.get_memory_info("CPU:0")
        self.tf_peak = info["peak"] - self._tf_start
        return False

    @property
    def total_peak(self):
        return self.tf_peak + self.py_peak
