"""One factory from a strategy name to a `tf.distribute.Strategy`.

TensorFlow-only by design (like the Model Garden's `distribute_utils`).
Batch sizes everywhere in keras_gpos are *global*: Keras splits each batch
across replicas.
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu")


def get_strategy(name="auto", tpu_address=None):
    """Returns the distribution strategy called `name`.

    Args:
        name: str. `"auto"` (mirrored over all GPUs when there are several,
            else the default strategy), `"one_device"` (first GPU, else CPU),
            `"mirrored"` (all local devices), `"multi_worker_mirrored"`
            (workers described by the `TF_CONFIG` environment variable) or
            `"tpu"`.
        tpu_address: str or None. TPU name or address for `"tpu"`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; expected one of {list(STRATEGIES)}.")
    gpus = tf.config.list_logical_devices("GPU")
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
        return tf.distribute.MultiWorkerMirroredStrategy()
    # TPU: only reachable on a machine that has one.
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError, RuntimeError) as error:
        raise ValueError(f"strategy 'tpu' was requested but no TPU could be found: {error}") from error
    return tf.distribute.TPUStrategy(resolver)


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
