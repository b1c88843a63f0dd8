"""Channel attacks: mask ranked channels, score region mIoU (tf.function-compiled)."""

from keras_gpos.attacks.channel_attack import AttackEvaluator
from keras_gpos.attacks.channel_attack import get_channel_mask
from keras_gpos.attacks.channel_attack import insert_channel_mask
from keras_gpos.attacks.channel_attack import random_channel_sets
from keras_gpos.ranking.features import find_layer
