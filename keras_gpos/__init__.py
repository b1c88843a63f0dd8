"""keras_gpos: channel-wise position information in CNNs, for Keras 3.

Measure it (GAPNet / PermuteNet location experiments), train against it
(AugShift) and attack it (position-channel ranking and region attacks).
The library (layers, models, losses, metrics, ranking, attacks) runs on the
TensorFlow and JAX backends and imports without TensorFlow; the `tf.data`
pipelines, the experiments, SavedModel export and `tf.distribute` need it.
"""

__version__ = "0.2.0"

from keras_gpos import graph
from keras_gpos import layers
from keras_gpos import models
from keras_gpos import data, losses, metrics, training
from keras_gpos import attacks, audit, ranking
