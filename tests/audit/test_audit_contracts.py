"""position_audit reads its layers and labels as given (second hostile pass)."""

import numpy as np
import pytest

import keras_gpos
from keras_gpos.audit import position_audit

pytestmark = pytest.mark.backend_agnostic


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return keras_gpos.models.build_classifier(4, (32, 32, 3), depth=10, width=4, head="fc")


def images(count=8):
    return np.random.default_rng(0).normal(size=(count, 16, 16, 3)).astype("float32")


@pytest.mark.adversarial
def test_a_layer_listed_twice_is_refused(model):
    # It was audited twice, inside one Holm family.
    with pytest.raises(ValueError, match="layers lists 'stage4_out' and 'stage4_out', the same layer"):
        position_audit(model, images(), layers=["stage4_out", "stage4_out"], grid_size=2, verbose=0)


@pytest.mark.adversarial
def test_class_probe_chance_follows_num_classes(model):
    labels = np.arange(8) % 2  # only classes 0 and 1 occur, but the task has 4
    audit = position_audit(model, (images(), labels), layers=["stage4_out"], grid_size=2, num_classes=4,
                           flips=(), verbose=0)
    ordered = audit.layers[0]["class"]["ordered"]
    assert ordered["uniform_chance"] == pytest.approx(0.25)
