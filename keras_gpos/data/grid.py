"""The grid canvas: paste each image into one cell of a k x k grid.

All functions are vectorised TensorFlow ops (no per-sample Python loop), so
they run inside `tf.data.Dataset.map` on whole batches.
"""

import tensorflow as tf

BACKGROUNDS = ("zeros", "black", "white", "mean", "noise")
LABEL_KINDS = ("location", "class", "both")


def check_grid_size(grid_size):
    if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 1:
        raise ValueError(f"grid_size must be an int >= 1; got {grid_size!r}.")
    return grid_size


def check_background(background):
    if background not in BACKGROUNDS:
        raise ValueError(
            f"Unknown background {background!r}; expected one of {list(BACKGROUNDS)}."
        )
    return background


def _to_image_space(value, pixel_mean, pixel_std):
    """Maps a pixel-space value in [0, 1] to the space the images are in."""
    return (value - pixel_mean) / pixel_std


def _tiles_to_canvas(tiles, cells, grid_size):
    """Canvas rows `(batch, grid_size * cell_h, grid_size, cell_w * depth)`.

    Tile `i` lands in cell `cells[i]`, zeros elsewhere. A canvas row is
    `grid_size` contiguous runs of `cell_w * depth` values, each either one
    row of the sample's tile or zeros, so the canvas is one gather of whole
    rows from the tile rows plus a zero row. This moves each run with one
    memcpy; the one-hot outer product (einsum) it replaces multiplied every
    canvas value and ran at a third of the speed (benchmarks/run.py, input
    pipeline section).
    """
    batch = tf.shape(tiles)[0]
    cell_h, cell_w, depth = tiles.shape[1], tiles.shape[2], tiles.shape[3]
    rows = tf.reshape(tiles, (-1, cell_w * depth))
    # Row `batch * cell_h` of the source is the zero row.
    source = tf.concat([rows, tf.zeros((1, cell_w * depth), tiles.dtype)], axis=0)
    cell_row = (cells // grid_size)[:, None, None]
    cell_col = (cells % grid_size)[:, None, None]
    canvas_row = tf.range(grid_size * cell_h)[None, :, None]
    canvas_col = tf.range(grid_size)[None, None, :]
    inside = (canvas_row // cell_h == cell_row) & (canvas_col == cell_col)
    tile_row = tf.range(batch)[:, None, None] * cell_h + canvas_row - cell_row * cell_h
    return tf.gather(source, tf.where(inside, tile_row, batch * cell_h))


def place_on_grid(
    images,
    cells,
    grid_size,
    background="zeros",
    cell_size=None,
    pixel_mean=None,
    pixel_std=None,
    seed=None,
):
    """Pastes each image into cell `cells[i]` of a `grid_size` x `grid_size` grid.

    Cells are numbered row-major: cell `c` is row `c // grid_size`, column
    `c % grid_size`. An image smaller than its cell is centred in it.

    Args:
        images: float tensor `(batch, h, w, channels)` or `(h, w, channels)`.
        cells: int tensor `(batch,)` (or a scalar for a single image).
        grid_size: int >= 1.
        background: str. What fills the rest of the canvas:
            `"zeros"` a literal 0 in the images' space (the dataset-mean
            colour when images are normalised, the paper's setting);
            `"black"`/`"white"` pixel value 0/1; `"mean"` the pasted image's
            own mean colour; `"noise"` uniform random pixels.
        cell_size: `(height, width)` of a cell, or None for the image size.
        pixel_mean, pixel_std: per-channel normalisation the images already
            carry, so `black`, `white` and `noise` are expressed in the
            images' space. None means the images are pixels in [0, 1].
        seed: optional stateless seed (shape `(2,)` int tensor) for `noise`.

    Returns:
        A float tensor `(batch, grid_size * cell_h, grid_size * cell_w,
        channels)` (batch axis dropped for a single image).
    """
    check_grid_size(grid_size)
    check_background(background)
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        images = tf.cast(images, tf.float32)
    single = images.shape.rank == 3
    if single:
        images = images[None]
        cells = tf.reshape(cells, (1,))
    if images.shape.rank != 4:
        raise ValueError(
            f"images must be (batch, h, w, c) or (h, w, c); got shape {images.shape}."
        )
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    if height is None or width is None or channels is None:
        raise ValueError(f"images need a static spatial shape; got {images.shape}.")
    cell_h, cell_w = (height, width) if cell_size is None else cell_size
    if cell_h < height or cell_w < width:
        raise ValueError(
            f"An image of {height}x{width} does not fit a {cell_h}x{cell_w} grid cell."
        )
    cells = tf.cast(tf.convert_to_tensor(cells), tf.int32)
    tf.debugging.assert_less(
        cells, grid_size * grid_size,
        message=f"cell index out of range for a {grid_size}x{grid_size} grid",
    )
    tf.debugging.assert_non_negative(cells, message="cell index must be >= 0")

    dtype = images.dtype
    top, left = (cell_h - height) // 2, (cell_w - width) // 2
    pads = [[0, 0], [top, cell_h - height - top], [left, cell_w - width - left], [0, 0]]
    # Skip the pad (a full copy) when the image fills its cell, the usual case.
    tiles = images if (cell_h, cell_w) == (height, width) else tf.pad(images, pads)

    batch = tf.shape(images)[0]
    shape = (batch, grid_size * cell_h, grid_size * cell_w)
    canvas = tf.reshape(_tiles_to_canvas(tiles, cells, grid_size), shape + (channels,))
    if background == "zeros":
        return canvas[0] if single else canvas
    inside = tf.pad(tf.ones_like(images[..., :1]), pads)
    covered = tf.reshape(_tiles_to_canvas(inside, cells, grid_size), shape + (1,))

    mean = 0.0 if pixel_mean is None else tf.constant(pixel_mean, dtype)
    std = 1.0 if pixel_std is None else tf.constant(pixel_std, dtype)
    if background == "black":
        fill = _to_image_space(tf.zeros((1, 1, 1, channels), dtype), mean, std)
    elif background == "white":
        fill = _to_image_space(tf.ones((1, 1, 1, channels), dtype), mean, std)
    elif background == "mean":
        fill = tf.reduce_mean(images, axis=(1, 2), keepdims=True)
    else:
        noise_shape = tf.concat([shape, [channels]], axis=0)
        if seed is None:
            noise = tf.random.uniform(noise_shape, dtype=dtype)
        else:
            noise = tf.random.stateless_uniform(noise_shape, seed, dtype=dtype)
        fill = _to_image_space(noise, mean, std)
    canvas = canvas + (1.0 - covered) * fill
    return canvas[0] if single else canvas


def random_cells(batch_size, grid_size, seed=None):
    """Uniform random cell indices for a batch (training)."""
    return tf.random.uniform(
        (batch_size,), 0, grid_size * grid_size, dtype=tf.int32, seed=seed
    )


def exhaustive_placement(images, labels, grid_size):
    """Repeats each image once per cell (evaluation: every image, every cell).

    Returns:
        `(images, labels, cells)` with `grid_size**2` times the batch; image
        `i` appears in cells `0..k*k-1`, in order.
    """
    count = grid_size * grid_size
    images = tf.repeat(images, count, axis=0)
    labels = tf.repeat(labels, count, axis=0)
    cells = tf.tile(tf.range(count, dtype=tf.int32), [tf.shape(labels)[0] // count])
    return images, labels, cells
