"""What only a real process shows: the exit code and the one line on stderr, and Ctrl-C.

One test per behaviour; everything else about the CLIs is tested in process (test_train.py,
test_evaluate.py). The interruption is deterministic: KERAS_GPOS_INTERRUPT_AFTER_EPOCH=1 makes the
run send itself SIGINT once epoch 1 is backed up.
"""

import os
import pathlib
import signal
import subprocess
import sys

import pytest
from absl.testing import flagsaver

from keras_gpos.base.files import read_json

REPO = pathlib.Path(__file__).resolve().parents[2]


def _sigint_as_at_a_terminal():
    # A shell starts a background job (`pytest ... &`) with SIGINT ignored, and a child inherits that:
    # the Ctrl-C test's train.py then ignored its own SIGINT and finished (exit 0, found in the shuffled run).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(args, env=None, script="train.py"):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, *([script] if script else []), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env, preexec_fn=_sigint_as_at_a_terminal)


def _only_line(result, program="train.py"):
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert [line for line in lines if line.startswith(f"{program}:")] == [lines[-1]], result.stderr[-3000:]
    return lines[-1]


def test_a_flag_error_exits_2_with_one_line():
    result = _run(["-experiment=location", "--", "--epochs=3"])
    assert result.returncode == 2
    assert _only_line(result).startswith("train.py: error: '--' (the command line) ends the flags")
    # Nothing else: TensorFlow's start-up banner (printed twice by its native libraries) and the
    # failed-cuInit line of a machine without a GPU are filtered out (train.quiet_native_startup).
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.adversarial
def test_ctrl_c_is_one_line_exit_130_and_the_rerun_resumes(tmp_path, caplog):
    args = ["--experiment=location", "--dataset=embedded", "--embedded_train_size=40", "--embedded_test_size=4",
            "--grid_size=2", "--depth=10", "--width=4", "--head=fc", "--batch_size=16", "--epochs=2", "--verbose=0",
            f"--output_dir={tmp_path / 'run'}"]
    result = _run(args, env={"KERAS_GPOS_INTERRUPT_AFTER_EPOCH": "1"})
    assert result.returncode == 130, result.stderr[-3000:]
    assert _only_line(result).startswith("train.py: interrupted; the run keeps its last finished epoch: rerun the "
                                         "same command to resume")
    run = tmp_path / "run"
    assert read_json(run / "backup" / "training_metadata.json")["epoch"] == 1 and not (run / "run.json").exists()
    import train

    with flagsaver.flagsaver():
        assert train.main(["train.py", *args]) == 0  # the same command, in this process
    assert "resuming from the backup of epoch 1" in caplog.text
    assert read_json(run / "run.json")["config"]["epochs"] == 2 and not (run / "backup").exists()
    assert len((run / "history.csv").read_text().splitlines()) == 3  # header and two epochs, none twice


def test_without_tensorflow_the_error_is_one_line():
    code = ("import sys, runpy; sys.modules['tensorflow'] = None; sys.argv = ['train.py', '--experiment=location']; "
            "runpy.run_path('train.py', run_name='__main__')")
    result = _run(["-c", code], script=None)
    assert result.returncode == 1
    assert _only_line(result).startswith("train.py: error: ")
    assert "experiments need Keras 3 and TensorFlow" in result.stderr


def test_evaluate_exits_2_with_one_line():
    result = _run(["--runs=/nonexistent/runs*"], script="evaluate.py")
    assert result.returncode == 2
    assert _only_line(result, "evaluate.py") == ("evaluate.py: error: --runs pattern '/nonexistent/runs*' matches "
                                                 "nothing.")
