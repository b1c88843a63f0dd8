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


@pytest.mark.adversarial
def test_unbuilt_sequential_with_input_shape_audits_every_generator_batch():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Conv2D(4, 3, padding="same", name="c1"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    data = images(12)

    def generator():
        for start in range(0, 12, 4):
            yield data[start:start + 4]

    # input_shape was ignored: "Sequential model ... is not built; pass input_shape".
    audit = position_audit(model, generator(), layers=["c1"], grid_size=2, input_shape=(32, 32, 3), flips=(),
                           verbose=0)
    assert audit.images == 12
