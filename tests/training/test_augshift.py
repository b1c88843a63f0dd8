"""AugShiftModel's training helpers on any backend."""

import keras
import numpy as np
import pytest

from keras_gpos.losses import ShiftConsistencyLoss
from keras_gpos.training import AugShiftModel, ConsistencyWarmup

pytestmark = pytest.mark.backend_agnostic


def _model():
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
                                keras.layers.GlobalAveragePooling2D()])
    model = AugShiftModel(encoder, keras.layers.Dense(3), ShiftConsistencyLoss(2.0))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_consistency_warmup_puts_the_scale_back_when_training_ends():
    model = _model()
    views = np.random.default_rng(0).normal(size=(2, 4, 8, 8, 3)).astype("float32")
    labels = np.zeros(4, int)
    history = model.fit(tuple(views), labels, epochs=2, verbose=0, callbacks=[ConsistencyWarmup(4)])
    assert history.history["consistency_scale"] == [0.0, 0.25]  # the ramp ran
    # A later fit without the callback trains with the configured weight, not the last ramp value.
    assert float(keras.ops.convert_to_numpy(model.consistency_scale.value)) == 1.0


def test_consistency_warmup_refuses_a_model_that_is_not_augshift():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="needs an AugShiftModel"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0, callbacks=[ConsistencyWarmup(1)])
