"""Training: the run lifecycle, AugShift, callbacks and distribution strategies."""

from keras_gpos.training.augshift import AugShiftModel
from keras_gpos.training.augshift import ConsistencyWarmup
from keras_gpos.training.callbacks import AtomicBackupAndRestore
from keras_gpos.training.callbacks import BestModelCheckpoint
from keras_gpos.training.callbacks import EpochSeeds
from keras_gpos.training.callbacks import NonFiniteLossError
from keras_gpos.training.callbacks import StopOnNonFiniteLoss
from keras_gpos.training.consistency_callback import ShiftConsistencyCallback
from keras_gpos.training.distribution import STRATEGIES
from keras_gpos.training.distribution import data_parallel
from keras_gpos.training.distribution import get_strategy
