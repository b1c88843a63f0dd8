"""Flags -> config, the location experiment end to end, reports and export."""

import dataclasses
import json
import logging
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gpos
from keras_gpos.experiments.config import field_help
from keras_gpos.experiments.location import LocationConfig, train_location
from keras_gpos.training.distribution import get_strategy

from tests.flag_utils import parse_train_flags
from keras_gpos.base.schema import SCHEMA_VERSION

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_flagfile_becomes_a_frozen_config(tmp_path):
    flagfile = tmp_path / "x.cfg"
    flagfile.write_text("# comment\n--experiment=channel_position\n--paddings=zero,circular\n"
                        "--grid_sizes=2,3\n--seeds=0,1\n--width=8\n")
    name, config = parse_train_flags([f"--flagfile={flagfile}", "--epochs=3"])
    assert name == "channel_position"
    assert config.paddings == ("zero", "circular") and config.grid_sizes == (2, 3)
    assert config.seeds == (0, 1) and config.width == 8 and config.epochs == 3
    assert len(config.run_configs()) == 2 * 2 * 2 * 5
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.width = 3


@pytest.mark.parametrize("flagfile", sorted((REPO / "flags").glob("*.cfg")), ids=lambda p: p.name)
def test_every_shipped_flagfile_parses_and_is_documented(flagfile, monkeypatch):
    # A renamed or retired flag must break here, not hours into a user's sweep.
    monkeypatch.chdir(REPO)  # flagfiles include each other by repo-relative path
    _, config = parse_train_flags([f"--flagfile={flagfile}"])
    if hasattr(config, "run_configs"):
        assert config.run_configs(), f"{flagfile.name} plans no runs"
    text = flagfile.read_text()
    assert text.startswith("# "), f"{flagfile.name} must open with a comment on what it runs"
    table = (REPO / "docs" / "experiments" / "index.md").read_text()
    assert f"`{flagfile.name}`" in table, f"{flagfile.name} is missing from docs/experiments/index.md's flagfile table"


def test_flags_use_the_experiments_own_defaults():
    _, location = parse_train_flags(["--experiment=location"])
    _, classification = parse_train_flags(["--experiment=classification"])
    assert location.task == "location" and classification.task == "class"
    assert location.beta_1 == 0.5 and location.batch_size == 48
    # Defaults a 2-core CPU runs in minutes on the embedded data; the paper's settings are flags/paper/.
    assert (location.dataset, location.depth, location.width, location.epochs) == ("embedded", 10, 16, 4)
    _, augshift = parse_train_flags(["--experiment=augshift"])
    assert (augshift.dataset, augshift.depth, augshift.width, augshift.variants) == (
        "embedded", 10, 16, ("baseline", "augshift"))
    _, attack = parse_train_flags(["--experiment=position_attack"])
    assert (attack.dataset, attack.depth, attack.width, attack.epochs) == ("street_scenes", 10, 16, 4)


def test_a_default_the_data_source_never_reads_is_not_part_of_the_fingerprint():
    from keras_gpos.experiments.config import result_settings

    _, cifar = parse_train_flags(["--experiment=location", "--dataset=cifar10_binary", "--data_dir=/x"])
    _, embedded = parse_train_flags(["--experiment=location"])
    assert "embedded_train_size" not in result_settings(cifar)
    assert result_settings(embedded)["embedded_train_size"] == embedded.embedded_train_size


@pytest.mark.parametrize(
    "argv",
    [["--experiment=location"], ["--experiment=classification"], ["--experiment=channel_position"],
     ["--experiment=augshift", "--dataset=embedded"], ["--experiment=position_attack"]],
    ids=lambda argv: argv[0].split("=")[1],
)
def test_every_resnet_experiment_takes_depth_50_and_says_so(argv):
    _, config = parse_train_flags([*argv, "--depth=50"])
    assert config.depth == 50
    depth_field = next(f for f in dataclasses.fields(config) if f.name == "depth")
    assert "50" in field_help(depth_field)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--experiment=location", "--seeds=0,1"], "does not take --seeds"),
        (["--experiment=location", "--padding=mirror"], "Unknown padding mode 'mirror'"),
        (["--experiment=location", "--grid_size=0"], "grid_size must be a positive int"),
        (["--experiment=location", "--permute_at=pooled"], "permute_at='pooled' needs head='fc'"),
        (["--experiment=location", "--arch=vgg", "--depth=11", "--permute_at=stage9"], "out of range for arch 'vgg'"),
        (["--experiment=location", "--depth=11"], "depth 11 is not a resnet depth"),
        (["--experiment=location", "--seed=-1"], r"seed must be an int in \[0, 2147483647\]; got -1"),
        (["--experiment=location", "--learning_rate=inf"], "learning_rate must be a finite number"),
        (["--experiment=augshift", "--fill=nan"], "fill must be a finite number"),
        (["--experiment=augshift", "--consistency_weights=1,inf"], "consistency_weights must be a finite number"),
        (["--experiment=location", "--output_dir= "], "output_dir must name a folder"),
        (["--experiment=location", "--seeds=0,1"], "does not take --seeds \\(a flag of augshift, channel_position\\)"),
        (["--experiment=location", "--dataset=cifar10_binary"], "needs --data_dir"),
        (["--experiment=location", "--strategy=gpu_magic"], "Unknown strategy 'gpu_magic'"),
        (["--experiment=channel_position", "--paddings=zero,bogus"], "Unknown padding 'bogus'"),
    ],
)
def test_bad_or_contradictory_flags_are_clear_errors(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_train_flags(argv)


def test_train_cli_reports_flag_errors_without_a_traceback():
    result = subprocess.run(
        [sys.executable, "train.py", "--experiment=location", "--background=purple"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Unknown background 'purple'" in result.stderr
    assert "Traceback" not in result.stderr


def _tiny_config(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path / "run"), dataset="embedded", embedded_train_size=120,
        embedded_test_size=12, grid_size=2, depth=10, width=4, epochs=1, batch_size=16,
        verbose=0,
    )
    values.update(overrides)
    return LocationConfig(**values)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    config = _tiny_config(tmp, head="fc", permute_at="")
    summary = train_location(config)
    return config, summary


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


def test_saved_model_cli_lists_serving_default(tiny_run):
    config, _ = tiny_run
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    if not cli.exists():
        pytest.skip(f"saved_model_cli not installed next to {sys.executable}")
    out = subprocess.run(
        [str(cli), "show", "--dir", str(pathlib.Path(config.output_dir) / "saved_model"),
         "--all"], capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "signature_def['serving_default']" in out.stdout


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


def test_suite_sweeps_replace_single_fields_and_conflicts_are_errors():
    _, config = parse_train_flags(["--experiment=channel_position", "--grid_size=2", "--padding=reflect",
                        "--seed=4"])
    runs = config.run_configs()
    assert {c.grid_size for _, c in runs} == {2} and {c.padding for _, c in runs} == {"reflect"}
    assert {c.seed for _, c in runs} == {4}
    with pytest.raises(ValueError, match="--grid_sizes and --grid_size contradict"):
        parse_train_flags(["--experiment=channel_position", "--grid_size=2", "--grid_sizes=3,4"])


def _one_sgd_step(strategy, sync_batchnorm, x, y):
    from keras_gpos.models import build_classifier

    keras.utils.set_random_seed(0)  # identical initial weights
    with strategy.scope():
        model = build_classifier(4, input_shape=(32, 32, 3), depth=10, width=4, head="fc",
                                 sync_batchnorm=sync_batchnorm)
        model.compile(optimizer=keras.optimizers.SGD(0.5),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = model.evaluate(x, y, batch_size=8, verbose=0)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return loss, [w.numpy() for w in model.weights]


def test_mirrored_step_matches_one_device_for_the_same_global_batch():
    # Two replicas on two logical CPUs, global batch 8 (4 per replica): the
    # loss and the weights after one SGD step must equal a single device's.
    # Batch-norm statistics must then span the global batch (sync_batchnorm,
    # which train.py switches on for multi-replica strategies); with
    # per-replica statistics the step differs, which the last check shows.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 4, size=8)
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    one_loss, one = _one_sgd_step(tf.distribute.OneDeviceStrategy(cpus[0]), False, x, y)
    mirrored = get_strategy("mirrored")  # the two logical CPUs
    two_loss, two = _one_sgd_step(mirrored, True, x, y)
    assert two_loss == pytest.approx(one_loss, rel=1e-5)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    _, unsynced = _one_sgd_step(mirrored, False, x, y)
    assert any(not np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(one, unsynced))


def test_location_experiment_trains_under_mirrored_strategy(tmp_path):
    config = _tiny_config(tmp_path, strategy="mirrored", head="fc")
    summary = train_location(config)
    assert summary["config"]["strategy"] == "mirrored"
    model = keras.saving.load_model(pathlib.Path(config.output_dir) / "model.keras")
    assert model.get_layer("stem_bn").synchronized


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
