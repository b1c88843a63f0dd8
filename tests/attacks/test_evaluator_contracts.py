"""AttackEvaluator and compare refuse bad arguments before any work (second hostile pass)."""

import keras
import numpy as np
import pytest

from keras_gpos.attacks import AttackEvaluator, insert_channel_mask
from keras_gpos.ranking import rank_position_channels

pytestmark = pytest.mark.backend_agnostic


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="ca")(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", name="cb")(a)
    c = keras.layers.Conv2D(6, 3, padding="same", name="cc")(b)
    return keras.Model(inputs, keras.layers.Conv2D(3, 1, name="seg")(c))


def data(size=(8, 8), count=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(count,) + size + (3,)).astype("float32"),
            rng.integers(0, 3, (count,) + size))


@pytest.mark.adversarial
@pytest.mark.parametrize("ignore_label", [True, 2.0, "255"])
def test_ignore_label_of_another_type_is_refused_at_construction(model, ignore_label):
    # True was read as label 1; 2.0 and "255" failed later inside the compiled function.
    with pytest.raises(ValueError, match=f"ignore_label must be an int or None; got {ignore_label!r}"):
        AttackEvaluator(insert_channel_mask(model, "cb"), data(), 3, ignore_label=ignore_label)


def test_numpy_int_ignore_label_still_reads(model):
    images, masks = data()
    evaluator = AttackEvaluator(insert_channel_mask(model, "cb"), (images, np.where(masks == 2, 9, masks)), 3,
                                ignore_label=np.int64(9))
    assert evaluator.ignore_label == 9
    assert evaluator.evaluate([])["all"]["labelled_pixels"] == int(np.sum(masks != 2))


@pytest.mark.adversarial
def test_batches_of_another_image_size_are_refused_when_read(model):
    def generator():
        yield data((8, 8))
        yield data((12, 10), seed=1)

    with pytest.raises(ValueError, match=r"batch 1 has images of shape \(12, 10, 3\) but batch 0 has \(8, 8, 3\)"):
        AttackEvaluator(insert_channel_mask(model, "cb"), generator(), 3)


@pytest.mark.adversarial
def test_region_mask_of_the_wrong_shape_is_refused_at_construction(model):
    with pytest.raises(ValueError, match=r"region 'box' is a mask of shape \(5, 5\) but the images .* are \(8, 8\)"):
        AttackEvaluator(insert_channel_mask(model, "cb"), data(), 3, regions={"box": np.ones((5, 5), bool)})


@pytest.mark.adversarial
def test_compare_refuses_a_ranking_with_another_channel_count(model):
    images, _ = data(count=4)
    ranking = rank_position_channels(model, "ca", images, verbose=0)  # 4 channels
    evaluator = AttackEvaluator(insert_channel_mask(model, "cc"), data(), 3)  # 6 channels
    with pytest.raises(ValueError, match=r"ranking is of layer 'ca' with 4 channels but the mask .* covers 6"):
        evaluator.compare(ranking, n_values=(1,), random_draws=2, contrast_pairs=0, verbose=0)


@pytest.mark.adversarial
def test_compare_refuses_a_ranking_of_another_layer_with_the_same_count(model):
    images, _ = data(count=4)
    ranking = rank_position_channels(model, "ca", images, verbose=0)  # 4 channels, like cb
    evaluator = AttackEvaluator(insert_channel_mask(model, "cb"), data(), 3)
    with pytest.raises(ValueError, match=r"ranking is of layer 'ca' but the mask 'cb_channel_mask' follows another"):
        evaluator.compare(ranking, n_values=(1,), random_draws=2, contrast_pairs=0, verbose=0)
