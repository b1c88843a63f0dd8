"""The package's floors and what moving between them promised to keep.

The floors (docs/architecture.md) are import-linter contracts in
pyproject.toml; `lint-imports` follows imports inside functions too. Old
import paths warn and keep working for one release, and `.keras` files saved
before the move (tests/fixtures, written at the 0.2 layout) still load.
"""

import pathlib
import warnings

import keras
import numpy as np
import pytest

import keras_gpos

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def test_the_contracts_state_every_floor():
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    named = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    packages = {f"keras_gpos.{p.name}" for p in (REPO / "keras_gpos").iterdir()
                if (p / "__init__.py").exists()}
    assert packages <= named, f"packages on no floor: {sorted(packages - named)}"


# Old path -> (a name it held, the object it must still give).
MOVED = {
    "keras_gpos.graph": ("find_layer", "keras_gpos.base.graph"),
    "keras_gpos.files": ("write_json", "keras_gpos.base.files"),
    "keras_gpos.compiled": ("compiled_forward", "keras_gpos.base.backend"),
    "keras_gpos.validation": ("check_positive_int", "keras_gpos.base.validation"),
    "keras_gpos.registry": ("register", "keras_gpos.base.serialization"),
    "keras_gpos.data.inputs": ("batches", "keras_gpos.base.inputs"),
    "keras_gpos.training.run": ("fit_run", "keras_gpos.runs.lifecycle"),
    "keras_gpos.training.run_directory": ("RunDirectory", "keras_gpos.runs.directory"),
    "keras_gpos.training.resources": ("MemoryPlan", "keras_gpos.runs.resources"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_import_path_warns_and_gives_the_moved_object(old):
    import importlib

    name, new = MOVED[old]
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"moved to {new}.{name}"):
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), name)


def test_moved_training_callbacks_and_top_level_modules_still_resolve():
    with pytest.warns(DeprecationWarning, match="keras_gpos.runs.callbacks"):
        backup = keras_gpos.training.AtomicBackupAndRestore
    assert backup is keras_gpos.runs.AtomicBackupAndRestore
    with pytest.warns(DeprecationWarning):
        assert keras_gpos.graph.find_layer is keras_gpos.base.graph.find_layer
    with pytest.raises(AttributeError):
        keras_gpos.no_such_module  # noqa: B018


def test_public_names_import_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from keras_gpos.data import batches, shift_view_dataset  # noqa: F401
        from keras_gpos.training import AugShiftModel, ConsistencyWarmup, EpochSeeds, get_strategy  # noqa: F401
        from keras_gpos.reporting import Report, markdown_table  # noqa: F401


@pytest.mark.backend_agnostic
def test_keras_files_saved_before_the_move_still_load():
    expected = np.load(FIXTURES / "outputs_0.2.npz")
    layers_model = keras.saving.load_model(FIXTURES / "layers_0.2.keras")
    kinds = {type(layer).__name__ for layer in layers_model.layers}
    assert {"SpatialPadding2D", "PaddedConv2D", "BlurPool2D", "PolyphaseDownsample2D", "ChannelMask",
            "ChannelPermutation"} <= kinds
    # Compared as a multiset, so the check is about the values the file holds, not list order.
    saved = [expected[f"layers_weight_{i}"] for i in range(len(layers_model.get_weights()))]

    def key(array):
        return (array.shape, array.tobytes())

    assert sorted(map(key, layers_model.get_weights())) == sorted(map(key, saved))
    aug = keras.saving.load_model(FIXTURES / "augshift_0.2.keras")
    assert isinstance(aug, keras_gpos.training.AugShiftModel)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(aug(expected["images"], training=False)),
                               expected["augshift"], atol=1e-5)
