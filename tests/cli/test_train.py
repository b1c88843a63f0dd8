"""train.py's `main(argv) -> exit code`, called in process: every expected error is one line."""

import pytest
from absl.testing import flagsaver

import train
from keras_gpos import experiments


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
    import os

    with train.quiet_native_startup():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                    b"I0000 port.cc:153] oneDNN custom operations are on. You may see ...\n"
                    b"something else went wrong\n")
    assert capfd.readouterr().err == "something else went wrong\n"
