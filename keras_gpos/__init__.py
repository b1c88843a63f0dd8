"""keras_gpos: channel-wise position information in CNNs, for Keras 3.

Measure it (GAPNet / PermuteNet location experiments), train against it
(AugShift) and attack it (position-channel ranking and region attacks).
"""

__version__ = "0.1.0"

from keras_gpos import layers
from keras_gpos import models
from keras_gpos import data, losses, metrics, training
from keras_gpos import attacks, ranking
