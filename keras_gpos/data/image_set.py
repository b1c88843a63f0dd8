"""An in-memory labelled image collection and its train/validation split."""

import dataclasses
import functools

import numpy as np

from keras_gpos.base.records import arrays_digest


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """Images and labels held in memory.

    Attributes:
        images: uint8 array `(N, height, width, channels)`.
        labels: int64 array `(N,)` of class indices.
        class_names: tuple of str, one per class index.
        source: str. Where the images came from (recorded in results).
        origin: dict or None. A versioned source that names these images
            (`{"tfds": name, "version": ..., "split": ...}`); it identifies
            them instead of a digest of their pixels (see `identity`).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple
    source: str = ""
    origin: dict = None

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(
                f"images must be (N, height, width, channels); got shape "
                f"{self.images.shape} from {self.source or 'an ImageSet'}."
            )
        if self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8; got {self.images.dtype}.")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels shape {self.labels.shape} does not match "
                f"{self.images.shape[0]} images."
            )
        if len(self.labels) and (
            self.labels.min() < 0 or self.labels.max() >= len(self.class_names)
        ):
            raise ValueError(
                f"labels must lie in [0, {len(self.class_names)}); got range "
                f"[{self.labels.min()}, {self.labels.max()}] in {self.source}."
            )

    def as_arrays(self):
        """`(images, labels)`: how every keras_gpos function that takes data reads this set."""
        return self.images, self.labels

    def __len__(self):
        return int(self.images.shape[0])

    @functools.cached_property
    def content_digest(self):
        """SHA-256 of the decoded images and labels (computed once per set)."""
        return arrays_digest(self.images, self.labels)

    def identity(self):
        """What these images are, independent of where they lie: the versioned
        source that named them, or a digest of the decoded arrays."""
        if self.origin is not None:
            return {**self.origin, "images": len(self)}
        return {"sha256": self.content_digest}

    def digest(self):
        """A short form of `content_digest`: evaluations pair outcomes by image only on equal digests."""
        return self.content_digest[:16]

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return tuple(int(d) for d in self.images.shape[1:])

    def take(self, indices, source_suffix=""):
        return ImageSet(
            self.images[indices],
            self.labels[indices],
            self.class_names,
            self.source + source_suffix,
            None if self.origin is None else {**self.origin, "rows": self.origin.get("rows", "") + source_suffix},
        )

    def head(self, count):
        """The first `count` examples (all of them when `count` is None)."""
        if count is None or count >= len(self):
            return self
        if count < 1:
            raise ValueError(f"count must be >= 1; got {count}.")
        return self.take(np.arange(count), f"[:{count}]")


def split_validation(image_set, fraction, seed=0):
    """Splits off a seeded random validation part of a training set.

    Model selection uses this split, so the test set is never looked at
    before the final evaluation.

    Returns:
        `(train, validation)` ImageSets.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1); got {fraction}.")
    count = int(round(len(image_set) * fraction))
    if count < 1 or count >= len(image_set):
        raise ValueError(
            f"validation fraction {fraction} of {len(image_set)} examples leaves "
            "an empty train or validation split."
        )
    order = np.random.default_rng(seed).permutation(len(image_set))
    return (
        image_set.take(np.sort(order[count:]), "[train]"),
        image_set.take(np.sort(order[:count]), "[val]"),
    )


def normalization_stats(image_set):
    """Per-channel mean and std of the pixels in [0, 1] (float32 arrays)."""
    pixels = image_set.images.reshape(-1, image_set.images.shape[-1])
    pixels = pixels.astype(np.float64) / 255.0
    mean = pixels.mean(axis=0)
    std = pixels.std(axis=0)
    return mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32)
