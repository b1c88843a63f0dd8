"""train.py's `main(argv) -> exit code`, called in process: every expected error is one line."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from absl.testing import flagsaver

import train
from keras_gpos import experiments
from keras_gpos.experiments import EXPERIMENTS
from tests.cli.processes import REPO, _error_line, _train


def _lines(capsys):
    return capsys.readouterr().err.strip().splitlines()


@pytest.mark.adversarial
@flagsaver.flagsaver
def test_no_flags_prints_the_usage_and_exits_2(capsys, monkeypatch):
    monkeypatch.setattr(experiments, "run_experiment", lambda *a: pytest.fail("a run started"))
    assert train.main(["train.py"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python train.py --experiment=NAME") and "channel_position" in err


@flagsaver.flagsaver
def test_a_command_line_error_is_one_line_and_exit_2(capsys):
    assert train.main(["train.py", "--experiment=location", "runs/x"]) == 2
    assert _lines(capsys) == ["train.py: error: unexpected argument 'runs/x' (the command line): train.py takes only "
                              "flags (--name=value or -name=value); nothing else would be read."]


@flagsaver.flagsaver
def test_a_run_error_is_one_line_and_exit_1(capsys, tmp_path):
    code = train.main(["train.py", "--experiment=location", "--dataset=cifar10_binary",
                       f"--data_dir={tmp_path / 'none'}", f"--output_dir={tmp_path / 'out'}"])
    assert code == 1 and _lines(capsys) == [f"train.py: error: CIFAR-10 data dir {tmp_path / 'none'} does not exist "
                                            "or is not a folder."]
    assert not (tmp_path / "out").exists()


@pytest.mark.adversarial
@flagsaver.flagsaver
@pytest.mark.parametrize("error, code, line", [
    (ImportError("No module named 'tensorflow_datasets'", name="tensorflow_datasets"), 1,
     "train.py: error: No module named 'tensorflow_datasets' (install tensorflow_datasets: it is an optional "
     "dependency, see the README)"),
    (KeyboardInterrupt(), 130, "train.py: interrupted; the run keeps its last finished epoch: rerun the same "
                               "command to resume (--debug shows where it stopped)."),
])
def test_an_import_error_and_ctrl_c_are_one_line(capsys, monkeypatch, error, code, line):
    def run(name, config):
        raise error

    monkeypatch.setattr(experiments, "run_experiment", run)
    assert train.main(["train.py", "-experiment=location"]) == code
    assert _lines(capsys) == [line]


@flagsaver.flagsaver
def test_debug_shows_the_traceback_and_help_exits_0(capsys, monkeypatch):
    def run(name, config):
        raise ValueError("bad data")

    monkeypatch.setattr(experiments, "run_experiment", run)
    with pytest.raises(ValueError, match="bad data"):
        train.main(["train.py", "--experiment=location", "--debug"])
    assert train.main(["train.py", "--experiment=augshift", "--help"]) == 0
    assert "--consistency_weights:" in capsys.readouterr().out


def test_quiet_native_startup_drops_only_the_known_banner(capfd):

    with train.quiet_native_startup():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                    b"I0000 port.cc:153] oneDNN custom operations are on. You may see ...\n"
                    b"something else went wrong\n")
    assert capfd.readouterr().err == "something else went wrong\n"


def test_deterministic_flag_makes_two_runs_bit_identical(tmp_path):
    args = ["--experiment=location", "--dataset=embedded", "--embedded_train_size=96",
            "--embedded_test_size=8", "--grid_size=2", "--depth=10", "--width=4",
            "--epochs=2", "--batch_size=16", "--head=fc", "--permute_at=pooled",
            "--deterministic", "--verbose=0"]
    weights = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = subprocess.run([sys.executable, "train.py", *args, f"--output_dir={out}"],
                                cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        model = keras.saving.load_model(out / "model.keras")
        weights.append([w.numpy() for w in model.weights])
        assert (out / "history.csv").exists()
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    histories = [(tmp_path / n / "history.csv").read_text() for n in ("a", "b")]
    assert histories[0] == histories[1]


@flagsaver.flagsaver
def test_train_cli_reports_flag_errors_without_a_traceback(capsys):
    assert train.main(["train.py", "--experiment=location", "--background=purple"]) == 2
    lines = _lines(capsys)
    assert len(lines) == 1 and "Unknown background 'purple'" in lines[0]


@flagsaver.flagsaver
def test_train_help_on_the_command_line_and_through_a_flagfile(capsys, monkeypatch):
    monkeypatch.chdir(REPO)  # flagfiles include each other by paths relative to the repository
    assert train.main(["train.py", "--flagfile=flags/augshift_cifar.cfg", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--consistency_weights:" in out and "--paddings:" not in out
    assert train.main(["train.py", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXPERIMENTS)


@pytest.mark.parametrize("args, message", [
    (["--experiment=location", "--seed=-1"], "seed must be an int in [0, 2147483647]; got -1"),
    (["--experiment=location", "--depth=11"], "depth 11 is not a resnet depth"),
    (["--experiment=location", "--learning_rate=inf"], "learning_rate must be a finite number"),
    (["--experiment=location", "--dataset=tfds:nonexistent_ds"], "tfds:nonexistent_ds is not a TFDS dataset"),
    (["--experiment=location", "--dataset=cifar10_binary", "--data_dir=/nonexistent/cifar"],
     "CIFAR-10 data dir /nonexistent/cifar does not exist"),
    (["--experiment=position_attack", "--dataset=folder", "--data_dir=/nonexistent/camvid"],
     "segmentation data folder /nonexistent/camvid does not exist"),
    (["--experiment=position_attack", "--model_path=/nonexistent/model.keras"],
     "model file /nonexistent/model.keras does not exist"),
])
@flagsaver.flagsaver
def test_bad_flags_and_sources_are_one_line_errors_before_any_file_is_written(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert train.main(["train.py", *args, f"--output_dir={out}"]) != 0
    lines = _lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("train.py: error:") and message in lines[0], lines
    assert not out.exists(), "nothing may be written before the inputs are validated"


@flagsaver.flagsaver
def test_debug_shows_the_traceback(tmp_path, capsys):
    args = ["train.py", "--experiment=location", "--dataset=cifar10_binary", "--data_dir=/nonexistent/cifar",
            f"--output_dir={tmp_path / 'o'}"]
    assert train.main(args) == 1
    assert "Traceback" not in capsys.readouterr().err
    with pytest.raises(ValueError, match="does not exist"):
        train.main([*args, "--debug"])


@pytest.mark.adversarial
def test_train_py_on_another_backend_refuses_in_one_line(tmp_path):
    result = _train(["--experiment=location", f"--output_dir={tmp_path / 'x'}"], timeout=120,
                    env={"KERAS_BACKEND": "numpy"})
    assert result.returncode == 2 and "KERAS_BACKEND=numpy" in _error_line(result)
    assert not (tmp_path / "x").exists()
