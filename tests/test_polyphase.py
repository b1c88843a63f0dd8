"""Adaptive polyphase sampling: the layer, the APS ResNet and its circular-shift guarantee."""

import keras
import numpy as np
import pytest

from keras_gpos.layers import PolyphaseDownsample2D
from keras_gpos.models import build_classifier
from tests.layer_test_utils import run_layer_test


@pytest.mark.parametrize("kwargs", [{}, {"norm": "l1"}, {"norm": "max", "blur_kernel_size": 3}])
def test_polyphase_layer_contract(kwargs):
    run_layer_test(PolyphaseDownsample2D, kwargs, (2, 8, 8, 3), (2, 4, 4, 3))


def test_the_component_of_largest_l2_norm_is_kept_per_sample():
    x = np.zeros((2, 4, 4, 1), "float32")
    x[0, 1::2, 0::2] = 3.0  # sample 0: the (odd row, even column) component
    x[1, 0::2, 1::2] = 1.0  # sample 1: the (even row, odd column) component
    out, phase = PolyphaseDownsample2D(return_phase=True)(x)
    assert keras.ops.convert_to_numpy(phase).tolist() == [1, 2]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out)[0], np.full((2, 2, 1), 3.0))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out)[1], np.full((2, 2, 1), 1.0))
    # A given phase is reused (the residual shortcut's case).
    reused = PolyphaseDownsample2D()([np.ones((2, 4, 4, 1), "float32"), np.array([3, 0])])
    assert tuple(reused.shape) == (2, 2, 2, 1)


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


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown norm 'l3'"):
        PolyphaseDownsample2D(norm="l3")
    with pytest.raises(ValueError, match="blur_kernel_size must be None or one of"):
        PolyphaseDownsample2D(blur_kernel_size=9)
    with pytest.raises(ValueError, match="Unknown downsample 'max'"):
        build_classifier(4, (32, 32, 3), depth=10, width=4, downsample="max")
    with pytest.raises(ValueError, match="padding 'none'"):
        build_classifier(4, (32, 32, 3), depth=10, width=4, downsample="aps", padding="none")
