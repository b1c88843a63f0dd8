"""The consistency functions' inputs and `consistency_by_protocol`'s keys (`keras_gpos.metrics.consistency`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import keras
import numpy as np
import pytest

import keras_gpos

from keras_gpos.data import ViewProtocol
from keras_gpos.metrics import accuracy_vs_shift, consistency_and_accuracy, consistency_by_protocol
from keras_gpos.metrics.consistency import protocol_keys, view_latent_distance

pytestmark = pytest.mark.backend_agnostic

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


def test_every_keras_label_layout_scores_alike(classifier, data):
    images, labels = data
    reference = consistency_and_accuracy(classifier, images, labels, CANVAS, repeats=1)
    for layout in (labels[:, None], np.eye(3)[labels], labels.astype("float32")):
        assert consistency_and_accuracy(classifier, images, layout, CANVAS, repeats=1) == reference
    offsets, accuracy = accuracy_vs_shift(classifier, images, labels, CANVAS, stride=4)
    assert accuracy_vs_shift(classifier, images, np.eye(3)[labels], CANVAS, stride=4) == (offsets, accuracy)


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
