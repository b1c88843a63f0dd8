"""Per-batch pixel transforms in NumPy: normalisation and the horizontal flip.

Vectorised over the batch, written once, used by every pipeline on every
backend (`keras_gpos.data.grid_dataset`, `shift_view_dataset`,
`segmentation_dataset`) and by the experiments' evaluation sets.
"""

import numpy as np

from keras_gpos.data.keyed import batch_array


def normalize(images, mean, std):
    """uint8 pixels -> float32 `(pixel / 255 - mean) / std`, per channel.

    Computed as one multiply-add with float32 constants `1 / (255 std)` and
    `-mean / std` tiled along an image row: NumPy broadcasts a row-long
    vector fast, but a 3-vector over the innermost axis runs its inner loop
    three values at a time (about 6x slower on a batch of 32x32 images).

    Args:
        images: array `(..., width, channels)` of pixels in [0, 255].
        mean, std: per-channel pixel statistics in [0, 1] (sequences or
            scalars).

    Returns:
        A float32 array of the same shape.

    Examples:
        >>> keras_gpos.data.normalize(np.array([[0, 255]], "uint8"), 0.5, 0.5).tolist()
        [[-1.0, 1.0]]
    """
    images = np.asarray(images)
    mean = np.asarray(mean, np.float64)
    std = np.asarray(std, np.float64)
    if np.any(std <= 0) or not (np.all(np.isfinite(std)) and np.all(np.isfinite(mean))):
        raise ValueError(
            f"normalize needs finite means and positive stds; got mean={mean.tolist()}, std={std.tolist()}."
        )
    return channel_affine(images, 1.0 / (255.0 * std), -mean / std, batch_array(images.shape, np.float32))


def channel_affine(values, scale, offset, out):
    """`out = values * scale + offset` with per-channel (last axis) constants, in float32.

    The constants are tiled along an image row, so the inner loop runs over
    a whole row. `out` may be `values` itself (in place); it must be
    C-contiguous.
    """
    scale = np.asarray(scale, np.float64).astype(np.float32)
    offset = np.asarray(offset, np.float64).astype(np.float32)
    if values.ndim >= 2 and scale.ndim <= 1 and offset.ndim <= 1:
        width, channels = values.shape[-2:]
        row = width * channels
        rows = out.reshape(-1, row)
        np.multiply(values.reshape(-1, row), np.tile(np.broadcast_to(scale, (channels,)), width), out=rows)
        rows += np.tile(np.broadcast_to(offset, (channels,)), width)
        return out
    np.multiply(values, scale, out=out)
    out += offset
    return out


def flip_left_right(images, flips):
    """Mirrors `images[i]` horizontally where `flips[i]`, in place; returns `images`.

    Only the chosen images are touched (a select over the whole batch costs
    a full copy and more). Any dtype and rank >= 3 (`(batch, h, w, ...)`),
    so pipelines flip uint8 pixels and label masks alike. A contiguous batch
    is flipped as whole pixels (the channels of a pixel seen as one opaque
    item), so the reversed copy does not step three bytes at a time.
    """
    flips = np.asarray(flips, bool)
    if images.ndim < 3 or flips.shape != (len(images),):
        raise ValueError(
            f"flips must hold one bool per image of a (batch, h, w, ...) array; got {flips.shape} "
            f"flips for shape {images.shape}."
        )
    chosen = np.flatnonzero(flips)
    if not len(chosen):
        return images
    pixels = images
    if images.ndim > 3 and images.flags.c_contiguous:
        pixel_bytes = images.itemsize * int(np.prod(images.shape[3:]))
        pixels = images.reshape(images.shape[:3] + (-1,)).view(np.dtype((np.void, pixel_bytes)))[..., 0]
    pixels[chosen] = pixels[chosen][:, :, ::-1]
    return images
