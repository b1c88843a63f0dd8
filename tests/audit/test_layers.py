"""Which layers the audit reads by default (`keras_gpos.audit.layers`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import keras
import pytest

from keras_gpos.audit import candidate_layers, default_layers

pytestmark = pytest.mark.backend_agnostic


def _padded_stages():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="stage1")(inputs)
    x = keras.layers.ZeroPadding2D(1, name="stage1_pad")(x)  # the last layer at its size, as in MobileNetV2
    x = keras.layers.Conv2D(4, 3, strides=2, name="stage2")(x)
    x = keras.layers.Reshape((8, 8, 4), name="stage2_reshape")(x)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="stage3")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def test_padding_and_reshape_layers_are_never_a_default_layer():
    assert candidate_layers(_padded_stages()) == ["stage1", "stage2", "stage3"]


def test_one_default_layer_is_the_deepest():
    assert default_layers(_padded_stages(), max_layers=1) == ["stage3"]
    assert default_layers(_padded_stages(), max_layers=2) == ["stage1", "stage3"]


def test_mobilenet_v2_default_layers_skip_its_padding_layers():
    # Built from its architecture arguments, random weights: nothing is downloaded.
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None, include_top=True, classes=4)
    layers = default_layers(model)
    assert not any(name.endswith("_pad") for name in candidate_layers(model)), candidate_layers(model)
    assert len(layers) == 4 and layers[-1] == "out_relu" and "block_3_pad" not in layers
