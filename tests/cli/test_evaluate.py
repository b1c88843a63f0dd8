"""evaluate.py's `main(argv) -> exit code`, called in process."""

import pytest
from absl.testing import flagsaver

import evaluate
from keras_gpos.base.files import read_json


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
