"""Every public layer passes Keras' own layer test, and PaddedConv2D stands in for Conv2D.

`run_layer_test` (keras.src.testing) is private Keras API: it checks the
config round trip, `.keras` saving with identical outputs, the output shape,
weight and seed-generator counts, a real `fit`, and per-layer mixed
precision. The test extra pins Keras to the range this was written against;
outside it the harness is skipped with the reason. The project's own
imitation (tests/layer_test_utils.py) keeps what Keras' does not check.
Backend-agnostic: the JAX run repeats it.
"""

import keras
import numpy as np
import pytest

import keras_gpos.layers as L
from tests.layer_test_utils import assert_weights_carry_over

pytestmark = pytest.mark.backend_agnostic

TESTED_KERAS = ((3, 13), (3, 16))  # [low, high) of the private harness' signature
_release = tuple(int(v) for v in keras.__version__.split(".")[:2])
needs_harness = pytest.mark.skipif(
    not TESTED_KERAS[0] <= _release < TESTED_KERAS[1],
    reason=f"keras.src.testing.run_layer_test is private; tested on Keras >=3.13,<3.16, not {keras.__version__}")


def _harness():
    from keras.src import testing

    class Case(testing.TestCase):
        def runTest(self):
            pass

    return Case()


CASES = {
    "PaddedConv2D": dict(
        layer_cls=L.PaddedConv2D, init_kwargs={"filters": 4, "kernel_size": 3, "padding_mode": "reflect"},
        input_shape=(2, 8, 8, 3), expected_output_shape=(2, 8, 8, 4), expected_num_trainable_weights=2),
    "PaddedConv2D partial, strided": dict(
        layer_cls=L.PaddedConv2D,
        init_kwargs={"filters": 4, "kernel_size": (3, 5), "strides": 2, "padding_mode": "partial"},
        input_shape=(2, 8, 8, 3), expected_output_shape=(2, 4, 4, 4), expected_num_trainable_weights=2),
    "SpatialPadding2D": dict(
        layer_cls=L.SpatialPadding2D, init_kwargs={"padding": ((1, 1), (2, 2)), "mode": "circular"},
        input_shape=(2, 8, 8, 3), expected_output_shape=(2, 10, 12, 3), expected_num_trainable_weights=0),
    "ChannelPermutation": dict(
        layer_cls=L.ChannelPermutation, init_kwargs={"seed": 1}, input_shape=(2, 8),
        expected_output_shape=(2, 8), expected_num_seed_generators=1),
    "ChannelPermutation per sample": dict(
        layer_cls=L.ChannelPermutation, init_kwargs={"seed": 1, "per_sample": True}, input_shape=(2, 4, 4, 8),
        expected_output_shape=(2, 4, 4, 8), expected_num_seed_generators=1),
    "BlurPool2D": dict(
        layer_cls=L.BlurPool2D, init_kwargs={"kernel_size": 4}, input_shape=(2, 8, 8, 3),
        expected_output_shape=(2, 4, 4, 3), expected_num_trainable_weights=0),
    "ChannelMask": dict(
        layer_cls=L.ChannelMask, init_kwargs={"channels": [1]}, input_shape=(2, 4, 4, 3),
        expected_output_shape=(2, 4, 4, 3), expected_num_trainable_weights=0),
    "PolyphaseDownsample2D": dict(
        layer_cls=L.PolyphaseDownsample2D, init_kwargs={}, input_shape=(2, 8, 8, 3),
        expected_output_shape=(2, 4, 4, 3), expected_num_trainable_weights=0),
}


@needs_harness
@pytest.mark.parametrize("name", sorted(CASES))
def test_public_layer_passes_keras_run_layer_test(name):
    keras.utils.set_random_seed(0)
    _harness().run_layer_test(**CASES[name])


def test_every_public_layer_has_a_keras_layer_test_case():
    public = {name for name in dir(L) if isinstance(getattr(L, name), type)
              and issubclass(getattr(L, name), keras.layers.Layer)}
    covered = {case["layer_cls"].__name__ for case in CASES.values()}
    assert public == covered, f"layers without a run_layer_test case: {sorted(public - covered)}"


@pytest.mark.parametrize("strides", [1, 2])
def test_a_conv2d_s_weights_load_into_padded_conv2d_and_give_its_output(strides):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 9, 3)).astype("float32")
    conv = keras.layers.Conv2D(5, 3, strides=strides, padding="valid", use_bias=True,
                               bias_initializer="random_normal")
    padded = L.PaddedConv2D(5, 3, strides=strides, padding_mode="none")
    assert_weights_carry_over(conv, padded, x, tol=1e-5)
    same = keras.layers.Conv2D(5, 3, padding="same", bias_initializer="random_normal")
    zero = L.PaddedConv2D(5, 3, padding_mode="zero")
    assert_weights_carry_over(same, zero, x, tol=1e-5)


def test_a_per_layer_mixed_precision_policy_reaches_the_convolution():
    layer = L.PaddedConv2D(4, 3, padding_mode="reflect", dtype="mixed_float16")
    out = layer(np.zeros((1, 6, 6, 3), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)


def test_a_trained_model_with_padded_convs_round_trips_with_its_optimizer_state(tmp_path):
    # Reordering the layer's variables (not just get_weights) once broke this: the TF trainer built
    # Adam's slots in one order and load_model in another (shape mismatch on the head's bias).
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = L.PaddedConv2D(4, 3, padding_mode="reflect")(inputs)
    outputs = keras.layers.GlobalAveragePooling2D()(L.PaddedConv2D(3, 3, padding_mode="zero")(x))
    model = keras.Model(inputs, outputs)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    model.fit(x, np.zeros(4, int), verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)),
                               atol=1e-6)
    loaded.fit(x, np.zeros(4, int), verbose=0)  # the optimizer state is usable
