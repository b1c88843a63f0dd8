"""`run_position_attack` refuses what it can know is wrong before it trains or writes anything."""

import numpy as np
import pytest
from PIL import Image

import keras_gpos
from keras_gpos.experiments.position_attack import PositionAttackConfig, run_position_attack


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
