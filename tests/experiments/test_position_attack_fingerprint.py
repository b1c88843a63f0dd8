"""The training settings of a position attack on real data (a folder, Cityscapes): the street-scene
sizes, which such data never reads, are not among them, and that is not an error."""

import pytest

from keras_gpos.experiments.position_attack import PositionAttackConfig, training_settings


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
