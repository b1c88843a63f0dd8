"""`rank_position_channels`' inputs and randomness (`keras_gpos.ranking.position_ranking`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import keras
import numpy as np
import pytest

from keras_gpos.layers import ChannelPermutation
from keras_gpos.ranking import rank_position_channels

pytestmark = pytest.mark.backend_agnostic


def _model(permute=False):
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(8, 3, padding="same", name="stage")(inputs)
    if permute:
        features = ChannelPermutation(seed=5, name="shuffle")(features)
    return keras.Model(inputs, features, name="ranked")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")


@pytest.mark.adversarial
def test_a_permutation_before_the_ranked_layer_stays_random_and_reproducible(images):
    # Finding 1 (the ranking path): each compiled forward draws a new order on TF and JAX alike.
    def scores():
        keras.utils.set_random_seed(0)
        model = _model(permute=True)
        return [rank_position_channels(model, "shuffle", images, batch_size=4).overall for _ in range(3)]

    first = scores()
    assert not np.allclose(first[0], first[1]) and np.allclose(np.sort(first[0]), np.sort(first[1]))
    again = scores()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_images_the_model_cannot_read_are_one_line_errors(images):
    with pytest.raises(ValueError, match=r"batch 0: images have 2 channel\(s\) .*model 'ranked' takes 3") as error:
        rank_position_channels(_model(), "stage", images[..., :2])
    assert "\n" not in str(error.value)
    inputs = keras.Input((3, 8, 8))
    channels_first = keras.Model(inputs, keras.layers.Conv2D(2, 1, data_format="channels_first", name="cf")(inputs))
    with pytest.raises(ValueError, match=r"rank_position_channels: model .* reads channels_first"):
        rank_position_channels(channels_first, "cf", images)
