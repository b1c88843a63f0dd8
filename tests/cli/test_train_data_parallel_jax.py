"""`--strategy` on JAX: `train.py` data parallel over two host devices matches one device (issue 28 item 5).

A subprocess with `tensorflow` blocked, `KERAS_BACKEND=jax` and the CPU split
into two JAX devices (`XLA_FLAGS=--xla_force_host_platform_device_count=2`)
trains the same tiny location run with `--strategy=one_device` and with
`--strategy=mirrored` (Keras' `DataParallel` over both devices). The epoch
losses and the saved weights agree within 1e-4: the split batch computes the
same global-batch step. `multi_worker_mirrored` is refused in one line.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests.no_tensorflow import BLOCK_TENSORFLOW

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

SCRIPT = BLOCK_TENSORFLOW + r"""
import contextlib, csv, io, json, pathlib, sys
sys.path.insert(0, REPO)
import train
import jax, keras, numpy as np
from keras_gpos.training.distribution import jax_distribution

out = pathlib.Path(OUT)
record = {"devices": len(jax.devices()), "replicas": {name: jax_distribution(name).num_replicas_in_sync
                                                      for name in ("auto", "one_device", "mirrored")}}
argv = ["train.py", "--experiment=location", "--grid_size=2", "--epochs=2", "--embedded_train_size=40",
        "--embedded_test_size=8", "--depth=10", "--width=4", "--batch_size=16", "--verbose=0", "--deterministic"]
for strategy in ("one_device", "mirrored"):
    assert train.main([*argv, f"--strategy={strategy}", f"--output_dir={out / strategy}"]) == 0, strategy
    with open(out / strategy / "history.csv") as handle:
        record[strategy] = [float(row["loss"]) for row in csv.DictReader(handle)]
    model = keras.saving.load_model(out / strategy / "model.keras", compile=False)
    record[strategy + "_weights"] = [np.asarray(w).ravel().tolist() for w in model.get_weights()]
stderr = io.StringIO()
with contextlib.redirect_stderr(stderr):
    record["multi_worker_code"] = train.main([*argv, "--strategy=multi_worker_mirrored",
                                              f"--output_dir={out / 'multi'}"])
record["multi_worker_error"] = stderr.getvalue().strip().splitlines()
record["multi_worker_dir"] = (out / "multi").exists()
print("RECORD " + json.dumps(record))
"""


def test_train_py_data_parallel_on_two_jax_devices_matches_one_device(tmp_path):
    script = SCRIPT.replace("REPO", repr(str(REPO))).replace("OUT", repr(str(tmp_path)))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO),
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=900)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RECORD ")]
    assert result.returncode == 0 and lines, result.stderr[-4000:]
    record = json.loads(lines[-1][len("RECORD "):])
    assert record["devices"] == 2
    # auto: several accelerators only (two CPU devices are not); mirrored: every local device.
    assert record["replicas"] == {"auto": 1, "one_device": 1, "mirrored": 2}
    assert len(record["mirrored"]) == 2
    assert max(abs(a - b) for a, b in zip(record["mirrored"], record["one_device"], strict=True)) <= 1e-4
    for two, one in zip(record["mirrored_weights"], record["one_device_weights"], strict=True):
        assert max(abs(a - b) for a, b in zip(two, one, strict=True)) <= 1e-4
    (line,) = record["multi_worker_error"]
    assert record["multi_worker_code"] == 2 and "multi_worker_mirrored" in line and "--strategy=mirrored" in line
    assert not record["multi_worker_dir"]
