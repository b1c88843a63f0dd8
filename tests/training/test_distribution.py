"""Strategies: a mirrored step over two logical CPUs matches one device."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gpos.training.distribution import get_strategy


def _one_sgd_step(strategy, sync_batchnorm, x, y):
    from keras_gpos.models import build_classifier

    keras.utils.set_random_seed(0)  # identical initial weights
    with strategy.scope():
        model = build_classifier(4, input_shape=(32, 32, 3), depth=10, width=4, head="fc",
                                 sync_batchnorm=sync_batchnorm)
        model.compile(optimizer=keras.optimizers.SGD(0.5),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = model.evaluate(x, y, batch_size=8, verbose=0)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return loss, [w.numpy() for w in model.weights]


def test_mirrored_step_matches_one_device_for_the_same_global_batch():
    # Two replicas on two logical CPUs, global batch 8 (4 per replica): the
    # loss and the weights after one SGD step must equal a single device's.
    # Batch-norm statistics must then span the global batch (sync_batchnorm,
    # which train.py switches on for multi-replica strategies); with
    # per-replica statistics the step differs, which the last check shows.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 4, size=8)
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    one_loss, one = _one_sgd_step(tf.distribute.OneDeviceStrategy(cpus[0]), False, x, y)
    mirrored = get_strategy("mirrored")  # the two logical CPUs
    two_loss, two = _one_sgd_step(mirrored, True, x, y)
    assert two_loss == pytest.approx(one_loss, rel=1e-5)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    _, unsynced = _one_sgd_step(mirrored, False, x, y)
    assert any(not np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(one, unsynced))
