"""Image classification sets from TensorFlow Datasets (needs the data prepared
or a network); only used when a user asks for `tfds:<name>`."""

import numpy as np
import tensorflow as tf

from keras_gpos.data.image_set import ImageSet


def load_tfds_image_classification(
    name,
    data_dir=None,
    train_split="train",
    test_split="test",
    image_size=None,
    download=True,
):
    """Loads a TFDS image classification set into memory.

    Args:
        name: str. TFDS name, e.g. `"cifar10"`.
        data_dir: str or None. TFDS data dir.
        train_split, test_split: str. Split names.
        image_size: int or None. Resize every image to this square size
            (needed when the set's images differ in size).
        download: bool. Allow TFDS to download and prepare the data.

    Returns:
        `(train, test)` ImageSets.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # noqa: BLE001 - TFDS raises several kinds for an unknown name
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"tfds:{name} is not a TFDS dataset ({message}).") from error
    if download:
        builder.download_and_prepare()
    info = builder.info
    if "label" not in info.features or "image" not in info.features:
        raise ValueError(
            f"tfds:{name} is not an image classification set: it needs 'image' "
            f"and 'label' features, found {list(info.features)}."
        )
    names = tuple(info.features["label"].names)

    def load(split):
        try:
            dataset = builder.as_dataset(split=split, as_supervised=True)
        except (AssertionError, OSError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(
                f"tfds:{name} split {split!r} cannot be read from {builder.data_dir} ({first}); "
                "prepare it there, point --data_dir at its TFDS data dir, or pass --tfds_download "
                "(needs a network)."
            ) from error
        if image_size is not None:
            dataset = dataset.map(
                lambda image, label: (
                    tf.cast(tf.clip_by_value(tf.round(
                        tf.image.resize(image, (image_size, image_size))), 0, 255), tf.uint8),
                    label,
                )
            )
        images, labels = [], []
        for image, label in dataset.as_numpy_iterator():
            images.append(image)
            labels.append(label)
        if not images:
            raise ValueError(f"tfds:{name} split {split!r} is empty.")
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            raise ValueError(
                f"tfds:{name} images differ in size ({sorted(shapes)[:3]}...); "
                "pass image_size to resize them."
            )
        return ImageSet(
            np.stack(images), np.asarray(labels, np.int64), names, f"tfds:{name}/{split}",
            origin={"tfds": name, "version": str(info.version), "split": split, "image_size": image_size},
        )

    return load(train_split), load(test_split)
