"""Backbones and classifiers for the channel-position experiments."""

from keras_gpos.models.classifier import ARCHITECTURES
from keras_gpos.models.classifier import HEADS
from keras_gpos.models.classifier import build_classifier
from keras_gpos.models.classifier import permute_positions
from keras_gpos.models.resnet import RESNET_BLOCKS
from keras_gpos.models.resnet import RESNET_BLOCK_TYPES
from keras_gpos.models.resnet import resnet_features
from keras_gpos.models.vgg import VGG_STAGES
from keras_gpos.models.vgg import vgg_features
from keras_gpos.models.segmentation import SEGMENTATION_MODELS
from keras_gpos.models.segmentation import build_deeplab
from keras_gpos.models.segmentation import build_keras_cv_deeplab
from keras_gpos.models.segmentation import build_keras_hub_deeplab
from keras_gpos.models.segmentation import build_segmentation_model
from keras_gpos.models.segmentation import default_layer

__all__ = [
    "ARCHITECTURES", "HEADS", "build_classifier", "permute_positions", "RESNET_BLOCKS", "RESNET_BLOCK_TYPES",
    "resnet_features", "VGG_STAGES", "vgg_features", "SEGMENTATION_MODELS", "build_deeplab",
    "build_keras_cv_deeplab", "build_keras_hub_deeplab", "build_segmentation_model", "default_layer"
]
