"""PolyphaseDownsample2D (adaptive polyphase sampling): the layer contract, the kept phase, errors."""

import keras
import numpy as np
import pytest

from keras_gpos.layers import PolyphaseDownsample2D
from keras_gpos.models import build_classifier
from tests.layer_test_utils import run_layer_test

pytestmark = pytest.mark.backend_agnostic


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


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown norm 'l3'"):
        PolyphaseDownsample2D(norm="l3")
    with pytest.raises(ValueError, match="blur_kernel_size must be None or one of"):
        PolyphaseDownsample2D(blur_kernel_size=9)
    with pytest.raises(ValueError, match="Unknown downsample 'max'"):
        build_classifier(4, (32, 32, 3), depth=10, width=4, downsample="max")
    with pytest.raises(ValueError, match="padding 'none'"):
        build_classifier(4, (32, 32, 3), depth=10, width=4, downsample="aps", padding="none")
