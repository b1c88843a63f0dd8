"""CIFAR-10 from a local folder in the official binary format.

Each record is 1 label byte then 3072 pixel bytes: the 1024 red, 1024 green
and 1024 blue values of a 32x32 image, row-major. Files are read with
NumPy (`np.fromfile`, on every backend, without TensorFlow); nothing is
unpickled.
"""

import pathlib
import re

import numpy as np

from keras_gpos.data.image_set import ImageSet

RECORD_BYTES = 1 + 3 * 32 * 32
# The official names, matched exactly: `data_batch_1 (copy).bin` is not read.
TRAIN_FILE = re.compile(r"data_batch_([0-9]+)\.bin")
TRAIN_BATCHES = range(1, 6)  # the official set has data_batch_1.bin .. data_batch_5.bin
TEST_FILE = "test_batch.bin"
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


def _check_record_file(path):
    if not path.is_file():
        raise ValueError(f"{path} is {'a directory' if path.is_dir() else 'not a regular file'}, "
                         "not a CIFAR-10 binary file.")
    size = path.stat().st_size
    if size == 0 or size % RECORD_BYTES:
        raise ValueError(
            f"{path} has {size} bytes, which is not a whole number of "
            f"{RECORD_BYTES}-byte CIFAR-10 records (1 label byte + 3072 pixel "
            "bytes); the file is truncated or not CIFAR-10 binary."
        )
    return size // RECORD_BYTES


def read_cifar10_records(paths):
    """Reads CIFAR-10 binary files into an `ImageSet` (in file order)."""
    paths = [pathlib.Path(p) for p in paths]
    if not paths:
        raise ValueError("No CIFAR-10 binary files were given.")
    counts = [_check_record_file(p) for p in paths]

    records = np.concatenate([np.fromfile(p, np.uint8).reshape(-1, RECORD_BYTES) for p in paths])
    labels = records[:, 0].astype(np.int64)
    # Planes (3, 32, 32) per record -> (32, 32, 3) images, copied into one contiguous array.
    images = np.ascontiguousarray(records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    if labels.max() >= len(CIFAR10_CLASSES):
        bad = int(np.argmax(labels >= len(CIFAR10_CLASSES)))
        file_index = int(np.searchsorted(np.cumsum(counts), bad, side="right"))
        raise ValueError(
            f"{paths[file_index]} holds label byte {labels[bad]}, outside "
            "CIFAR-10's 0..9: not a CIFAR-10 binary file."
        )
    return images, labels


def _class_names(data_dir):
    meta = data_dir / "batches.meta.txt"
    if meta.exists():
        names = tuple(line.strip() for line in meta.read_text().splitlines() if line.strip())
        if len(names) == len(CIFAR10_CLASSES):
            return names
    return CIFAR10_CLASSES


def load_cifar10_binary(data_dir):
    """Loads the train and test parts of a CIFAR-10 binary folder.

    Args:
        data_dir: path of a folder with `data_batch_*.bin` and
            `test_batch.bin` (as unpacked from `cifar-10-binary.tar.gz`).
            A `data_batch_<n>.bin` other than 1..5 is refused (a stray copy
            would add its images to training); other names are not read.

    Returns:
        `(train, test)` ImageSets.
    """
    data_dir = pathlib.Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise ValueError(f"CIFAR-10 data dir {data_dir} does not exist or is not a folder.")
    numbered = [(int(match.group(1)), path) for path in data_dir.iterdir()
                if (match := TRAIN_FILE.fullmatch(path.name))]
    for _, path in numbered:
        if path.is_file() and path.name not in {f"data_batch_{n}.bin" for n in TRAIN_BATCHES}:
            raise ValueError(f"{path} is not a CIFAR-10 training batch: the official files are data_batch_1.bin .. "
                             f"data_batch_5.bin, so it would add images twice or from elsewhere; move it out of "
                             f"{data_dir}.")
    train_files = [path for _, path in sorted(numbered)]
    test_file = data_dir / TEST_FILE
    if not train_files or not test_file.exists():
        raise ValueError(
            f"{data_dir} has no CIFAR-10 binary files: expected data_batch_<n>.bin "
            f"and test_batch.bin, found {sorted(p.name for p in data_dir.iterdir())[:10]}."
        )
    from absl import logging

    logging.info("CIFAR-10 binary: train from %s, test from %s (in %s)",
                 ", ".join(p.name for p in train_files), test_file.name, data_dir)
    names = _class_names(data_dir)
    train = ImageSet(*read_cifar10_records(train_files), names, f"cifar10-binary:{data_dir}/train")
    test = ImageSet(*read_cifar10_records([test_file]), names, f"cifar10-binary:{data_dir}/test")
    return train, test
