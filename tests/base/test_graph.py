"""Layer lookup by name in nested models (`keras_gpos.base.graph`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import keras
import pytest

import keras_gpos
from keras_gpos.base.graph import find_layer, layer_path
from tests.any_input_utils import _nested_sequential

pytestmark = pytest.mark.backend_agnostic


def _block(name):
    inputs = keras.Input((8, 8, 3))
    return keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs), name=name)


@pytest.mark.adversarial
def test_a_name_held_by_two_nested_models_is_an_error_listing_both_paths():
    # Finding 14: the first nested model's layer was used without a word.
    inputs = keras.Input((8, 8, 3))
    left, right = _block("left"), _block("right")
    model = keras.Model(inputs, keras.layers.Add()([left(inputs), right(inputs)]), name="twin")
    with pytest.raises(ValueError, match=r"'conv' is ambiguous in model 'twin'.*\['left/conv', 'right/conv'\]"):
        layer_path(model, "conv")
    assert find_layer(model, "right/conv") is right.get_layer("conv")


def test_a_direct_layer_wins_over_nested_ones_with_a_warning():
    inputs = keras.Input((8, 8, 3))
    nested = _block("inner")
    outer = keras.layers.Conv2D(3, 1, name="conv")(nested(inputs))
    model = keras.Model(inputs, outer, name="outer")
    with pytest.warns(UserWarning, match=r"'conv' in model 'outer' is its own layer and also nested at \['inner/"):
        assert find_layer(model, "conv") is model.get_layer("conv")


def test_a_nested_layer_name_is_found_and_unknown_names_list_close_matches():
    model, _, _ = _nested_sequential()
    assert keras_gpos.base.graph.find_layer(model, "c2") is keras_gpos.base.graph.find_layer(model, "inner/c2")
    with pytest.raises(ValueError, match=r"no layer named 'inner/c3'.*close matches"):
        keras_gpos.base.graph.find_layer(model, "inner/c3")
