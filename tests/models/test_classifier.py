"""build_classifier: shapes for every padding, heads, permutation placement, errors, saving."""

import keras
import numpy as np
import pytest

from keras_gpos.layers import PADDING_MODES
from keras_gpos.models import build_classifier


@pytest.mark.parametrize("padding", PADDING_MODES)
def test_every_padding_gives_the_papers_6x6_map_on_96px(padding):
    model = build_classifier(9, padding=padding, depth=10, width=4)
    assert tuple(model.get_layer("features").output.shape[1:3]) == (6, 6)
    assert model(np.zeros((2, 96, 96, 3), "float32")).shape == (2, 9)


@pytest.mark.backend_agnostic
def test_gapnet_logits_are_the_pooled_head_conv():
    model = build_classifier(5, input_shape=(64, 64, 3), depth=10, width=4, head="gapnet")
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    probe = keras.Model(model.input, model.get_layer("head_conv").output)
    np.testing.assert_allclose(
        model(x), keras.ops.mean(probe(x), axis=(1, 2)), rtol=1e-5, atol=1e-5
    )


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
def test_permutation_after_pooling_keeps_the_pooled_values():
    model = build_classifier(
        4, input_shape=(32, 32, 3), depth=10, width=4, head="fc", permute_at="pooled", seed=0
    )
    x = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")
    pooled = keras.Model(model.input, model.get_layer("pooled").output)(x)
    permuted = keras.Model(model.input, model.get_layer("permute_pooled").output)(x)
    np.testing.assert_allclose(np.sort(pooled, axis=-1), np.sort(permuted, axis=-1), rtol=1e-6)


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
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
