"""Training: AugShift, the callbacks a user drops into `fit`, and distribution strategies.

The experiments' run lifecycle (run directories, backups, best-epoch
checkpoints, memory plans) moved to `keras_gpos.runs` in 0.3.
"""

from keras_gpos.base.deprecation import moved_names
from keras_gpos.training.augshift import AugShiftModel
from keras_gpos.training.augshift import ConsistencyWarmup
from keras_gpos.training.callbacks import EpochSeeds
from keras_gpos.training.callbacks import NonFiniteLossError
from keras_gpos.training.callbacks import StopOnNonFiniteLoss
from keras_gpos.training.consistency_callback import ShiftConsistencyCallback
from keras_gpos.training.recipe import compile_classifier
from keras_gpos.training.recipe import paper_adam
from keras_gpos.training.distribution import STRATEGIES
from keras_gpos.training.distribution import data_parallel
from keras_gpos.training.distribution import get_strategy


def _runs_callback(name):
    def load():
        from keras_gpos.runs import callbacks

        return getattr(callbacks, name)

    return load


__getattr__ = moved_names(__name__, {name: _runs_callback(name)
                                     for name in ("AtomicBackupAndRestore", "BestModelCheckpoint")})

__all__ = [
    "AugShiftModel", "ConsistencyWarmup", "EpochSeeds", "NonFiniteLossError", "StopOnNonFiniteLoss",
    "ShiftConsistencyCallback", "compile_classifier", "paper_adam", "STRATEGIES", "data_parallel", "get_strategy"
]
