"""Shared pytest setup: TensorFlow backend, two logical CPUs, shared data."""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so MirroredStrategy tests run on a CPU-only
# machine. This must happen before TensorFlow initialises its devices.
_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
except RuntimeError:  # devices already initialised by an earlier import
    pass

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(
    os.environ.get("KERAS_GPOS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
)


def _shared_dir(name, marker_file):
    path = SHARED_DATA / name
    if not (path / marker_file).exists():
        pytest.skip(
            f"real data not available: {path / marker_file} is missing "
            "(set KERAS_GPOS_SHARED_DATA to the folder holding cifar10-subset/ and camvid-small/)"
        )
    return path


@pytest.fixture
def cifar10_dir():
    """The real CIFAR-10 subset in binary format (skips when absent)."""
    return _shared_dir("cifar10-subset", "test_batch.bin")


@pytest.fixture
def camvid_dir():
    """The real CamVid scenes at 180x240 (skips when absent)."""
    return _shared_dir("camvid-small", "train")

# Tests build mirrored strategies through keras_gpos.training.get_strategy:
# collective all-reduce between CPU replicas can order per-variable
# reductions differently on each replica, abort, and poison every later
# collective in the process ("Restart your program to reset").
