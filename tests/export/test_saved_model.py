"""export_saved_model: a SavedModel that serves the Keras outputs, written all at once or not at all."""

import keras
import numpy as np
import pytest

from keras_gpos.export import export_saved_model

tf = pytest.importorskip("tensorflow")


def _model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(2)])


X = np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype("float32")


def test_the_export_serves_the_keras_outputs_by_its_endpoint_and_its_signature(tmp_path):
    model = _model(0)
    path = export_saved_model(model, tmp_path / "served")
    assert path == tmp_path / "served"
    loaded = tf.saved_model.load(str(path))
    want = model.predict(X, verbose=0)
    np.testing.assert_allclose(loaded.serve(X).numpy(), want, rtol=1e-5, atol=1e-6)
    (output,) = loaded.signatures["serving_default"](tf.constant(X)).values()
    np.testing.assert_allclose(output.numpy(), want, rtol=1e-5, atol=1e-6)


def test_a_second_export_replaces_the_first_and_leaves_nothing_beside_it(tmp_path):
    export_saved_model(_model(0), tmp_path / "served")
    newer = _model(1)
    export_saved_model(newer, tmp_path / "served")
    loaded = tf.saved_model.load(str(tmp_path / "served"))  # held: its variables live as long as it does
    served = loaded.serve(X).numpy()
    np.testing.assert_allclose(served, newer.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]


def test_a_failed_export_keeps_the_previous_one_and_removes_its_partial_files(tmp_path, monkeypatch):
    first = _model(0)
    export_saved_model(first, tmp_path / "served")
    broken = _model(1)

    def export_then_fail(path, **kwargs):
        keras.Model.export(broken, path, **kwargs)  # the files are written, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(broken, "export", export_then_fail)
    with pytest.raises(OSError, match="No space left"):
        export_saved_model(broken, tmp_path / "served")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]
    loaded = tf.saved_model.load(str(tmp_path / "served"))  # held: its variables live as long as it does
    served = loaded.serve(X).numpy()
    np.testing.assert_allclose(served, first.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
