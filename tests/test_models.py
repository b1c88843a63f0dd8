"""Classifier construction: shapes, heads, permutation placement, errors."""

import keras
import numpy as np
import pytest

from keras_gpos.layers import PADDING_MODES
from keras_gpos.models import RESNET_BLOCK_TYPES, RESNET_BLOCKS, build_classifier, build_deeplab


@pytest.mark.parametrize("padding", PADDING_MODES)
def test_every_padding_gives_the_papers_6x6_map_on_96px(padding):
    model = build_classifier(9, padding=padding, depth=10, width=4)
    assert tuple(model.get_layer("features").output.shape[1:3]) == (6, 6)
    assert model(np.zeros((2, 96, 96, 3), "float32")).shape == (2, 9)


def test_vgg_backbone_and_depths():
    model = build_classifier(10, arch="vgg", depth=11, width=8, head="fc")
    assert tuple(model.get_layer("features").output.shape[1:]) == (6, 6, 64)
    with pytest.raises(ValueError, match="depth 12 is not a vgg depth"):
        build_classifier(10, arch="vgg", depth=12)
    with pytest.raises(ValueError, match=r"depth 101 is not a resnet depth; expected one of \[10, 18, 34, 50\]"):
        build_classifier(10, depth=101)


def test_gapnet_logits_are_the_pooled_head_conv():
    model = build_classifier(5, input_shape=(64, 64, 3), depth=10, width=4, head="gapnet")
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    probe = keras.Model(model.input, model.get_layer("head_conv").output)
    np.testing.assert_allclose(
        model(x), keras.ops.mean(probe(x), axis=(1, 2)), rtol=1e-5, atol=1e-5
    )


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


@pytest.mark.parametrize("output_stride, side", [(16, 6), (8, 12)])
def test_resnet50_deeplab_output_stride(output_stride, side):
    model = build_deeplab(3, (96, 96, 3), depth=50, width=2, output_stride=output_stride, aspp_filters=4)
    assert tuple(model.get_layer("stage4_out").output.shape[1:]) == (side, side, 64)
    assert tuple(model.output.shape[1:]) == (96, 96, 3)


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


@pytest.mark.parametrize("permute_at", ["stage1", "stage2", "stage3", "stage4", "head", "pooled"])
def test_permutenet_positions_make_the_model_stochastic(permute_at):
    model = build_classifier(
        4, input_shape=(32, 32, 3), depth=10, width=4, head="fc", permute_at=permute_at, seed=1
    )
    names = [layer.name for layer in model.layers]
    assert f"permute_{permute_at}" in names
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    outs = [model.predict(x, verbose=0) for _ in range(4)]
    assert any(not np.allclose(outs[0], o) for o in outs[1:])


def test_permutation_after_pooling_keeps_the_pooled_values():
    model = build_classifier(
        4, input_shape=(32, 32, 3), depth=10, width=4, head="fc", permute_at="pooled", seed=0
    )
    x = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")
    pooled = keras.Model(model.input, model.get_layer("pooled").output)(x)
    permuted = keras.Model(model.input, model.get_layer("permute_pooled").output)(x)
    np.testing.assert_allclose(np.sort(pooled, axis=-1), np.sort(permuted, axis=-1), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"permute_at": "stage7"}, "permute_at='stage7' is out of range"),
        ({"permute_at": "pooled", "head": "gapnet"}, "permute_at='pooled' needs head='fc'"),
        ({"padding": "mirror"}, "Unknown padding mode 'mirror'"),
        ({"head": "mlp"}, "Unknown head 'mlp'"),
        ({"arch": "vit"}, "Unknown arch 'vit'"),
        ({"width": 0}, "width must be a positive int"),
        ({"depth": 50.0}, "Unknown ResNet depth 50.0"),
        ({"depth": 50, "padding": "none", "blur_kernel_size": 4},
         "blur_kernel_size cannot be combined with padding 'none'"),
        ({"depth": 50, "padding": "none", "downsample": "aps"},
         "downsample='aps' cannot be combined with padding 'none'"),
    ],
)
def test_build_classifier_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_classifier(4, **kwargs)


def test_model_keras_round_trip_with_permutation(tmp_path):
    model = build_classifier(
        4, input_shape=(32, 32, 3), depth=10, width=4, head="fc", permute_at="stage2", seed=3
    )
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode=True: no custom_objects, no lambdas
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    # Same weights: with the permutation removed from the picture (compare the
    # stem, before it), outputs agree exactly.
    stem = lambda m: keras.Model(m.input, m.get_layer("stem_relu").output)(x)  # noqa: E731
    np.testing.assert_allclose(stem(model), stem(loaded), rtol=1e-6)
    assert loaded.get_layer("permute_stage2").seed == 3
