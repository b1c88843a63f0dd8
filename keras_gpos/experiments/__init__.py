"""Experiments: each a config class, a run function and an evaluate function, registered together.

`train.py` and `evaluate.py` are thin wrappers around `EXPERIMENTS`; the run
lifecycle they share is `keras_gpos.runs.lifecycle`. Every experiment runs on
TensorFlow and on JAX, without TensorFlow installed: the data layer is NumPy
(fed through `tf.data` on TensorFlow, a `PyDataset` elsewhere), `--strategy`
maps to `tf.distribute` or to Keras' `DataParallel`
(`keras_gpos.training.distribution`). Only TFDS sources, keras-cv models,
TensorBoard logs and the SavedModel export need TensorFlow.
"""

from keras_gpos.experiments import audit, augshift, channel_position, location, position_attack
from keras_gpos.experiments.augshift import AugShiftConfig, run_augshift
from keras_gpos.experiments.channel_position import ChannelPositionConfig, run_channel_position
from keras_gpos.experiments.config import CommonConfig
from keras_gpos.experiments.location import ClassificationConfig, LocationConfig, evaluate_run, train_location
from keras_gpos.experiments.position_attack import PositionAttackConfig, run_position_attack
from keras_gpos.experiments.registry import (
    EXPERIMENTS,
    Experiment,
    evaluator_for,
    get_experiment,
    make_config,
    register_experiment,
)

_TASK = (("task", "the experiment is the task: --experiment=location or --experiment=classification"),)
register_experiment(Experiment(
    "location", LocationConfig, train_location, location.evaluate_runs,
    "one GAPNet/PermuteNet trained to say in which grid cell an image sits",
    reads_runs_of=("classification",), fixed_flags=_TASK))
register_experiment(Experiment(
    "classification", ClassificationConfig, train_location, None,
    "the same network trained on the object class of the pasted image", fixed_flags=_TASK))
register_experiment(Experiment(
    "channel_position", ChannelPositionConfig, run_channel_position, None,
    "the paper's suite: GAPNet, fc and PermuteNet on location and class, swept over paddings, "
    "grids, seeds and permutation positions", sweep_axes=channel_position.SWEEP_AXES,
    fixed_flags=tuple((name, "each variant sets it: choose runs with --variants and --permute_ats")
                      for name in channel_position.PER_VARIANT)))
register_experiment(Experiment(
    "augshift", AugShiftConfig, run_augshift, augshift.evaluate_runs,
    "AugShift vs BlurPool: accuracy next to shift consistency and a position probe",
    sweep_axes=augshift.SWEEP_AXES))
register_experiment(Experiment(
    "audit", audit.AuditConfig, audit.run_audit, None,
    "audit saved models (or a keras.applications model): where position lives, and whether in "
    "channel order"))
register_experiment(Experiment(
    "position_attack", PositionAttackConfig, run_position_attack, position_attack.evaluate_runs,
    "rank a segmentation network's position channels, then zero them (top-N vs random, regions)",
    sweep_axes=position_attack.SWEEP_AXES))


def check_strategy(config):
    """Refuses a `--strategy` the current backend cannot run (on JAX: multi-worker, or a TPU it lacks).

    `train.py` calls it while it reads the command line, so the refusal is a usage error (exit 2).
    """
    import keras

    if keras.config.backend() == "jax" and getattr(config, "strategy", None):
        from keras_gpos.training.distribution import jax_distribution

        jax_distribution(config.strategy)


def run_experiment(name, config):
    """Runs experiment `name` with its config; returns its results."""
    import keras

    if keras.config.backend() == "jax":
        check_strategy(config)  # a strategy JAX cannot run fails before any data or file
    elif getattr(config, "strategy", None) in ("multi_worker_mirrored", "tpu"):
        # TensorFlow configures multi-worker collectives only before its
        # first op (the experiment's later get_strategy call reuses this
        # one); a missing TPU is an error before any data or file is touched.
        from keras_gpos.training import get_strategy

        get_strategy(config.strategy)
    policy = getattr(config, "dtype_policy", None)
    if policy is None:
        return get_experiment(name).run(config)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)  # every model the run builds computes in it
    try:
        return get_experiment(name).run(config)
    finally:
        keras.config.set_dtype_policy(previous)


def _run_kind(run_dir, read_run_summary):
    """The experiment a run directory records (a re-attack of a given model has only results.json)."""
    import os

    results = os.path.join(run_dir, "results.json")
    if not os.path.exists(os.path.join(run_dir, "run.json")) and os.path.exists(results):
        from keras_gpos.base.files import read_record

        record = read_record(results, "results file", optional={"experiment": str})
        if record.get("experiment"):
            return record["experiment"]
    return read_run_summary(run_dir)["experiment"]


def expand_run_patterns(patterns):
    """Run directories from `--runs` entries: a path that exists is taken as it is (`[` and all),
    anything else as a glob pattern. A directory matched twice counts once.

    Raises:
        ValueError: a pattern that matches nothing, a match that is a file, or no runs at all.
    """
    import glob
    import os

    run_dirs, seen = [], set()
    for pattern in patterns:
        matches = [pattern] if os.path.exists(pattern) else sorted(glob.glob(pattern))
        if not matches:
            raise ValueError(f"--runs pattern {pattern!r} matches nothing.")
        for match in matches:
            if not os.path.isdir(match):
                raise ValueError(f"--runs entry {match} is a file, not a run directory.")
            key = os.path.realpath(match)
            if key not in seen:  # overlapping patterns name one run once
                seen.add(key)
                run_dirs.append(match)
    if not run_dirs:
        raise ValueError("No run directories to evaluate (give --runs).")
    return run_dirs


def evaluate_runs(run_dirs, output_dir, data_dir=None, repeats=1, allow_other_data=False):
    """Scores finished runs with the evaluator of the experiment their run.json records.

    The report goes into `output_dir`, which must not be one of the runs, a
    folder inside one or a folder a training holds
    (`keras_gpos.runs.directory.check_report_folder`).

    Returns:
        The evaluator's `keras_gpos.reporting.Report`.

    Raises:
        ValueError: no runs, runs of several experiments, an experiment
            whose results are written by train.py itself, or an output
            folder that could lose someone's files.
    """
    from keras_gpos.reporting.schema import read_run_summary
    from keras_gpos.runs.directory import check_report_folder

    if not run_dirs:
        raise ValueError("No run directories to evaluate.")
    kinds = {}
    for run_dir in run_dirs:
        kinds.setdefault(_run_kind(run_dir, read_run_summary), []).append(str(run_dir))
    evaluators = {evaluator_for(kind).name for kind in kinds}
    if len(evaluators) > 1:
        raise ValueError(
            "--runs mixes runs of different experiments ("
            + "; ".join(f"{k}: {v[0]}" for k, v in sorted(kinds.items()))
            + "); evaluate them separately."
        )
    check_report_folder(output_dir, run_dirs)
    return get_experiment(evaluators.pop()).evaluate(run_dirs, output_dir, data_dir=data_dir, repeats=repeats,
                                                     allow_other_data=allow_other_data)


__all__ = [
    "AugShiftConfig", "ChannelPositionConfig", "ClassificationConfig", "CommonConfig", "EXPERIMENTS",
    "Experiment", "LocationConfig", "PositionAttackConfig", "check_strategy", "evaluate_run", "evaluate_runs",
    "expand_run_patterns", "get_experiment", "make_config", "run_augshift", "run_channel_position", "run_experiment",
    "run_position_attack", "train_location",
]
