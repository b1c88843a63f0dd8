"""The manifest governs the run's own folders too: a file in logs/, backup/, saved_model/ or audit/ that
the run did not write is named and the folder refused, with or without --overwrite (second hostile
pass, finding 13: --overwrite deleted logs/my_notes.txt with the replaced run)."""

import json

import pytest

from keras_gpos.experiments.location import train_location
from keras_gpos.runs.directory import RunDirectory, RunDirectoryError

A = {"settings": {"width": 4}, "data": {"dataset": "x", "content": {"test": {"sha256": "a" * 64}}}}
B = {"settings": {"width": 8}, "data": A["data"]}


def _finished(path):
    """A finished run (its files faked) with what the lifecycle writes inside its folders."""
    with RunDirectory(path, "location", A) as run:
        run.write_start({"width": 4})
        for name in ("logs/train/events.out.tfevents.1.host.2.v2", "logs/validation/events.out.tfevents.1.h.3.v2",
                     "backup/epoch-1.weights.h5", "backup/training_metadata.json",
                     "backup/.epoch-2.tmp.weights.h5", "saved_model/saved_model.pb",
                     "saved_model/variables/variables.index", "audit/results.json", "audit/results.png"):
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(b"x")
        (path / "saved_model" / "assets").mkdir()
        (path / "model.keras").write_bytes(b"model")
        (path / "run.json").write_text(json.dumps({"experiment": "location"}))
    return path


@pytest.mark.backend_agnostic
def test_what_the_run_wrote_inside_its_folders_is_its_own(tmp_path):
    run = _finished(tmp_path / "run")
    with RunDirectory(run, "location", A) as again:
        assert again.finished
    with RunDirectory(run, "location", B, overwrite=True):
        assert (run / ".previous" / "logs" / "train").is_dir() and not (run / "logs").exists()


@pytest.mark.adversarial
@pytest.mark.backend_agnostic
@pytest.mark.parametrize("user_file", ["logs/my_notes.txt", "logs/train/notes.md", "backup/keep.h5",
                                       "saved_model/README", "audit/notes.txt"])
def test_a_user_file_inside_a_runs_folder_is_named_and_never_deleted(tmp_path, user_file):
    run = _finished(tmp_path / "run")
    (run / user_file).write_text("mine")
    for overwrite in (True, False):
        with pytest.raises(RunDirectoryError, match=rf"files keras_gpos did not write there \({user_file}\)"):
            RunDirectory(run, "location", B, overwrite=overwrite).open()
    assert (run / user_file).read_text() == "mine" and not (run / ".previous").exists()
    assert (run / "model.keras").read_bytes() == b"model"


@pytest.mark.adversarial
def test_overwrite_of_a_real_run_keeps_a_note_in_its_logs(tmp_path, tiny_run_once):
    # The finding's reproduction: cp -r a run, add logs/my_notes.txt, train.py ... --overwrite.
    tiny = tiny_run_once.copy(tmp_path)
    train_location(tiny.config)  # a real finished run's own files pass the check: reused
    (tiny.run / "logs" / "my_notes.txt").write_text("notes")
    with pytest.raises(RunDirectoryError, match=r"files keras_gpos did not write there \(logs/my_notes\.txt\)"):
        train_location(tiny.config.replace(learning_rate=0.002, overwrite=True))
    assert (tiny.run / "logs" / "my_notes.txt").read_text() == "notes"
