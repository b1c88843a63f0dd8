"""The audit's inputs: images resized to the model input, masks resized alike, grid canvases."""

import keras
import numpy as np


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

    Returns:
        `(canvases, cells)`: `(N * grid**2, h, w, c)` and the cell (row-major)
        of each canvas; canvases `i * grid**2 ...` hold image `i`.
    """
    height, width = int(input_shape[0]), int(input_shape[1])
    cell_h, cell_w = height // grid_size, width // grid_size
    if cell_h < 1 or cell_w < 1:
        raise ValueError(f"a {grid_size}x{grid_size} grid does not fit a {height}x{width} input.")
    tiles = resize_images(images.astype("float32"), cell_h, cell_w)
    count, cells = len(images), grid_size * grid_size
    if isinstance(background, str):
        if background != "mean":
            raise ValueError(f"background must be a number or 'mean'; got {background!r}.")
        fill = tiles.mean(axis=(1, 2), keepdims=True)
    else:
        fill = np.full((count, 1, 1, tiles.shape[-1]), float(background), "float32")
    canvases = np.empty((count, cells, height, width, tiles.shape[-1]), "float32")
    canvases[:] = fill[:, None]
    for cell in range(cells):
        row, column = divmod(cell, grid_size)
        canvases[:, cell, row * cell_h:(row + 1) * cell_h, column * cell_w:(column + 1) * cell_w] = tiles
    return canvases.reshape((count * cells, height, width, tiles.shape[-1])), np.tile(np.arange(cells), count)
