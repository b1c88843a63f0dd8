"""The run-directory lock across processes: it names its holder and dies with it (kill -9)."""

import os
import subprocess
import sys

import pytest

from keras_gpos.runs.directory import RunDirectory, RunDirectoryError


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path):
    directory = RunDirectory(tmp_path / "r", "location", {"settings": {}})
    with directory:
        with pytest.raises(RunDirectoryError, match=f"in use by process {os.getpid()}"):
            RunDirectory(tmp_path / "r", "location", {"settings": {}}).open()
    # Released with the holder: the next process (here: the next open) gets it.
    with RunDirectory(tmp_path / "r", "location", {"settings": {}}):
        pass
    script = (f"import fcntl, os; f = open({str(tmp_path / 'r' / '.lock')!r}, 'a+'); "
              "fcntl.flock(f, fcntl.LOCK_EX); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", script], timeout=60)
    with RunDirectory(tmp_path / "r", "location", {"settings": {}}):  # no stale lock after kill -9
        pass
