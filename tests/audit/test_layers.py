"""Which layers the audit reads by default (`keras_gpos.audit.layers`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import keras
import pytest

import keras_gpos
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


def test_default_layers_are_the_stage_ends_spread_over_depth():
    model = keras_gpos.models.build_classifier(4, (64, 64, 3), depth=10, width=4, head="fc")
    stages = candidate_layers(model)
    # The stem and stage 1 share a resolution (stage 1 has stride 1): stage 1 ends it.
    assert stages == ["stage1_block1_out", "stage2_block1_out", "stage3_block1_out", "features"]
    assert keras_gpos.audit.default_layers(model, 3) == ["stage1_block1_out", "stage3_block1_out", "features"]
