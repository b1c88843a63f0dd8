"""Export a Keras model as a TensorFlow SavedModel with a serving signature."""

import pathlib
import shutil

from keras_gpos.base.files import replace_dir


def export_saved_model(model, path):
    """Writes `model` as a SavedModel at `path` (atomically).

    The export has the `serve` endpoint and the `serving_default` signature
    (Keras 3 `model.export`), loads with `tf.saved_model.load` or
    `keras.layers.TFSMLayer(path, call_endpoint="serve")`, and runs
    without keras_gpos installed. TensorFlow only. On any failure (a full
    disk) the partial export is removed and the previous one is kept.

    Returns:
        The export path.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.export(str(tmp), format="tf_saved_model", verbose=False)
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
