"""CIFAR-10 binary folders: files are matched by their exact names."""

import pytest

from keras_gpos import data
from tests.conftest import write_cifar_binary


@pytest.mark.adversarial
def test_a_stray_copy_of_a_batch_file_is_not_read(tmp_path):
    write_cifar_binary(tmp_path / "data_batch_1.bin", [1, 2])
    write_cifar_binary(tmp_path / "data_batch_1 (copy).bin", [1, 2, 3])
    write_cifar_binary(tmp_path / "data_batch_2.bin", [5])
    write_cifar_binary(tmp_path / "test_batch.bin", [0])
    write_cifar_binary(tmp_path / "test_batch (copy).bin", [0, 0])
    train, test = data.load_cifar10_binary(tmp_path)
    assert train.labels.tolist() == [1, 2, 5] and len(test) == 1  # batches 1, 2 in number order


@pytest.mark.adversarial
def test_a_directory_with_a_batch_name_is_named_as_a_directory(tmp_path):
    write_cifar_binary(tmp_path / "data_batch_1.bin", [1])
    write_cifar_binary(tmp_path / "test_batch.bin", [0])
    (tmp_path / "data_batch_9.bin").mkdir()
    with pytest.raises(ValueError, match=r"data_batch_9\.bin is a directory, not a CIFAR-10 binary file"):
        data.load_cifar10_binary(tmp_path)
