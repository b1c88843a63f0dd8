"""The audit's probe canvases are the experiments' grid canvases (`keras_gpos.data.place_on_grid`).

The backend_agnostic tests also run on JAX (tests/integration/test_jax_backend.py selects them by marker).
"""

import numpy as np
import pytest

from keras_gpos.audit.canvases import make_canvases, resize_images
from keras_gpos.data import exhaustive_placement, place_on_grid

pytestmark = pytest.mark.backend_agnostic


@pytest.mark.parametrize("background", [0.0, -1.25, "mean"])
def test_every_image_in_every_cell_as_the_training_canvas_with_the_margin_as_background(background):
    rng = np.random.default_rng(0)
    images = rng.uniform(3.0, 4.0, (2, 8, 8, 3)).astype(np.float32)
    canvases, cells = make_canvases(images, (14, 13, 3), 3, background)  # cells of 4x4, a 2x1 margin
    assert canvases.shape == (18, 14, 13, 3) and cells.tolist() == list(range(9)) * 2
    tiles = resize_images(images, 4, 4)
    repeated, _, _ = exhaustive_placement(tiles, np.zeros(2), 3)
    np.testing.assert_array_equal(canvases[:, :12, :12], place_on_grid(repeated, cells, 3, background))
    for index, canvas in enumerate(canvases):
        fill = tiles[index // 9].mean(axis=(0, 1)) if background == "mean" else np.full(3, background)
        np.testing.assert_allclose(canvas[12:], np.broadcast_to(fill, canvas[12:].shape), rtol=1e-6)
        np.testing.assert_allclose(canvas[:, 12:], np.broadcast_to(fill, canvas[:, 12:].shape), rtol=1e-6)


def test_bad_backgrounds_and_grids_are_refused():
    images = np.zeros((1, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="background must be a number or 'mean'; got 'noise'"):
        make_canvases(images, (16, 16, 3), 2, "noise")
    with pytest.raises(ValueError, match="a 5x5 grid does not fit a 4x4 input"):
        make_canvases(images, (4, 4, 3), 5)
