"""Position-channel ranking: which channels of a layer encode where things are."""

from keras_gpos.base.graph import all_layer_names
from keras_gpos.base.graph import feature_model
from keras_gpos.base.graph import find_layer
from keras_gpos.ranking.position_ranking import FLIPS
from keras_gpos.ranking.position_ranking import PositionRanking
from keras_gpos.ranking.position_ranking import rank_position_channels

__all__ = [
    "all_layer_names", "feature_model", "find_layer", "FLIPS", "PositionRanking", "rank_position_channels"
]
