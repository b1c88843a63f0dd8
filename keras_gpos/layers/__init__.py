"""Keras layers of keras_gpos (backend-agnostic: keras.ops only)."""

from keras_gpos.layers.padding import PADDING_MODES
from keras_gpos.layers.padding import PaddedConv2D
from keras_gpos.layers.padding import SpatialPadding2D
from keras_gpos.layers.permutation import ChannelPermutation
from keras_gpos.layers.blur_pool import BlurPool2D
from keras_gpos.layers.channel_mask import ChannelMask
from keras_gpos.layers.polyphase import PolyphaseDownsample2D

__all__ = [
    "PADDING_MODES", "PaddedConv2D", "SpatialPadding2D", "ChannelPermutation", "BlurPool2D", "ChannelMask",
    "PolyphaseDownsample2D"
]
