"""place_on_grid fills uint8 canvases in the images' 0..255 scale (second hostile pass)."""

import numpy as np
import pytest

from keras_gpos.data import place_on_grid

pytestmark = pytest.mark.backend_agnostic

UINT8 = np.full((2, 4, 4, 3), 100, np.uint8)


@pytest.mark.adversarial
def test_white_background_of_uint8_images_is_255():
    canvas = place_on_grid(UINT8, np.array([0, 3]), 2, "white")
    assert float(canvas[0, 4:, :4].min()) == 255.0  # was 1.0: near black beside 0..255 pixels
    assert float(canvas[0, :4, :4].max()) == 100.0


@pytest.mark.adversarial
def test_noise_background_of_uint8_images_spans_0_to_255():
    canvas = place_on_grid(UINT8, np.array([0, 3]), 2, "noise", seed=0)
    background = canvas[0, 4:, :4]
    assert background.max() > 1.0 and background.max() <= 255.0 and background.min() >= 0.0


def test_float_images_keep_backgrounds_in_0_to_1():
    canvas = place_on_grid(UINT8.astype("float32") / 255.0, np.array([0, 3]), 2, "white")
    assert float(canvas[0, 4:, :4].min()) == 1.0
