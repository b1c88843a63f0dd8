"""The `augshift` experiment: config, flagfiles, a tiny end-to-end run, and
(slow) the AugShift effect on real CIFAR-10."""

import json
import pathlib

import pytest
from absl import flags

from keras_gpos.experiments import AugShiftConfig, EXPERIMENTS, make_config
from keras_gpos.experiments.augshift import run_augshift
from keras_gpos.experiments.flags import parse
from keras_gpos.base.schema import SCHEMA_VERSION

REPO = pathlib.Path(__file__).resolve().parents[1]


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
    # Parsing and the opening comment of every flagfile: test_experiments.py.
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


@pytest.mark.slow
def test_augshift_pulls_shifted_views_together_on_real_cifar(cifar10_dir, tmp_path):
    """Baseline vs AugShift (lambda 1), seed 0, ResNet-10 width 16, 1,500 CIFAR
    images, 6 epochs (~2.5 min on 2 busy cores).

    Measured at this budget (20:52 UTC run): accuracy 25.7% baseline, 31.3%
    AugShift; relative view-latent distance 0.194 vs 0.136 (ratio 0.70); in
    the full 12-epoch, 3,355-image runs the ratio was 0.47-0.53 over two
    seeds. Without op determinism the same seed varies run to run: three more
    runs gave baseline accuracy 19.7% (a CI run), 28.3% and 28.6%, AugShift
    30.5% and 31.8%, distance ratios 0.63 and 0.64. The test asks for
    accuracy clearly above chance (floor 15%, chance 10%; 846 test images,
    so the binomial std at chance is about 1 point) and for AugShift's latent
    distance to be at most 0.85x the baseline's: the loss's direct effect,
    with room for seed noise.

    Consistency is deliberately not compared here: at 6 epochs the
    undertrained baseline predicts few classes and is *more* consistent
    (71.9% vs 62.9% measured); consistency only means something next to
    accuracy, which the full experiment reports.
    """
    config = AugShiftConfig(
        dataset="cifar10_binary", data_dir=str(cifar10_dir), train_examples=1500,
        variants=("baseline", "augshift"), seeds=(0,), depth=10, width=16, epochs=6,
        batch_size=64, eval_repeats=2, probe_train_images=300,
        sweep_stride=8, verbose=0, output_dir=str(tmp_path / "cifar"),
    )
    payload = run_augshift(config)
    runs = {row["variant"]: row for row in payload["runs"]}
    assert runs["baseline"]["test_accuracy"] > 0.15
    assert runs["augshift"]["test_accuracy"] > 0.15
    assert runs["augshift"]["view_latent_distance"] < 0.85 * runs["baseline"]["view_latent_distance"]
