"""The audit's inputs: images resized to the model input, masks resized alike, grid canvases."""

import keras
import numpy as np

from keras_gpos.data.grid import exhaustive_placement, place_on_grid


def resize_images(images, height, width):
    """Bilinear resize of `(N, h, w, c)` images (unchanged when already that size)."""
    if images.shape[1:3] == (height, width):
        return images
    out = keras.ops.image.resize(images, (height, width), interpolation="bilinear")
    return np.asarray(keras.ops.convert_to_numpy(out), images.dtype)


def resize_masks(masks, height, width):
    """Nearest-neighbour resize of `(N, h, w)` label masks (labels are never blended)."""
    if masks.shape[1:3] == (height, width):
        return masks
    rows = np.minimum((np.arange(height) + 0.5) * masks.shape[1] / height, masks.shape[1] - 1).astype(int)
    cols = np.minimum((np.arange(width) + 0.5) * masks.shape[2] / width, masks.shape[2] - 1).astype(int)
    return masks[:, rows][:, :, cols]


def make_canvases(images, input_shape, grid_size, background=0.0):
    """Every image in every cell of a `grid_size x grid_size` canvas of `input_shape`.

    The images are resized to the cell (`input // grid_size` per axis) and
    placed by `keras_gpos.data.place_on_grid`, the canvas the experiments
    train on; a margin that the grid leaves at the bottom and right takes
    the background too.

    Args:
        background: float (a constant in the images' space) or `"mean"`
            (each tile's own mean colour).

    Returns:
        `(canvases, cells)`: `(N * grid**2, h, w, c)` and the cell (row-major)
        of each canvas; canvases `i * grid**2 ...` hold image `i`.
    """
    height, width = int(input_shape[0]), int(input_shape[1])
    cell_h, cell_w = height // grid_size, width // grid_size
    if cell_h < 1 or cell_w < 1:
        raise ValueError(f"a {grid_size}x{grid_size} grid does not fit a {height}x{width} input.")
    if isinstance(background, str) and background != "mean":
        raise ValueError(f"background must be a number or 'mean'; got {background!r}.")
    tiles = resize_images(images.astype("float32"), cell_h, cell_w)
    tiles, _, cells = exhaustive_placement(tiles, np.zeros(len(tiles)), grid_size)
    return place_on_grid(tiles, cells, grid_size, background, canvas_size=(height, width)), cells
