"""Any model, any input: the library as a Keras user drops it into their pipeline.

Model kinds x (ranking, masking); input kinds x every entry point; the
warnings and errors that replace silent bad results.
"""

import importlib.util
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gpos
from keras_gpos.attacks import AttackEvaluator, get_channel_mask, insert_channel_mask
from keras_gpos.ranking import rank_position_channels

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(6, 32, 32, 3)).astype("float32")


def _functional():
    keras.utils.set_random_seed(0)
    return keras_gpos.models.build_classifier(4, (32, 32, 3), depth=10, width=4, head="fc"), "stage4_out", 32


def _sequential_layers():
    return [keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c1"),
            keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", name="c2"),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]


def _sequential_built():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((32, 32, 3)), *_sequential_layers()]), "c2", 5


def _sequential_unbuilt():
    keras.utils.set_random_seed(0)
    return keras.Sequential(_sequential_layers()), "c2", 5  # built from the data


def _nested_sequential():
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(7, 3, activation="relu", name="c1"),
                              keras.layers.Conv2D(8, 3, activation="relu", name="c2")], name="inner")
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(3, 1, name="pre")(inputs)
    x = inner(x)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs), "inner/c2", 8


def _mobilenet():
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, include_top=False,
                                           pooling="avg", alpha=0.35)
    return model, "block_6_expand_relu", model.get_layer("block_6_expand_relu").output.shape[-1]


def _resnet50():
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(input_shape=(32, 32, 3), weights=None, classes=4)
    return model, "conv3_block4_out", 512


def _keras_cv_backbone():
    import keras_cv

    keras.utils.set_random_seed(0)
    backbone = keras_cv.models.ResNetV2Backbone(
        stackwise_filters=[64, 16, 16, 16], stackwise_blocks=[2, 2, 2, 2], stackwise_strides=[1, 2, 2, 2],
        include_rescaling=False, input_shape=(32, 32, 3), block_type="basic_block")
    return backbone, "v2_stack_2_block2_out", 16


def _keras_hub_segmenter():
    if importlib.util.find_spec("keras_hub") is None:
        pytest.skip("KerasHub is not installed (pip install 'keras_gpos[hub]')")
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_keras_hub_deeplab(3, (32, 32, 3), stackwise_num_filters=(64, 16, 16, 16),
                                                     stackwise_num_blocks=(1, 1, 1, 1))
    return model, keras_gpos.models.default_layer("keras_hub_deeplabv3", (1, 1, 1, 1)), 16


MODEL_KINDS = {
    "functional": _functional, "sequential_built": _sequential_built,
    "sequential_unbuilt": _sequential_unbuilt, "nested_sequential_by_path": _nested_sequential,
    "keras_applications_mobilenet_v2": _mobilenet, "keras_applications_resnet50": _resnet50,
    "keras_cv_backbone": _keras_cv_backbone, "keras_hub_deeplabv3": _keras_hub_segmenter,
}


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


def test_a_nested_layer_name_is_found_and_unknown_names_list_close_matches():
    model, _, _ = _nested_sequential()
    assert keras_gpos.base.graph.find_layer(model, "c2") is keras_gpos.base.graph.find_layer(model, "inner/c2")
    with pytest.raises(ValueError, match=r"no layer named 'inner/c3'.*close matches"):
        keras_gpos.base.graph.find_layer(model, "inner/c3")


# --- input kinds ---------------------------------------------------------------

def _input_kinds(images, labels):
    def generator():
        for start in range(0, len(images), 4):
            yield images[start:start + 4], labels[start:start + 4]

    return {
        "array_tuple": (images, labels),
        "tf_data_batched": tf.data.Dataset.from_tensor_slices((images, labels)).batch(5),
        "tf_data_unbatched": tf.data.Dataset.from_tensor_slices((images, labels)),
        "generator": generator(),
        "dict_elements": tf.data.Dataset.from_tensor_slices({"images": images, "labels": labels}).batch(3),
    }


def test_every_input_kind_ranks_the_same():
    model, layer, _ = _functional()
    labels = np.zeros(len(IMAGES), "int64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = rank_position_channels(model, layer, IMAGES)
        for name, data in _input_kinds(IMAGES, labels).items():
            got = rank_position_channels(model, layer, data)
            np.testing.assert_allclose(got.overall, reference.overall, rtol=1e-5, atol=1e-8, err_msg=name)
        images_only = tf.data.Dataset.from_tensor_slices(IMAGES).batch(4)
        np.testing.assert_allclose(rank_position_channels(model, layer, images_only).overall, reference.overall,
                                   rtol=1e-5, atol=1e-8)


def test_every_input_kind_gives_the_same_consistency():
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc")
    labels = RNG.integers(0, 3, len(IMAGES))
    protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
    reference = keras_gpos.metrics.consistency_and_accuracy(model, IMAGES, labels, protocol, repeats=2)
    for name, data in _input_kinds(IMAGES, labels).items():
        got = keras_gpos.metrics.consistency_and_accuracy(model, data, protocol=protocol, repeats=2)
        assert got["consistency"] == reference["consistency"] and got["accuracy"] == reference["accuracy"], name


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


def test_unsupported_data_and_a_second_pass_over_a_generator_are_clear_errors():
    model, layer, _ = _functional()
    with pytest.raises(ValueError, match="must be an array of images, .* got str"):
        rank_position_channels(model, layer, "images.npy")
    stream = keras_gpos.data.batches((image[None] for image in IMAGES), name="data")
    list(stream)
    with pytest.raises(ValueError, match="a generator can be read only once"):
        list(stream)


# --- warnings and errors instead of silent bad results ----------------------

def test_an_untrained_network_ranking_warns_naming_the_layer():
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(4, 3, kernel_initializer="zeros", name="flat")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(features))
    with pytest.warns(UserWarning, match=r"every score of layer 'flat' is near zero.*Is the model trained"):
        rank_position_channels(model, "flat", IMAGES)


def test_uint8_and_out_of_range_images_warn():
    from keras_gpos.data import inputs as data_inputs

    data_inputs._WARNED.clear()
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc")
    protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
    raw = RNG.integers(0, 256, (4, 32, 32, 3)).astype(np.uint8)
    with pytest.warns(UserWarning, match="got uint8 images"):
        keras_gpos.metrics.consistency_and_accuracy(model, raw, protocol=protocol, repeats=1)
    segmenter = keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8)
    attacked = insert_channel_mask(segmenter, "stage4_out")
    tiny = np.full((2, 32, 48, 3), 5000.0, "float32")
    with pytest.warns(UserWarning, match=r"far outside the stated input range \[0, 255\]"):
        AttackEvaluator(attacked, (tiny, np.zeros((2, 32, 48), "int32")), 3, input_range=(0, 255))


def test_an_image_size_the_model_cannot_take_fails_before_tracing():
    model, layer, _ = _functional()
    with pytest.raises(ValueError, match=r"takes inputs of shape \(None, 32, 32, 3\); got images of shape \(6, 40, 40, 3\)"):
        rank_position_channels(model, layer, np.zeros((6, 40, 40, 3), "float32"))


def test_repeated_rankings_reuse_one_compiled_pass():
    model, layer, _ = _functional()
    from keras_gpos import compiled
    from keras_gpos.ranking.position_ranking import pooled_feature_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            rank_position_channels(model, layer, IMAGES, batch_size=4)  # 4 + 2: two batch sizes
    assert compiled.traces(pooled_feature_model(model, layer)) == 1
