"""The feed gives the same batches on JAX, in a process with TensorFlow blocked, as here on TensorFlow:
digests of the first batches of every stream (tests/data/test_feed.py: streams_digest)."""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

from tests.data.test_feed import streams_digest
from tests.no_tensorflow import BLOCK_TENSORFLOW

REPO = pathlib.Path(__file__).resolve().parents[2]
on_tensorflow = pytest.mark.skipif(keras.config.backend() != "tensorflow", reason="compares TensorFlow with JAX")

DIGEST_ON_JAX = BLOCK_TENSORFLOW + r"""
import keras
from tests.data.test_feed import streams_digest
assert keras.config.backend() == "jax"
print("DIGEST", streams_digest())
"""


@on_tensorflow
def test_every_stream_gives_the_same_batches_on_jax_without_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", DIGEST_ON_JAX], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    jax_digest = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("DIGEST"))
    assert streams_digest() == jax_digest
