"""CIFAR-10 binary folders: only the official training batches 1..5 are read (second hostile pass)."""

import pytest

from keras_gpos import data
from tests.conftest import write_cifar_binary


@pytest.mark.adversarial
@pytest.mark.parametrize("stray", ["data_batch_9.bin", "data_batch_0.bin", "data_batch_01.bin"])
def test_a_batch_number_outside_1_to_5_is_refused_naming_the_file(tmp_path, stray):
    write_cifar_binary(tmp_path / "data_batch_1.bin", [1, 2])
    write_cifar_binary(tmp_path / stray, [1, 2])  # a copy of batch 1 was added to training
    write_cifar_binary(tmp_path / "test_batch.bin", [0])
    with pytest.raises(ValueError, match=f"{stray} is not a CIFAR-10 training batch: .* data_batch_1.bin .. "
                                         "data_batch_5.bin"):
        data.load_cifar10_binary(tmp_path)


def test_batches_1_to_5_are_read_in_number_order(tmp_path):
    for number in (5, 3, 1, 2, 4):
        write_cifar_binary(tmp_path / f"data_batch_{number}.bin", [number])
    write_cifar_binary(tmp_path / "test_batch.bin", [0])
    train, _ = data.load_cifar10_binary(tmp_path)
    assert train.labels.tolist() == [1, 2, 3, 4, 5]
