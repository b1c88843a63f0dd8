"""Training: distribution strategies and callbacks."""

from keras_gpos.training.callbacks import AtomicBackupAndRestore
from keras_gpos.training.callbacks import BestModelCheckpoint
from keras_gpos.training.callbacks import NonFiniteLossError
from keras_gpos.training.callbacks import StopOnNonFiniteLoss
from keras_gpos.training.distribution import STRATEGIES
from keras_gpos.training.distribution import get_strategy
from keras_gpos.training.augshift import AugShiftModel, ConsistencyWarmup, ShiftConsistencyCallback
