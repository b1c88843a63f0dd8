"""Argument checks shared by configs, layers and library functions.

Each check takes the value and the name the user knows it by, returns the
value, and raises a `ValueError` that names both and says what was expected.
"""

import math
import numbers

import numpy as np

# Seeds feed numpy (< 2**32) and Keras (int32 pairs); both accept this range.
MAX_SEED = 2**31 - 1


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_positive_int(value, name):
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")
    return int(value)


def check_non_negative_int(value, name):
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be an int >= 0; got {value!r}.")
    return int(value)


def check_int_range(value, name, low, high):
    """An int in `[low, high]`."""
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}]; got {value!r}.")
    return int(value)


def check_seed(value, name="seed"):
    return check_int_range(value, name, 0, MAX_SEED)


def check_one_of(value, name, allowed):
    if value not in allowed:
        raise ValueError(f"Unknown {name} {value!r}; expected one of {list(allowed)}.")
    return value


def check_finite(value, name):
    """A real number that is neither NaN nor infinite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}.")
    return float(value)


def check_fraction(value, name, low_open=True, high_open=True):
    value = check_finite(value, name)
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value < 1 if high_open else value <= 1
    if not (low_ok and high_ok):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}; got {value!r}.")
    return value


def check_positive_ints(values, name, allow_empty=False):
    """A tuple of positive ints."""
    values = tuple(values)
    if not values and not allow_empty:
        raise ValueError(f"{name} must hold at least one value.")
    for value in values:
        if not _is_int(value) or value < 1:
            raise ValueError(f"{name} must hold positive ints; got {values!r}.")
    return values


def check_channel_count(n, num_channels, layer="the layer", source=""):
    """A channel count `n` in `[0, num_channels]` (how many channels to rank, mask or draw).

    `source` names where N came from in the message, e.g. `" (from --attack_n)"`.
    """
    if not _is_int(n) or n < 0:
        raise ValueError(f"N{source} must be a non-negative int; got {n!r}.")
    if n > num_channels:
        raise ValueError(f"N={n}{source} is larger than the {num_channels} channels of {layer}.")
    return int(n)


def check_integer_indices(values, name):
    """A flat int array of indices; floats such as 1.5, booleans and strings are errors."""
    array = np.asarray(values)
    if array.dtype == object:
        raise ValueError(f"{name} must be integer indices; got {values!r}.")
    array = array.reshape(-1)
    if array.size == 0:
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.bool_) or not (
        np.issubdtype(array.dtype, np.integer) or (
            np.issubdtype(array.dtype, np.floating) and np.all(np.isfinite(array))
            and np.all(np.mod(array, 1) == 0))):
        raise ValueError(f"{name} must be integer indices; got {array.tolist()!r}.")
    return array.astype(np.int64)


def check_finite_array(array, what):
    """Raises when a float array holds NaN or Inf; `what` names the batch or argument."""
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{what} holds {bad} NaN or Inf value(s); clean or drop them first.")
    return array


def integer_values(values, what, kind="labels"):
    """`values` as int64 when every entry is a whole number (ints, or floats like 2.0), else a one-line error."""
    values = np.asarray(values)
    if values.dtype == np.bool_ or not (np.issubdtype(values.dtype, np.integer)
                                        or np.issubdtype(values.dtype, np.floating)):
        raise ValueError(f"{what} must hold integer {kind}; got dtype {values.dtype}.")
    if np.issubdtype(values.dtype, np.floating):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{what} holds NaN or Inf {kind}.")
        fractional = np.mod(values, 1) != 0
        if np.any(fractional):
            raise ValueError(f"{what} holds non-integer {kind} such as {values[fractional][:3].tolist()}; "
                             f"{kind} must be class indices.")
    return values.astype(np.int64)


def check_label_range(indices, what, num_classes, ignore_label=None, kind="labels"):
    """Int `indices` in `[0, num_classes)` (or the ignore label); returns them."""
    valid = (indices >= 0) & (indices < num_classes)
    if ignore_label is not None:
        valid |= indices == ignore_label
    if not np.all(valid):
        bad = sorted(set(indices[~valid].reshape(-1).tolist()))[:5]
        allowed = f"[0, {num_classes})" + ("" if ignore_label is None else f" or the ignore label {ignore_label}")
        raise ValueError(f"{what} holds {kind} {bad} outside {allowed}.")
    return indices


def check_labels(labels, num_classes, what, ignore_label=None):
    """Integer class labels in `[0, num_classes)` (or the ignore label), any shape, as int64."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return labels.astype(np.int64)
    return check_label_range(integer_values(labels, what), what, num_classes, ignore_label)

__all__ = [
    "MAX_SEED", "check_positive_int", "check_non_negative_int", "check_int_range", "check_seed", "check_one_of",
    "check_finite", "check_fraction", "check_positive_ints", "check_channel_count", "check_integer_indices",
    "check_finite_array", "integer_values", "check_label_range", "check_labels"
]
