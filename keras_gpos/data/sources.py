"""One entry point that turns a dataset name into train, validation and test ImageSets."""

import dataclasses

import numpy as np

from keras_gpos.data.image_set import ImageSet
from keras_gpos.data.synthetic import make_shapes_dataset

DATASETS = ("embedded", "cifar10_binary", "tfds:<name>")


def load_image_dataset(
    name, data_dir=None, seed=0, embedded_train_size=3000, embedded_test_size=600,
    tfds_download=False, image_size=None,
):
    """Loads `(train, test)` ImageSets by name.

    Args:
        name: str. `"embedded"` (procedural shapes, no files),
            `"cifar10_binary"` (official binary files in `data_dir`) or
            `"tfds:<tfds name>"` (TensorFlow Datasets).
        data_dir: str or None. Folder of the binary files, or TFDS data dir.
        seed: int. Seed of the embedded generator (train uses `seed`, test
            `seed + 1`, so they never share an image).
        embedded_train_size, embedded_test_size: int. Embedded set sizes.
        tfds_download: bool. Let TFDS download (needs a network).
        image_size: int or None. Resize TFDS images to this size.
    """
    if name == "embedded":
        return (
            make_shapes_dataset(embedded_train_size, seed=seed),
            make_shapes_dataset(embedded_test_size, seed=seed + 1),
        )
    if name == "cifar10_binary":
        if not data_dir:
            raise ValueError("dataset 'cifar10_binary' needs data_dir (a folder of .bin files).")
        from keras_gpos.data.cifar import load_cifar10_binary

        return load_cifar10_binary(data_dir)
    if name.startswith("tfds:") and len(name) > 5:
        from keras_gpos.base.backend import requires_tensorflow

        requires_tensorflow(f"dataset {name!r} (TensorFlow Datasets)")
        from keras_gpos.data.tfds_source import load_tfds_image_classification

        return load_tfds_image_classification(
            name[5:], data_dir=data_dir, image_size=image_size, download=tfds_download
        )
    raise ValueError(f"Unknown dataset {name!r}; expected one of {list(DATASETS)}.")




@dataclasses.dataclass(frozen=True)
class ImageSplits:
    """Train / validation / test ImageSets and the training pixels' statistics.

    The validation part is carved from the training data (seeded), so model
    selection never looks at the test set. `mean` and `std` are the
    per-channel statistics of the training part's pixels in [0, 1].
    """

    train: ImageSet
    val: ImageSet
    test: ImageSet
    mean: np.ndarray
    std: np.ndarray
    dataset: str = ""

    def identity(self):
        """The data as read, never by path, for run fingerprints: the source and sizes, and
        each split's content (a digest of the decoded arrays, or a TFDS name, version and split).

        The digests are computed once per set and cached on it, so a suite that shares one
        `ImageSplits` between its runs hashes the data once.
        """
        return {
            **self.sizes(),
            "content": {"train": self.train.identity(), "val": self.val.identity(),
                        "test": self.test.identity()},
        }

    def sizes(self):
        """Source and sizes: all that keras_gpos 0.2 recorded of the data."""
        return {
            "dataset": self.dataset,
            "train_images": len(self.train),
            "val_images": len(self.val),
            "test_images": len(self.test),
            "image_shape": list(self.train.image_shape),
            "num_classes": self.train.num_classes,
        }

    def normalization(self):
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}


# Peak bytes per generated embedded image (float64 coordinate grids, masks,
# colours and noise of a 32x32 image), measured with tracemalloc: about 80 KB.
EMBEDDED_BYTES_PER_IMAGE = 100_000


def embedded_memory(train_size, test_size):
    """Bytes that generating the embedded shapes takes at its peak."""
    return EMBEDDED_BYTES_PER_IMAGE * (int(train_size) + int(test_size))


def load_image_splits(dataset, data_dir=None, train_examples=0, val_fraction=0.1,
                      embedded_train_size=3000, embedded_test_size=600, tfds_download=False):
    """Loads a dataset by name and splits it into `ImageSplits`.

    The data never depend on a training seed: every seed of an experiment
    sees the same images, only initialisation and order differ.

    Args:
        dataset: str. See `load_image_dataset`.
        data_dir: str or None. Folder of the files.
        train_examples: int. Keep only the first N training images (0: all).
        val_fraction: float in (0, 1). Share of training images held out.
        embedded_train_size, embedded_test_size: embedded set sizes.
        tfds_download: bool.

    Raises:
        ValueError: a missing or malformed data source (named), or a split
            that leaves an empty part.
    """
    from keras_gpos.data.image_set import normalization_stats, split_validation

    train, test = load_image_dataset(
        dataset, data_dir=data_dir or None, seed=0, embedded_train_size=embedded_train_size,
        embedded_test_size=embedded_test_size, tfds_download=tfds_download,
    )
    if train_examples:
        train = train.head(train_examples)
    train, val = split_validation(train, val_fraction, seed=0)
    mean, std = normalization_stats(train)
    return ImageSplits(train, val, test, mean, std, dataset)
