"""Progress output for long library loops, honest in a terminal and in a log file.

`verbose` means what it means in `model.fit`:

* 0: silent;
* 1: a live progress bar in a terminal (Keras' `Progbar`, ended with a
  newline); when the output is not a terminal (a pipe, a log file) plain
  lines instead, about every tenth of the work (or every 10 s when the total
  is unknown), with no control codes;
* 2: one line when the loop ends.

The total is the real one when the caller knows it (arrays, sized sets) and
"unknown" only for streams whose length cannot be known in advance
(generators, batched `tf.data` datasets).
"""

import sys
import time


def _is_terminal(stream):
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """Counts work done and shows it as `verbose` asks (see the module docstring).

    Args:
        what: str. What is being done, e.g. `"rank_position_channels"`.
        total: int or None. Units of work in all (None: unknown).
        verbose: int. 0, 1 or 2.
        unit: str. What one unit is (`"image"`, `"channel set"`).
        stream: where to write (default `sys.stdout`, as Keras' `Progbar`).

    Use as a context manager, or call `close()` when the loop ends.
    """

    def __init__(self, what, total=None, verbose=1, unit="image", stream=None):
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0 (silent), 1 (progress) or 2 (one line at the end); got {verbose!r}.")
        self.what = what
        self.total = None if total is None else int(total)
        self.verbose = verbose
        self.unit = unit
        self.done = 0
        self._stream = stream or sys.stdout
        self._start = time.perf_counter()
        self._bar = None
        self._next_line = 0.0
        self._closed = False
        if verbose == 1 and _is_terminal(self._stream):
            import keras

            self._bar = keras.utils.Progbar(self.total, verbose=1, unit_name=unit)

    def _units(self, count):
        return f"{count} {self.unit}{'' if count == 1 else 's'}"

    def _line(self, final=False):
        elapsed = time.perf_counter() - self._start
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        text = f"{self.what}: {count} {self.unit}s{share}, {elapsed:.1f} s"
        self._stream.write(text + (" - done" if final else "") + "\n")
        self._stream.flush()

    def _due(self):
        if self.total:
            return self.done >= self._next_line
        return time.perf_counter() - self._start >= self._next_line

    def update(self, done):
        """Sets the work done so far to `done` units."""
        self.done = int(done)
        if self.verbose != 1:
            return
        if self._bar is not None:
            self._bar.update(self.done)
        elif self._due():
            self._line()
            self._next_line = (self.done + max(1, self.total // 10)) if self.total else \
                (time.perf_counter() - self._start + 10.0)

    def add(self, count=1):
        """Adds `count` units of work done."""
        self.update(self.done + count)

    def close(self):
        """Ends the output: the bar's newline, or the final line."""
        if self._closed:
            return
        self._closed = True
        if self.verbose == 0:
            return
        if self._bar is not None:
            self._bar.update(self.done, finalize=True)
        else:
            self._line(final=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

__all__ = [
    "Progress"
]
