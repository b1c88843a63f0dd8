"""keras_gpos: channel-wise position information in CNNs, for Keras 3.

Measure it (GAPNet / PermuteNet location experiments), train against it
(AugShift) and attack it (position-channel ranking and region attacks).
The library (layers, models, losses, metrics, ranking, attacks) runs on the
TensorFlow and JAX backends and imports without TensorFlow; the `tf.data`
pipelines, the experiments, SavedModel export and `tf.distribute` need it.
"""

from keras_gpos import base
from keras_gpos.base.schema import VERSION as __version__
from keras_gpos import layers
from keras_gpos import models
from keras_gpos import data, losses, metrics, training
from keras_gpos import attacks, audit, export, ranking

# Top-level modules that moved to keras_gpos.base in 0.3 (read through a
# shim that warns; `keras_gpos.graph.find_layer` keeps working until 0.4).
_MOVED_MODULES = ("compiled", "files", "graph", "registry", "validation")


def __getattr__(name):
    if name in _MOVED_MODULES:
        import keras_gpos.compiled
        import keras_gpos.files
        import keras_gpos.graph
        import keras_gpos.registry
        import keras_gpos.validation

        return globals()[name]
    raise AttributeError(f"module 'keras_gpos' has no attribute {name!r}")

# The subpackages `import keras_gpos` loads; reporting, runs and experiments
# (which need TensorFlow) are imported by name.
__all__ = [
    "__version__", "attacks", "audit", "base", "data", "export", "layers", "losses", "metrics", "models",
    "ranking", "training",
]
