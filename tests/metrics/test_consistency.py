"""Consistency records, per image, what a paired test by image needs."""

import numpy as np
import pytest

import keras_gpos
from keras_gpos.metrics.consistency import consistency_and_accuracy

pytestmark = pytest.mark.backend_agnostic


def test_per_image_outcomes_add_up_to_consistency_and_accuracy():
    model = keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc")
    x = np.random.default_rng(0).normal(size=(7, 32, 32, 3)).astype("float32")
    labels = np.arange(7) % 3
    protocol = keras_gpos.data.ViewProtocol("canvas", canvas_size=40)
    scores = consistency_and_accuracy(model, x, labels, protocol, repeats=3, batch_size=4)
    per_image = scores["per_image"]
    assert len(per_image["agree"]) == 7 and per_image["agree_trials"] == 3 and per_image["correct_trials"] == 6
    assert sum(per_image["agree"]) / 21 == pytest.approx(scores["consistency"])
    assert sum(per_image["correct"]) / 42 == pytest.approx(scores["accuracy"])
    # Image i's outcomes do not depend on how the data is batched.
    again = consistency_and_accuracy(model, x, labels, protocol, repeats=3, batch_size=7)["per_image"]
    assert again == per_image
    assert "correct" not in consistency_and_accuracy(model, x, protocol=protocol, repeats=1)["per_image"]
