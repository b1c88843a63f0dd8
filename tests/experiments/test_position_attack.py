"""`run_position_attack` refuses what it can know is wrong before it trains or writes anything."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

import keras_gpos
from keras_gpos.base.files import read_json
from keras_gpos.experiments import position_attack
from keras_gpos.experiments.position_attack import (
    PositionAttackConfig,
    run_position_attack,
    training_settings,
)
from keras_gpos.experiments.registry import make_config
from keras_gpos.runs.directory import RunDirectoryError
from tests.flag_utils import parse_train_flags


def _camvid(root, val_label=0, val_size=(16, 16)):
    """A CamVid-layout folder of two train and two val scenes."""
    for split, size, label in (("train", (16, 16), 3), ("val", val_size, val_label)):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir(parents=True)
        for stem in ("a", "b"):
            Image.fromarray(np.full(size + (3,), 100, np.uint8)).save(root / split / f"{stem}.png")
            Image.fromarray(np.full(size, label, np.uint8)).save(root / f"{split}annot" / f"{stem}.png")
    return root


def _config(tmp_path, **kwargs):
    return PositionAttackConfig(output_dir=str(tmp_path / "run"), epochs=1, batch_size=2, width=2, depth=10,
                                aspp_filters=4, attack_n=(2,), region_n=(2,), random_draws=2, verbose=0, **kwargs)


@pytest.mark.adversarial
def test_a_model_for_other_classes_is_refused_before_anything_is_written(tmp_path):
    # Finding 2: --model_path took a 6-class model on 11-class data and folded the ids.
    model = keras_gpos.models.build_deeplab(3, (32, 32, 3), depth=10, width=2, aspp_filters=4)
    model.save(tmp_path / "given.keras")
    config = _config(tmp_path, model_path=str(tmp_path / "given.keras"), street_train_size=4, street_val_size=2,
                      image_height=32, image_width=32)
    with pytest.raises(ValueError, match="predicts 3 classes but the data has 6"):
        run_position_attack(config)
    assert not (tmp_path / "run").exists()


@pytest.mark.adversarial
@pytest.mark.parametrize("folder, message", [
    ({"val_label": 11}, "every pixel of the val split .* is the ignore label 11"),
    ({"val_size": (12, 16)}, r"val images are \(12, 16, 3\) but train images are \(16, 16, 3\)"),
])
def test_data_that_cannot_be_scored_is_refused_before_training(tmp_path, folder, message):
    # Finding 13: all-ignore labels and val images of another size surfaced only after training.
    data_dir = _camvid(tmp_path / "camvid", **folder)
    with pytest.raises(ValueError, match=message):
        run_position_attack(_config(tmp_path, dataset="folder", data_dir=str(data_dir)))
    assert not (tmp_path / "run").exists()


REPO = pathlib.Path(__file__).resolve().parents[2]


def test_camvid_flagfile_defaults_to_no_flip_augmentation():
    name, config = parse_train_flags([f"--flagfile={REPO / 'flags' / 'position_attack_camvid.cfg'}"])
    assert name == "position_attack"
    assert isinstance(config, PositionAttackConfig)
    assert config.flip_augmentation is False and config.dataset == "folder"
    assert config.random_draws >= 5 and config.layer_name == "aspp_project_relu"
    assert config.rank_split == "train" and config.rank_flip == "horizontal"
    assert PositionAttackConfig().flip_augmentation is False


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dataset=folder"], "dataset=folder needs --data_dir"),
        (["--attack_n=8,0"], "attack_n must be a non-empty tuple of positive ints"),
        (["--mask_mode=noise"], "Unknown mask_mode 'noise'"),
        (["--segmentation_model=unet"], "Unknown segmentation_model 'unet'"),
        (["--output_stride=32"], "Unknown output_stride 32"),
        (["--rank_flip=diagonal"], "Unknown rank_flip 'diagonal'"),
        (["--rank_split=test"], "Unknown rank_split 'test'"),
    ],
)
def test_bad_flags_are_clear_errors(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_train_flags(["--experiment=position_attack", *argv])


def test_n_larger_than_the_channel_count_is_an_error(tmp_path):
    model = keras_gpos.models.build_deeplab(6, (32, 32, 3), depth=10, width=2, aspp_filters=4)
    model.save(tmp_path / "given.keras")
    config = PositionAttackConfig(
        output_dir=str(tmp_path), model_path=str(tmp_path / "given.keras"), street_train_size=8,
        street_val_size=4, image_height=32, image_width=32, attack_n=(17,), region_n=(4,), verbose=0,
    )
    with pytest.raises(ValueError, match=r"N=17 \(from --attack_n/--region_n\) "
                                         r"is larger than the 16 channels of stage4_out"):
        run_position_attack(config)
    assert not (tmp_path / "results.json").exists()  # refused before ranking anything


def test_vertical_flip_ranks_on_train_and_attacks_top_and_bottom_halves(tmp_path):
    model = keras_gpos.models.build_deeplab(6, (32, 48, 3), depth=10, width=12, aspp_filters=8)
    model.save(tmp_path / "given.keras")
    config = PositionAttackConfig(
        output_dir=str(tmp_path / "run"), model_path=str(tmp_path / "given.keras"), street_train_size=12,
        street_val_size=4, image_height=32, image_width=48, attack_n=(2,), region_n=(3,), random_draws=2,
        contrast_pairs=3, rank_flip="vertical", rank_split="train", verbose=0,
    )
    results = run_position_attack(config)
    assert results["ranking"]["flip"] == "vertical" and results["ranking"]["split"] == "train"
    assert results["ranking"]["num_images"] == 12  # ranked on the training scenes
    comparison = results["comparison"]
    assert set(comparison["clean"]) == {"all", "top", "bottom"}
    assert {row["ranking"] for row in comparison["regions"]} == {"top", "bottom"}
    for row in comparison["regions"]:
        # Two random sets cannot make a half significant: the claim says so instead of naming one.
        assert row["hurts_more"] is None and row["verdict"]["reason"] == "too_few_draws"
        assert set(row["drops"]) == {"top", "bottom"}
    assert len(comparison["contrasts"][0]["random_values"]) == 3
    table = (tmp_path / "run" / "results.md").read_text()
    assert "top-half drop" in table and "Ranking flip: vertical" in table and "ranked on" in table
    assert "Region contrast (top-ranked vs bottom-ranked" in table


def test_street_scenes_attack_runs_end_to_end_with_its_random_baselines(tmp_path):
    # A 64-channel DeepLab trained on street scenes without flips, attacked end
    # to end. Whether top-N beats random here is a training outcome, not a
    # property of the code: measured best ratios (top-N drop / mean random
    # drop) of 5.5, 1.46 and 1.91 over seeds 0-2 at this size, and a run on a
    # loaded machine at 1.1; the three-seed study (docs/results/
    # position_attack_camvid_seeds_*) finds no claim that holds in every seed.
    # So the claim is judged by the comparison's statistics (tested on a
    # constructed side-specific segmenter in tests/attacks/test_comparison.py) and
    # reported, never asserted from a trained network.
    config = PositionAttackConfig(
        output_dir=str(tmp_path), seed=1, epochs=8, learning_rate=2e-3,
        street_train_size=400, street_val_size=64, image_height=48, image_width=64,
        depth=10, width=8, attack_n=(2, 4, 8, 16), region_n=(4, 8), random_draws=5, verbose=0,
    )
    results = run_position_attack(config)
    for name in ("results.json", "results.md", "attack_curves.png", "ranking.json", "ranking.png", "model.keras"):
        assert (tmp_path / name).exists(), name
    assert json.loads((tmp_path / "results.json").read_text())["layer"] == "stage4_out"
    assert results["trace_count"] == 1
    comparison = results["comparison"]
    assert comparison["clean"]["all"] > 0.7  # the network learnt the scenes (measured 0.82-0.84)
    assert [row["n"] for row in comparison["rows"]] == [2, 4, 8, 16]
    assert all(len(row["random_values"]) == row["draws"] >= 5 for row in comparison["rows"])
    # Region rows name the half each signed ranking hurts more (measured, not assumed).
    assert {row["ranking"] for row in comparison["regions"]} == {"left", "right"}


@pytest.mark.skipif(importlib.util.find_spec("keras_hub") is None,
                    reason="KerasHub is not installed (pip install 'keras_gpos[hub]')")
def test_keras_hub_deeplab_is_a_segmentation_model_source(tmp_path):
    config = PositionAttackConfig(
        output_dir=str(tmp_path), segmentation_model="keras_hub_deeplabv3", street_train_size=8,
        street_val_size=4, image_height=64, image_width=64, epochs=1, batch_size=4, attack_n=(2,),
        region_n=(2,), random_draws=2, contrast_pairs=2, verbose=0,
    )
    results = run_position_attack(config)
    assert results["layer"] == "stack3_block1_out" and results["ranking"]["num_channels"] == 512
    assert json.loads((tmp_path / "run.json").read_text())["experiment"] == "position_attack"
    with pytest.raises(ValueError, match="multiples of 32"):
        run_position_attack(config.replace(image_height=60, output_dir=str(tmp_path / "other")))


def test_claims_are_judged_over_seeds_by_evaluate(tmp_path):
    from keras_gpos.experiments import evaluate_runs

    model = keras_gpos.models.build_deeplab(6, (32, 48, 3), depth=10, width=4, aspp_filters=8)
    model.save(tmp_path / "given.keras")
    run_dirs = []
    for seed in (0, 1):
        config = PositionAttackConfig(
            output_dir=str(tmp_path / f"s{seed}"), model_path=str(tmp_path / "given.keras"), seed=seed,
            street_train_size=8, street_val_size=6, image_height=32, image_width=48, attack_n=(2, 4),
            region_n=(2,), random_draws=3, contrast_pairs=4, verbose=0,
        )
        run_position_attack(config)
        run_dirs.append(config.output_dir)
    report = evaluate_runs(run_dirs, tmp_path / "seeds")
    summary = report.payload["seeds_summary"]
    assert summary["seeds"] == [0, 1] and [row["n"] for row in summary["rows"]] == [2, 4]
    for row in summary["rows"] + summary["contrasts"]:
        assert len(row["states_per_seed"]) == 2
        assert row["holds"] == all(state == "holds" for state in row["states_per_seed"])
    assert "per seed" in report.text and (tmp_path / "seeds" / "results.png").exists()


def test_position_attack_layer_and_n_are_checked_before_training(tmp_path):
    from keras_gpos.experiments.position_attack import (
        PositionAttackConfig,
        run_position_attack,
    )

    base = dict(output_dir=str(tmp_path / "pa"), street_train_size=8, street_val_size=4, image_height=32,
                image_width=32, depth=10, width=4, aspp_filters=4, verbose=0)
    with pytest.raises(ValueError, match="no layer named 'bogus'"):
        run_position_attack(PositionAttackConfig(**base, layer="bogus"))
    with pytest.raises(ValueError, match=r"N=100000 .* larger than the 32 channels"):
        run_position_attack(PositionAttackConfig(**base, attack_n=(100000,)))
    assert not (tmp_path / "pa").exists()


@pytest.mark.adversarial
def test_position_attack_reuses_its_model_only_with_its_own_training_settings(tmp_path):
    from keras_gpos.experiments.position_attack import (
        PositionAttackConfig,
        run_position_attack,
    )

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


# The training settings of a position attack on real data (a folder, Cityscapes): the street-scene
# sizes, which such data never reads, are not among them, and that is not an error.


@pytest.mark.adversarial
@pytest.mark.parametrize("dataset, data_dir", [("folder", "camvid"), ("tfds:cityscapes", "")])
def test_training_settings_of_real_data_leave_out_the_street_scene_sizes(dataset, data_dir):
    # Found running flags/paper/position_attack_camvid.cfg: every folder run raised KeyError 'street_train_size'
    # before writing anything, since the unread sizes left result_settings but not TRAINING_FIELDS.
    settings = training_settings(PositionAttackConfig(dataset=dataset, data_dir=data_dir))
    assert "street_train_size" not in settings and "street_val_size" not in settings
    assert settings["dataset"] == dataset and settings["depth"] == PositionAttackConfig().depth


def test_street_scene_runs_keep_their_sizes_in_the_training_settings():
    settings = training_settings(PositionAttackConfig(street_train_size=30))
    assert settings["street_train_size"] == 30


@pytest.mark.adversarial
def test_a_source_s_unread_sizes_leave_the_position_attack_settings_and_its_own_stay():
    folder = make_config("position_attack", dataset="folder", data_dir="/x")
    street = make_config("position_attack")
    assert "street_train_size" not in position_attack.training_settings(folder)
    assert position_attack.training_settings(street)["street_train_size"] == street.street_train_size
    # A changed street-scene size never makes a folder run look different.
    assert (position_attack.training_settings(folder)
            == position_attack.training_settings(folder.replace(street_train_size=7)))


@pytest.mark.adversarial
def test_position_attack_runs_on_a_folder_source_and_reuses_its_training(tmp_path):
    data_dir = _camvid(tmp_path / "camvid")
    config = _config(tmp_path, dataset="folder", data_dir=str(data_dir), rank_batch_size=2)
    results = position_attack.run_position_attack(config)
    assert results and (tmp_path / "run" / "results.json").exists()
    trained = (tmp_path / "run" / "model.keras").stat().st_mtime_ns
    position_attack.run_position_attack(config)  # same settings: the training is reused
    assert (tmp_path / "run" / "model.keras").stat().st_mtime_ns == trained
