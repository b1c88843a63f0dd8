"""One factory from a strategy name to a distribution: `tf.distribute` on TensorFlow, `keras.distribution` on JAX.

`get_strategy` returns a `tf.distribute.Strategy` (TensorFlow only, like the
Model Garden's `distribute_utils`, imported lazily: `is_chief` and `task` read
`TF_CONFIG` without TensorFlow). `training_strategy` is what the run lifecycle
uses on every backend: on TensorFlow the same strategy; on JAX a
`JaxDistribution`, which sets Keras' `DataParallel` over the local devices.
Each strategy name on JAX (`JAX_STRATEGIES` says it in words):

* `auto`: data parallel over the local accelerators (GPUs, TPUs) when there are
  several, else no distribution (one device), as on TensorFlow;
* `one_device`: no distribution: JAX's default device (the first GPU, else the CPU);
* `mirrored`: data parallel over every local device, the CPU devices included
  (`XLA_FLAGS=--xla_force_host_platform_device_count=N` splits a CPU into N);
* `tpu`: data parallel over the local TPU cores; an error without any;
* `multi_worker_mirrored`: refused (multi-host JAX is out of scope; use `mirrored`).

Under `DataParallel` each batch is split across the devices and the step is
compiled once for all of them, so gradients and batch-norm statistics span the
global batch (TensorFlow needs synchronized batch norm for that). Batch sizes
everywhere in keras_gpos are *global*; on JAX they must divide by the device
count (the last, smaller batch of an evaluation pass included).
"""

import contextlib
import json
import os

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu")

# Keras releases whose private TensorFlow-trainer internals the multi-worker
# fix below was tested against (the two-worker test); [low, high).
PATCHED_KERAS = ((3, 15), (3, 16))

# TensorFlow configures collective ops once per process, before its first
# op runs, so a process holds at most one MultiWorkerMirroredStrategy.
_MULTI_WORKER_STRATEGY = None


def get_strategy(name="auto", tpu_address=None):
    """Returns the distribution strategy called `name`.

    Args:
        name: str. `"auto"` (mirrored over all GPUs when there are several,
            else the default strategy), `"one_device"` (first GPU, else CPU),
            `"mirrored"` (all local devices), `"multi_worker_mirrored"`
            (workers described by the `TF_CONFIG` environment variable) or
            `"tpu"`.
        tpu_address: str or None. TPU name or address for `"tpu"`.

    `"multi_worker_mirrored"` must be requested before TensorFlow runs any
    op in the process (`keras_gpos.experiments.run_experiment` does this);
    later calls return the same strategy.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; expected one of {list(STRATEGIES)}.")
    from keras_gpos.base.backend import requires_tensorflow

    tf = requires_tensorflow(f"strategy {name!r} (tf.distribute)")

    # Listing devices initialises TensorFlow, which multi-worker must precede.
    gpus = [] if name == "multi_worker_mirrored" else tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        # Collective all-reduce between CPU replicas can run the per-layer
        # reductions of synchronized batch norm in different orders on the
        # replicas (shape-mismatch aborts); reducing on one device cannot.
        return tf.distribute.MirroredStrategy(
            cpus, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    if name == "multi_worker_mirrored":
        global _MULTI_WORKER_STRATEGY
        if _MULTI_WORKER_STRATEGY is not None:
            return _MULTI_WORKER_STRATEGY
        raw = os.environ.get("TF_CONFIG")
        if raw:
            try:
                spec = json.loads(raw)
            except json.JSONDecodeError as error:
                raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from error
            if "cluster" not in spec or "task" not in spec:
                raise ValueError(
                    "TF_CONFIG needs 'cluster' and 'task' entries for "
                    f"multi_worker_mirrored; got keys {sorted(spec)}."
                )
        _fix_keras_multi_worker_build()
        try:
            _MULTI_WORKER_STRATEGY = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            raise ValueError(
                "strategy 'multi_worker_mirrored' must be created before TensorFlow runs "
                f"its first op in this process ({error})."
            ) from error
        return _MULTI_WORKER_STRATEGY
    # TPU: only reachable on a machine that has one.
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError, RuntimeError) as error:
        raise ValueError(f"strategy 'tpu' was requested but no TPU could be found: {error}") from error
    return tf.distribute.TPUStrategy(resolver)


JAX_STRATEGIES = {
    "auto": "data parallel over the local GPUs/TPUs when there are several, else one device",
    "one_device": "one device (JAX's default: the first GPU, else the CPU)",
    "mirrored": "data parallel over every local device, CPU devices included",
    "multi_worker_mirrored": "refused: multi-host JAX is out of scope (use mirrored on one host)",
    "tpu": "data parallel over the local TPU cores",
}


class JaxDistribution:
    """The JAX side of a strategy name: Keras' `DataParallel` over `devices`, or none.

    It has what the run lifecycle uses of a `tf.distribute.Strategy`:
    `scope()` and `num_replicas_in_sync`. Entering the scope sets the
    distribution for the process and leaves it set, as a TensorFlow model keeps
    its strategy: the model's later `fit`, `evaluate` and `predict` run on the
    same devices. The next run's scope replaces it.
    """

    def __init__(self, name, devices):
        self.name = name
        self.devices = list(devices)

    @property
    def num_replicas_in_sync(self):
        return max(1, len(self.devices))

    @contextlib.contextmanager
    def scope(self):
        import keras

        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=self.devices) if len(self.devices) > 1 else None)
        yield self


def jax_distribution(name):
    """The `JaxDistribution` that strategy `name` means on JAX (see the module docstring).

    Raises:
        ValueError: an unknown name, `multi_worker_mirrored`, or `tpu` without TPU cores.
    """
    import jax

    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; expected one of {list(STRATEGIES)}.")
    if name == "multi_worker_mirrored":
        raise ValueError("strategy 'multi_worker_mirrored' is TensorFlow's multi-host training; on JAX keras_gpos "
                         "trains on one host: use --strategy=mirrored (data parallel over its local devices).")
    devices = jax.local_devices()
    accelerators = [d for d in devices if d.platform != "cpu"]
    if name == "one_device":
        return JaxDistribution(name, devices[:1])
    if name == "mirrored":
        return JaxDistribution(name, devices)
    if name == "tpu":
        tpus = [d for d in devices if d.platform == "tpu"]
        if not tpus:
            raise ValueError(f"strategy 'tpu' was requested but JAX sees no TPU (devices: {devices[:4]}).")
        return JaxDistribution(name, tpus)
    return JaxDistribution(name, accelerators if len(accelerators) > 1 else devices[:1])


def training_strategy(name):
    """What the run lifecycle trains under: `get_strategy(name)` on TensorFlow, `jax_distribution(name)` on JAX.

    Other backends train on one device without a distribution (`auto` and `one_device` only).
    """
    import keras

    backend = keras.config.backend()
    if backend == "tensorflow":
        return get_strategy(name)
    if backend == "jax":
        return jax_distribution(name)
    if name not in ("auto", "one_device"):
        raise ValueError(f"strategy {name!r} needs TensorFlow or JAX; the backend is {backend}.")
    return JaxDistribution(name, ())


def _fix_keras_multi_worker_build():
    """Lets Keras 3's TensorFlow trainer `fit` under MultiWorkerMirroredStrategy.

    Two multi-worker-only code paths of Keras 3.15 fail:

    - Before the first step, `TensorFlowTrainer._maybe_symbolic_build`
      averages the first distributed `(x, y)` batch with one
      `strategy.reduce` over the whole tuple, which a multi-worker strategy
      rejects ("Attempt to convert a value (PerReplica...) to a Tensor").
      The batch only gives the model its input shapes, so the dataset's
      element spec does the same job without reading a batch (reading one
      also starts an extra pass over the data, which reshuffles it: the
      workers would then train on a different order than one process).
    - After each step, `reduce_per_replica` averages the logged scalars with
      `strategy.reduce("MEAN", v, axis=0)`, which fails on a scalar
      ("Invalid reduction dimension 0"). The mean over replicas
      (`axis=None`) is what Keras computes for a one-machine strategy.

    The second failure is tensorflow/tensorflow#72388 (Keras 3 with
    `tf.distribute` multi-worker; upstream's only workaround there is Keras 2).
    The fix is applied once, only when a multi-worker strategy is created,
    and leaves every other strategy on Keras' own code; the two-worker test
    in tests/integration/test_training_processes.py fails if a Keras upgrade changes either path.
    """
    import keras
    import tensorflow as tf
    from keras import tree

    check_patched_keras(keras.__version__)
    from keras.src.backend.tensorflow import trainer as trainer_module
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    if getattr(TensorFlowTrainer, "_keras_gpos_multi_worker_fix", False):
        return
    if not (hasattr(TensorFlowTrainer, "_maybe_symbolic_build") and hasattr(trainer_module, "reduce_per_replica")):
        raise ValueError(
            f"Keras {keras.__version__} no longer has the TensorFlow-trainer internals keras_gpos patches for "
            "multi_worker_mirrored; use another strategy or a Keras in the tested range.")
    original = TensorFlowTrainer._maybe_symbolic_build
    original_reduce = trainer_module.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                and reduction in ("auto", "mean")):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if (iterator is None or strategy is None or not isinstance(
                strategy, tf.distribute.MultiWorkerMirroredStrategy)):
            return original(self, iterator=iterator, data_batch=data_batch)
        spec = iterator.data_adapter.get_tf_dataset().element_spec
        with strategy.scope():
            self._symbolic_build(data_batch=spec)

    TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer_module.reduce_per_replica = reduce_per_replica
    TensorFlowTrainer._keras_gpos_multi_worker_fix = True


def check_patched_keras(version):
    """Refuses a Keras outside `PATCHED_KERAS`, where the multi-worker fix was never tested.

    Raises:
        ValueError: naming the installed version and the tested range.
    """
    try:
        release = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        release = None
    (low, high) = PATCHED_KERAS
    if release is None or not low <= release < high:
        raise ValueError(
            f"strategy 'multi_worker_mirrored' patches private internals of Keras' TensorFlow trainer, "
            f"tested on Keras >={low[0]}.{low[1]},<{high[0]}.{high[1]}; this is Keras {version}. Install a "
            f"Keras in that range (pip install 'keras>={low[0]}.{low[1]},<{high[0]}.{high[1]}') or train "
            "with another strategy.")
    return release


def task():
    """`(type, index)` of this process in a `TF_CONFIG` cluster, or None without one."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    spec = json.loads(raw).get("task", {})
    return spec.get("type", "chief"), spec.get("index", 0)


def is_chief():
    """True unless this process is a non-chief worker of a TF_CONFIG cluster
    (only the chief writes results, so workers never clobber each other)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    kind, index = task.get("type", "chief"), task.get("index", 0)
    if kind == "chief":
        return True
    cluster = json.loads(raw).get("cluster", {})
    return kind == "worker" and index == 0 and "chief" not in cluster


def data_parallel(devices=None):
    """Data-parallel training on the JAX backend through Keras' own distribution API.

    Sets (and returns) a `keras.distribution.DataParallel` over `devices`
    (default: every device JAX sees): each batch is split across them and the
    computation is compiled for all of them at once, so batch statistics and
    gradients span the global batch. On TensorFlow use
    `get_strategy("mirrored")` and build the model in its scope instead.

    Raises:
        ValueError: another backend than JAX.
    """
    import keras

    if keras.config.backend() != "jax":
        raise ValueError(
            f"data_parallel is for the JAX backend (keras.distribution); on {keras.config.backend()} "
            "use keras_gpos.training.get_strategy('mirrored') and build the model in its scope."
        )
    devices = list(devices) if devices is not None else keras.distribution.list_devices()
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    return distribution
