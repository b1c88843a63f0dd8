"""Embedded street scenes: procedurally drawn, with Cityscapes-like position priors.

Sky on top, road in the lower middle, sidewalk beside it, buildings and
vegetation at the sides, cars on the road. The layout is deliberately *not*
mirror-symmetric, like real street data (traffic keeps to one side): the
vanishing point sits left of centre, the right sidewalk is wider, and the
left side is usually buildings and the right side usually trees. Road and
sidewalk share one asphalt texture with a small brightness offset, so a
network that knows where it looks segments them better: position is part of
the signal. Generated in memory, deterministically for a seed.
"""

import numpy as np

from keras_gpos.data.segmentation_set import SegmentationSet

STREET_CLASSES = ("sky", "building", "road", "sidewalk", "vegetation", "car")
SKY, BUILDING, ROAD, SIDEWALK, VEGETATION, CAR = range(len(STREET_CLASSES))


def _smooth_noise(rng, height, width, cells=(6, 8)):
    """Low-frequency noise in [-1, 1] (bilinear upsampling of a coarse grid)."""
    coarse = rng.uniform(-1, 1, size=(cells[0] + 1, cells[1] + 1))
    ys = np.linspace(0, cells[0], height)
    xs = np.linspace(0, cells[1], width)
    y0 = np.minimum(ys.astype(int), cells[0] - 1)
    x0 = np.minimum(xs.astype(int), cells[1] - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    c = coarse
    top = c[y0][:, x0] * (1 - fx) + c[y0][:, x0 + 1] * fx
    bottom = c[y0 + 1][:, x0] * (1 - fx) + c[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _draw_scene(rng, height, width):
    yy, xx = np.meshgrid(
        (np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width, indexing="ij"
    )
    image = np.zeros((height, width, 3), np.float32)
    label = np.full((height, width), SKY, np.uint8)

    # Sky: blue or overcast, brighter towards the horizon.
    horizon = rng.uniform(0.38, 0.5)
    if rng.random() < 0.3:
        sky = np.array([185, 188, 195], np.float32) + rng.uniform(-15, 15)
    else:
        sky = np.array([110, 160, 225], np.float32) + rng.uniform(-20, 20, 3)
    image[:] = sky + (40 * yy)[..., None]

    # Sides: buildings (window grid) or vegetation (blotchy green).
    def facade(mask):
        colour = rng.uniform(90, 170) + rng.uniform(-20, 20, 3)
        windows = ((xx * width / rng.uniform(5, 9)) % 1 < 0.5) & (
            (yy * height / rng.uniform(6, 10)) % 1 < 0.45
        )
        shade = np.where(windows, 0.55, 1.0)[..., None]
        image[mask] = (colour * shade)[mask]
        label[mask] = BUILDING

    def trees(mask):
        noise = _smooth_noise(rng, height, width, (8, 10))
        green = np.stack([60 + 25 * noise, 120 + 40 * noise, 50 + 20 * noise], -1)
        image[mask] = green[mask] + rng.uniform(-15, 15, 3)
        label[mask] = VEGETATION

    left_edge = rng.uniform(0.18, 0.4)
    right_edge = 1 - rng.uniform(0.12, 0.3)
    left_top, right_top = rng.uniform(0.0, 0.25), rng.uniform(0.05, 0.3)
    # Street scenes are not mirror images of themselves: mostly buildings left, trees right.
    left_kind, right_kind = (facade, trees) if rng.random() < 0.8 else (trees, facade)
    left_kind((xx < left_edge) & (yy > left_top) & (yy <= horizon + 0.02))
    right_kind((xx > right_edge) & (yy > right_top) & (yy <= horizon + 0.02))

    # Ground: road trapezoid towards a vanishing point left of centre; the
    # rest of the ground is sidewalk with nearly the same asphalt texture.
    vanish_x = rng.uniform(0.35, 0.5)
    bottom_left, bottom_right = rng.uniform(-0.15, 0.1), rng.uniform(0.7, 0.85)
    depth = np.clip((yy - horizon) / (1 - horizon), 0, 1)
    road_left = vanish_x + (bottom_left - vanish_x) * depth
    road_right = vanish_x + (bottom_right - vanish_x) * depth
    ground = yy > horizon + 0.02
    road = ground & (xx > road_left) & (xx < road_right)
    asphalt = rng.uniform(70, 110) + 12 * _smooth_noise(rng, height, width, (12, 16))
    curb = rng.uniform(0, 6)
    image[ground] = np.stack([asphalt + curb] * 3, -1)[ground]
    label[ground] = SIDEWALK
    image[road] = np.stack([asphalt] * 3, -1)[road]
    label[road] = ROAD

    # Cars on the road, larger when nearer.
    for _ in range(rng.integers(0, 4)):
        y = rng.uniform(horizon + 0.12, 0.95)
        d = (y - horizon) / (1 - horizon)
        lane_left = vanish_x + (bottom_left - vanish_x) * d
        lane_right = vanish_x + (bottom_right - vanish_x) * d
        car_w = 0.45 * (lane_right - lane_left) * rng.uniform(0.6, 1.0)
        car_h = car_w * rng.uniform(0.5, 0.7) * width / height
        x = rng.uniform(lane_left + car_w / 2, max(lane_left + car_w / 2, lane_right - car_w / 2))
        body = (np.abs(xx - x) < car_w / 2) & (yy < y) & (yy > y - car_h)
        colour = rng.uniform(20, 230, 3)
        glass = body & (yy < y - 0.55 * car_h)
        image[body] = colour
        image[glass] = colour * 0.35
        label[body] = CAR

    image += rng.normal(0, 6, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8), label


def make_street_scenes(count, image_size=(96, 128), seed=0):
    """Draws `count` street scenes as a `SegmentationSet` (no ignore label).

    Args:
        count: int. Number of scenes.
        image_size: `(height, width)`.
        seed: int. Same seed, same scenes.

    Examples:
        >>> scenes = keras_gpos.data.make_street_scenes(8, (48, 64), seed=0)
        >>> scenes.images.shape, scenes.class_names[:2]
        ((8, 48, 64, 3), ('sky', 'building'))
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int; got {count!r}.")
    height, width = (int(s) for s in image_size)
    if height < 16 or width < 16:
        raise ValueError(f"image_size must be at least 16x16; got {image_size!r}.")
    rng = np.random.default_rng(seed)
    images, masks = zip(*(_draw_scene(rng, height, width) for _ in range(count)))
    return SegmentationSet(
        np.stack(images), np.stack(masks), STREET_CLASSES, None,
        source=f"street_scenes(seed={seed})",
    )
