"""The location evaluation records per-image outcomes, and its report judges them.

A location run is identified by its content: the data it read (a digest of the decoded arrays),
not their size; evaluate re-checks them, and runs of keras_gpos 0.2 are checked by what they recorded.
"""

import json
import logging
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gpos
from keras_gpos.base.files import read_json
from keras_gpos.base.schema import SCHEMA_VERSION
from keras_gpos.experiments import location
from keras_gpos.experiments.location import (
    LocationConfig,
    evaluate_run,
    evaluate_runs,
    grid_targets,
    train_location,
)
from keras_gpos.runs.directory import RunDirectoryError
from tests.run_utils import _tiny_config


def test_grid_targets_follow_the_exhaustive_placement():
    assert grid_targets("location", [7, 3], 4).tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert grid_targets("class", [7, 3], 4).tolist() == [7, 7, 7, 7, 3, 3, 3, 3]


def test_evaluate_run_records_correct_canvases_per_test_image(tiny_location_run, tmp_path):
    config, summary = tiny_location_run
    row = evaluate_run(config.output_dir, repeats=2)
    correct = np.asarray(row["per_image"]["correct"])
    assert len(correct) == row["test_images"] == 12 and row["per_image"]["trials"] == 4 * 2
    # Per-image outcomes add up to the accuracy; the model is deterministic, so training's test score too.
    assert correct.sum() / (12 * 8) == pytest.approx(row["accuracy"])
    assert row["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-5)
    assert row["majority_rate"] == pytest.approx(0.25) and row["chance_accuracy"] == pytest.approx(0.25)
    assert len(row["test_digest"]) == 16
    report = evaluate_runs([config.output_dir], tmp_path)
    entry = report.payload["summary"][0]
    assert report.payload["schema_version"] == SCHEMA_VERSION
    assert set(entry["verdicts"]) == {"location_above_chance"}
    assert entry["verdicts"]["location_above_chance"]["state"] in ("holds", "does_not_hold")
    assert "### What this run shows" in report.text


def _change_one_pixel(cifar, name="test_batch.bin"):
    """Same size, other content: one pixel byte of the first record."""
    path = cifar / name
    data = bytearray(path.read_bytes())
    data[1] = (data[1] + 1) % 256
    path.write_bytes(bytes(data))


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(location, "fit_run", refuse)


@pytest.mark.adversarial
def test_data_that_change_but_keep_their_size_are_noticed(tiny_run_once, tmp_path, monkeypatch):
    tiny = tiny_run_once.copy(tmp_path)
    _no_training(monkeypatch)
    assert train_location(tiny.config)["best_epoch"] == 1  # the same data: reused
    _change_one_pixel(tiny.cifar)
    with pytest.raises(RunDirectoryError, match=r"data\.content\.test\.sha256: [0-9a-f]{12}… -> [0-9a-f]{12}….*"
                                                 r"\(the data differ from those it was trained on\)"):
        train_location(tiny.config)  # a finished run is not reused
    (tiny.run / "run.json").unlink()
    with pytest.raises(RunDirectoryError, match="the data differ"):
        train_location(tiny.config)  # nor an interrupted one resumed


@pytest.mark.adversarial
def test_evaluate_checks_the_data_it_is_pointed_at(tiny_run_once, tmp_path):
    other = tiny_run_once.copy(tmp_path)
    _change_one_pixel(other.cifar)
    with pytest.raises(ValueError, match=rf"{tiny_run_once.run} was trained on other data than {other.cifar} holds "
                                         r"now \(content\.test\.sha256: [0-9a-f]{12}… -> [0-9a-f]{12}…\); point "
                                         r"--data_dir at its data, or pass --allow_other_data"):
        evaluate_run(tiny_run_once.run, data_dir=str(other.cifar))
    row = evaluate_run(tiny_run_once.run, data_dir=str(other.cifar), allow_other_data=True)
    assert row["data_check"] == "other"
    assert evaluate_run(tiny_run_once.run)["data_check"] == "content"
    from tests.conftest import write_cifar_binary

    write_cifar_binary(other.cifar / "test_batch.bin", [i % 10 for i in range(13)], seed=2)
    with pytest.raises(ValueError, match=r"; test_images: 12 -> 13\)"):
        evaluate_run(tiny_run_once.run, data_dir=str(other.cifar))


def test_a_0_2_run_is_reused_evaluated_and_not_resumed_by_its_recorded_sizes(tiny_run_once, tmp_path, monkeypatch,
                                                                            caplog):
    tiny = tiny_run_once.copy(tmp_path)
    stored = read_json(tiny.run / "fingerprint.json")
    data = {k: v for k, v in stored["data"].items() if k != "content"}
    (tiny.run / "fingerprint.json").write_text(json.dumps({"settings": stored["settings"], "data": data}))
    (tiny.run / "manifest.json").unlink()
    _no_training(monkeypatch)
    summary = train_location(tiny.config)  # reuse: settings and sizes match
    assert summary["test_accuracy"] == read_json(tiny.run / "run.json")["test_accuracy"]
    assert "keras_gpos 0.2, which identified its data by size only" in caplog.text
    row = evaluate_run(tiny.run)
    assert row["data_check"] == "sizes" and np.isfinite(row["accuracy"])
    (tiny.run / "run.json").rename(tmp_path / "run.json.saved")
    with pytest.raises(RunDirectoryError, match="unfinished run of keras_gpos 0.2"):
        train_location(tiny.config)


@pytest.mark.adversarial
def test_a_run_summary_of_another_structure_is_one_line_naming_it(tiny_run_once, tmp_path):
    tiny = tiny_run_once.copy(tmp_path)
    summary = read_json(tiny.run / "run.json")
    del summary["normalization"]
    (tiny.run / "run.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"run\.json is not a valid run summary: expected 'normalization'"):
        evaluate_run(tiny.run)


def test_run_directory_holds_everything_to_resume_evaluate_and_serve(tiny_run):
    config, summary = tiny_run
    run_dir = pathlib.Path(config.output_dir)
    for name in ("config.json", "fingerprint.json", "run.json", "model.keras", "best.keras", "best.json",
                 "history.csv", "saved_model/saved_model.pb", "logs"):
        assert (run_dir / name).exists(), name
    assert summary["dataset"]["test_canvases"] == 12 * 4
    assert summary["chance_accuracy"] == pytest.approx(0.25)  # fractions, as Keras metrics report
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert summary["experiment"] == "location" and summary["schema_version"] == SCHEMA_VERSION
    assert summary["keras_gpos_version"] == keras_gpos.__version__
    assert json.loads((run_dir / "config.json").read_text())["grid_size"] == 2
    assert not list(run_dir.glob(".*tmp*")), "temporary files left behind"
    assert not (run_dir / "backup").exists()  # removed once the final files were verified


def test_finished_run_is_not_retrained(tiny_run, caplog):
    config, summary = tiny_run
    with caplog.at_level(logging.INFO, logger="absl"):
        again = train_location(config)
    assert again == summary
    assert "already holds a finished run" in caplog.text


def test_saved_model_serves_the_same_outputs(tiny_run):
    config, _ = tiny_run
    run_dir = pathlib.Path(config.output_dir)
    model = keras.saving.load_model(run_dir / "model.keras")
    x = np.random.default_rng(0).normal(size=(3, 64, 64, 3)).astype("float32")
    want = model.predict(x, verbose=0)
    loaded = tf.saved_model.load(str(run_dir / "saved_model"))
    signature = loaded.signatures["serving_default"]
    got = list(signature(tf.constant(x)).values())[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    layer = keras.layers.TFSMLayer(str(run_dir / "saved_model"), call_endpoint="serve")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), want, rtol=1e-4, atol=1e-4)


def test_backup_and_restore_resumes_an_interrupted_run(tmp_path):
    # Interrupt training after the first epoch, then rerun the same config: it
    # resumes from the backup (epoch 2 onwards) instead of starting over.
    config = _tiny_config(tmp_path, epochs=3, head="fc")

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt

    import keras_gpos.experiments.location as location

    original = keras.callbacks.CSVLogger
    try:
        keras.callbacks.CSVLogger = lambda *a, **k: _Both(original(*a, **k), Interrupt())
        with pytest.raises(KeyboardInterrupt):
            location.train_location(config)
    finally:
        keras.callbacks.CSVLogger = original
    assert not (pathlib.Path(config.output_dir) / "run.json").exists()
    location.train_location(config)
    lines = (pathlib.Path(config.output_dir) / "history.csv").read_text().splitlines()
    epochs = [int(line.split(",")[0]) for line in lines[1:] if line and line[0].isdigit()]
    assert epochs == [0, 1, 2], epochs  # epoch 0 once, then 1 and 2 after the resume


class _Both(keras.callbacks.Callback):
    def __init__(self, *callbacks):
        super().__init__()
        self.callbacks = callbacks

    def set_model(self, model):
        for c in self.callbacks:
            c.set_model(model)

    def __getattribute__(self, name):
        if name.startswith("on_"):
            def call(*args, **kwargs):
                for c in object.__getattribute__(self, "callbacks"):
                    getattr(c, name)(*args, **kwargs)
            return call
        return object.__getattribute__(self, name)


def test_location_experiment_trains_under_mirrored_strategy(tmp_path):
    config = _tiny_config(tmp_path, strategy="mirrored", head="fc")
    summary = train_location(config)
    assert summary["config"]["strategy"] == "mirrored"
    model = keras.saving.load_model(pathlib.Path(config.output_dir) / "model.keras")
    assert model.get_layer("stem_bn").synchronized


def test_a_run_of_keras_gpos_0_1_is_reused_when_its_settings_match(tmp_path):
    from keras_gpos.experiments.location import train_location

    config = LocationConfig(output_dir=str(tmp_path / "run"), dataset="embedded", embedded_train_size=64,
                            embedded_test_size=8, grid_size=2, depth=10, width=4, epochs=1, batch_size=16,
                            verbose=0)
    summary = train_location(config)
    run = tmp_path / "run"
    # Make it look like 0.1 wrote it: no fingerprint, percent values, no schema.
    (run / "fingerprint.json").unlink()
    legacy = {k: v for k, v in summary.items() if k not in ("schema_version", "experiment", "keras_gpos_version")}
    legacy.update(test_accuracy=100 * summary["test_accuracy"], val_accuracy=100 * summary["val_accuracy"],
                  chance_accuracy=25.0)
    record = dict(summary["config"])
    del record["pooled_batchnorm"]  # a field 0.1 did not have
    (run / "config.json").write_text(json.dumps(record))
    (run / "run.json").write_text(json.dumps(legacy))
    again = train_location(config)
    assert again["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    assert again["chance_accuracy"] == pytest.approx(0.25) and again["upgraded_from_schema"] == 1
    from keras_gpos.runs.directory import RunDirectoryError

    with pytest.raises(RunDirectoryError, match="width: 4 -> 6"):
        train_location(config.replace(width=6))


@pytest.mark.adversarial
def test_training_on_no_images_is_a_clear_error(tmp_path):
    from keras_gpos.experiments.location import train_location

    with pytest.raises(ValueError, match="(?i)empty|no images|at least"):
        train_location(LocationConfig(output_dir=str(tmp_path / "run"), embedded_train_size=1,
                                      embedded_test_size=1, grid_size=2, depth=10, width=4,
                                      epochs=1, batch_size=4, verbose=0))
    assert not (tmp_path / "run" / "run.json").exists()
