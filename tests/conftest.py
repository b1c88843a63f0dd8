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


def pytest_collection_modifyitems(config, items):
    """KERAS_GPOS_TEST_SHUFFLE=SEED runs the tests in a shuffled order fixed by SEED, to find tests that
    depend on the order; unset (CI), the order stays pytest's."""
    seed = os.environ.get("KERAS_GPOS_TEST_SHUFFLE")
    if seed:
        import random

        if not seed.isdigit():
            raise pytest.UsageError(f"KERAS_GPOS_TEST_SHUFFLE must be a whole number (the seed), got {seed!r}")
        random.Random(int(seed)).shuffle(items)


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


# --- a tiny finished run, trained once per test session ----------------------

def write_cifar_binary(path, labels, seed=0):
    """Writes CIFAR-10 binary records (label byte, then the R, G and B planes) of random images."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, np.uint8)
    pixels = rng.integers(0, 256, size=(len(labels), 3 * 32 * 32), dtype=np.uint8)
    path.write_bytes(np.concatenate([labels[:, None], pixels], axis=1).tobytes())


class TinyRun:
    """A finished location run and the CIFAR-10 binary folder it was trained on.

    Attributes:
        run: its run directory. cifar: its data folder. config: its `LocationConfig`.
    Tests copy both (`copy()`) before changing anything.
    """

    def __init__(self, run, cifar, config):
        self.run, self.cifar, self.config = run, cifar, config

    def copy(self, target):
        import shutil

        target = pathlib.Path(target)
        shutil.copytree(self.run, target / "run", symlinks=True)
        shutil.copytree(self.cifar, target / "cifar")
        config = self.config.replace(output_dir=str(target / "run"), data_dir=str(target / "cifar"))
        return TinyRun(target / "run", target / "cifar", config)


@pytest.fixture(scope="session")
def tiny_run_once(tmp_path_factory):
    """One finished location run (ResNet-10, width 4, 1 epoch, 60 + 12 CIFAR-format images), trained
    once per test session; `.copy(tmp_path)` gives a test its own run and data to change."""
    from keras_gpos.experiments.location import LocationConfig, train_location

    root = tmp_path_factory.mktemp("tiny_run_once")
    cifar = root / "cifar"
    cifar.mkdir()
    write_cifar_binary(cifar / "data_batch_1.bin", [i % 10 for i in range(60)], seed=1)
    write_cifar_binary(cifar / "test_batch.bin", [i % 10 for i in range(12)], seed=2)
    config = LocationConfig(output_dir=str(root / "run"), dataset="cifar10_binary", data_dir=str(cifar),
                            grid_size=2, depth=10, width=4, epochs=1, batch_size=16, verbose=0, head="fc")
    train_location(config)
    return TinyRun(root / "run", cifar, config)


# --- global state: every test starts from the defaults and leaves them so -----

def _op_determinism():
    from tensorflow.python.framework import config as tf_config  # the public API cannot switch it off

    return tf_config.is_op_determinism_enabled(), tf_config.disable_op_determinism


@pytest.fixture(autouse=True)
def _reset_global_state():
    """Puts back the Keras dtype policy and distribution, and clears the library's warn-once memory.

    TensorFlow op determinism cannot be undone through the public API: a test that switches it on
    fails here (it is switched off again so later tests are not affected); such tests start their
    own process (tests/cli/test_train.py runs `train.py --deterministic`).
    """
    import keras

    from keras_gpos.base import inputs

    policy = keras.config.dtype_policy()
    distribution = keras.distribution.distribution()
    determinism_before, disable_determinism = _op_determinism()
    inputs._WARNED.clear()
    yield
    keras.config.set_dtype_policy(policy)
    keras.distribution.set_distribution(distribution)
    inputs._WARNED.clear()
    if _op_determinism()[0] and not determinism_before:
        disable_determinism()
        pytest.fail("this test switched on TensorFlow op determinism, which a process cannot undo: "
                    "run it in its own process (see tests/cli/test_train.py)")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished location run on the embedded shapes (ResNet-10 w4, fc head, no permutation) and its
    summary, as (config, run.json), trained once per session; tests/experiments/test_location.py and
    tests/cli/ read it and never change it (it was module-scoped in the old tests/test_experiments.py)."""
    from keras_gpos.experiments.location import train_location

    from tests.run_utils import _tiny_config

    config = _tiny_config(tmp_path_factory.mktemp("tiny"), head="fc", permute_at="")
    return config, train_location(config)
