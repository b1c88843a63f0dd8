"""Shared by the tests that start train.py / evaluate.py or train a tiny location run."""

import os
import pathlib
import subprocess
import sys

from keras_gpos.experiments.location import LocationConfig

REPO = pathlib.Path(__file__).resolve().parents[1]


def _train(args, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **kwargs.pop("env", {})}
    return subprocess.run([sys.executable, "train.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=kwargs.pop("timeout", 300), env=env, **kwargs)


def _error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.startswith("train.py: error:")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def _evaluate(args):
    return subprocess.run([sys.executable, "evaluate.py", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def _tiny(tmp_path, **overrides):
    values = dict(output_dir=str(tmp_path / "run"), dataset="embedded", embedded_train_size=64,
                  embedded_test_size=8, grid_size=2, depth=10, width=4, epochs=1, batch_size=16, verbose=0)
    values.update(overrides)
    return LocationConfig(**values)


def _tiny_config(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path / "run"), dataset="embedded", embedded_train_size=120,
        embedded_test_size=12, grid_size=2, depth=10, width=4, epochs=1, batch_size=16,
        verbose=0,
    )
    values.update(overrides)
    return LocationConfig(**values)
