"""The embedded default dataset: procedurally drawn shapes and textures.

Ten classes whose identity lies in shape or texture, never in colour or
position: each image gets random foreground and background colours, a random
scale, rotation and offset, and pixel noise. Generated in memory,
deterministically for a seed, so a first run needs no files and no network.
"""

import numpy as np

from keras_gpos.data.image_set import ImageSet

SHAPE_CLASSES = (
    "disk",
    "square",
    "triangle",
    "plus",
    "ring",
    "horizontal_stripes",
    "vertical_stripes",
    "checkerboard",
    "diagonal_cross",
    "dot_grid",
)


def _class_mask(label, u, v, r):
    """Foreground mask of class `label` in rotated, scaled coordinates."""
    inside = np.maximum(np.abs(u), np.abs(v)) < 0.8
    if label == 0:
        return r < 0.8
    if label == 1:
        return np.maximum(np.abs(u), np.abs(v)) < 0.65
    if label == 2:
        return (v > -0.6) & (v < 0.75) & (np.abs(u) < (v + 0.6) * 0.6)
    if label == 3:
        return ((np.abs(u) < 0.22) & (np.abs(v) < 0.8)) | (
            (np.abs(v) < 0.22) & (np.abs(u) < 0.8)
        )
    if label == 4:
        return (r > 0.45) & (r < 0.8)
    if label == 5:
        return inside & (np.sin(v * 3.5 * np.pi) > 0)
    if label == 6:
        return inside & (np.sin(u * 3.5 * np.pi) > 0)
    if label == 7:
        return inside & ((np.sin(u * 2.5 * np.pi) * np.sin(v * 2.5 * np.pi)) > 0)
    if label == 8:
        return inside & (np.abs(np.abs(u) - np.abs(v)) < 0.2)
    if label == 9:
        fu = (u * 2.0) % 1.0 - 0.5
        fv = (v * 2.0) % 1.0 - 0.5
        return inside & (fu**2 + fv**2 < 0.09)
    raise ValueError(f"Unknown shape class {label}.")


def make_shapes_dataset(num_examples, image_size=32, seed=0):
    """Draws `num_examples` labelled shape images.

    Args:
        num_examples: int. Number of images; classes are balanced (round
            robin, then shuffled).
        image_size: int. Height and width in pixels (>= 8).
        seed: int. Same seed, same images.

    Returns:
        An `ImageSet` of uint8 RGB images with `SHAPE_CLASSES` labels.
    """
    if not isinstance(num_examples, (int, np.integer)) or num_examples < 1:
        raise ValueError(f"num_examples must be a positive int; got {num_examples!r}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8; got {image_size!r}.")
    rng = np.random.default_rng(seed)
    n = int(num_examples)
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES)).astype(np.int64)

    axis = (np.arange(image_size) + 0.5) / image_size * 2.0 - 1.0
    y, x = np.meshgrid(axis, axis, indexing="ij")
    scale = rng.uniform(0.55, 0.95, size=(n, 1, 1))
    angle = rng.uniform(-0.3, 0.3, size=(n, 1, 1))
    shift = rng.uniform(-0.2, 0.2, size=(n, 2, 1, 1))
    xs = x[None] - shift[:, 0]
    ys = y[None] - shift[:, 1]
    u = (np.cos(angle) * xs + np.sin(angle) * ys) / scale
    v = (-np.sin(angle) * xs + np.cos(angle) * ys) / scale
    r = np.sqrt(u**2 + v**2)

    mask = np.zeros((n, image_size, image_size), dtype=bool)
    for label in range(len(SHAPE_CLASSES)):
        chosen = labels == label
        if chosen.any():
            mask[chosen] = _class_mask(label, u[chosen], v[chosen], r[chosen])

    # Colours: foreground and background differ by at least 0.35 in mean
    # brightness-free distance, so every shape stays visible.
    foreground = rng.uniform(0.0, 1.0, size=(n, 3))
    background = rng.uniform(0.0, 1.0, size=(n, 3))
    close = np.linalg.norm(foreground - background, axis=1) < 0.35
    background[close] = 1.0 - foreground[close]
    images = np.where(mask[..., None], foreground[:, None, None], background[:, None, None])
    images = images + rng.normal(0.0, 0.04, size=images.shape)
    images = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
    return ImageSet(images, labels, SHAPE_CLASSES, f"embedded-shapes(seed={seed})")
