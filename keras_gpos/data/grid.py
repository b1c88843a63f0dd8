"""The grid canvas: paste each image into one cell of a k x k grid (NumPy, any backend).

The one implementation of the canvas: the location experiment's batches
(`keras_gpos.data.grid_dataset`) and the audit's probes
(`keras_gpos.audit.make_canvases`) both call `place_on_grid`. Everything is
vectorised over the batch: the canvas is filled with its background, then
every image is written into its cell by one fancy-index assignment into the
canvas seen as `(batch, k, cell_h, k, cell_w, channels)`.
"""

import numpy as np

from keras_gpos.base.validation import check_finite
from keras_gpos.data.keyed import batch_array, rng_of
from keras_gpos.data.transforms import channel_affine

BACKGROUNDS = ("zeros", "black", "white", "mean", "noise")
LABEL_KINDS = ("location", "class", "both")


def check_grid_size(grid_size):
    if isinstance(grid_size, (bool, np.bool_)) or not isinstance(grid_size, (int, np.integer)) or grid_size < 1:
        raise ValueError(f"grid_size must be an int >= 1; got {grid_size!r}.")
    return int(grid_size)


def check_background(background):
    """A name of `BACKGROUNDS`, or a finite number (a constant in the images' space)."""
    if isinstance(background, str):
        if background not in BACKGROUNDS:
            raise ValueError(f"Unknown background {background!r}; expected one of {list(BACKGROUNDS)}.")
        return background
    return check_finite(background, "background")


def _to_image_space(value, pixel_mean, pixel_std):
    """Maps a pixel-space value in [0, 1] to the space the images are in."""
    mean = 0.0 if pixel_mean is None else np.asarray(pixel_mean, np.float32)
    std = 1.0 if pixel_std is None else np.asarray(pixel_std, np.float32)
    return (value - mean) / std


def _noise_to_image_space(canvas, pixel_mean, pixel_std):
    """`(noise - mean) / std` in place, as one multiply-add per channel."""
    mean = np.zeros(1) if pixel_mean is None else np.asarray(pixel_mean, np.float64)
    std = np.ones(1) if pixel_std is None else np.asarray(pixel_std, np.float64)
    channel_affine(canvas, 1.0 / std, -mean / std, canvas)


def _background(canvas, images, background, pixel_mean, pixel_std, seed):
    """Writes the background into the whole canvas."""
    channels = canvas.shape[-1]
    if background == "zeros" or not isinstance(background, str):
        canvas[...] = 0.0 if background == "zeros" else background
    elif background in ("black", "white"):
        pixel = np.full(channels, 0.0 if background == "black" else 1.0, np.float32)
        canvas[...] = _to_image_space(pixel, pixel_mean, pixel_std)
    elif background == "mean":
        canvas[...] = images.mean(axis=(1, 2))[:, None, None, :]
    else:
        rng_of(seed).random(canvas.shape, dtype=np.float32, out=canvas)
        if pixel_mean is not None or pixel_std is not None:
            _noise_to_image_space(canvas, pixel_mean, pixel_std)


def place_on_grid(
    images,
    cells,
    grid_size,
    background="zeros",
    cell_size=None,
    pixel_mean=None,
    pixel_std=None,
    seed=None,
    canvas_size=None,
):
    """Pastes each image into cell `cells[i]` of a `grid_size` x `grid_size` grid.

    Cells are numbered row-major: cell `c` is row `c // grid_size`, column
    `c % grid_size`. An image smaller than its cell is centred in it.

    Args:
        images: array `(batch, h, w, channels)` or `(h, w, channels)`
            (integers are taken as float32 values).
        cells: int array `(batch,)` (or a scalar for a single image).
        grid_size: int >= 1.
        background: what fills the rest of the canvas:
            `"zeros"` a literal 0 in the images' space (the dataset-mean
            colour when images are normalised, the paper's setting);
            `"black"`/`"white"` pixel value 0/1; `"mean"` the pasted image's
            own mean colour; `"noise"` uniform random pixels in [0, 1]; a
            number: that constant in the images' space.
        cell_size: `(height, width)` of a cell, or None for the image size.
        pixel_mean, pixel_std: per-channel normalisation the images already
            carry, so `black`, `white` and `noise` are expressed in the
            images' space. None means the images are pixels in [0, 1].
        seed: int, sequence of ints, `numpy.random.Generator` or None (fresh
            entropy): the draws of the `"noise"` background.
        canvas_size: `(height, width)` of the canvas, at least the grid's;
            the grid sits at its top left and the margin takes the
            background. None: exactly the grid.

    Returns:
        A float32 array `(batch, canvas_h, canvas_w, channels)` (batch axis
        dropped for a single image).

    Examples:
        >>> canvas = keras_gpos.data.place_on_grid(np.ones((2, 4, 4, 3)), [0, 8], 3)
        >>> canvas.shape, float(canvas[1, 8:, 8:].min())
        ((2, 12, 12, 3), 1.0)
    """
    grid_size = check_grid_size(grid_size)
    background = check_background(background)
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32)
    single = images.ndim == 3
    if single:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"images must be (batch, h, w, c) or (h, w, c); got shape {images.shape}.")
    cells = np.asarray(cells).reshape(-1)
    if not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(f"cells must be integer cell indices; got dtype {cells.dtype}.")
    count, height, width, channels = images.shape
    if len(cells) != count:
        raise ValueError(f"{len(cells)} cells for {count} images; pass one cell per image.")
    if count and (cells.min() < 0 or cells.max() >= grid_size * grid_size):
        bad = int(cells.min() if cells.min() < 0 else cells.max())
        raise ValueError(
            f"cell index out of range: {bad} for a {grid_size}x{grid_size} grid (cells 0..{grid_size**2 - 1})."
        )
    cell_h, cell_w = (height, width) if cell_size is None else (int(cell_size[0]), int(cell_size[1]))
    if cell_h < height or cell_w < width:
        raise ValueError(f"An image of {height}x{width} does not fit a {cell_h}x{cell_w} grid cell.")
    grid_h, grid_w = grid_size * cell_h, grid_size * cell_w
    canvas_h, canvas_w = (grid_h, grid_w) if canvas_size is None else (int(canvas_size[0]), int(canvas_size[1]))
    if canvas_h < grid_h or canvas_w < grid_w:
        raise ValueError(f"a {canvas_h}x{canvas_w} canvas does not hold a {grid_h}x{grid_w} grid.")

    canvas = batch_array((count, canvas_h, canvas_w, channels), np.float32)
    _background(canvas, images, background, pixel_mean, pixel_std, seed)
    # Splitting the canvas axes into (grid row, row in cell) is a view, not a copy.
    cells_view = canvas[:, :grid_h, :grid_w].reshape(count, grid_size, cell_h, grid_size, cell_w, channels)
    top, left = (cell_h - height) // 2, (cell_w - width) // 2
    rows, columns = np.divmod(cells, grid_size)
    cells_view[np.arange(count), rows, top:top + height, columns, left:left + width] = images
    return canvas[0] if single else canvas


def random_cells(batch_size, grid_size, seed=None):
    """Uniform random cell indices `(batch_size,)` int32 (training).

    Args:
        seed: int, sequence of ints, `numpy.random.Generator` or None.
    """
    grid_size = check_grid_size(grid_size)
    return rng_of(seed).integers(0, grid_size * grid_size, int(batch_size)).astype(np.int32)


def exhaustive_placement(images, labels, grid_size):
    """Repeats each image once per cell (evaluation: every image, every cell).

    Returns:
        `(images, labels, cells)` with `grid_size**2` times the batch; image
        `i` appears in cells `0..k*k-1`, in order.

    Examples:
        >>> images, labels, cells = keras_gpos.data.exhaustive_placement(np.zeros((2, 4, 4, 3)), [7, 8], 2)
        >>> labels.tolist(), cells.tolist()
        ([7, 7, 7, 7, 8, 8, 8, 8], [0, 1, 2, 3, 0, 1, 2, 3])
    """
    count = check_grid_size(grid_size) ** 2
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(labels)} labels for {len(images)} images.")
    cells = np.tile(np.arange(count, dtype=np.int32), len(images))
    return np.repeat(images, count, axis=0), np.repeat(labels, count, axis=0), cells

