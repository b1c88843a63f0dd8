"""ShiftConsistencyLoss: distances, lambda, serialization and bad arguments."""

import keras
import numpy as np
import pytest

from keras_gpos.losses import ShiftConsistencyLoss

pytestmark = pytest.mark.backend_agnostic


def test_mse_and_cosine_distances_and_lambda():
    a = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
    b = np.array([[0.0, 1.0], [0.0, 1.0]], "float32")
    mse = ShiftConsistencyLoss()(a, b)
    np.testing.assert_allclose(float(mse), ((1 + 1) / 2 + (0 + 1) / 2) / 2, rtol=1e-6)
    np.testing.assert_allclose(float(ShiftConsistencyLoss(weight=3.0)(a, b)), 3 * float(mse), rtol=1e-6)
    # Cosine: orthogonal pair -> 1, parallel pair -> 0.
    np.testing.assert_allclose(float(ShiftConsistencyLoss(distance="cosine")(a, b)), 0.5, rtol=1e-6)
    # Normalised MSE ignores scale: z and 2z are at distance 0.
    np.testing.assert_allclose(float(ShiftConsistencyLoss(normalize=True)(b, 2 * b)), 0.0, atol=1e-7)
    assert float(ShiftConsistencyLoss(weight=0.0)(a, b)) == 0.0


def test_consistency_loss_serializes():
    loss = ShiftConsistencyLoss(weight=2.5, distance="cosine", normalize=True)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is ShiftConsistencyLoss
    assert (restored.weight, restored.distance, restored.normalize) == (2.5, "cosine", True)


@pytest.mark.parametrize("kwargs,match", [
    ({"weight": -0.1}, "weight \\(lambda\\) must be >= 0; got -0.1"),
    ({"weight": "1"}, "must be a number"),
    ({"distance": "l1"}, "Unknown distance 'l1'"),
    ({"normalize": 1}, "normalize must be a bool"),
])
def test_consistency_loss_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShiftConsistencyLoss(**kwargs)


def test_consistency_loss_rejects_mismatched_or_unpooled_latents():
    loss = ShiftConsistencyLoss()
    with pytest.raises(ValueError, match="differ in shape"):
        loss(np.zeros((4, 8)), np.zeros((4, 6)))
    with pytest.raises(ValueError, match="Pool feature maps first"):
        loss(np.zeros((4, 3, 3, 8)), np.zeros((4, 3, 3, 8)))
