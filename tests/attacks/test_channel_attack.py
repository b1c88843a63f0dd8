"""`AttackEvaluator`'s inputs, counts and randomness (`keras_gpos.attacks.channel_attack`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gpos
from keras_gpos.attacks import AttackEvaluator, get_channel_mask, insert_channel_mask
from keras_gpos.data import make_street_scenes, segmentation_dataset
from keras_gpos.export import export_saved_model
from keras_gpos.layers import ChannelPermutation
from keras_gpos.ranking import rank_position_channels
from tests.any_input_utils import IMAGES, MODEL_KINDS, _input_kinds

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


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_a_model_for_other_classes_is_refused_before_any_evaluation():
    # Finding 2: a 6-class model on 3-class masks folded ids 3..5 into class 2.
    attacked = insert_channel_mask(_segmenter(classes=6), "features")
    with pytest.raises(ValueError, match="predicts 6 classes but the data has 3") as error:
        AttackEvaluator(attacked, _data(), CLASSES)
    _one_line(error)


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
def test_one_hot_masks_score_like_class_ids():
    attacked = insert_channel_mask(_segmenter(), "features")
    images, masks = _data()
    ids = AttackEvaluator(attacked, (images, masks), CLASSES).evaluate([1])
    one_hot = AttackEvaluator(attacked, (images, np.eye(CLASSES)[masks]), CLASSES).evaluate([1])
    assert one_hot == ids


def tiny_deeplab(num_classes=6, size=(32, 48)):
    keras.utils.set_random_seed(0)
    return keras_gpos.models.build_deeplab(num_classes, size + (3,), depth=10, width=4, aspp_filters=8)


def test_inserted_mask_shares_weights_and_changes_only_masked_channels():
    model = tiny_deeplab()
    attacked = insert_channel_mask(model, "stage4_out")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 48, 3)).astype("float32")
    np.testing.assert_allclose(attacked.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert {id(w) for w in model.weights} <= {id(w) for w in attacked.weights}
    mask = get_channel_mask(attacked)
    assert mask.name == "stage4_out_channel_mask" and mask.num_channels == 32
    mask.set_channels(range(32))
    assert not np.allclose(attacked.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-3)
    features = keras_gpos.ranking.feature_model(attacked, "stage4_out_channel_mask")
    np.testing.assert_array_equal(features.predict(x, verbose=0), 0.0)


def test_mask_inside_nested_keras_cv_backbone():
    model = keras_gpos.models.build_keras_cv_deeplab(3, (64, 64, 3), stackwise_filters=(64, 8, 8, 16))
    attacked = insert_channel_mask(model, "v2_stack_3_block2_out", channels=range(16))
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    mask = get_channel_mask(attacked)
    assert mask.num_channels == 16
    masked = keras.ops.convert_to_numpy(attacked(x))
    assert not np.allclose(masked, keras.ops.convert_to_numpy(model(x)), atol=1e-4)
    mask.set_channels([])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(attacked(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-5)


@pytest.mark.backend_agnostic
def test_insert_channel_mask_errors():
    model = tiny_deeplab()
    with pytest.raises(ValueError, match=r"no layer named 'stage4_outt'.*close matches: \['stage4_out'"):
        insert_channel_mask(model, "stage4_outt")
    with pytest.raises(ValueError, match="out of range for a layer with 32 channels"):
        insert_channel_mask(model, "stage4_out", channels=[32])
    inputs = keras.Input((8,))
    dense = keras.Model(inputs, keras.layers.Dense(3, name="dense")(inputs))
    with pytest.raises(ValueError, match=r"'dense' outputs .*not a 4-D"):
        insert_channel_mask(dense, "dense")
    with pytest.raises(ValueError, match="needs fill_values"):
        insert_channel_mask(model, "stage4_out", mode="mean")


def small_segmenter(channels=32, size=(16, 16)):
    """Two convolutions: enough for a mask to matter, cheap to run 48 times."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(size + (3,))
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="features")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(6, 1)(x))


def test_sweeping_n_and_channel_sets_traces_once():
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    labels = np.random.default_rng(1).integers(0, 6, (4, 16, 16)).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)  # a ragged last batch too
    evaluator = AttackEvaluator(insert_channel_mask(small_segmenter(), "features"), dataset, 6)
    rng = np.random.default_rng(0)
    results = []
    for n in (1, 2, 3, 4, 6, 8, 12, 16):  # 8 values of N
        for _ in range(6):  # x 6 channel sets
            results.append(evaluator.evaluate(rng.choice(32, n, replace=False))["all"]["miou"])
    assert evaluator.trace_count == 1
    assert len(set(results)) > 1  # the sets really differ
    with pytest.raises(ValueError, match=r"\[40\] are out of range"):
        evaluator.evaluate([40])


def test_evaluator_matches_region_metric():
    model = tiny_deeplab()
    scenes = make_street_scenes(5, (32, 48), seed=3)
    dataset = segmentation_dataset(scenes, 2)
    attacked = insert_channel_mask(model, "stage4_out")
    evaluator = AttackEvaluator(attacked, dataset, 6, regions={"left": "left", "centre": "centre"})
    got = evaluator.evaluate([0, 1, 2])
    metrics = {name: keras_gpos.metrics.RegionMeanIoU(6, region=name) for name in ("left", "centre")}
    for images, labels in dataset:
        logits = attacked(images)  # the mask still holds channels 0-2
        for metric in metrics.values():
            metric.update_state(labels, logits)
    for name, metric in metrics.items():
        assert got[name]["miou"] == pytest.approx(float(metric.result()), abs=1e-6)


def test_attacked_model_exports_as_saved_model(tmp_path):
    model = tiny_deeplab()
    attacked = insert_channel_mask(model, "stage4_out", channels=[0, 5, 9])
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 48, 3)).astype("float32")
    expected = attacked.predict(x, verbose=0)
    path = export_saved_model(attacked, tmp_path / "attacked")
    loaded = tf.saved_model.load(str(path))
    assert "serving_default" in loaded.signatures
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, rtol=1e-4, atol=1e-4)
    # The export holds the mask that was set: it differs from the clean model.
    assert not np.allclose(expected, model.predict(x, verbose=0), atol=1e-4)


@pytest.mark.parametrize("kind", sorted(MODEL_KINDS))
def test_every_model_kind_ranks_and_masks(kind):
    model, layer, channels = MODEL_KINDS[kind]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # untrained models rank nothing; the warning is tested below
        ranking = rank_position_channels(model, layer, IMAGES, batch_size=4)
    assert ranking.num_channels == channels and ranking.num_images == len(IMAGES)
    attacked = insert_channel_mask(model, layer)
    clean = keras.ops.convert_to_numpy(model(IMAGES, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(attacked(IMAGES, training=False)), clean,
                               rtol=1e-4, atol=1e-5)  # no channel masked: the same model
    get_channel_mask(attacked).set_channels(list(range(channels)))
    masked = keras.ops.convert_to_numpy(attacked(IMAGES, training=False))
    assert np.abs(masked - clean).max() > 1e-3 * np.abs(clean).max()  # untrained outputs can be tiny
    # The user's model is untouched (the attacked copy shares its weights only).
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(IMAGES, training=False)), clean, rtol=1e-5)


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.backbone = keras.layers.Conv2D(6, 3, activation="relu")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(2)

    def call(self, x, training=False):
        return self.head(self.pool(self.backbone(x)))


@pytest.mark.backend_agnostic
def test_subclassed_models_take_a_feature_callable_and_masking_says_what_to_do():
    model = _Subclassed()
    model(IMAGES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranking = rank_position_channels(model, lambda x: model.backbone(x), IMAGES)
    assert ranking.num_channels == 6
    with pytest.raises(ValueError, match="subclassed .* Pass a feature callable"):
        rank_position_channels(model, "conv2d", IMAGES)
    with pytest.raises(ValueError, match="subclassed .* insert a mask .* functional API"):
        insert_channel_mask(model, "conv2d")


def test_every_input_kind_feeds_the_attack_evaluator_alike():
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8)
    attacked = insert_channel_mask(model, "stage4_out")
    scenes = keras_gpos.data.make_street_scenes(7, (32, 48), seed=3)
    masks = np.minimum(scenes.masks, 2)
    images = scenes.images.astype("float32")
    from keras_gpos.data import SegmentationSet

    reference = AttackEvaluator(attacked, (images, masks), 3, batch_size=4).evaluate([1, 2])
    kinds = {**_input_kinds(images, masks),
             "segmentation_set": SegmentationSet(scenes.images, masks.astype(np.uint8), ("a", "b", "c"))}
    for name, data in kinds.items():
        got = AttackEvaluator(attacked, data, 3, batch_size=4).evaluate([1, 2])
        assert got["all"]["miou"] == pytest.approx(reference["all"]["miou"], abs=1e-6), name
        assert got["left"]["miou"] == pytest.approx(reference["left"]["miou"], abs=1e-6), name


def _deeplab_segmenter():
    keras.utils.set_random_seed(0)
    return keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8)


def _scenes(count=6):
    scenes = keras_gpos.data.make_street_scenes(count, (32, 48), seed=2)
    return scenes.images.astype("float32"), np.minimum(scenes.masks, 2).astype("int32")


@pytest.mark.backend_agnostic
def test_attack_evaluator_compiles_once_for_every_channel_set():
    attacked = insert_channel_mask(_deeplab_segmenter(), "stage4_out")
    images, masks = _scenes(7)
    evaluator = AttackEvaluator(attacked, (images, masks), 3, batch_size=4)  # 4 + 3: padded last batch
    clean = evaluator.evaluate(())
    for channels in ([0], [1, 2, 3], list(range(16)), []):
        evaluator.evaluate(channels)
    assert evaluator.trace_count == 1
    assert evaluator.evaluate(())["all"]["miou"] == pytest.approx(clean["all"]["miou"], abs=1e-9)
    # Same numbers as the metric computed directly, with the model applied eagerly.
    metric = keras_gpos.metrics.RegionMeanIoU(3, region="left")
    metric.update_state(masks, keras.ops.convert_to_numpy(attacked(images)))
    assert float(metric.result()) == pytest.approx(clean["left"]["miou"], abs=1e-5)


def _attacked():
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8)
    return keras_gpos.attacks.insert_channel_mask(model, "stage4_out")


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_attack_evaluator_refuses_non_finite_pixels_bad_masks_and_bad_channels():
    attacked = _attacked()
    images = np.zeros((4, 32, 48, 3), "float32")
    masks = np.zeros((4, 32, 48), "int32")
    bad = images.copy()
    bad[3, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="batch 1 holds 1 NaN or Inf value"):
        keras_gpos.attacks.AttackEvaluator(attacked, (bad, masks), 3, batch_size=2)
    wrong = masks.copy()
    wrong[0, 0, 0] = 5
    with pytest.raises(ValueError, match=r"masks of batch 0 holds labels \[5\] outside \[0, 3\)"):
        keras_gpos.attacks.AttackEvaluator(attacked, (images, wrong), 3, batch_size=2)
    evaluator = keras_gpos.attacks.AttackEvaluator(attacked, (images, masks), 3, batch_size=2)
    with pytest.raises(ValueError, match="channels must be integer indices"):
        evaluator.evaluate([1.5])
    mask = keras_gpos.attacks.get_channel_mask(attacked)
    with pytest.raises(ValueError, match="fill values hold NaN or Inf"):
        mask.set_fill_values(np.full(mask.num_channels, np.nan))


# AttackEvaluator and compare refuse bad arguments before any work (second hostile pass).


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


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
@pytest.mark.parametrize("ignore_label", [True, 2.0, "255"])
def test_ignore_label_of_another_type_is_refused_at_construction(model, ignore_label):
    # True was read as label 1; 2.0 and "255" failed later inside the compiled function.
    with pytest.raises(ValueError, match=f"ignore_label must be an int or None; got {ignore_label!r}"):
        AttackEvaluator(insert_channel_mask(model, "cb"), data(), 3, ignore_label=ignore_label)


@pytest.mark.backend_agnostic
def test_numpy_int_ignore_label_still_reads(model):
    images, masks = data()
    evaluator = AttackEvaluator(insert_channel_mask(model, "cb"), (images, np.where(masks == 2, 9, masks)), 3,
                                ignore_label=np.int64(9))
    assert evaluator.ignore_label == 9
    assert evaluator.evaluate([])["all"]["labelled_pixels"] == int(np.sum(masks != 2))


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_batches_of_another_image_size_are_refused_when_read(model):
    def generator():
        yield data((8, 8))
        yield data((12, 10), seed=1)

    with pytest.raises(ValueError, match=r"batch 1 has images of shape \(12, 10, 3\) but batch 0 has \(8, 8, 3\)"):
        AttackEvaluator(insert_channel_mask(model, "cb"), generator(), 3)


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_region_mask_of_the_wrong_shape_is_refused_at_construction(model):
    with pytest.raises(ValueError, match=r"region 'box' is a mask of shape \(5, 5\) but the images .* are \(8, 8\)"):
        AttackEvaluator(insert_channel_mask(model, "cb"), data(), 3, regions={"box": np.ones((5, 5), bool)})


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_compare_refuses_a_ranking_with_another_channel_count(model):
    images, _ = data(count=4)
    ranking = rank_position_channels(model, "ca", images, verbose=0)  # 4 channels
    evaluator = AttackEvaluator(insert_channel_mask(model, "cc"), data(), 3)  # 6 channels
    with pytest.raises(ValueError, match=r"ranking is of layer 'ca' with 4 channels but the mask .* covers 6"):
        evaluator.compare(ranking, n_values=(1,), random_draws=2, contrast_pairs=0, verbose=0)


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_compare_refuses_a_ranking_of_another_layer_with_the_same_count(model):
    images, _ = data(count=4)
    ranking = rank_position_channels(model, "ca", images, verbose=0)  # 4 channels, like cb
    evaluator = AttackEvaluator(insert_channel_mask(model, "cb"), data(), 3)
    with pytest.raises(ValueError, match=r"ranking is of layer 'ca' but the mask 'cb_channel_mask' follows another"):
        evaluator.compare(ranking, n_values=(1,), random_draws=2, contrast_pairs=0, verbose=0)
