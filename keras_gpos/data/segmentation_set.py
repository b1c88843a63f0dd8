"""`SegmentationSet`: images and dense labels held in memory.

Its own module so that every segmentation source (embedded street scenes,
folders, TFDS) can build one without importing the others.
"""

import dataclasses
import functools

import numpy as np

from keras_gpos.base.records import arrays_digest


@dataclasses.dataclass(frozen=True)
class SegmentationSet:
    """Images and dense labels held in memory.

    Attributes:
        images: uint8 array `(N, height, width, 3)`.
        masks: uint8 array `(N, height, width)` of class indices; pixels equal
            to `ignore_label` count nowhere.
        class_names: tuple of str, one per class index `0 .. num_classes - 1`.
        ignore_label: int or None. Label of unlabelled pixels.
        source: str. Where the data came from (recorded in results).
        origin: dict or None. A versioned source that names these images
            (TFDS name, version and split); it identifies them instead of a
            digest of their pixels (see `identity`).
    """

    images: np.ndarray
    masks: np.ndarray
    class_names: tuple
    ignore_label: int = None
    source: str = ""
    origin: dict = None

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(
                f"images must be (N, height, width, 3); got shape {self.images.shape} "
                f"from {self.source or 'a SegmentationSet'}."
            )
        if self.images.dtype != np.uint8 or self.masks.dtype != np.uint8:
            raise ValueError(
                f"images and masks must be uint8; got {self.images.dtype} and {self.masks.dtype}."
            )
        if self.masks.shape != self.images.shape[:3]:
            raise ValueError(
                f"masks shape {self.masks.shape} does not match images {self.images.shape[:3]} "
                f"in {self.source or 'a SegmentationSet'}."
            )
        allowed = set(range(len(self.class_names)))
        if self.ignore_label is not None:
            allowed.add(int(self.ignore_label))
        found = set(np.unique(self.masks).tolist())
        if not found <= allowed:
            raise ValueError(
                f"masks of {self.source or 'a SegmentationSet'} hold labels "
                f"{sorted(found - allowed)} outside [0, {len(self.class_names)}) and not the "
                f"ignore label {self.ignore_label}; pass the right class_names/ignore_label."
            )

    def as_arrays(self):
        """`(images, masks)`: how every keras_gpos function that takes data reads this set."""
        return self.images, self.masks

    def __len__(self):
        return int(self.images.shape[0])

    @functools.cached_property
    def content_digest(self):
        """SHA-256 of the decoded images and masks (computed once per set)."""
        return arrays_digest(self.images, self.masks)

    def identity(self):
        """The versioned source that named these images, or a digest of the decoded arrays."""
        if self.origin is not None:
            return {**self.origin, "images": len(self)}
        return {"sha256": self.content_digest}

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return tuple(int(d) for d in self.images.shape[1:])

    def head(self, count):
        return dataclasses.replace(
            self, images=self.images[:count], masks=self.masks[:count],
            source=f"{self.source}[:{count}]",
            origin=None if self.origin is None else {**self.origin, "rows": f"{self.origin.get('rows', '')}[:{count}]"},
        )

    def metadata(self):
        """A JSON-ready description for result files."""
        return {
            "source": self.source,
            "images": len(self),
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "ignore_label": self.ignore_label,
        }
