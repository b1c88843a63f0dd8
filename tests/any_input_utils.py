"""Model kinds and input kinds shared by the "any model, any input" tests of several modules."""

import importlib.util

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gpos

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
