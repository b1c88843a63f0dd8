"""RunDirectory: a run owns a manifest of what it wrote and touches nothing else; a run is
identified by its fingerprint; runs of keras_gpos 0.2 (no manifest, data by size) are handled
by a stated rule; report folders never hold runs."""

import fcntl
import json
import os
import shutil

import pytest

from keras_gpos.base.files import read_json
from keras_gpos.experiments.location import train_location
from keras_gpos.runs.directory import (
    RunDirectory,
    RunDirectoryError,
    check_report_folder,
)

A = {"settings": {"width": 4}, "data": {"dataset": "x", "content": {"test": {"sha256": "a" * 64}}}}

B = {"settings": {"width": 8}, "data": A["data"]}


def _finished(path, fingerprint=A):
    """A run directory as the lifecycle leaves a finished run (its files faked)."""
    with RunDirectory(path, "location", fingerprint) as run:
        run.write_start({"width": fingerprint["settings"]["width"]})
        (path / "model.keras").write_bytes(b"model")
        (path / "run.json").write_text(json.dumps({"experiment": "location"}))
    return path


def _backup(path, epoch=1):
    backup = path / "backup"
    backup.mkdir()
    (backup / f"epoch-{epoch}.weights.h5").write_bytes(b"weights")
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": epoch, "weights": f"epoch-{epoch}.weights.h5"}))


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_a_refused_run_deletes_no_temporary_looking_file_of_anyone(tmp_path):
    home = tmp_path / "home"
    (home / ".tmp").mkdir(parents=True)
    (home / ".tmp" / "keep.txt").write_text("mine")
    (home / ".tmp_cache").mkdir()
    (home / ".tmpfile.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match=r"files keras_gpos did not write there \(\.tmp, \.tmp_cache, "
                                                r"\.tmpfile\.txt\)"):
        RunDirectory(home, "location", A).open()
    assert (home / ".tmp" / "keep.txt").read_text() == "mine" and (home / ".tmp_cache").is_dir()
    assert (home / ".tmpfile.txt").exists() and not (home / ".lock").exists()


@pytest.mark.backend_agnostic
def test_only_temporaries_of_the_runs_own_files_are_cleaned(tmp_path):
    run = _finished(tmp_path / "run")
    (run / ".run.json.x1y2.tmp").write_text("{")
    (run / ".best.tmp.keras").write_bytes(b"")
    (run / ".saved_model.tmp").mkdir()
    with RunDirectory(run, "location", A) as again:
        assert again.finished
    assert not [p.name for p in run.iterdir() if ".tmp" in p.name]
    assert "run.json" in read_json(run / "manifest.json")["entries"]


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_a_folder_with_other_runs_and_user_files_is_refused_and_overwrite_deletes_none(tmp_path):
    home = _finished(tmp_path / "home")
    (home / "notes.txt").write_text("mine")
    _finished(home / "old_run")
    for overwrite in (False, True):
        with pytest.raises(RunDirectoryError, match=r"holds other runs \(old_run\) and files keras_gpos did not "
                                                    r"write there \(notes\.txt\)") as error:
            RunDirectory(home, "location", B, overwrite=overwrite).open()
        assert "rerun with --overwrite" not in str(error.value)
    assert (home / "notes.txt").read_text() == "mine" and (home / "old_run" / "run.json").exists()
    assert (home / "model.keras").read_bytes() == b"model" and not (home / ".previous").exists()


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_rerunning_an_interrupted_overwrite_resumes_it(tmp_path):
    run = _finished(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        with RunDirectory(run, "location", B, overwrite=True) as second:
            second.write_start({"width": 8})
            _backup(run, epoch=1)
            raise KeyboardInterrupt  # Ctrl-C during epoch 2 of the replacing run
    with RunDirectory(run, "location", B, overwrite=True) as third:  # the same command again
        assert not third.finished
        assert read_json(run / "backup" / "training_metadata.json")["epoch"] == 1  # resumes after epoch 1
        assert (run / ".previous" / "run.json").exists()  # the replaced run goes only when this one finishes
        third.cleanup()
    assert not (run / ".previous").exists()


@pytest.mark.backend_agnostic
def test_overwrite_still_replaces_a_finished_run_or_one_with_other_settings(tmp_path):
    run = _finished(tmp_path / "run")
    with RunDirectory(run, "location", A, overwrite=True) as again:  # finished, same settings: retrain
        assert not again.finished and (run / ".previous" / "model.keras").exists()
    _backup(run)  # an unfinished run with other settings: replaced too
    (run / "fingerprint.json").write_text(json.dumps({**A, "format": 2}))
    with RunDirectory(run, "location", B, overwrite=True):
        assert not (run / "backup").exists()


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_a_dangling_symlink_output_dir_is_named(tmp_path):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(RunDirectoryError, match=rf"{link} is a symbolic link to {tmp_path / 'gone'}, which does "
                                                "not exist"):
        RunDirectory(link, "location", A).open()


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
@pytest.mark.parametrize("payload, problem", [
    ([], "it holds a list"),
    ({"data": {}}, "it lacks 'settings'"),
    ({"settings": 3}, "'settings' is an integer"),
])
def test_a_fingerprint_of_another_structure_is_one_line_naming_it(tmp_path, payload, problem):
    run = _finished(tmp_path / "run")
    (run / "fingerprint.json").write_text(json.dumps(payload))
    with pytest.raises(ValueError, match=rf"{run / 'fingerprint.json'} is not a valid run fingerprint: expected a "
                                         rf"JSON object with 'settings' \(an object\); {problem}"):
        RunDirectory(run, "location", A).open()


@pytest.mark.backend_agnostic
def test_a_manifest_of_another_structure_is_one_line_naming_it(tmp_path):
    run = _finished(tmp_path / "run")
    (run / "manifest.json").write_text(json.dumps({"format": 1, "entries": ["../up"]}))
    with pytest.raises(ValueError, match=r"manifest\.json is not a valid run manifest: expected 'entries' to list"):
        RunDirectory(run, "location", A).open()


def _as_0_2(run, fingerprint=A):
    """Rewrites a run as keras_gpos 0.2 left it: no manifest, a fingerprint without format,
    backend or data content."""
    (run / "manifest.json").unlink()
    data = {k: v for k, v in fingerprint["data"].items() if k != "content"}
    (run / "fingerprint.json").write_text(json.dumps({"settings": fingerprint["settings"], "data": data}))
    return run


@pytest.mark.backend_agnostic
def test_a_finished_0_2_run_is_reused_when_its_settings_and_sizes_match(tmp_path, caplog):
    run = _as_0_2(_finished(tmp_path / "run"))
    with RunDirectory(run, "location", A) as again:
        assert again.finished
    assert "identified its data by size only" in caplog.text
    assert not (run / "manifest.json").exists()  # an old run is read, never rewritten
    with pytest.raises(RunDirectoryError, match="width: 4 -> 8"):
        RunDirectory(run, "location", B).open()


@pytest.mark.backend_agnostic
def test_an_unfinished_0_2_run_is_not_resumed(tmp_path):
    run = _as_0_2(_finished(tmp_path / "run"))
    (run / "run.json").unlink()
    _backup(run)
    with pytest.raises(RunDirectoryError, match=r"unfinished run of keras_gpos 0\.2, which identified its data by "
                                                 r"size only.*--overwrite"):
        RunDirectory(run, "location", A).open()
    assert (run / "backup" / "training_metadata.json").exists()


@pytest.mark.backend_agnostic
def test_overwrite_of_a_0_2_run_moves_only_what_0_2_wrote(tmp_path):
    run = _as_0_2(_finished(tmp_path / "run"))
    (run / "history.csv").write_text("epoch\n")
    (run / "mine.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match=r"did not write there \(mine\.txt\)"):
        RunDirectory(run, "location", A, overwrite=True).open()
    (run / "mine.txt").unlink()
    with RunDirectory(run, "location", A, overwrite=True) as replaced:
        assert not replaced.finished
    assert sorted(p.name for p in (run / ".previous").iterdir()) == [
        "config.json", "fingerprint.json", "history.csv", "model.keras", "run.json"]


@pytest.mark.backend_agnostic
def test_a_report_folder_may_be_new_an_earlier_report_or_a_suite_folder(tmp_path):
    check_report_folder(tmp_path / "new")
    suite = tmp_path / "suite"
    _finished(suite / "runs" / "a")
    for name in ("results.json", "results.md", "results.png"):
        (suite / name).write_text("x")
    check_report_folder(suite)
    (suite / "notes.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match=r"did not write there \(notes\.txt\)"):
        check_report_folder(suite)


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_a_report_never_goes_into_a_run_one_of_its_runs_or_a_locked_folder(tmp_path):
    run = _finished(tmp_path / "run")
    with pytest.raises(RunDirectoryError, match="is one of the --runs"):
        check_report_folder(run, [run])
    with pytest.raises(RunDirectoryError, match="inside one of the --runs"):
        check_report_folder(run / "eval", [run])
    with pytest.raises(RunDirectoryError, match="is the run directory"):
        check_report_folder(run)
    training = tmp_path / "training"
    training.mkdir()
    with open(training / ".lock", "w") as handle:  # a training process holds it
        handle.write("4242\n")
        handle.flush()
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:  # flock locks an open file, so the check's own open sees this one held
            with pytest.raises(RunDirectoryError, match=r"in use by process 4242"):
                check_report_folder(training)
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    shutil.rmtree(training)


@pytest.mark.adversarial
def test_a_refused_open_releases_its_lock(tmp_path):
    with RunDirectory(tmp_path / "r", "location", {"settings": {"width": 4}}) as first:
        first.write_start({"width": 4})
    other = {"settings": {"width": 8}}
    with pytest.raises(RunDirectoryError, match="width: 4 -> 8"):
        RunDirectory(tmp_path / "r", "location", other).open()
    # The refusal let go of the lock: --overwrite in the same process is not "in use".
    with RunDirectory(tmp_path / "r", "location", other, overwrite=True) as replaced:
        assert (tmp_path / "r" / ".previous" / "fingerprint.json").exists()
        assert not replaced.finished


@pytest.mark.adversarial
def test_an_overwrite_killed_while_moving_files_aside_is_put_back(tmp_path):
    settings = {"settings": {"width": 4}}
    run = tmp_path / "r"
    with RunDirectory(run, "location", settings) as first:
        first.write_start({"width": 4})
    (run / "run.json").write_text("{}")
    (run / "model.keras").write_bytes(b"model")
    # A kill after two of the files went to the staging folder.
    staging = run / ".previous.partial"
    staging.mkdir()
    os.replace(run / "model.keras", staging / "model.keras")
    os.replace(run / "fingerprint.json", staging / "fingerprint.json")
    with RunDirectory(run, "location", settings) as again:
        assert again.finished  # the finished run is whole again, not refused or retrained
    assert (run / "model.keras").read_bytes() == b"model" and not staging.exists()


# The manifest governs the run's own folders too: a file in logs/, backup/, saved_model/ or audit/ that
# the run did not write is named and the folder refused, with or without --overwrite (second hostile
# pass, finding 13: --overwrite deleted logs/my_notes.txt with the replaced run).


def _finished_with_run_files(path):
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
    run = _finished_with_run_files(tmp_path / "run")
    with RunDirectory(run, "location", A) as again:
        assert again.finished
    with RunDirectory(run, "location", B, overwrite=True):
        assert (run / ".previous" / "logs" / "train").is_dir() and not (run / "logs").exists()


@pytest.mark.adversarial
@pytest.mark.backend_agnostic
@pytest.mark.parametrize("user_file", ["logs/my_notes.txt", "logs/train/notes.md", "backup/keep.h5",
                                       "saved_model/README", "audit/notes.txt"])
def test_a_user_file_inside_a_runs_folder_is_named_and_never_deleted(tmp_path, user_file):
    run = _finished_with_run_files(tmp_path / "run")
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
