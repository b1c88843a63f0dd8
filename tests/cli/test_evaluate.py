"""evaluate.py's `main(argv) -> exit code`, called in process."""

import json
import subprocess
import sys

import pytest
from absl.testing import flagsaver

import evaluate
from keras_gpos.base.files import read_json
from keras_gpos.base.schema import SCHEMA_VERSION
from tests.run_utils import REPO


def _lines(capsys):
    return capsys.readouterr().err.strip().splitlines()


@flagsaver.flagsaver
def test_positional_arguments_and_unknown_flags_are_one_line(capsys):
    assert evaluate.main(["evaluate.py", "--runs=x", "extra"]) == 2
    assert _lines(capsys) == ["evaluate.py: error: unexpected argument 'extra' (the command line): evaluate.py takes "
                              "only flags (--name=value or -name=value); nothing else would be read."]
    assert evaluate.main(["evaluate.py", "-run=x"]) == 2
    assert _lines(capsys)[0].startswith("evaluate.py: error: evaluate.py does not take --run;")


@pytest.mark.adversarial
@flagsaver.flagsaver
def test_overlapping_patterns_count_a_run_once(tiny_run_once, tmp_path, capsys):
    pattern = f"{tiny_run_once.run.parent}/r*"
    assert evaluate.main(["evaluate.py", f"--runs={pattern},{tiny_run_once.run}",
                          f"--output_dir={tmp_path / 'report'}"]) == 0
    assert len(read_json(tmp_path / "report" / "results.json")["runs"]) == 1
    assert "| 1 |" in capsys.readouterr().out  # one seed in the table


@flagsaver.flagsaver
def test_a_report_into_one_of_the_runs_is_refused_in_one_line(tiny_run_once, capsys):
    assert evaluate.main(["evaluate.py", f"--runs={tiny_run_once.run}", f"--output_dir={tiny_run_once.run}"]) == 2
    line, = _lines(capsys)
    assert line == (f"evaluate.py: error: --output_dir {tiny_run_once.run} is one of the --runs; the report would "
                    "overwrite that run's files: pick a folder of its own.")


def test_evaluate_cli_writes_json_markdown_and_png(tiny_run, tmp_path):
    config, summary = tiny_run
    result = subprocess.run(
        [sys.executable, "evaluate.py", f"--runs={config.output_dir}",
         f"--output_dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads((tmp_path / "results.json").read_text())
    row = payload["runs"][0]
    assert row["variant"] == "fc" and row["task"] == "location"
    # The model is deterministic (no permutation), so re-scoring reproduces training's test score.
    assert row["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-5)
    assert payload["schema_version"] == SCHEMA_VERSION and payload["experiment"] == "location"
    table = (tmp_path / "results.md").read_text()
    assert "| resnet10-w4 | fc | zero | 2x2 |" in table and "location chance (%)" in table
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert "| resnet10-w4 | fc | zero | 2x2 |" in result.stdout


def test_evaluate_cli_rejects_unknown_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "evaluate.py", f"--runs={tmp_path}/nothing*"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "matches nothing" in result.stderr
    result = subprocess.run(
        [sys.executable, "evaluate.py", f"--runs={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "no finished run" in result.stderr


def test_evaluate_cli_rejects_mixed_run_kinds(tiny_run, tmp_path):
    config, _ = tiny_run
    other = tmp_path / "aug"
    other.mkdir()
    (other / "run.json").write_text('{"consistency": 90.0}')
    result = subprocess.run(
        [sys.executable, "evaluate.py", f"--runs={config.output_dir},{other}",
         f"--output_dir={tmp_path / 'out'}"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "mixes runs of different experiments" in result.stderr
