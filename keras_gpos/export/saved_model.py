"""Export a Keras model as a TensorFlow SavedModel with a serving signature."""

import contextlib
import logging
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
        with _quiet_tensorflow_info():  # TF logs "Assets written to: <tmp>/assets" at INFO despite verbose=False
            model.export(str(tmp), format="tf_saved_model", verbose=False)
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


@contextlib.contextmanager
def _quiet_tensorflow_info():
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
