"""The AugShift suite checks, before any training, that its new runs are seeds of the same settings as
the finished runs of their group in the folder."""

import json
import pathlib

import pytest
from absl import flags

from keras_gpos.base.schema import SCHEMA_VERSION
from keras_gpos.experiments import EXPERIMENTS, AugShiftConfig, augshift, make_config
from keras_gpos.experiments.augshift import run_augshift
from keras_gpos.experiments.flags import parse
from tests.reporting.test_augshift import _run_summary


def test_new_seeds_of_a_group_with_other_settings_are_refused_before_training(tmp_path, monkeypatch):
    _run_summary(tmp_path / "runs" / "baseline_seed0", 0, epochs=12)
    monkeypatch.setattr(augshift, "train_one", lambda *a, **k: pytest.fail("trained"))
    config = AugShiftConfig(output_dir=str(tmp_path), dataset="embedded", embedded_train_size=40,
                            embedded_test_size=8, variants=("baseline",), seeds=(1,), epochs=6, width=4, depth=10,
                            canvas_size=56)
    with pytest.raises(ValueError, match=r"baseline_seed0 and .*baseline_seed1 share the run group 'baseline' but "
                                         r"differ in settings\.epochs: 12 -> 6; they are not seeds"):
        run_augshift(config)


REPO = pathlib.Path(__file__).resolve().parents[2]


def test_registered_as_an_experiment():
    assert EXPERIMENTS["augshift"].config_class is AugShiftConfig
    assert EXPERIMENTS["augshift"].run is run_augshift


@pytest.mark.parametrize("values,match", [
    ({"consistency_weights": (1.0, -0.5)}, "lambda\\) must be >= 0; got -0.5"),
    ({"variants": ("baseline", "mixup")}, "Unknown variant 'mixup'"),
    ({"distance": "l2"}, "Unknown distance 'l2'"),
    ({"view_mode": "reflect"}, "Unknown view_mode 'reflect'"),
    ({"eval_protocols": ("canvas", "zoom")}, "Unknown eval_protocols 'zoom'"),
    ({"aps_padding": "mirror"}, "Unknown aps_padding 'mirror'"),
    ({"blur_kernel_size": 9}, "Unknown blur_kernel_size 9"),
    ({"warmup_epochs": -1}, "warmup_epochs must be an int >= 0; got -1"),
    ({"seeds": ()}, "at least one seed"),
])
def test_bad_config_values_are_clear_errors(values, match):
    with pytest.raises(ValueError, match=match):
        make_config("augshift", dataset="embedded", **values)


@pytest.mark.parametrize("name", ["augshift_cifar", "augshift_lambda", "augshift_warmup",
                                  "augshift_warmup_mse"])
def test_augshift_flagfiles_run_augshift_on_the_cifar_subset(name, monkeypatch):
    # Parsing and the opening comment of every flagfile: tests/experiments/test_flags.py.
    path = REPO / "flags" / f"{name}.cfg"
    monkeypatch.chdir(REPO)  # flagfiles include each other by repo-relative path
    experiment, config, _ = parse(["train.py", f"--flagfile={path}"], flags.FlagValues())
    assert experiment == "augshift" and isinstance(config, AugShiftConfig)
    assert config.dataset == "cifar10_binary"


def test_tiny_run_writes_table_plot_and_exports(tmp_path):
    config = AugShiftConfig(
        dataset="embedded", embedded_train_size=90, embedded_test_size=18, val_fraction=0.2,
        variants=("augshift_blurpool",), seeds=(0,), consistency_weights=(1.0,),
        depth=10, width=4, epochs=1, batch_size=24, canvas_size=40, blur_kernel_size=3,
        eval_repeats=1, probe_train_images=18, sweep_stride=4, verbose=0,
        output_dir=str(tmp_path / "out"),
    )
    payload = run_augshift(config)
    out = tmp_path / "out"
    for name in ("results.json", "results.md", "results.png"):
        assert (out / name).stat().st_size > 0, name
    groups = {entry["group"] for entry in payload["summary"]}
    assert groups == {"augshift_blurpool_lam1_mse"}
    for row in payload["runs"]:
        assert 0.0 <= row["test_accuracy"] <= 1.0 and 0.0 <= row["consistency"] <= 1.0
        assert row["accuracy_vs_shift"]["offsets"] == [0, 4, 8]
        assert row["location_probe"]["chance"] == pytest.approx(1 / 9)
        assert row["experiment"] == "augshift" and row["schema_version"] == SCHEMA_VERSION
    table = (out / "results.md").read_text()
    assert "consistency (%)" in table and "test acc (%)" in table  # always side by side
    run_dir = out / "runs" / "augshift_blurpool_lam1_mse_seed0"
    assert (run_dir / "saved_model" / "saved_model.pb").exists()
    # Finished runs are skipped on a re-run: the same summary comes back.
    again = run_augshift(config)
    assert json.dumps(again["runs"], sort_keys=True) == json.dumps(payload["runs"], sort_keys=True)
