"""The run lifecycle in process: resume only with the run's own settings, corrupt backups and
best models found before training, a failed overwrite put back, bad strategies and paths."""

import pytest


def test_corrupt_backup_is_an_error_naming_the_file_not_a_fresh_start(tmp_path):
    from keras_gpos.experiments.location import LocationConfig, train_location
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
