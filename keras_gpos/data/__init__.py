"""Data: embedded shapes and street scenes, CIFAR-10 binary, folders, TFDS, grids and views.

The input pipelines are one NumPy data layer used on every backend: grid
canvases, shift views and segmentation batches keyed by `(seed, epoch,
batch index)` (`keyed`, `grid`, `shift_views`, `transforms`), fed to `fit`
as a `tf.data.Dataset` on TensorFlow and a `keras.utils.PyDataset`
elsewhere (`feed`). File readers (CIFAR-10 binary, image folders) are
NumPy and Pillow; only the TFDS and Cityscapes loaders need TensorFlow, and
they import it when called, so `import keras_gpos.data` and every file
source work without it.
"""

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
from keras_gpos.data.keyed import BatchKey
from keras_gpos.data.keyed import KeyedBatches
from keras_gpos.data.keyed import steps_per_epoch
from keras_gpos.data.feed import KeyedPyDataset
from keras_gpos.data.feed import fit_input
from keras_gpos.data.feed import numpy_stream
from keras_gpos.data.feed import tf_dataset
from keras_gpos.data.transforms import flip_left_right
from keras_gpos.data.transforms import normalize
from keras_gpos.data.grid import BACKGROUNDS
from keras_gpos.data.grid import exhaustive_placement
from keras_gpos.data.grid import place_on_grid
from keras_gpos.data.grid import random_cells
from keras_gpos.data.pipeline import grid_batches
from keras_gpos.data.pipeline import grid_dataset
from keras_gpos.data.pipeline import keyed_epochs
from keras_gpos.data.shift_views import canvas_views
from keras_gpos.data.shift_views import shifted_views
from keras_gpos.data.shift_views import translate
from keras_gpos.data.view_pipeline import shift_view_batches
from keras_gpos.data.view_pipeline import shift_view_dataset
from keras_gpos.data.segmentation_batches import segmentation_batches
from keras_gpos.data.segmentation_batches import segmentation_dataset

# name -> module, imported on first access (they hold the file readers).
_LAZY = {
    "load_cifar10_binary": "cifar",
    "CAMVID_CLASSES": "segmentation",
    "SEGMENTATION_DATASETS": "segmentation",
    "load_mask_folder": "segmentation",
    "load_segmentation_dataset": "segmentation",
}


def _file_reader_modules():
    from keras_gpos.data import cifar, segmentation

    return {"cifar": cifar, "segmentation": segmentation}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(_file_reader_modules()[_LAZY[name]], name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_gpos.data' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

# The TensorFlow-only loaders (_LAZY) stay out, so `from keras_gpos.data import *` works without
# TensorFlow; they are documented in keras_gpos.data.cifar and keras_gpos.data.segmentation.
__all__ = [
    "batches", "ImageSet", "normalization_stats", "split_validation", "SegmentationSet", "DATASETS", "ImageSplits",
    "embedded_memory", "load_image_dataset", "load_image_splits", "STREET_CLASSES", "make_street_scenes",
    "SHAPE_CLASSES", "make_shapes_dataset", "VIEW_MODES", "ViewProtocol", "BatchKey", "KeyedBatches",
    "steps_per_epoch", "KeyedPyDataset", "fit_input", "numpy_stream", "tf_dataset", "flip_left_right", "normalize",
    "BACKGROUNDS", "exhaustive_placement", "place_on_grid", "random_cells", "grid_batches", "grid_dataset",
    "keyed_epochs", "canvas_views", "shifted_views", "translate", "shift_view_batches", "shift_view_dataset",
    "segmentation_batches", "segmentation_dataset"
]
