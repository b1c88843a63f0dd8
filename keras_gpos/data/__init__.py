"""Data: embedded shapes, CIFAR-10 binary, TFDS, and the grid canvas."""

from keras_gpos.data.cifar import load_cifar10_binary
from keras_gpos.data.grid import BACKGROUNDS
from keras_gpos.data.grid import exhaustive_placement
from keras_gpos.data.grid import place_on_grid
from keras_gpos.data.grid import random_cells
from keras_gpos.data.image_set import ImageSet
from keras_gpos.data.image_set import normalization_stats
from keras_gpos.data.image_set import split_validation
from keras_gpos.data.pipeline import grid_dataset
from keras_gpos.data.pipeline import normalize
from keras_gpos.data.sources import DATASETS
from keras_gpos.data.sources import load_image_dataset
from keras_gpos.data.synthetic import SHAPE_CLASSES
from keras_gpos.data.synthetic import make_shapes_dataset
from keras_gpos.data.shift_views import canvas_views, shift_view_dataset, shifted_views, translate
from keras_gpos.data.segmentation import CAMVID_CLASSES, SEGMENTATION_DATASETS, STREET_CLASSES, SegmentationSet, load_mask_folder, load_segmentation_dataset, make_street_scenes, segmentation_dataset
