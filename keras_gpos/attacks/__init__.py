"""Channel attacks: mask ranked channels, score region mIoU, judge against random channels."""

from keras_gpos.attacks.channel_attack import AttackEvaluator
from keras_gpos.attacks.channel_attack import get_channel_mask
from keras_gpos.attacks.channel_attack import insert_channel_mask
from keras_gpos.attacks.comparison import AttackComparison
from keras_gpos.attacks.comparison import compare
from keras_gpos.attacks.comparison import random_channel_sets
from keras_gpos.base.graph import find_layer

__all__ = [
    "AttackEvaluator", "get_channel_mask", "insert_channel_mask", "AttackComparison", "compare",
    "random_channel_sets", "find_layer"
]
