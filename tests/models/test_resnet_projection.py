"""Narrow ResNets never train a strided 1x1 convolution on fewer than 16 channels.

TF 2.21's oneDNN writes past a buffer in that convolution's weight gradient
(uxlfoundation/oneDNN#6035): measured here, a width-8 ResNet-18 on 96 px
canvases and a width-8 DeepLab on 96x128 scenes aborted in 3 of 3 runs each,
at every width below 16 in single-op runs. The projection shortcut samples
first and projects at stride 1 instead: the same function, so no flag, no
warning and no slower path is needed.
"""

import pathlib

import keras
import numpy as np
import pytest

from keras_gpos.models import build_classifier, build_deeplab
from tests.layer_test_utils import assert_weights_carry_over

REPO = pathlib.Path(__file__).resolve().parents[2]


def _strided_narrow_1x1(model):
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Conv2D) and tuple(layer.kernel_size) == (1, 1) \
                and max(layer.strides) > 1 and layer.input.shape[-1] < 16:
            found.append(layer.name)
    return found


@pytest.mark.parametrize("width", [4, 8, 12, 15])
@pytest.mark.parametrize("depth", [10, 50])
def test_no_strided_1x1_convolution_reads_fewer_than_16_channels(depth, width):
    assert _strided_narrow_1x1(build_classifier(9, (96, 96, 3), depth=depth, width=width)) == []
    assert _strided_narrow_1x1(build_deeplab(3, (64, 96, 3), depth=depth, width=width, aspp_filters=8)) == []


def test_the_sampled_projection_computes_what_the_strided_one_does():
    x = np.random.default_rng(0).normal(size=(2, 9, 11, 8)).astype("float32")
    strided = keras.layers.Conv2D(16, 1, strides=2, use_bias=False)
    sampled = keras.Sequential([keras.layers.AveragePooling2D(pool_size=1, strides=2),
                                keras.layers.Conv2D(16, 1, use_bias=False)])
    assert_weights_carry_over(strided, sampled, x, tol=1e-6)


def test_wide_networks_keep_the_strided_projection():
    model = build_classifier(9, (96, 96, 3), depth=10, width=16)
    assert model.get_layer("stage2_block1_proj").strides == (2, 2)
    assert "stage2_block1_proj_subsample" not in [layer.name for layer in model.layers]


