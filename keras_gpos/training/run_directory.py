"""Deprecated: moved to `keras_gpos.runs.directory` in keras_gpos 0.3 (this path goes in 0.4)."""

from keras_gpos.runs import directory as _moved
from keras_gpos.base.deprecation import moved_module

__getattr__, __dir__ = moved_module(__name__, _moved)
