"""What `import keras_gpos` gives a user, the optional extras' install lines, and how the library logs."""

import ast
import pathlib
import sys

import pytest

import keras_gpos
from keras_gpos.losses import ShiftConsistencyLoss
from keras_gpos.metrics import ShiftConsistency
from keras_gpos.training import AugShiftModel


def test_every_subpackage_is_reachable_after_import_keras_gpos():
    for name in ("base", "layers", "losses", "data", "models", "metrics", "ranking", "attacks", "audit",
                 "training", "export"):
        assert hasattr(keras_gpos, name), name
    assert callable(keras_gpos.export.export_saved_model)


def test_a_missing_extra_is_an_import_error_with_install_lines_for_pip_and_a_clone(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_hub", None)  # import keras_hub now raises ImportError
    with pytest.raises(ImportError) as raised:
        keras_gpos.models.build_keras_hub_deeplab(3, (64, 64, 3))
    message = str(raised.value)
    assert "pip install 'keras_gpos[hub]'" in message and "pip install -e '.[hub]'" in message


@pytest.mark.backend_agnostic
def test_public_api():
    assert keras_gpos.training.AugShiftModel is AugShiftModel
    assert keras_gpos.losses.ShiftConsistencyLoss is ShiftConsistencyLoss
    assert keras_gpos.metrics.ShiftConsistency is ShiftConsistency
    assert pathlib.Path(keras_gpos.__file__).exists()


PACKAGE = pathlib.Path(keras_gpos.__file__).parent


def test_the_library_logs_instead_of_printing():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, offenders
