"""rank_position_channels reads every batch once, in the right layout (second hostile pass)."""

import keras
import numpy as np
import pytest

from keras_gpos.ranking import rank_position_channels

pytestmark = pytest.mark.backend_agnostic

IMAGES = np.random.default_rng(0).normal(size=(12, 8, 8, 3)).astype("float32")


def unbuilt_sequential():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.layers.Conv2D(4, 3, padding="same", name="c1"), keras.layers.ReLU(),
                             keras.layers.Conv2D(5, 3, strides=2, padding="same", name="c2"),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])


@pytest.mark.adversarial
def test_unbuilt_sequential_ranks_the_generator_batch_that_built_it():
    def generator():
        for start in range(0, 12, 4):
            yield IMAGES[start:start + 4]

    # The batch read to build the model was consumed: 8 of 12 images were ranked.
    ranking = rank_position_channels(unbuilt_sequential(), "c2", generator(), verbose=0)
    assert ranking.num_images == 12
    from_array = rank_position_channels(unbuilt_sequential(), "c2", IMAGES, batch_size=4, verbose=0)
    np.testing.assert_allclose(ranking.overall, from_array.overall, rtol=1e-5, atol=1e-7)


@pytest.mark.adversarial
def test_feature_callable_refuses_channels_first_images():
    layer = keras.layers.Conv2D(4, 3, data_format="channels_first")
    nchw = np.transpose(IMAGES, (0, 3, 1, 2))  # (12, 3, 8, 8): 8 "channels" when read as channels_last
    with pytest.raises(ValueError, match=r"\(8, 3, 8, 8\) look channels_first .* transpose them to \(N, 8, 8, 3\)"):
        rank_position_channels(None, lambda t: layer(t), nchw, verbose=0)


def test_feature_callable_still_takes_channels_last_images():
    layer = keras.layers.Conv2D(4, 3)
    assert rank_position_channels(None, lambda t: layer(t), IMAGES, verbose=0).num_channels == 4


@pytest.mark.adversarial
def test_a_list_of_images_and_labels_suggests_a_tuple():
    model = unbuilt_sequential()
    with pytest.raises(ValueError, match=r"a list is read as batches of images, so pass .* tuple \(images, labels\)"):
        rank_position_channels(model, "c2", [IMAGES, np.zeros(12)], verbose=0)
