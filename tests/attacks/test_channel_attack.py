"""`AttackEvaluator`'s inputs, counts and randomness (`keras_gpos.attacks.channel_attack`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import keras
import numpy as np
import pytest

from keras_gpos.attacks import AttackEvaluator, insert_channel_mask
from keras_gpos.layers import ChannelPermutation

pytestmark = pytest.mark.backend_agnostic

CLASSES = 3


def _segmenter(classes=CLASSES, head=None, size=8, channels=3):
    inputs = keras.Input((size, size, channels))
    features = keras.layers.Conv2D(4, 1, name="features")(inputs)
    logits = keras.layers.Conv2D(classes, 1, name="logits")(features)
    return keras.Model(inputs, head(logits) if head else logits, name="segmenter")


def _data(count=4, size=8, channels=3, classes=CLASSES):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(count, size, size, channels)).astype("float32"),
            rng.integers(0, classes, size=(count, size, size)).astype("int32"))


def _one_line(error):
    message = str(error.value)
    assert "\n" not in message and "array(" not in message, message
    return message


@pytest.mark.adversarial
def test_a_permutation_inside_the_attacked_model_stays_random_and_reproducible():
    # Finding 1: JAX's compiled evaluation must carry the seed generator's state, so every
    # evaluation draws a new channel order (as on TensorFlow), and a fresh start repeats them.
    def evaluations(count):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((8, 8, 3))
        features = keras.layers.Conv2D(CLASSES, 1, name="features")(inputs)
        model = keras.Model(inputs, ChannelPermutation(seed=11, name="shuffle")(features))
        evaluator = AttackEvaluator(insert_channel_mask(model, "features"), _data(), CLASSES, batch_size=4)
        return [tuple(evaluator.evaluate()["all"]["per_class_iou"]) for _ in range(count)]

    first = evaluations(4)
    assert len(set(first)) > 1, f"four compiled evaluations gave one result: {first[0]}"
    assert evaluations(2) == first[:2]


@pytest.mark.adversarial
def test_a_model_for_other_classes_is_refused_before_any_evaluation():
    # Finding 2: a 6-class model on 3-class masks folded ids 3..5 into class 2.
    attacked = insert_channel_mask(_segmenter(classes=6), "features")
    with pytest.raises(ValueError, match="predicts 6 classes but the data has 3") as error:
        AttackEvaluator(attacked, _data(), CLASSES)
    _one_line(error)


@pytest.mark.adversarial
@pytest.mark.parametrize("head, message", [
    (lambda x: keras.layers.MaxPooling2D(2)(x), r"outputs \(4, 4, 3\) for 8x8 images"),
    (lambda x: keras.layers.GlobalAveragePooling2D(keepdims=True)(x), r"outputs \(1, 1, 3\) for 8x8 images"),
    (lambda x: {"logits": x}, r"returns a dict \(\['logits'\]\)"),
])
def test_outputs_that_do_not_match_the_masks_are_one_line_errors(head, message):
    # Finding 11: another size was a raw shape error, a 1x1 output was broadcast silently, and
    # a dict output was a raw TypeError.
    attacked = insert_channel_mask(_segmenter(head=head), "features")
    with pytest.raises(ValueError, match=message) as error:
        AttackEvaluator(attacked, _data(), CLASSES)
    _one_line(error)


@pytest.mark.adversarial
def test_a_region_with_no_labelled_pixel_says_so_instead_of_a_score():
    # Finding 7 (attacks): the region is "cannot be judged", never 0.0 and never an exception
    # that stops the whole comparison.
    images, masks = _data()
    masks[:, :, :4] = 9  # the left half is all ignore
    evaluator = AttackEvaluator(insert_channel_mask(_segmenter(), "features"), (images, masks), CLASSES, 9)
    result = evaluator.evaluate()
    assert result["left"] == {"miou": None, "per_class_iou": [None] * CLASSES, "labelled_pixels": 0}
    assert 0.0 <= result["right"]["miou"] <= 1.0 and result["right"]["labelled_pixels"] == 4 * 8 * 4


@pytest.mark.adversarial
def test_counts_are_exact_past_float32_precision():
    # Finding 4: 16,810,000 pixels of one class in one batch were counted as 16,777,216.
    side = 4100
    inputs = keras.Input((side, side, 1))
    features = keras.layers.Conv2D(2, 1, name="features", kernel_initializer="zeros",
                                   bias_initializer=keras.initializers.Constant([0.0, 1.0]))(inputs)
    evaluator = AttackEvaluator(insert_channel_mask(keras.Model(inputs, features), "features"),
                                (np.zeros((1, side, side, 1), "float32"), np.ones((1, side, side), "int8")), 2,
                                regions={"all": "all"})
    matrix = evaluator.confusion()["all"]
    assert matrix.dtype == np.int64 and matrix[1, 1] == side * side and matrix.sum() == side * side


def test_bad_images_and_masks_are_one_line_errors_naming_the_batch():
    attacked = insert_channel_mask(_segmenter(), "features")
    images, masks = _data()
    with pytest.raises(ValueError, match=r"batch 0: images have 1 channel\(s\) .*takes 3") as error:
        AttackEvaluator(attacked, (images[..., :1], masks), CLASSES)
    _one_line(error)
    with pytest.raises(ValueError, match="masks are 8x6 but the images are 8x8"):
        AttackEvaluator(attacked, (images, masks[:, :, :6]), CLASSES)
    with pytest.raises(ValueError, match=r"masks of batch 0 holds labels \[7\] outside \[0, 3\)"):
        AttackEvaluator(attacked, (images, np.full_like(masks, 7)), CLASSES)


def test_one_hot_masks_score_like_class_ids():
    attacked = insert_channel_mask(_segmenter(), "features")
    images, masks = _data()
    ids = AttackEvaluator(attacked, (images, masks), CLASSES).evaluate([1])
    one_hot = AttackEvaluator(attacked, (images, np.eye(CLASSES)[masks]), CLASSES).evaluate([1])
    assert one_hot == ids
