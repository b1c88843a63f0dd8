"""evaluate.py's `main(argv) -> exit code`, called in process."""

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
from absl.testing import flagsaver

import evaluate
from keras_gpos.base.files import read_json
from keras_gpos.base.schema import SCHEMA_VERSION
from keras_gpos.experiments.location import train_location
from tests.cli.processes import REPO, _evaluate
from tests.run_utils import _tiny


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


@flagsaver.flagsaver
def test_evaluate_cli_rejects_unknown_runs(tmp_path, capsys):
    assert evaluate.main(["evaluate.py", f"--runs={tmp_path}/nothing*"]) == 2
    line, = _lines(capsys)
    assert "matches nothing" in line
    assert evaluate.main(["evaluate.py", f"--runs={tmp_path}"]) == 2
    line, = _lines(capsys)
    assert "no finished run" in line


@flagsaver.flagsaver
def test_evaluate_cli_rejects_mixed_run_kinds(tiny_run, tmp_path, capsys):
    config, _ = tiny_run
    other = tmp_path / "aug"
    other.mkdir()
    (other / "run.json").write_text('{"consistency": 90.0}')
    assert evaluate.main(["evaluate.py", f"--runs={config.output_dir},{other}",
                          f"--output_dir={tmp_path / 'out'}"]) == 2
    line, = _lines(capsys)
    assert "mixes runs of different experiments" in line


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    config = _tiny(tmp_path_factory.mktemp("eval"))
    train_location(config)
    return pathlib.Path(config.output_dir)


def _copy_run(run, tmp_path, name):
    copy = tmp_path / name
    shutil.copytree(run, copy)
    return copy


def test_evaluate_rejects_broken_runs_in_one_line(finished_run, tmp_path):
    no_config = _copy_run(finished_run, tmp_path, "noconfig")
    summary = read_json(no_config / "run.json")
    del summary["config"]
    (no_config / "run.json").write_text(json.dumps(summary))
    extra = _copy_run(finished_run, tmp_path, "extra")
    summary = read_json(extra / "run.json")
    summary["config"]["colour"] = "blue"
    (extra / "run.json").write_text(json.dumps(summary))
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        ([f"--runs={no_config}"], "records no config"),
        ([f"--runs={extra}"], "unknown config keys ['colour']"),
        ([f"--runs={finished_run},{afile}"], f"--runs entry {afile} is a file, not a run directory"),
        ([f"--runs={finished_run}", f"--output_dir={afile}"], "exists and is a file"),
    ]
    for args, message in cases:
        result = _evaluate(args)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr, result.stderr[-2000:]
        assert message in result.stderr, (args, result.stderr[-2000:])


def test_evaluate_names_an_unregistered_custom_layer(finished_run, tmp_path):
    custom = _copy_run(finished_run, tmp_path, "custom")
    import zipfile

    with zipfile.ZipFile(custom / "model.keras") as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(contents["config.json"])
    config["config"]["layers"][1]["class_name"] = "NotRegisteredAnywhere"
    config["config"]["layers"][1]["module"] = "my_private_layers"
    config["config"]["layers"][1]["registered_name"] = "my_private>NotRegisteredAnywhere"
    contents["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(custom / "model.keras", "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    result = _evaluate([f"--runs={custom}", f"--output_dir={tmp_path / 'o'}"])
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot load the model file" in result.stderr and "NotRegisteredAnywhere" in result.stderr
