"""keras_gpos.experiments.config: what enters a run's settings (the fingerprint's "settings").

Every experiment builds its settings for every data source it takes (second hostile pass, finding
15: KeyError 'street_train_size' once unread fields left the settings); the dtype policy is among
them, the fields a source never reads are not.
"""


import pytest

from keras_gpos.experiments import augshift, location, position_attack
from keras_gpos.experiments import flags as experiment_flags
from keras_gpos.experiments.config import result_settings
from keras_gpos.experiments.location import LocationConfig
from keras_gpos.experiments.position_attack import (
    PositionAttackConfig,
    training_settings,
)
from keras_gpos.experiments.registry import make_config
from tests.experiments.test_flags import FLAGFILES, REPO

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


# What enters a run's identity: the dtype policy, and the fields a data source never reads.


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_a_folder_position_attack_has_training_settings():
    # Before the fix: KeyError 'street_train_size' (the folder source never reads the street sizes, so
    # they left the settings, but the training settings still picked them): no folder run could start.
    settings = training_settings(PositionAttackConfig(dataset="folder", data_dir="camvid"))
    assert "street_train_size" not in settings and settings["dataset"] == "folder"


@pytest.mark.backend_agnostic
def test_the_dtype_policy_enters_the_settings_unless_it_is_the_default():
    assert "dtype_policy" not in result_settings(LocationConfig())  # runs from before the flag keep their identity
    assert result_settings(LocationConfig(dtype_policy="mixed_bfloat16"))["dtype_policy"] == "mixed_bfloat16"
    assert training_settings(PositionAttackConfig(dtype_policy="mixed_float16"))["dtype_policy"] == "mixed_float16"


@pytest.mark.backend_agnostic
def test_an_unknown_dtype_policy_is_one_line():
    with pytest.raises(ValueError, match="dtype_policy.*float64.*mixed_bfloat16"):
        LocationConfig(dtype_policy="float64")
