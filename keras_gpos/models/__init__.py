"""Backbones and classifiers for the channel-position experiments."""

from keras_gpos.models.classifier import ARCHITECTURES
from keras_gpos.models.classifier import HEADS
from keras_gpos.models.classifier import build_classifier
from keras_gpos.models.classifier import permute_positions
from keras_gpos.models.resnet import RESNET_BLOCKS
from keras_gpos.models.resnet import resnet_features
from keras_gpos.models.vgg import VGG_STAGES
from keras_gpos.models.vgg import vgg_features
from keras_gpos.models.segmentation import SEGMENTATION_MODELS, build_deeplab, build_keras_cv_deeplab, build_segmentation_model
