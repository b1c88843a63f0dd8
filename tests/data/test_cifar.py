"""CIFAR-10 binary folders: files are matched by their exact names."""

import numpy as np
import pytest

from keras_gpos import data
from keras_gpos.data.cifar import RECORD_BYTES
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


def _write_cifar(path, labels, rng):
    pixels = rng.integers(0, 256, size=(len(labels), 3, 32, 32), dtype=np.uint8)
    records = np.concatenate(
        [np.asarray(labels, np.uint8)[:, None], pixels.reshape(len(labels), -1)], axis=1
    )
    path.write_bytes(records.tobytes())
    return pixels.transpose(0, 2, 3, 1)  # HWC, as the reader must return


def test_cifar_reader_decodes_planes_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    want_train = _write_cifar(tmp_path / "data_batch_1.bin", [3, 0, 9], rng)
    want_train2 = _write_cifar(tmp_path / "data_batch_2.bin", [1, 2], rng)
    want_test = _write_cifar(tmp_path / "test_batch.bin", [7], rng)
    train, test = data.load_cifar10_binary(tmp_path)
    np.testing.assert_array_equal(train.images, np.concatenate([want_train, want_train2]))
    np.testing.assert_array_equal(train.labels, [3, 0, 9, 1, 2])
    np.testing.assert_array_equal(test.images, want_test)
    assert test.class_names[7] == "horse"


def test_cifar_reader_names_truncated_file_and_record_size(tmp_path):
    rng = np.random.default_rng(0)
    _write_cifar(tmp_path / "data_batch_1.bin", [1, 2], rng)
    _write_cifar(tmp_path / "test_batch.bin", [1], rng)
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=rf"data_batch_1\.bin has {2 * RECORD_BYTES - 100} bytes.*3073-byte"):
        data.load_cifar10_binary(tmp_path)


def test_cifar_reader_rejects_wrong_labels_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        data.load_cifar10_binary(tmp_path / "nope")
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(ValueError, match="no CIFAR-10 binary files.*readme.txt"):
        data.load_cifar10_binary(tmp_path)
    rng = np.random.default_rng(0)
    _write_cifar(tmp_path / "data_batch_1.bin", [1, 200], rng)
    _write_cifar(tmp_path / "test_batch.bin", [1], rng)
    with pytest.raises(ValueError, match="data_batch_1.bin holds label byte 200"):
        data.load_cifar10_binary(tmp_path)


def test_real_cifar_subset(cifar10_dir):
    train, test = data.load_cifar10_binary(cifar10_dir)
    assert (len(train), len(test)) == (3728, 846)
    assert train.class_names[0] == "airplane" and train.num_classes == 10
    assert set(np.unique(test.labels)) == set(range(10))


# CIFAR-10 binary folders: only the official training batches 1..5 are read (second hostile pass).


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
