"""The consistency functions refuse a model whose output names no arg-max class (second hostile pass)."""

import keras
import numpy as np
import pytest

from keras_gpos.data import ViewProtocol
from keras_gpos.metrics import accuracy_vs_shift, consistency_and_accuracy

pytestmark = [pytest.mark.adversarial, pytest.mark.backend_agnostic]

PROTOCOL = ViewProtocol("canvas", canvas_size=20)
IMAGES = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")
LABELS = np.array([0, 1, 0, 1])


def sigmoid_model():
    inputs = keras.Input((20, 20, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(pooled), name="sigmoid")


def test_single_unit_model_is_refused_without_labels():
    # It scored consistency 1.0: the arg-max over one unit is always 0.
    with pytest.raises(ValueError, match=r"model 'sigmoid' has one output unit .* cannot give an arg-max class"):
        consistency_and_accuracy(sigmoid_model(), IMAGES, protocol=PROTOCOL, repeats=1)


def test_single_unit_model_is_refused_with_labels_before_reading_them():
    # It said "labels [1] outside [0, 1)" without naming the single output.
    with pytest.raises(ValueError, match="one output unit"):
        consistency_and_accuracy(sigmoid_model(), IMAGES, LABELS, protocol=PROTOCOL, repeats=1)
    with pytest.raises(ValueError, match="one output unit"):
        accuracy_vs_shift(sigmoid_model(), IMAGES, LABELS, protocol=PROTOCOL, stride=4)
