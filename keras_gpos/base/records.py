"""Records that identify something (a run's fingerprint, a report row's settings), compared in words.

A record is a JSON-ready dict. `canonical` gives one string per record
(key order and tuple/list spelling do not matter), so records can be
grouped; `describe_differences` names what differs between two of them
(`padding: zero -> reflect`), so a refusal can say why.
"""

import json
import re


def normal(value):
    """`value` as JSON would give it back (tuples become lists, keys are sorted)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def canonical(record):
    """One string per record: equal records give equal strings."""
    return json.dumps(record, sort_keys=True, default=str)


def _show(value):
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "''"
    return repr(value) if isinstance(value, str) and not value else str(value)


def describe_differences(old, new, prefix=""):
    """`["padding: zero -> reflect", ...]` for the keys whose values differ (nested keys dotted)."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += describe_differences(a, b, prefix=f"{prefix}{key}.")
        elif normal(a) != normal(b):
            lines.append(f"{prefix}{key}: {_show(a)} -> {_show(b)}")
    return lines


def short_digests(text):
    """`text` with every 64-digit hex digest cut to its first 12 digits (for one-line messages)."""
    return re.sub(r"\b([0-9a-f]{12})[0-9a-f]{52}\b", r"\1…", text)


def shown_differences(old, new, limit=6):
    """`describe_differences` as one clause: at most `limit` of them, then `...`."""
    differences = [short_digests(line) for line in describe_differences(old, new)]
    return "; ".join(differences[:limit]) + ("; ..." if len(differences) > limit else "")


def arrays_digest(*arrays):
    """The SHA-256 (hex) of arrays' decoded contents, dtypes and shapes: what a model was fed."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()

__all__ = [
    "normal", "canonical", "describe_differences", "short_digests", "shown_differences", "arrays_digest"
]
