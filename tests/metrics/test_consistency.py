"""The consistency functions' inputs and `consistency_by_protocol`'s keys (`keras_gpos.metrics.consistency`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""


import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gpos
from keras_gpos.data import ViewProtocol
from keras_gpos.metrics import (
    accuracy_vs_shift,
    consistency_and_accuracy,
    consistency_by_protocol,
    shift_consistency,
)
from keras_gpos.metrics.consistency import protocol_keys, view_latent_distance
from tests.any_input_utils import IMAGES, _input_kinds

CANVAS = ViewProtocol("canvas", canvas_size=12)


@pytest.fixture(scope="module")
def classifier():
    inputs = keras.Input((None, None, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    return keras.Model(inputs, keras.layers.Dense(3)(pooled), name="tiny_classifier")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 6)


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_two_protocols_of_one_mode_are_both_kept(classifier, data):
    # Finding 5: results were keyed by mode, so the second canvas protocol overwrote the first.
    images, labels = data
    small, large = ViewProtocol("canvas", canvas_size=10), ViewProtocol("canvas", canvas_size=16)
    scores = consistency_by_protocol(classifier, images, labels, [small, large, ViewProtocol("shift")], repeats=1)
    assert list(scores) == ["canvas[canvas_size=10]", "canvas[canvas_size=16]", "shift"]
    assert scores["canvas[canvas_size=10]"]["input_shape"] == [10, 10, 3]
    assert scores["canvas[canvas_size=16]"]["input_shape"] == [16, 16, 3]
    with pytest.raises(ValueError, match="lists .* twice"):
        protocol_keys([small, ViewProtocol("canvas", canvas_size=10)])


@pytest.mark.backend_agnostic
def test_every_keras_label_layout_scores_alike(classifier, data):
    images, labels = data
    reference = consistency_and_accuracy(classifier, images, labels, CANVAS, repeats=1)
    for layout in (labels[:, None], np.eye(3)[labels], labels.astype("float32")):
        assert consistency_and_accuracy(classifier, images, layout, CANVAS, repeats=1) == reference
    offsets, accuracy = accuracy_vs_shift(classifier, images, labels, CANVAS, stride=4)
    assert accuracy_vs_shift(classifier, images, np.eye(3)[labels], CANVAS, stride=4) == (offsets, accuracy)


@pytest.mark.backend_agnostic
def test_bad_labels_images_and_models_are_one_line_errors(classifier, data):
    images, labels = data
    with pytest.raises(ValueError, match=r"labels of batch 0 holds labels \[5\] outside \[0, 3\)"):
        consistency_and_accuracy(classifier, images, np.full(6, 5), CANVAS, repeats=1)
    with pytest.raises(ValueError, match="not exactly one-hot"):
        accuracy_vs_shift(classifier, images, np.full((6, 3), 1 / 3), CANVAS)
    with pytest.raises(ValueError, match=r"batch 0: images have 1 channel\(s\) .*takes 3") as error:
        consistency_and_accuracy(classifier, images[..., :1], labels, CANVAS, repeats=1)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"batch 0: images have 4 channel\(s\)"):
        view_latent_distance(classifier, np.zeros((2, 8, 8, 4), "float32"), CANVAS)
    as_dict = keras.Model(classifier.input, {"logits": classifier.output})
    with pytest.raises(ValueError, match=r"returns a dict \(\['logits'\]\)"):
        consistency_and_accuracy(as_dict, images, labels, CANVAS, repeats=1)


@pytest.mark.backend_agnostic
def test_per_image_outcomes_add_up_to_consistency_and_accuracy():
    model = keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc")
    x = np.random.default_rng(0).normal(size=(7, 32, 32, 3)).astype("float32")
    labels = np.arange(7) % 3
    protocol = ViewProtocol("canvas", canvas_size=40)
    scores = consistency_and_accuracy(model, x, labels, protocol, repeats=3, batch_size=4)
    per_image = scores["per_image"]
    assert len(per_image["agree"]) == 7 and per_image["agree_trials"] == 3 and per_image["correct_trials"] == 6
    assert sum(per_image["agree"]) / 21 == pytest.approx(scores["consistency"])
    assert sum(per_image["correct"]) / 42 == pytest.approx(scores["accuracy"])
    # Image i's outcomes do not depend on how the data is batched.
    again = consistency_and_accuracy(model, x, labels, protocol, repeats=3, batch_size=7)["per_image"]
    assert again == per_image
    assert "correct" not in consistency_and_accuracy(model, x, protocol=protocol, repeats=1)["per_image"]


def _mean_colour_classifier(side):
    # Mean over the canvas of an image on a 0 background does not depend on
    # where the image sits: a perfectly shift-invariant classifier.
    inputs = keras.Input((side, side, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, kernel_initializer="glorot_uniform")(pooled))


def _position_classifier(side):
    inputs = keras.Input((side, side, 3))
    flat = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, kernel_initializer="glorot_uniform")(flat))


def test_consistency_and_accuracy_vs_shift_protocol():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(40, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, 3, 40)
    canvas = ViewProtocol("canvas", canvas_size=14)
    invariant = _mean_colour_classifier(14)
    assert shift_consistency(invariant, images, protocol=canvas, repeats=2) == 1.0  # a fraction
    offsets, accuracy = accuracy_vs_shift(invariant, images, labels, canvas)
    assert offsets == list(range(7))
    # A flat curve, at the accuracy of the model on the images placed anywhere (here: the top-left corner).
    at_corner = invariant.predict(canvas.place(images, np.zeros(40, int), np.zeros(40, int)), verbose=0)
    assert max(accuracy) - min(accuracy) < 1e-9
    assert accuracy[0] == pytest.approx(np.mean(at_corner.argmax(-1) == labels), abs=1e-9)
    keras.utils.set_random_seed(0)
    sensitive = _position_classifier(14)
    assert shift_consistency(sensitive, images, protocol=canvas, repeats=2) < 0.9
    # Same seed, same views: the protocol is reproducible, also when the data come batched otherwise.
    once = shift_consistency(sensitive, images, protocol=canvas, seed=5)
    assert once == shift_consistency(sensitive, images, protocol=canvas, seed=5, batch_size=7)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    scores = keras_gpos.metrics.consistency_and_accuracy(sensitive, dataset, protocol=canvas, seed=5)
    assert scores["consistency"] == once
    assert scores["accuracy"] == keras_gpos.metrics.consistency_and_accuracy(
        sensitive, images, labels, protocol=canvas, seed=5)["accuracy"]  # the same views, batched otherwise
    offsets, _ = accuracy_vs_shift(_mean_colour_classifier(8), images, labels,
                                   ViewProtocol("shift", max_shift=3), stride=2)
    assert offsets == [0, 2, 3]


@pytest.mark.backend_agnostic
def test_view_latent_distance_is_zero_for_an_invariant_encoder_and_scale_free():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(20, 8, 8, 3)).astype("float32")
    inputs = keras.Input((14, 14, 3))
    invariant = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    canvas = ViewProtocol("canvas", canvas_size=14)
    assert keras_gpos.metrics.view_latent_distance(invariant, images, canvas) < 1e-10
    flat = keras.Model(inputs, keras.layers.Flatten()(inputs))
    doubled = keras.Model(inputs, keras.layers.Rescaling(2.0)(keras.layers.Flatten()(inputs)))
    d_flat = keras_gpos.metrics.view_latent_distance(flat, images, canvas)
    assert d_flat > 0.5  # flattened pixels move with the image
    np.testing.assert_allclose(
        keras_gpos.metrics.view_latent_distance(doubled, images, canvas), d_flat, rtol=1e-5)


def test_every_input_kind_gives_the_same_consistency():
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc")
    labels = np.random.default_rng(1).integers(0, 3, len(IMAGES))
    protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
    reference = keras_gpos.metrics.consistency_and_accuracy(model, IMAGES, labels, protocol, repeats=2)
    for name, data in _input_kinds(IMAGES, labels).items():
        got = keras_gpos.metrics.consistency_and_accuracy(model, data, protocol=protocol, repeats=2)
        assert got["consistency"] == reference["consistency"] and got["accuracy"] == reference["accuracy"], name


def _classifier(side=40, classes=3):
    keras.utils.set_random_seed(0)
    return keras_gpos.models.build_classifier(classes, (side, side, 3), depth=10, width=4, head="fc")


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_consistency_functions_refuse_non_finite_images(bad):
    images = np.zeros((4, 32, 32, 3), "float32")
    images[2, 1, 1, 0] = bad
    protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
    model = _classifier()
    for call in (
        lambda: keras_gpos.metrics.consistency_and_accuracy(model, images, protocol=protocol, repeats=1),
        lambda: keras_gpos.metrics.shift_consistency(model, images, protocol=protocol, repeats=1),
        lambda: keras_gpos.metrics.accuracy_vs_shift(model, images, np.zeros(4, int), protocol),
        lambda: keras_gpos.metrics.view_latent_distance(model, images, protocol),
    ):
        with pytest.raises(ValueError, match="batch 0 holds 1 NaN or Inf value"):
            call()


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_consistency_refuses_nan_predictions_and_bad_labels():
    protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
    images = np.zeros((4, 32, 32, 3), "float32")
    inputs = keras.Input((40, 40, 3))
    nan_model = keras.Model(inputs, keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=(1, 2)) / 0.0)(inputs))
    with pytest.raises(ValueError, match="NaN or Inf predictions on batch 0"):
        keras_gpos.metrics.shift_consistency(nan_model, images, protocol=protocol, repeats=1)
    metric = keras_gpos.metrics.ShiftConsistency()
    with pytest.raises(ValueError, match="NaN or Inf predictions"):
        metric.update_state(np.array([[np.nan, 1.0]]), np.array([[0.0, 1.0]]))
    model = _classifier()
    for labels, message in ((np.array([0, 1, 2, 3]), r"labels \[3\] outside \[0, 3\)"),
                            (np.array([0, 1, 2.7, 1]), r"non-integer labels such as \[2.7\]")):
        with pytest.raises(ValueError, match=message):
            keras_gpos.metrics.consistency_and_accuracy(model, images, labels, protocol, repeats=1)
    with pytest.raises(ValueError, match="not a compile\\(metrics=...\\) metric"):
        metric.update_state(np.array([0, 1]), np.zeros((2, 3)))


@pytest.mark.backend_agnostic
def test_every_consistency_protocol_scores_an_invariant_model_1_and_a_position_reader_below():
    # One dominant colour channel per image (1.0 against 0.3) under a spatial
    # pattern shared by the channels (0..0.4): every view keeps the dominant
    # channel the largest anywhere, so "the channel with the largest value"
    # is invariant under every protocol. The position reader says which half
    # of the view holds more of the pixels' mass (the sign of their
    # horizontal first moment), which moves with the content in every
    # protocol. (It was a random dense layer over the pixels, drawn from a
    # generator shared with other tests: with other draws it read nothing,
    # and crop views scored 1.0.)
    dominant = np.eye(3, dtype="float32")[np.arange(12) % 3]
    pattern = np.random.default_rng(0).uniform(0.0, 0.4, size=(12, 16, 16, 1)).astype("float32")
    images = (0.3 + 0.7 * dominant[:, None, None, :] + pattern).astype("float32")
    for mode in keras_gpos.data.VIEW_MODES:
        protocol = keras_gpos.data.ViewProtocol(mode, canvas_size=24, max_shift=4)
        shape = protocol.input_shape(images.shape[1:])
        inputs = keras.Input(shape)
        invariant = keras.Model(inputs, keras.layers.GlobalMaxPooling2D()(inputs))
        assert keras_gpos.metrics.shift_consistency(invariant, images, protocol=protocol, repeats=3) == 1.0, mode
        columns = np.arange(shape[1], dtype="float32") - (shape[1] - 1) / 2
        moment = np.broadcast_to(columns[None, :, None], shape).reshape(-1)
        side = keras.layers.Dense(2, use_bias=False)
        reader = keras.Model(inputs, side(keras.layers.Flatten()(inputs)))
        side.set_weights([np.stack([moment, -moment], axis=-1)])
        assert keras_gpos.metrics.shift_consistency(reader, images, protocol=protocol, repeats=3) < 1.0, mode


# The consistency functions refuse a model whose output names no arg-max class (second hostile pass).


PROTOCOL = ViewProtocol("canvas", canvas_size=20)
CONTRACT_IMAGES = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")
CONTRACT_LABELS = np.array([0, 1, 0, 1])


def sigmoid_model():
    inputs = keras.Input((20, 20, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(pooled), name="sigmoid")


@pytest.mark.adversarial
@pytest.mark.backend_agnostic
def test_single_unit_model_is_refused_without_labels():
    # It scored consistency 1.0: the arg-max over one unit is always 0.
    with pytest.raises(ValueError, match=r"model 'sigmoid' has one output unit .* cannot give an arg-max class"):
        consistency_and_accuracy(sigmoid_model(), CONTRACT_IMAGES, protocol=PROTOCOL, repeats=1)


@pytest.mark.adversarial
@pytest.mark.backend_agnostic
def test_single_unit_model_is_refused_with_labels_before_reading_them():
    # It said "labels [1] outside [0, 1)" without naming the single output.
    with pytest.raises(ValueError, match="one output unit"):
        consistency_and_accuracy(sigmoid_model(), CONTRACT_IMAGES, CONTRACT_LABELS, protocol=PROTOCOL, repeats=1)
    with pytest.raises(ValueError, match="one output unit"):
        accuracy_vs_shift(sigmoid_model(), CONTRACT_IMAGES, CONTRACT_LABELS, protocol=PROTOCOL, stride=4)
