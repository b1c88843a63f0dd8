"""The grid canvas: each tile exactly in its cell, the right background everywhere else.

The backend_agnostic tests also run on JAX (tests/integration/test_jax_backend.py selects them by marker).
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_gpos import data
from keras_gpos.data.grid import (
    BACKGROUNDS,
    exhaustive_placement,
    place_on_grid,
    random_cells,
)

MEAN = np.array([0.5, 0.4, 0.3, 0.6], np.float32)

STD = np.array([0.2, 0.25, 0.3, 0.1], np.float32)


def _cell_box(cell, grid, cell_h, cell_w):
    row, col = divmod(int(cell), grid)
    return slice(row * cell_h, (row + 1) * cell_h), slice(col * cell_w, (col + 1) * cell_w)


@pytest.mark.backend_agnostic
@settings(max_examples=40, deadline=None, derandomize=True)
@given(batch=st.integers(1, 4), height=st.integers(1, 6), width=st.integers(1, 6), channels=st.integers(1, 4),
       grid=st.integers(1, 4), pad=st.tuples(st.integers(0, 3), st.integers(0, 3)),
       margin=st.tuples(st.integers(0, 3), st.integers(0, 3)),
       background=st.sampled_from(BACKGROUNDS + (-0.75,)), seed=st.integers(0, 100))
def test_each_tile_lands_exactly_in_its_cell_on_the_right_background(batch, height, width, channels, grid, pad,
                                                                     margin, background, seed):
    rng = np.random.default_rng(seed)
    # Tiles far from every background value, so a misplaced pixel cannot pass for background.
    images = rng.uniform(20.0, 30.0, (batch, height, width, channels)).astype(np.float32)
    cells = rng.integers(0, grid * grid, batch)
    mean, std = MEAN[:channels], STD[:channels]
    cell_h, cell_w = height + pad[0], width + pad[1]
    size = (grid * cell_h + margin[0], grid * cell_w + margin[1])
    canvas = place_on_grid(images, cells, grid, background, cell_size=(cell_h, cell_w), pixel_mean=mean,
                           pixel_std=std, seed=seed, canvas_size=size)
    assert canvas.shape == (batch,) + size + (channels,) and canvas.dtype == np.float32
    top, left = pad[0] // 2, pad[1] // 2
    for i in range(batch):
        rows, cols = _cell_box(cells[i], grid, cell_h, cell_w)
        tile = canvas[i, rows, cols][top:top + height, left:left + width]
        np.testing.assert_array_equal(tile, images[i])
        outside = np.ones(size, bool)
        outside[rows.start + top:rows.start + top + height, cols.start + left:cols.start + left + width] = False
        rest = canvas[i][outside]  # (pixels, channels)
        if background == "noise":
            pixels = rest * std + mean  # back to pixel space: uniform in [0, 1]
            assert np.all((pixels >= -1e-5) & (pixels <= 1 + 1e-5))
            assert rest.size < 8 or len(np.unique(rest)) > 1
            continue
        expected = {
            "zeros": np.zeros(channels), "black": (0 - mean) / std, "white": (1 - mean) / std,
            "mean": images[i].mean(axis=(0, 1)), -0.75: np.full(channels, -0.75),
        }[background]
        np.testing.assert_allclose(rest, np.broadcast_to(expected, rest.shape), rtol=1e-6, atol=1e-6)


@pytest.mark.backend_agnostic
def test_noise_is_keyed_by_its_seed():
    images = np.ones((2, 3, 3, 1), np.float32)
    a, b, c = (place_on_grid(images, [0, 3], 2, "noise", seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.backend_agnostic
def test_a_single_image_and_integer_pixels():
    canvas = place_on_grid(np.full((2, 2, 3), 7, np.uint8), 3, 2)
    assert canvas.shape == (4, 4, 3) and canvas.dtype == np.float32
    np.testing.assert_array_equal(canvas[2:, 2:], 7.0)
    assert canvas[:2].sum() == 0 and canvas[2:, :2].sum() == 0


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("kwargs, message", [
    ({"grid_size": 0}, "grid_size must be an int >= 1; got 0"),
    ({"grid_size": 2, "background": "purple"}, "Unknown background 'purple'"),
    ({"grid_size": 2, "background": float("nan")}, "background must be a finite number"),
    ({"grid_size": 2, "cell_size": (3, 3)}, "4x4 does not fit a 3x3 grid cell"),
    ({"grid_size": 2, "canvas_size": (8, 7)}, "a 8x7 canvas does not hold a 8x8 grid"),
    ({"grid_size": 2, "cells": [4]}, r"cell index out of range: 4 for a 2x2 grid \(cells 0..3\)"),
    ({"grid_size": 2, "cells": [-1]}, "cell index out of range: -1"),
    ({"grid_size": 2, "cells": [0, 1]}, "2 cells for 1 images"),
    ({"grid_size": 2, "cells": [0.5]}, "cells must be integer cell indices"),
])
def test_bad_arguments_name_the_value(kwargs, message):
    kwargs = {"cells": [0], **kwargs}
    with pytest.raises(ValueError, match=message):
        place_on_grid(np.zeros((1, 4, 4, 3), np.float32), **kwargs)


@pytest.mark.backend_agnostic
def test_exhaustive_placement_puts_every_image_in_every_cell_in_order():
    images = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1)
    out, labels, cells = exhaustive_placement(images, np.array([7, 8, 9]), 2)
    assert cells.tolist() == [0, 1, 2, 3] * 3
    assert labels.tolist() == [7] * 4 + [8] * 4 + [9] * 4
    assert out.ravel().tolist() == [0] * 4 + [1] * 4 + [2] * 4
    # 1x1 images on a 2x2 grid: canvas pixel c is cell c.
    canvases = place_on_grid(out + 1.0, cells, 2).reshape(12, 4)
    for index, canvas in enumerate(canvases):
        assert canvas.tolist() == [index // 4 + 1.0 if c == index % 4 else 0.0 for c in range(4)]
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        exhaustive_placement(images, [1, 2], 2)


@pytest.mark.backend_agnostic
def test_random_cells_are_uniform_over_the_grid_and_keyed():
    cells = random_cells(9000, 3, seed=0)
    assert cells.dtype == np.int32 and set(cells.tolist()) == set(range(9))
    assert np.bincount(cells).min() > 850
    np.testing.assert_array_equal(cells, random_cells(9000, 3, seed=np.random.default_rng(0)))


def _numpy_canvas(images, cells, k, fill):
    n, h, w, c = images.shape
    canvas = np.empty((n, k * h, k * w, c), np.float32)
    for i in range(n):
        canvas[i] = fill[i]
        r, col = divmod(int(cells[i]), k)
        canvas[i, r * h:(r + 1) * h, col * w:(col + 1) * w] = images[i]
    return canvas


@pytest.mark.parametrize("background", ["zeros", "black", "white", "mean"])
def test_place_on_grid_matches_numpy_reference(background):
    rng = np.random.default_rng(1)
    images = rng.normal(size=(7, 5, 4, 3)).astype(np.float32)
    cells = rng.integers(0, 9, size=7)
    mean, std = np.array([0.5, 0.4, 0.3], np.float32), np.array([0.2, 0.25, 0.3], np.float32)
    fill = {
        "zeros": np.zeros((7, 3)),
        "black": np.broadcast_to((0 - mean) / std, (7, 3)),
        "white": np.broadcast_to((1 - mean) / std, (7, 3)),
        "mean": images.mean(axis=(1, 2)),
    }[background]
    got = data.place_on_grid(images, cells, 3, background, pixel_mean=mean, pixel_std=std)
    np.testing.assert_allclose(got, _numpy_canvas(images, cells, 3, fill), atol=1e-5)


def test_place_on_grid_noise_background_and_single_image():
    image = np.ones((4, 4, 3), np.float32) * 5.0
    canvas = data.place_on_grid(image, 3, 2, "noise")
    assert canvas.shape == (8, 8, 3)
    np.testing.assert_array_equal(canvas[4:, 4:], 5.0)  # cell 3 = bottom right
    rest = canvas[:4]
    assert rest.min() >= 0.0 and rest.max() <= 1.0 and rest.std() > 0.1


def test_place_on_grid_centres_small_image_in_larger_cell():
    image = np.ones((1, 2, 2, 1), np.float32)
    canvas = data.place_on_grid(image, [1], 2, cell_size=(4, 4))[0, ..., 0]
    expected = np.zeros((8, 8))
    expected[1:3, 5:7] = 1.0
    np.testing.assert_array_equal(canvas, expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"grid_size": 0}, "grid_size must be an int >= 1; got 0"),
        ({"grid_size": 2, "background": "purple"}, "Unknown background 'purple'"),
        ({"grid_size": 2, "cell_size": (3, 3)}, "4x4 does not fit a 3x3 grid cell"),
    ],
)
def test_place_on_grid_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.place_on_grid(np.zeros((1, 4, 4, 3), np.float32), [0], **kwargs)


def test_place_on_grid_rejects_out_of_range_cell():
    with pytest.raises(ValueError, match="cell index out of range"):
        data.place_on_grid(np.zeros((1, 4, 4, 3), np.float32), [4], 2)


def test_exhaustive_placement_visits_every_cell_in_order():
    images = tf.reshape(tf.range(2, dtype=tf.float32), (2, 1, 1, 1))
    out, labels, cells = data.exhaustive_placement(images, tf.constant([7, 8]), 3)
    np.testing.assert_array_equal(cells, list(range(9)) * 2)
    np.testing.assert_array_equal(labels, [7] * 9 + [8] * 9)
    np.testing.assert_array_equal(out.ravel(), [0] * 9 + [1] * 9)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 4), height=st.integers(1, 9), width=st.integers(1, 9),
    channels=st.integers(1, 4), grid=st.integers(1, 4),
    background=st.sampled_from(data.BACKGROUNDS),
)
def test_place_on_grid_any_shape_keeps_the_image_in_its_cell(batch, height, width, channels,
                                                           grid, background):
    rng = np.random.default_rng(batch * 1000 + height * 100 + width)
    images = rng.normal(size=(batch, height, width, channels)).astype(np.float32) + 10.0
    cells = rng.integers(0, grid * grid, size=batch)
    canvas = data.place_on_grid(images, cells, grid, background)
    assert canvas.shape == (batch, grid * height, grid * width, channels)
    assert np.all(np.isfinite(canvas))
    for i, cell in enumerate(cells):
        row, col = divmod(int(cell), grid)
        np.testing.assert_allclose(
            canvas[i, row * height:(row + 1) * height, col * width:(col + 1) * width], images[i])


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float16", "float64"])
def test_place_on_grid_accepts_common_dtypes(dtype):
    images = np.ones((2, 3, 3, 1), dtype)
    canvas = data.place_on_grid(images, [0, 3], 2)
    assert canvas.dtype == np.float32 and canvas.shape == (2, 6, 6, 1)


# place_on_grid fills uint8 canvases in the images' 0..255 scale (second hostile pass).


UINT8 = np.full((2, 4, 4, 3), 100, np.uint8)


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_white_background_of_uint8_images_is_255():
    canvas = place_on_grid(UINT8, np.array([0, 3]), 2, "white")
    assert float(canvas[0, 4:, :4].min()) == 255.0  # was 1.0: near black beside 0..255 pixels
    assert float(canvas[0, :4, :4].max()) == 100.0


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_noise_background_of_uint8_images_spans_0_to_255():
    canvas = place_on_grid(UINT8, np.array([0, 3]), 2, "noise", seed=0)
    background = canvas[0, 4:, :4]
    assert background.max() > 1.0 and background.max() <= 255.0 and background.min() >= 0.0


@pytest.mark.backend_agnostic
def test_float_images_keep_backgrounds_in_0_to_1():
    canvas = place_on_grid(UINT8.astype("float32") / 255.0, np.array([0, 3]), 2, "white")
    assert float(canvas[0, 4:, :4].min()) == 1.0
