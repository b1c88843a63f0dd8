"""Nothing silently wrong: run-directory integrity, locks, resource bounds, one-line errors.

The three silent-result cases of the issue run end to end with real
`train.py` processes; the rest test the library and the lifecycle directly.
"""

import errno
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gpos
from keras_gpos.experiments.location import LocationConfig, train_location
from keras_gpos.base.files import read_json
from keras_gpos.runs.directory import RunDirectory, RunDirectoryError

REPO = pathlib.Path(__file__).resolve().parents[1]
# The shorthand T: a tiny location run.
T = ["--experiment=location", "--dataset=embedded", "--embedded_train_size=120",
     "--embedded_test_size=18", "--depth=10", "--width=12", "--batch_size=24", "--grid_size=2",
     "--verbose=0"]


def _train(args, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **kwargs.pop("env", {})}
    return subprocess.run([sys.executable, "train.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=kwargs.pop("timeout", 300), env=env, **kwargs)


def _error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.startswith("train.py: error:")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def _padding_of(model_path):
    model = keras.saving.load_model(model_path)
    return model.get_layer("stem_conv").padding_mode


# --- the three silent-result cases, end to end ------------------------------

@pytest.mark.slow
def test_overwrite_replaces_every_file_of_the_previous_run(tmp_path):
    out = tmp_path / "ow"
    first = _train([*T, f"--output_dir={out}", "--epochs=3"])
    assert first.returncode == 0, first.stderr[-2000:]
    before = read_json(out / "run.json")
    second = _train([*T, f"--output_dir={out}", "--epochs=1", "--padding=reflect",
                     "--learning_rate=1e-6", "--overwrite"])
    assert second.returncode == 0, second.stderr[-2000:]
    summary = read_json(out / "run.json")
    assert summary["config"]["padding"] == "reflect" and summary["config"]["epochs"] == 1
    assert summary["best_epoch"] == 1 and read_json(out / "best.json")["epoch"] == 0
    assert _padding_of(out / "model.keras") == "reflect"  # not the old zero-padding model
    assert _padding_of(out / "best.keras") == "reflect"
    assert before["config"]["padding"] == "zero"
    assert not (out / ".previous").exists() and not (out / "backup").exists()
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 2, history  # one header, the new run's one epoch


@pytest.mark.slow
def test_a_rerun_with_other_settings_is_refused_naming_them(tmp_path):
    out = tmp_path / "run"
    assert _train([*T, f"--output_dir={out}", "--epochs=1"]).returncode == 0
    checksum = (out / "model.keras").read_bytes()
    result = _train([*T, f"--output_dir={out}", "--epochs=1", "--padding=reflect", "--learning_rate=0.01"])
    assert result.returncode != 0
    line = _error_line(result)
    assert "learning_rate: 0.001 -> 0.01" in line and "padding: zero -> reflect" in line
    assert "--overwrite" in line
    assert (out / "model.keras").read_bytes() == checksum and read_json(out / "run.json")["config"]["padding"] == "zero"
    # The same settings again: the finished run is reused, not retrained.
    again = _train([*T, f"--output_dir={out}", "--epochs=1"])
    assert again.returncode == 0 and (out / "model.keras").read_bytes() == checksum


@pytest.mark.slow
def test_two_runs_into_one_folder_cannot_race(tmp_path):
    out = tmp_path / "shared"
    first = subprocess.Popen([sys.executable, "train.py", *T, f"--output_dir={out}", "--epochs=3",
                              "--embedded_train_size=600"], cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not ((out / ".lock").exists() and (out / ".lock").read_text().strip()):
            assert first.poll() is None and time.time() < deadline, "the first run never took its lock"
            time.sleep(0.05)
        second = _train([*T, f"--output_dir={out}", "--epochs=3", "--embedded_train_size=600"])
        assert first.poll() is None, "the first run ended before the second could collide with it"
        line = _error_line(second)
        assert f"in use by process {first.pid}" in line, line
        assert second.returncode != 0
        first.wait(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, first.stderr.read()[-2000:]
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch") and len(rows) == 4 and sum(r.startswith("epoch") for r in rows) == 1


# --- the lifecycle, in process -----------------------------------------------

def _tiny(tmp_path, **overrides):
    values = dict(output_dir=str(tmp_path / "run"), dataset="embedded", embedded_train_size=64,
                  embedded_test_size=8, grid_size=2, depth=10, width=4, epochs=1, batch_size=16, verbose=0)
    values.update(overrides)
    return LocationConfig(**values)


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


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path):
    directory = RunDirectory(tmp_path / "r", "location", {"settings": {}})
    with directory:
        with pytest.raises(RunDirectoryError, match=f"in use by process {os.getpid()}"):
            RunDirectory(tmp_path / "r", "location", {"settings": {}}).open()
    # Released with the holder: the next process (here: the next open) gets it.
    with RunDirectory(tmp_path / "r", "location", {"settings": {}}):
        pass
    script = (f"import fcntl, os; f = open({str(tmp_path / 'r' / '.lock')!r}, 'a+'); "
              "fcntl.flock(f, fcntl.LOCK_EX); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", script], timeout=60)
    with RunDirectory(tmp_path / "r", "location", {"settings": {}}):  # no stale lock after kill -9
        pass


def _mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip() or 'mount failed'}); "
                    "the disk-full test needs root and mount")


@pytest.mark.slow
def test_disk_full_is_one_line_leaves_no_partial_files_and_resumes(tmp_path):
    disk = tmp_path / "small"
    _mount_tmpfs(disk, "1500k")
    try:
        out = disk / "run"
        full = _train([*T, f"--output_dir={out}", "--epochs=2"])
        assert full.returncode == 1, full.stderr[-3000:]
        line = _error_line(full)
        assert "No space left on device" in line and str(disk) in line
        leftovers = [p.name for p in out.rglob("*") if ".tmp" in p.name]
        assert not leftovers, leftovers
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        again = _train([*T, f"--output_dir={out}", "--epochs=2"])
        assert again.returncode == 0, again.stderr[-3000:]
        assert read_json(out / "run.json")["config"]["epochs"] == 2
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        read_only = _train([*T, f"--output_dir={disk / 'other'}", "--epochs=1"])
        assert read_only.returncode != 0 and "Read-only file system" in _error_line(read_only)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# --- resource bounds and early validation -----------------------------------

@pytest.mark.parametrize("args, flags", [
    (["--experiment=location", "--grid_size=1000"], "--batch_size, --grid_size"),
    (["--experiment=location", "--embedded_train_size=1000000000"], "--embedded_train_size"),
    (["--experiment=position_attack", "--image_height=100000"], "--image_height"),
    (["--experiment=position_attack", "--street_train_size=1000000000"], "--street_train_size"),
])
def test_settings_that_cannot_fit_in_memory_are_refused_at_once(args, flags):
    from keras_gpos.experiments import get_experiment, run_experiment
    from tests.flag_utils import parse_train_flags

    name, config = parse_train_flags([*args, "--output_dir=/nonexistent/never-written"])
    start = time.time()
    with pytest.raises(ValueError, match=r"needs about [\d.]+ GiB of memory .* more than the [\d.]+ GiB") as error:
        run_experiment(name, config)
    assert flags in str(error.value) and time.time() - start < 10
    assert get_experiment(name)


def test_position_attack_layer_and_n_are_checked_before_training(tmp_path):
    from keras_gpos.experiments.position_attack import PositionAttackConfig, run_position_attack

    base = dict(output_dir=str(tmp_path / "pa"), street_train_size=8, street_val_size=4, image_height=32,
                image_width=32, depth=10, width=4, aspp_filters=4, verbose=0)
    with pytest.raises(ValueError, match="no layer named 'bogus'"):
        run_position_attack(PositionAttackConfig(**base, layer="bogus"))
    with pytest.raises(ValueError, match=r"N=100000 .* larger than the 32 channels"):
        run_position_attack(PositionAttackConfig(**base, attack_n=(100000,)))
    assert not (tmp_path / "pa").exists()


@pytest.mark.parametrize("args, message", [
    (["--experiment=location", "--seed=-1"], "seed must be an int in [0, 2147483647]; got -1"),
    (["--experiment=location", "--depth=11"], "depth 11 is not a resnet depth"),
    (["--experiment=location", "--learning_rate=inf"], "learning_rate must be a finite number"),
    (["--experiment=location", "--dataset=tfds:nonexistent_ds"], "tfds:nonexistent_ds is not a TFDS dataset"),
    (["--experiment=location", "--dataset=cifar10_binary", "--data_dir=/nonexistent/cifar"],
     "CIFAR-10 data dir /nonexistent/cifar does not exist"),
    (["--experiment=position_attack", "--dataset=folder", "--data_dir=/nonexistent/camvid"],
     "segmentation data folder /nonexistent/camvid does not exist"),
    (["--experiment=position_attack", "--model_path=/nonexistent/model.keras"],
     "model file /nonexistent/model.keras does not exist"),
])
def test_bad_flags_and_sources_are_one_line_errors_before_any_file_is_written(tmp_path, args, message):
    out = tmp_path / "out"
    result = _train([*args, f"--output_dir={out}"], timeout=120)
    assert result.returncode != 0
    assert message in _error_line(result)
    assert not out.exists(), "nothing may be written before the inputs are validated"


def test_strategy_tpu_without_a_tpu_and_an_output_path_that_is_a_file(tmp_path):
    from keras_gpos.experiments import run_experiment

    with pytest.raises(ValueError, match="strategy 'tpu' was requested but no TPU could be found"):
        run_experiment("location", _tiny(tmp_path, strategy="tpu"))
    assert not (tmp_path / "run").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(RunDirectoryError, match="exists and is a file"):
        train_location(_tiny(tmp_path, output_dir=str(afile)))


def test_debug_shows_the_traceback(tmp_path):
    args = ["--experiment=location", "--dataset=cifar10_binary", "--data_dir=/nonexistent/cifar",
            f"--output_dir={tmp_path / 'o'}"]
    plain = _train(args, timeout=120)
    assert "Traceback" not in plain.stderr
    debug = _train([*args, "--debug"], timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "does not exist" in debug.stderr


# --- files ---------------------------------------------------------------------

def _png16(array):
    return tf.io.encode_png(tf.constant(array, tf.uint16)).numpy()


def test_sixteen_bit_label_images_keep_their_values_or_are_refused(tmp_path):
    from keras_gpos.data import CAMVID_CLASSES, load_mask_folder

    for sub in ("img", "ann"):
        (tmp_path / sub).mkdir()
    image = tf.io.encode_png(np.zeros((6, 8, 3), np.uint8)).numpy()
    labels = np.arange(48, dtype=np.uint16).reshape(6, 8, 1) % 12
    (tmp_path / "img" / "a.png").write_bytes(image)
    (tmp_path / "ann" / "a.png").write_bytes(_png16(labels))
    data = load_mask_folder(tmp_path / "img", tmp_path / "ann", CAMVID_CLASSES, ignore_label=11)
    np.testing.assert_array_equal(data.masks[0], labels[..., 0])  # 0..11 kept, not all 0
    (tmp_path / "ann" / "a.png").write_bytes(_png16(np.full((6, 8, 1), 300, np.uint16)))
    with pytest.raises(ValueError, match=r"16-bit label image .*a\.png holds label 300"):
        load_mask_folder(tmp_path / "img", tmp_path / "ann", CAMVID_CLASSES, ignore_label=11)
    (tmp_path / "ann" / "a.png").write_bytes(_png16(np.full((6, 8, 1), 40, np.uint16)))
    with pytest.raises(ValueError, match=r"holds labels \[40\], outside 0\.\.10 or the ignore label 11"):
        load_mask_folder(tmp_path / "img", tmp_path / "ann", CAMVID_CLASSES, ignore_label=11)


@pytest.mark.parametrize("payload, message", [
    (b"", "is empty"),
    (b"PK\x03\x04 truncated", "not a complete .keras archive"),
    (b"hello, not a model", "not a complete .keras archive"),
    (None, "is a directory"),
])
def test_unusable_model_files_say_why(tmp_path, payload, message):
    from keras_gpos.base.files import load_keras_model

    path = tmp_path / "model.keras"
    if payload is None:
        path.mkdir()
    else:
        path.write_bytes(payload)
    with pytest.raises(ValueError, match=message):
        load_keras_model(path)


# --- evaluate.py ---------------------------------------------------------------

def _evaluate(args):
    return subprocess.run([sys.executable, "evaluate.py", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


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


# --- hostile inputs to the library ------------------------------------------

def _classifier(side=40, classes=3):
    keras.utils.set_random_seed(0)
    return keras_gpos.models.build_classifier(classes, (side, side, 3), depth=10, width=4, head="fc")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_consistency_functions_refuse_non_finite_images(bad):
    images = np.zeros((4, 32, 32, 3), "float32")
    images[2, 1, 1, 0] = bad
    protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
    model = _classifier()
    for call in (
        lambda: keras_gpos.metrics.consistency_and_accuracy(model, images, protocol=protocol, repeats=1),
        lambda: keras_gpos.metrics.shift_consistency(model, images, protocol=protocol, repeats=1),
        lambda: keras_gpos.metrics.accuracy_vs_shift(model, images, np.zeros(4, int), protocol),
        lambda: keras_gpos.metrics.view_latent_distance(model, images, protocol),
    ):
        with pytest.raises(ValueError, match="batch 0 holds 1 NaN or Inf value"):
            call()


def test_consistency_refuses_nan_predictions_and_bad_labels():
    protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
    images = np.zeros((4, 32, 32, 3), "float32")
    inputs = keras.Input((40, 40, 3))
    nan_model = keras.Model(inputs, keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=(1, 2)) / 0.0)(inputs))
    with pytest.raises(ValueError, match="NaN or Inf predictions on batch 0"):
        keras_gpos.metrics.shift_consistency(nan_model, images, protocol=protocol, repeats=1)
    metric = keras_gpos.metrics.ShiftConsistency()
    with pytest.raises(ValueError, match="NaN or Inf predictions"):
        metric.update_state(np.array([[np.nan, 1.0]]), np.array([[0.0, 1.0]]))
    model = _classifier()
    for labels, message in ((np.array([0, 1, 2, 3]), r"labels \[3\] outside \[0, 3\)"),
                            (np.array([0, 1, 2.7, 1]), r"non-integer labels such as \[2.7\]")):
        with pytest.raises(ValueError, match=message):
            keras_gpos.metrics.consistency_and_accuracy(model, images, labels, protocol, repeats=1)
    with pytest.raises(ValueError, match="not a compile\\(metrics=...\\) metric"):
        metric.update_state(np.array([0, 1]), np.zeros((2, 3)))


def _attacked():
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8)
    return keras_gpos.attacks.insert_channel_mask(model, "stage4_out")


def test_attack_evaluator_refuses_non_finite_pixels_bad_masks_and_bad_channels():
    attacked = _attacked()
    images = np.zeros((4, 32, 48, 3), "float32")
    masks = np.zeros((4, 32, 48), "int32")
    bad = images.copy()
    bad[3, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="batch 1 holds 1 NaN or Inf value"):
        keras_gpos.attacks.AttackEvaluator(attacked, (bad, masks), 3, batch_size=2)
    wrong = masks.copy()
    wrong[0, 0, 0] = 5
    with pytest.raises(ValueError, match=r"masks of batch 0 holds labels \[5\] outside \[0, 3\)"):
        keras_gpos.attacks.AttackEvaluator(attacked, (images, wrong), 3, batch_size=2)
    evaluator = keras_gpos.attacks.AttackEvaluator(attacked, (images, masks), 3, batch_size=2)
    with pytest.raises(ValueError, match="channels must be integer indices"):
        evaluator.evaluate([1.5])
    mask = keras_gpos.attacks.get_channel_mask(attacked)
    with pytest.raises(ValueError, match="fill values hold NaN or Inf"):
        mask.set_fill_values(np.full(mask.num_channels, np.nan))


def test_train_py_on_another_backend_refuses_in_one_line(tmp_path):
    result = _train(["--experiment=location", f"--output_dir={tmp_path / 'x'}"], timeout=120,
                    env={"KERAS_BACKEND": "numpy"})
    assert result.returncode == 2 and "KERAS_BACKEND=numpy" in _error_line(result)
    assert not (tmp_path / "x").exists()


def test_position_attack_reuses_its_model_only_with_its_own_training_settings(tmp_path):
    from keras_gpos.experiments.position_attack import PositionAttackConfig, run_position_attack

    config = PositionAttackConfig(
        output_dir=str(tmp_path / "pa"), street_train_size=8, street_val_size=4, image_height=32,
        image_width=32, depth=10, width=4, aspp_filters=4, epochs=1, attack_n=(2,), region_n=(2,),
        random_draws=2, contrast_pairs=0, verbose=0)
    run_position_attack(config)
    model_bytes = (tmp_path / "pa" / "model.keras").read_bytes()
    # Other attack settings: the same trained model is re-attacked.
    again = run_position_attack(config.replace(rank_flip="vertical"))
    assert again["ranking"]["flip"] == "vertical" and (tmp_path / "pa" / "model.keras").read_bytes() == model_bytes
    with pytest.raises(RunDirectoryError, match="width: 4 -> 8"):
        run_position_attack(config.replace(width=8))
    replaced = run_position_attack(config.replace(width=8, overwrite=True))
    assert replaced["model"]["parameters"] != again["model"]["parameters"]
    assert read_json(tmp_path / "pa" / "run.json")["config"]["width"] == 8


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


def test_a_torn_best_model_and_sidecar_pair_is_not_trusted(tmp_path):
    from keras_gpos.runs.callbacks import BestModelCheckpoint

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "best.keras"
    checkpoint = BestModelCheckpoint(path, monitor="val_loss", mode="min")
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_loss": 0.5})
    assert BestModelCheckpoint(path, monitor="val_loss", mode="min").best == 0.5
    # A kill between saving a better model and its sidecar: the model is new, the sidecar old.
    model.layers[0].kernel.assign(np.ones((3, 2), "float32"))
    model.save(path)
    resumed = BestModelCheckpoint(path, monitor="val_loss", mode="min")
    assert resumed.best is None and resumed.best_epoch is None


def test_atomic_files_get_the_permissions_of_a_plain_file(tmp_path):
    from keras_gpos.base.files import write_json

    previous = os.umask(0o022)
    try:
        (tmp_path / "plain_022.txt").write_text("x")
        write_json(tmp_path / "results.json", {"a": 1})
        assert (tmp_path / "results.json").stat().st_mode & 0o777 == \
            (tmp_path / "plain_022.txt").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        write_json(tmp_path / "private.json", {"a": 1})
        assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)
