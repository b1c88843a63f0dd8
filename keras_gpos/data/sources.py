"""One entry point that turns a dataset name into train and test ImageSets."""

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
        from keras_gpos.data.tfds_source import load_tfds_image_classification

        return load_tfds_image_classification(
            name[5:], data_dir=data_dir, image_size=image_size, download=tfds_download
        )
    raise ValueError(f"Unknown dataset {name!r}; expected one of {list(DATASETS)}.")


__all__ = ["ImageSet", "load_image_dataset", "DATASETS"]
