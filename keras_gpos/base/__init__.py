"""The base floor: what every other part of keras_gpos builds on.

Files (atomic writes, error-naming readers), argument validation, the input
contracts (`inputs`), statistics, the shared vocabulary (flips, sides,
regions), backend helpers (the one per-backend compile, the TensorFlow
gate), graph lookup, serialization, rendering primitives (Markdown tables,
figures, a report's files) and the results-file schema version. It imports
nothing else of keras_gpos; see docs/architecture.md for the floors above it.
"""

# The base floor re-exports nothing: its names are imported from its modules
# (keras_gpos.base.files, keras_gpos.base.stats, ...), each with its own __all__.
__all__ = []
