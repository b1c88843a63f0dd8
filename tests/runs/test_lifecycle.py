"""The run lifecycle in process: resume only with the run's own settings, corrupt backups and
best models found before training, a failed overwrite put back, bad strategies and paths."""

import errno

import keras
import pytest

from keras_gpos.base.files import read_json
from keras_gpos.experiments.location import LocationConfig, train_location
from keras_gpos.runs.directory import RunDirectoryError
from tests.run_utils import _tiny


def test_corrupt_backup_is_an_error_naming_the_file_not_a_fresh_start(tmp_path):
    from keras_gpos.experiments.location import train_location
    from keras_gpos.runs.lifecycle import check_backup

    backup = tmp_path / "run" / "backup"
    backup.mkdir(parents=True)
    (backup / "latest.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match=r"latest\.weights\.h5 is unreadable.*delete .*backup"):
        check_backup(backup)
    config = LocationConfig(output_dir=str(tmp_path / "run"), embedded_train_size=32,
                            embedded_test_size=4, grid_size=2, depth=10, width=4, epochs=1,
                            batch_size=16, verbose=0)
    from keras_gpos.base.files import write_json
    from keras_gpos.experiments import location

    # The run that left the backup recorded its settings (same as the rerun's).
    write_json(tmp_path / "run" / "fingerprint.json",
               location.fingerprint(config, location.prepare_data(config)))
    with pytest.raises(ValueError, match="unreadable"):
        train_location(config)
    assert not (tmp_path / "run" / "run.json").exists()
    (backup / "latest.weights.h5").unlink()
    (backup / "training_metadata.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"training_metadata\.json is not valid JSON"):
        check_backup(backup)


class _Interrupt(keras.callbacks.Callback):
    """A Ctrl-C as the second epoch starts: the first is trained, checkpointed and backed up."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch >= 1:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumes_only_with_its_own_settings(tmp_path, monkeypatch):
    import keras_gpos.runs.lifecycle as run_module

    config = _tiny(tmp_path, epochs=3)
    original = run_module.StopOnNonFiniteLoss
    monkeypatch.setattr(run_module, "StopOnNonFiniteLoss", lambda: _Interrupt())
    with pytest.raises(KeyboardInterrupt):
        train_location(config)
    monkeypatch.setattr(run_module, "StopOnNonFiniteLoss", original)
    assert (tmp_path / "run" / "backup").exists() and not (tmp_path / "run" / "run.json").exists()
    with pytest.raises(RunDirectoryError, match=r"padding: zero -> reflect.*--overwrite"):
        train_location(config.replace(padding="reflect", learning_rate=0.01))
    summary = train_location(config)  # the same settings resume
    assert summary["best_epoch"] in (1, 2, 3) and summary["config"]["padding"] == "zero"


def test_export_killed_midway_does_not_retrain(tmp_path, monkeypatch):
    # Final files are written before the backup goes: a failure (or kill)
    # during export leaves a run that the rerun finishes without training.
    import keras_gpos.export as export

    config = _tiny(tmp_path, epochs=2)
    original = export.export_saved_model

    def broken(model, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(export, "export_saved_model", broken)
    with pytest.raises(OSError, match="No space left"):
        train_location(config)
    run_dir = tmp_path / "run"
    assert (run_dir / "backup" / "training_metadata.json").exists() and not (run_dir / "run.json").exists()
    history = (run_dir / "history.csv").read_text()
    monkeypatch.setattr(export, "export_saved_model", original)
    summary = train_location(config)
    assert (run_dir / "history.csv").read_text() == history  # no epoch trained again
    assert summary["best_epoch"] is not None and not (run_dir / "backup").exists()


def test_a_corrupt_best_model_is_found_before_any_training(tmp_path, monkeypatch):
    import keras_gpos.runs.lifecycle as run_module

    config = _tiny(tmp_path, epochs=2)
    monkeypatch.setattr(run_module, "StopOnNonFiniteLoss", lambda: _Interrupt())
    with pytest.raises(KeyboardInterrupt):
        train_location(config)
    monkeypatch.undo()
    best = tmp_path / "run" / "best.keras"
    best.write_bytes(best.read_bytes()[:1000])
    started = []
    monkeypatch.setattr(run_module, "fit_run", lambda *a, **k: started.append(1))
    with pytest.raises(RunDirectoryError, match=r"best\.keras .* not a complete \.keras archive.*Delete"):
        train_location(config)
    assert not started


def test_overwrite_puts_the_previous_run_back_when_the_new_one_fails_first(tmp_path, monkeypatch):
    import keras_gpos.runs.lifecycle as run_module

    config = _tiny(tmp_path)
    first = train_location(config)
    model_bytes = (tmp_path / "run" / "model.keras").read_bytes()

    def fails(*args, **kwargs):
        raise ValueError("model could not be built")

    monkeypatch.setattr(run_module.FitPlan, "__init__", fails)
    with pytest.raises(ValueError, match="could not be built"):
        train_location(config.replace(overwrite=True, width=6))
    assert (tmp_path / "run" / "model.keras").read_bytes() == model_bytes
    assert read_json(tmp_path / "run" / "run.json") == first and not (tmp_path / "run" / ".previous").exists()


def test_strategy_tpu_without_a_tpu_and_an_output_path_that_is_a_file(tmp_path):
    from keras_gpos.experiments import run_experiment

    with pytest.raises(ValueError, match="strategy 'tpu' was requested but no TPU could be found"):
        run_experiment("location", _tiny(tmp_path, strategy="tpu"))
    assert not (tmp_path / "run").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(RunDirectoryError, match="exists and is a file"):
        train_location(_tiny(tmp_path, output_dir=str(afile)))
