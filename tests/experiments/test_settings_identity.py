"""What enters a run's identity: the dtype policy, and the fields a data source never reads."""

import pytest

from keras_gpos.experiments.config import result_settings
from keras_gpos.experiments.location import LocationConfig
from keras_gpos.experiments.position_attack import PositionAttackConfig, training_settings


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
