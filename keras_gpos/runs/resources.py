"""Resource bounds checked from the flags, before anything is allocated.

Experiments estimate the memory their data and canvases need (`MemoryPlan`)
and refuse settings that cannot fit, with one line that gives the estimate,
the limit and the flags to change, instead of climbing into swap or the OOM
killer minutes later.
"""

import dataclasses
import math
import os

GIB = 1024**3
# Share of the available memory a run may plan to use; the rest is left for
# TensorFlow's own buffers, activations and other processes.
USABLE_SHARE = 0.8
MEMORY_LIMIT_VARIABLE = "KERAS_GPOS_MEMORY_LIMIT_GB"


def available_memory_bytes():
    """Memory available to new allocations (`MemAvailable`), or None if unknown.

    The environment variable `KERAS_GPOS_MEMORY_LIMIT_GB` overrides it.
    """
    override = os.environ.get(MEMORY_LIMIT_VARIABLE)
    if override:
        try:
            limit = float(override)
        except ValueError:
            limit = float("nan")
        if not math.isfinite(limit) or limit <= 0:
            raise ValueError(f"{MEMORY_LIMIT_VARIABLE}={override!r} is not a positive number of GiB; "
                             f"set it to e.g. 8, or unset it to use the memory this machine has.")
        return limit * GIB
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@dataclasses.dataclass
class MemoryPlan:
    """A sum of named memory needs, each with the flags that control it."""

    what: str
    items: list = dataclasses.field(default_factory=list)

    def add(self, label, nbytes, flags):
        self.items.append((label, float(nbytes), tuple(flags)))
        return self

    @property
    def total(self):
        return sum(nbytes for _, nbytes, _ in self.items)

    def check(self, available=None):
        """Raises `ValueError` when the plan exceeds the usable memory."""
        available = available_memory_bytes() if available is None else available
        if available is None:
            return self
        limit = USABLE_SHARE * available
        if self.total <= limit:
            return self
        biggest = sorted(self.items, key=lambda item: -item[1])
        flags = []
        for _, _, names in biggest:
            flags += [f for f in names if f not in flags]
        parts = ", ".join(f"{label} {nbytes / GIB:.1f} GiB" for label, nbytes, _ in biggest[:3])
        raise ValueError(
            f"{self.what} needs about {self.total / GIB:.1f} GiB of memory ({parts}), more than "
            f"the {limit / GIB:.1f} GiB this machine can give it ({USABLE_SHARE:.0%} of "
            f"{available / GIB:.1f} GiB available); lower {', '.join('--' + f for f in flags)}."
        )
