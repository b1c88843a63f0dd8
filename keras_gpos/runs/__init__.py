"""The experiments' run lifecycle: run directories, fingerprints, locks, memory plans, resume.

`fit_run` / `finish_run` (`lifecycle`) train, save, export and commit one
leaf run; `RunDirectory` (`directory`) owns its folder (lock, fingerprint,
overwrite, worker folders); `MemoryPlan` (`resources`) refuses settings that
cannot fit before anything is allocated; `callbacks` holds the best-epoch
checkpoint and the kill-proof backup. What a user drops into their own `fit`
lives in `keras_gpos.training`.
"""

from keras_gpos.runs.callbacks import AtomicBackupAndRestore
from keras_gpos.runs.callbacks import BestModelCheckpoint
from keras_gpos.runs.directory import RunDirectory
from keras_gpos.runs.lifecycle import FitPlan
from keras_gpos.runs.lifecycle import TrainingSetup
from keras_gpos.runs.lifecycle import finish_run
from keras_gpos.runs.lifecycle import fit_run
from keras_gpos.runs.resources import MemoryPlan

__all__ = [
    "AtomicBackupAndRestore", "BestModelCheckpoint", "RunDirectory", "FitPlan", "TrainingSetup", "finish_run",
    "fit_run", "MemoryPlan"
]
