"""Every experiment builds its run settings (the fingerprint's "settings") for every data source it takes,
and position_attack trains, ranks and attacks on a folder source (second hostile pass, finding 15:
KeyError 'street_train_size' once unread fields left the settings)."""

import pathlib

import pytest

from keras_gpos.experiments import augshift, location, position_attack
from keras_gpos.experiments import flags as experiment_flags
from keras_gpos.experiments.config import result_settings
from keras_gpos.experiments.registry import make_config
from tests.experiments.test_position_attack import _camvid, _config

IMAGE_SOURCES = ({"dataset": "embedded"}, {"dataset": "cifar10_binary", "data_dir": "/no/cifar"},
                 {"dataset": "tfds:cifar10"})
SEGMENTATION_SOURCES = ({"dataset": "street_scenes"}, {"dataset": "folder", "data_dir": "/no/camvid"},
                        {"dataset": "tfds:cityscapes"})


def _location(config):
    return [result_settings(config), location.legacy_settings(config.to_dict())]


def _channel_position(config):
    return [result_settings(run) for _, run in config.run_configs()]


def _augshift(config):
    settings = [augshift.leaf_settings(config, *leaf) for leaf in config.leaves()]
    variant, weight, seed = config.leaves()[0]
    record = {**config.to_dict(), "variant": variant, "consistency_weight": weight, "seed": seed}
    return settings + [augshift.legacy_settings(record)]


def _position_attack(config):
    return [position_attack.training_settings(config), position_attack.legacy_settings(config.to_dict())]


def _audit(config):
    return [config.to_dict()]  # an audit keeps no fingerprint; its config must still build


SETTINGS_OF = {"location": _location, "classification": _location, "channel_position": _channel_position,
               "augshift": _augshift, "position_attack": _position_attack, "audit": _audit}
CASES = [(name, source, SETTINGS_OF[name]) for name, sources in (
    ("location", IMAGE_SOURCES), ("classification", IMAGE_SOURCES), ("channel_position", IMAGE_SOURCES),
    ("augshift", IMAGE_SOURCES), ("position_attack", SEGMENTATION_SOURCES),
    ("audit", IMAGE_SOURCES + ({"dataset": "folder", "data_dir": "/no/camvid"},)),
) for source in sources]
REPO = pathlib.Path(__file__).resolve().parents[2]
FLAGFILES = sorted((REPO / "flags").rglob("*.cfg"))
AUDITED = {"audit": {"models": ("runs/a",)}}


@pytest.mark.adversarial
@pytest.mark.parametrize("name, source, settings_of", CASES,
                         ids=[f"{name}-{source['dataset']}" for name, source, _ in CASES])
def test_every_experiment_builds_its_settings_for_every_data_source(name, source, settings_of):
    config = make_config(name, **source, **AUDITED.get(name, {}))
    for settings in settings_of(config):
        assert settings and all(isinstance(key, str) for key in settings)
        unread = config.unread_fields() if hasattr(config, "unread_fields") else ()
        assert not set(unread) & set(settings), f"{name} on {source['dataset']} keeps unread fields"


@pytest.mark.adversarial
@pytest.mark.parametrize("flagfile", FLAGFILES, ids=[path.stem for path in FLAGFILES])
def test_every_shipped_flagfile_builds_its_settings(flagfile, monkeypatch):
    # flags/position_attack_camvid.cfg crashed with KeyError 'street_train_size' before any work.
    monkeypatch.chdir(REPO)  # flagfiles include each other by repo-relative path
    name, config, _ = experiment_flags.parse(["train.py", f"--flagfile={flagfile}"])
    assert all(settings for settings in SETTINGS_OF[name](config))


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
