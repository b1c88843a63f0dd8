"""A `tfds:` set is identified by its name, version and split, not by hashing what TFDS decoded."""

from keras_gpos import data


def test_a_tfds_set_is_identified_by_name_version_and_split():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        train, test = data.load_image_dataset("tfds:cifar10", tfds_download=False)
    version = str(tfds.builder("cifar10").info.version)
    assert test.identity() == {"tfds": "cifar10", "version": version, "split": "test", "image_size": None,
                               "images": 12}
    assert train.head(5).identity()["rows"] == "[:5]" and "sha256" not in train.identity()


def test_tfds_source_offline_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        train, test = data.load_image_dataset("tfds:cifar10", tfds_download=False)
    assert train.images.shape == (12, 32, 32, 3) and train.num_classes == 10
    assert len(test) == 12
