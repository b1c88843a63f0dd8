"""evaluate_runs (keras_gpos.experiments): which runs it reads, what it may average, where it may write."""

import json
import shutil

import pytest

from keras_gpos.base.files import read_json
from keras_gpos.experiments import evaluate_runs, expand_run_patterns
from keras_gpos.runs.directory import RunDirectory, RunDirectoryError


def _edit(run, **changes):
    """Changes a run's recorded settings in both run.json's config and its fingerprint."""
    summary = read_json(run / "run.json")
    summary["config"].update(changes)
    (run / "run.json").write_text(json.dumps(summary))
    fingerprint = read_json(run / "fingerprint.json")
    fingerprint["settings"].update({k: v for k, v in changes.items() if k in fingerprint["settings"]})
    (run / "fingerprint.json").write_text(json.dumps(fingerprint))


@pytest.mark.adversarial
def test_runs_that_differ_beyond_seed_and_task_are_not_averaged(tiny_run_once, tmp_path):
    slow = tiny_run_once.copy(tmp_path / "slow").run
    _edit(slow, seed=1, learning_rate=1e-5)
    with pytest.raises(ValueError, match=r"share the row \(model, variant, padding, grid\) \(resnet10-w4, fc, "
                                         r"zero, 2\) but differ in settings\.learning_rate: 0\.001 -> 1e-05"):
        evaluate_runs([tiny_run_once.run, slow], tmp_path / "report")
    assert not (tmp_path / "report").exists()
    seed = tiny_run_once.copy(tmp_path / "seed").run
    _edit(seed, seed=1)  # a second seed of the same setting: averaged
    report = evaluate_runs([tiny_run_once.run, seed], tmp_path / "report")
    assert report.payload["summary"][0]["location"]["runs"] == 2


@pytest.mark.adversarial
def test_one_run_given_twice_is_counted_once_or_refused(tiny_run_once, tmp_path):
    with pytest.raises(ValueError, match=r"are the same run of the row .* \(task location, seed 0\); give each run "
                                         r"once"):
        evaluate_runs([tiny_run_once.run, tiny_run_once.run], tmp_path / "report")
    parent = tiny_run_once.run.parent
    assert expand_run_patterns([f"{parent}/r*", str(tiny_run_once.run)]) == [f"{parent}/run"]


@pytest.mark.adversarial
def test_an_existing_path_with_brackets_is_taken_as_it_is(tiny_run_once, tmp_path):
    odd = tmp_path / "run[1]"
    shutil.copytree(tiny_run_once.run, odd)
    assert expand_run_patterns([str(odd)]) == [str(odd)]
    with pytest.raises(ValueError, match="matches nothing"):
        expand_run_patterns([str(tmp_path / "nothing[1]")])


@pytest.mark.adversarial
def test_evaluate_never_writes_into_one_of_its_runs_nor_a_locked_folder(tiny_run_once, tmp_path):
    tiny = tiny_run_once.copy(tmp_path)
    before = sorted(p.name for p in tiny.run.iterdir())
    with pytest.raises(RunDirectoryError, match="is one of the --runs"):
        evaluate_runs([tiny.run], tiny.run)
    assert sorted(p.name for p in tiny.run.iterdir()) == before
    with RunDirectory(tmp_path / "training", "location", {"settings": {}}):  # a training holds it
        with pytest.raises(RunDirectoryError, match="in use by process"):
            evaluate_runs([tiny.run], tmp_path / "training")
