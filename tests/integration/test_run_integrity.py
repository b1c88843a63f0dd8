"""Slow: the three silent-result cases end to end with real train.py processes (overwrite, a rerun
with other settings, two runs racing for one folder), and a full disk."""

import subprocess
import sys
import time

import keras
import pytest

from keras_gpos.base.files import read_json
from tests.cli.processes import REPO, _error_line, _train

# The shorthand T: a tiny location run.
T = ["--experiment=location", "--dataset=embedded", "--embedded_train_size=120",
     "--embedded_test_size=18", "--depth=10", "--width=12", "--batch_size=24", "--grid_size=2",
     "--verbose=0"]


def _padding_of(model_path):
    model = keras.saving.load_model(model_path)
    return model.get_layer("stem_conv").padding_mode


@pytest.mark.slow
def test_overwrite_replaces_every_file_of_the_previous_run(tmp_path):
    out = tmp_path / "ow"
    first = _train([*T, f"--output_dir={out}", "--epochs=3"])
    assert first.returncode == 0, first.stderr[-2000:]
    before = read_json(out / "run.json")
    second = _train([*T, f"--output_dir={out}", "--epochs=1", "--padding=reflect",
                     "--learning_rate=1e-6", "--overwrite"])
    assert second.returncode == 0, second.stderr[-2000:]
    summary = read_json(out / "run.json")
    assert summary["config"]["padding"] == "reflect" and summary["config"]["epochs"] == 1
    assert summary["best_epoch"] == 1 and read_json(out / "best.json")["epoch"] == 0
    assert _padding_of(out / "model.keras") == "reflect"  # not the old zero-padding model
    assert _padding_of(out / "best.keras") == "reflect"
    assert before["config"]["padding"] == "zero"
    assert not (out / ".previous").exists() and not (out / "backup").exists()
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 2, history  # one header, the new run's one epoch


@pytest.mark.slow
def test_a_rerun_with_other_settings_is_refused_naming_them(tmp_path):
    out = tmp_path / "run"
    assert _train([*T, f"--output_dir={out}", "--epochs=1"]).returncode == 0
    checksum = (out / "model.keras").read_bytes()
    result = _train([*T, f"--output_dir={out}", "--epochs=1", "--padding=reflect", "--learning_rate=0.01"])
    assert result.returncode != 0
    line = _error_line(result)
    assert "learning_rate: 0.001 -> 0.01" in line and "padding: zero -> reflect" in line
    assert "--overwrite" in line
    assert (out / "model.keras").read_bytes() == checksum and read_json(out / "run.json")["config"]["padding"] == "zero"
    # The same settings again: the finished run is reused, not retrained.
    again = _train([*T, f"--output_dir={out}", "--epochs=1"])
    assert again.returncode == 0 and (out / "model.keras").read_bytes() == checksum


@pytest.mark.slow
def test_two_runs_into_one_folder_cannot_race(tmp_path):
    out = tmp_path / "shared"
    # A flag may be given once: the larger training set replaces T's.
    args = [*(a for a in T if not a.startswith("--embedded_train_size=")), "--embedded_train_size=600",
            f"--output_dir={out}", "--epochs=3"]
    first = subprocess.Popen([sys.executable, "train.py", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not ((out / ".lock").exists() and (out / ".lock").read_text().strip()):
            assert first.poll() is None and time.time() < deadline, "the first run never took its lock"
            time.sleep(0.05)
        second = _train(args)
        assert first.poll() is None, "the first run ended before the second could collide with it"
        line = _error_line(second)
        assert f"in use by process {first.pid}" in line, line
        assert second.returncode != 0
        first.wait(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, first.stderr.read()[-2000:]
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch") and len(rows) == 4 and sum(r.startswith("epoch") for r in rows) == 1


def _mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip() or 'mount failed'}); "
                    "the disk-full test needs root and mount")


@pytest.mark.slow
def test_disk_full_is_one_line_leaves_no_partial_files_and_resumes(tmp_path):
    disk = tmp_path / "small"
    _mount_tmpfs(disk, "1500k")
    try:
        out = disk / "run"
        full = _train([*T, f"--output_dir={out}", "--epochs=2"])
        assert full.returncode == 1, full.stderr[-3000:]
        line = _error_line(full)
        assert "No space left on device" in line and str(disk) in line
        leftovers = [p.name for p in out.rglob("*") if ".tmp" in p.name]
        assert not leftovers, leftovers
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        again = _train([*T, f"--output_dir={out}", "--epochs=2"])
        assert again.returncode == 0, again.stderr[-3000:]
        assert read_json(out / "run.json")["config"]["epochs"] == 2
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        read_only = _train([*T, f"--output_dir={disk / 'other'}", "--epochs=1"])
        assert read_only.returncode != 0 and "Read-only file system" in _error_line(read_only)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
