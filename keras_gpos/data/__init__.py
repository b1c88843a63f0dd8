"""Data: embedded shapes and street scenes, CIFAR-10 binary, folders, TFDS, grids and views.

Names that need TensorFlow (`tf.data` pipelines, file decoders, the grid
canvas ops) are imported on first use, so `import keras_gpos.data` works
without TensorFlow: the in-memory sets, the view protocol and the input
normaliser are NumPy only.
"""

from keras_gpos.base.backend import requires_tensorflow
from keras_gpos.base.inputs import batches
from keras_gpos.data.image_set import ImageSet
from keras_gpos.data.image_set import normalization_stats
from keras_gpos.data.image_set import split_validation
from keras_gpos.data.segmentation_set import SegmentationSet
from keras_gpos.data.sources import DATASETS
from keras_gpos.data.sources import ImageSplits
from keras_gpos.data.sources import embedded_memory
from keras_gpos.data.sources import load_image_dataset
from keras_gpos.data.sources import load_image_splits
from keras_gpos.data.street_scenes import STREET_CLASSES
from keras_gpos.data.street_scenes import make_street_scenes
from keras_gpos.data.synthetic import SHAPE_CLASSES
from keras_gpos.data.synthetic import make_shapes_dataset
from keras_gpos.data.view_protocol import VIEW_MODES
from keras_gpos.data.view_protocol import ViewProtocol

# name -> module, imported on first access (these modules import TensorFlow).
_LAZY = {
    "load_cifar10_binary": "cifar",
    "BACKGROUNDS": "grid",
    "exhaustive_placement": "grid",
    "place_on_grid": "grid",
    "random_cells": "grid",
    "grid_dataset": "pipeline",
    "normalize": "pipeline",
    "keyed_epochs": "pipeline",
    "steps_per_epoch": "pipeline",
    "canvas_views": "shift_views",
    "shift_view_dataset": "view_pipeline",
    "shifted_views": "shift_views",
    "translate": "shift_views",
    "CAMVID_CLASSES": "segmentation",
    "SEGMENTATION_DATASETS": "segmentation",
    "load_mask_folder": "segmentation",
    "load_segmentation_dataset": "segmentation",
    "segmentation_dataset": "segmentation",
}


def _tensorflow_modules():
    from keras_gpos.data import cifar, grid, pipeline, segmentation, shift_views, view_pipeline

    return {"cifar": cifar, "grid": grid, "pipeline": pipeline, "segmentation": segmentation,
            "shift_views": shift_views, "view_pipeline": view_pipeline}


def __getattr__(name):
    if name in _LAZY:
        requires_tensorflow(f"keras_gpos.data.{name}")
        value = getattr(_tensorflow_modules()[_LAZY[name]], name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_gpos.data' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
