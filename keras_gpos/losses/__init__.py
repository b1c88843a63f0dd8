"""Losses of keras_gpos (backend-agnostic: keras.ops only)."""

from keras_gpos.losses.shift_consistency import DISTANCES
from keras_gpos.losses.shift_consistency import ShiftConsistencyLoss

__all__ = [
    "DISTANCES", "ShiftConsistencyLoss"
]
