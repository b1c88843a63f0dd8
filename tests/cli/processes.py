"""Starts train.py / evaluate.py as real processes: for the tests in tests/cli/ and tests/integration/ only."""

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


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
