"""The lifecycle's sidecar files: a valid JSON file of another structure is one line naming it."""

import json

import keras
import numpy as np
import pytest

from keras_gpos.runs.callbacks import BestModelCheckpoint, read_backup
from keras_gpos.runs.lifecycle import check_backup


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
@pytest.mark.parametrize("payload, problem", [
    ([1, 2], "it holds a list"),
    ({"epoch": 0}, "it lacks 'value'"),
    ({"epoch": "0", "value": 0.5}, "'epoch' is a string"),
])
def test_a_best_model_sidecar_of_another_structure_is_one_line_naming_it(tmp_path, payload, problem):
    path = tmp_path / "best.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
    (tmp_path / "best.json").write_text(json.dumps(payload))
    with pytest.raises(ValueError, match=rf"{tmp_path / 'best.json'} is not a valid best-model sidecar: expected a "
                                         rf"JSON object with 'epoch' \(an integer\), 'value' \(a number\); {problem}"):
        BestModelCheckpoint(path, monitor="val_loss", mode="min")


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
@pytest.mark.parametrize("payload, problem", [
    ({"weights": "epoch-1.weights.h5"}, "it lacks 'epoch'"),
    ({"epoch": "one"}, "'epoch' is a string"),
    ({"epoch": True}, "'epoch' is true/false"),
    ({"epoch": 1, "weights": 3}, "'weights' is an integer"),
    ({"epoch": 1, "weights": "../../elsewhere.h5"}, "expected 'weights' to name a file"),
])
def test_backup_metadata_of_another_structure_is_one_line_naming_it(tmp_path, payload, problem):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "training_metadata.json").write_text(json.dumps(payload))
    for read in (check_backup, read_backup):
        with pytest.raises(ValueError, match=rf"training_metadata\.json is not a valid backup metadata file: "
                                             rf".*{problem}"):
            read(backup)


@pytest.mark.adversarial
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
