"""The ResNet backbone: parameter counts, depths, output stride, ResNet-50, anti-aliasing (BlurPool)
and adaptive polyphase sampling with its circular-shift guarantee."""

import pathlib

import keras
import numpy as np
import pytest

import keras_gpos
from keras_gpos.layers import BlurPool2D, PolyphaseDownsample2D
from keras_gpos.models import (
    RESNET_BLOCK_TYPES,
    RESNET_BLOCKS,
    build_classifier,
    build_deeplab,
)
from tests.layer_test_utils import assert_weights_carry_over


def test_resnet18_full_width_has_resnet18_parameter_count():
    # torchvision's ResNet-18 body (no fc) has 11.18M parameters with a 7x7
    # stem; ours matches it up to the BN/bias layout of the head.
    model = build_classifier(10, head="fc", input_shape=(32, 32, 3))
    body = model.count_params() - (512 * 10 + 10)
    assert abs(body - 11_176_512) < 20_000


def test_resnet50_full_width_has_torchvision_resnet50_parameter_count():
    # torchvision's resnet50() has 25,557,032 parameters, 23,508,032 without
    # its fc (2048 * 1000 + 1000); the max-pool our stem leaves out has none,
    # so the bodies must match exactly. torchvision counts `parameters()`:
    # conv kernels and BatchNorm gamma and beta. BatchNorm's running mean and
    # variance are buffers there but non-trainable weights in Keras, and
    # `count_params()` includes them: the ResNet-18 test above compares that
    # sum, whose 9,600 statistics its 20,000 tolerance absorbs. Here the
    # trainable weights must equal torchvision's count, and the rest must be
    # two statistics per BatchNorm channel (26,560 channels in ResNet-50).
    model = build_classifier(10, head="fc", input_shape=(32, 32, 3), depth=50)
    head = 2048 * 10 + 10
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights) - head
    bn_channels = sum(
        layer.gamma.shape[0] for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert trainable == 23_508_032
    assert model.count_params() - head - trainable == 2 * bn_channels == 53_120


def test_every_resnet_depth_names_its_block_type():
    assert RESNET_BLOCK_TYPES.keys() == RESNET_BLOCKS.keys()
    assert set(RESNET_BLOCK_TYPES.values()) == {"basic", "bottleneck"}


@pytest.mark.parametrize("padding", ["zero", "none"])
@pytest.mark.parametrize("output_stride, side", [(16, 6), (8, 12)])
def test_resnet50_output_stride_sets_the_final_map(output_stride, side, padding):
    # 96px: the stem halves it, stages 2-4 halve it again (OS16), or stage 4
    # keeps its stride 1 and dilates instead (OS8). With padding "none" the
    # input is enlarged so the valid-convolution map keeps that size.
    model = build_classifier(9, depth=50, width=2, padding=padding, output_stride=output_stride)
    assert tuple(model.get_layer("features").output.shape[1:]) == (side, side, 64)  # 32 * width
    assert model.get_layer("stage4_block2_conv2").dilation_rate == (16 // output_stride,) * 2


def test_resnet50_classifier_trains_one_fit_step_on_tensorflow():
    assert keras.backend.backend() == "tensorflow"  # conftest sets it
    model = build_classifier(4, input_shape=(32, 32, 3), depth=50, width=4, head="fc")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # Tracing 16 blocks into a graph takes over 30 s on a shared 2-core
        # CPU, the step itself 2 s eagerly; the layers are the ones the
        # depth-10 tests already run in graph mode.
        run_eagerly=True,
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 4, size=8)
    kernel = model.get_layer("stage4_block3_conv3").kernel
    before = keras.ops.convert_to_numpy(kernel).copy()
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(before, keras.ops.convert_to_numpy(kernel))


@pytest.mark.parametrize(
    "kwargs, sampler",
    [({"blur_kernel_size": 4}, "blur"), ({"downsample": "aps", "padding": "circular"}, "aps")],
)
def test_resnet50_blur_and_aps_keep_the_shapes(kwargs, sampler):
    model = build_classifier(4, (32, 32, 3), depth=50, width=2, head="fc", **kwargs)
    names = {layer.name for layer in model.layers}
    for stage, blocks, side in [(2, 4, 8), (3, 6, 4), (4, 3, 2)]:
        # The strided 3x3 and the projection shortcut downsample alike.
        assert {f"stage{stage}_block1_{sampler}", f"stage{stage}_block1_proj_{sampler}"} <= names
        out = model.get_layer(f"stage{stage}_block{blocks}_out").output
        assert tuple(out.shape[1:]) == (side, side, 8 * 2 ** (stage - 1))
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    logits = model.predict(x, verbose=0)
    assert logits.shape == (2, 4)
    if sampler == "aps":
        # The shortcut samples the block input at the phase the main branch
        # chose, so both branches keep the same pixels.
        for stage in (2, 3, 4):
            phase = model.get_layer(f"stage{stage}_block1_aps").output[1]
            assert model.get_layer(f"stage{stage}_block1_proj_aps").input[1] is phase
        # APS and circular padding everywhere: a circular shift of the input
        # leaves the output unchanged (Chaman & Dokmanic).
        shifted = model.predict(np.roll(x, (3, 5), axis=(1, 2)), verbose=0)
        np.testing.assert_allclose(shifted, logits, rtol=1e-4, atol=1e-4 * np.abs(logits).max())


def test_resnet50_permutation_and_synchronized_batchnorm():
    model = build_classifier(
        4, (32, 32, 3), depth=50, width=2, head="fc", permute_at="stage3", seed=0, sync_batchnorm=True
    )
    assert model.get_layer("permute_stage3").output.shape[-1] == 16  # stage 2 ends in 4 * (2 * width)
    batchnorms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batchnorms) == 1 + 16 * 3 + 4 and all(layer.synchronized for layer in batchnorms)


def _names(model):
    return [layer.name for layer in model.layers]


@pytest.mark.backend_agnostic
def test_resnet_without_blur_keeps_its_layers_and_names():
    plain = build_classifier(10, (32, 32, 3), depth=10, width=4, head="fc")
    explicit = build_classifier(10, (32, 32, 3), depth=10, width=4, head="fc", blur_kernel_size=None)
    assert _names(plain) == _names(explicit)
    assert not any("blur" in name for name in _names(plain))


@pytest.mark.backend_agnostic
def test_resnet_blur_option_antialiases_every_strided_block():
    plain = build_classifier(10, (32, 32, 3), depth=10, width=4, head="fc")
    blurred = build_classifier(10, (32, 32, 3), depth=10, width=4, head="fc", blur_kernel_size=4)
    blurs = [layer for layer in blurred.layers if isinstance(layer, BlurPool2D)]
    # Stages 2-4 downsample: one BlurPool on the residual branch, one on the shortcut.
    assert sorted(layer.name for layer in blurs) == sorted(
        f"stage{s}_block1_{kind}" for s in (2, 3, 4) for kind in ("blur", "proj_blur")
    )
    assert blurred.get_layer("stage2_block1_conv1").strides == (1, 1)  # pairs, as Conv2D keeps them
    assert blurred.get_layer("features").output.shape == plain.get_layer("features").output.shape
    assert blurred.count_params() == plain.count_params()  # blurring adds no weights
    out = blurred(np.zeros((2, 32, 32, 3), "float32"))
    assert out.shape == (2, 10)


@pytest.mark.backend_agnostic
def test_resnet_blur_option_bad_values():
    with pytest.raises(ValueError, match="blur_kernel_size must be None or one of"):
        build_classifier(10, (32, 32, 3), depth=10, width=4, blur_kernel_size=9)
    with pytest.raises(ValueError, match="arch='resnet' only"):
        build_classifier(10, (32, 32, 3), arch="vgg", depth=11, width=4, blur_kernel_size=3)
    with pytest.raises(ValueError, match="padding 'none'"):
        build_classifier(10, (32, 32, 3), depth=10, width=4, padding="none", blur_kernel_size=3)


def _circular_shifts(x, step=1):
    size = x.shape[1]
    return np.concatenate([np.roll(x, (dy, dx), axis=(1, 2)) for dy in range(0, size, step)
                           for dx in range(0, size, step)])


@pytest.mark.parametrize("depth, head", [(10, "fc"), (18, "gapnet")])
def test_circular_padding_and_aps_give_identical_logits_for_every_circular_shift(depth, head):
    keras.utils.set_random_seed(0)
    model = build_classifier(10, (32, 32, 3), depth=depth, width=8, padding="circular", head=head,
                             downsample="aps")
    # Every map APS samples has an even size at this input.
    for layer in model.layers:
        if isinstance(layer, PolyphaseDownsample2D):
            shape = layer.input[0].shape if isinstance(layer.input, list) else layer.input.shape
            assert shape[1] % 2 == 0 and shape[2] % 2 == 0, (layer.name, shape)
    x = np.random.default_rng(1).normal(size=(1, 32, 32, 3)).astype("float32")
    logits = model.predict(_circular_shifts(x), batch_size=256, verbose=0)  # all 1024 shifts, untrained
    scale = np.abs(logits[0]).max()
    assert np.abs(logits - logits[0]).max() <= 1e-5 * max(scale, 1.0)
    assert len(set(logits.argmax(-1).tolist())) == 1


@pytest.mark.parametrize("padding, downsample", [("zero", "aps"), ("circular", "stride")])
def test_without_circular_padding_or_without_aps_the_guarantee_breaks(padding, downsample):
    keras.utils.set_random_seed(0)
    model = build_classifier(10, (32, 32, 3), depth=10, width=8, padding=padding, head="fc",
                             downsample=downsample)
    x = np.random.default_rng(1).normal(size=(1, 32, 32, 3)).astype("float32")
    logits = model.predict(_circular_shifts(x, step=3), batch_size=256, verbose=0)
    assert np.abs(logits - logits[0]).max() > 1e-2 * np.abs(logits[0]).max()


def test_aps_classifier_saves_loads_and_exports(tmp_path):
    import tensorflow as tf

    from keras_gpos.export import export_saved_model

    keras.utils.set_random_seed(0)
    model = build_classifier(4, (32, 32, 3), depth=10, width=4, padding="circular", head="fc", downsample="aps")
    x = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "aps.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "aps.keras").predict(x, verbose=0), want,
                               rtol=1e-5, atol=1e-6)
    served = tf.saved_model.load(str(export_saved_model(model, tmp_path / "saved_model")))
    np.testing.assert_allclose(served.serve(x).numpy(), want, rtol=1e-5, atol=1e-5)


RNG = np.random.default_rng(0)


@pytest.mark.backend_agnostic
def test_aps_network_is_exactly_invariant_to_circular_shifts():
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(5, (16, 16, 3), depth=10, width=4, padding="circular",
                                               head="fc", downsample="aps")
    x = RNG.normal(size=(1, 16, 16, 3)).astype("float32")
    shifts = np.concatenate([np.roll(x, (dy, dx), axis=(1, 2)) for dy in range(16) for dx in range(16)])
    logits = keras.ops.convert_to_numpy(model(shifts, training=False))
    assert np.abs(logits - logits[0]).max() <= 1e-5 * max(np.abs(logits[0]).max(), 1.0)


# Narrow ResNets never train a strided 1x1 convolution on fewer than 16 channels.
#
# TF 2.21's oneDNN writes past a buffer in that convolution's weight gradient
# (uxlfoundation/oneDNN#6035): measured here, a width-8 ResNet-18 on 96 px
# canvases and a width-8 DeepLab on 96x128 scenes aborted in 3 of 3 runs each,
# at every width below 16 in single-op runs. The projection shortcut samples
# first and projects at stride 1 instead: the same function, so no flag, no
# warning and no slower path is needed.


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
