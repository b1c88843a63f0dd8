"""The words every floor shares: flips and the two sides each one separates, and image regions."""

import numpy as np

FLIPS = ("horizontal", "vertical")
# The two halves a flip swaps; the first is the side of a positive signed score
# (the convention is fixed on a constructed case in the ranking's tests).
SIDES = {"horizontal": ("left", "right"), "vertical": ("top", "bottom")}


def check_flip(flip):
    """Returns `flip` if it is one of `FLIPS`, else raises a `ValueError` naming it."""
    if flip not in FLIPS:
        raise ValueError(f"Unknown flip {flip!r}; expected one of {list(FLIPS)}.")
    return flip


def flip_axis(flip):
    """The axis of an NHWC batch that `flip` mirrors (2: width, 1: height)."""
    return 2 if check_flip(flip) == "horizontal" else 1


REGIONS = ("all", "left", "right", "top", "bottom", "centre")

# Boxes as (top, left, bottom, right) fractions of the image; a pixel belongs
# to a box when its centre lies in [top, bottom) x [left, right), so with an
# odd width the middle column belongs to the right half.
NAMED_BOXES = {
    "all": (0.0, 0.0, 1.0, 1.0),
    "left": (0.0, 0.0, 1.0, 0.5),
    "right": (0.0, 0.5, 1.0, 1.0),
    "top": (0.0, 0.0, 0.5, 1.0),
    "bottom": (0.5, 0.0, 1.0, 1.0),
    "centre": (0.25, 0.25, 0.75, 0.75),
}


def check_region(region):
    """Validates a region; returns it as a str, a box tuple or a bool array."""
    if isinstance(region, str):
        if region == "center":
            region = "centre"
        if region not in NAMED_BOXES:
            raise ValueError(
                f"Unknown region {region!r}; expected one of {list(REGIONS)}, a box "
                "(top, left, bottom, right) in [0, 1], or a boolean (height, width) mask."
            )
        return region
    array = np.asarray(region)
    if array.ndim == 1 and array.shape == (4,) and array.dtype != bool:
        top, left, bottom, right = (float(v) for v in array)
        if not (0.0 <= top < bottom <= 1.0 and 0.0 <= left < right <= 1.0):
            raise ValueError(
                "a box region is (top, left, bottom, right) with 0 <= top < bottom <= 1 "
                f"and 0 <= left < right <= 1; got {tuple(region)!r}."
            )
        return (top, left, bottom, right)
    if array.ndim == 2 and array.dtype == bool:
        if not array.any():
            raise ValueError("a mask region must select at least one pixel; got an all-False mask.")
        return array
    raise ValueError(
        f"region must be one of {list(REGIONS)}, a box (top, left, bottom, right) or a 2-D "
        f"boolean mask; got {type(region).__name__} with shape {array.shape}."
    )

__all__ = [
    "FLIPS", "SIDES", "check_flip", "flip_axis", "REGIONS", "NAMED_BOXES", "check_region"
]
