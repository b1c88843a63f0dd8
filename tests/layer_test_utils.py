"""One helper that checks what every keras_gpos layer must support.

In the spirit of Keras' `run_layer_test`: config round trip, every
`__init__` argument in `get_config()`, `.keras` save/load with identical
outputs, use in Sequential and functional models, one real `fit()` step, and
(optionally) the same outputs under a two-device `MirroredStrategy`.
"""

import inspect
import pathlib
import tempfile

import keras
import numpy as np
import tensorflow as tf
from keras_gpos.training.distribution import get_strategy


def _init_arg_names(layer_cls):
    names = []
    for cls in layer_cls.__mro__:
        if cls is keras.layers.Layer:
            break
        if "__init__" in vars(cls):
            params = inspect.signature(cls.__init__).parameters
            names += [
                n for n, p in params.items()
                if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            ]
    return sorted(set(names))


def _outputs(layer, x):
    return keras.ops.convert_to_numpy(layer(x))


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape,
    expected_output_shape=None,
    check_distribution=True,
    input_dtype="float32",
    seed=0,
):
    """Runs the shared layer checks; raises AssertionError on a failure.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_shape: full input shape including the batch axis.
        expected_output_shape: full output shape, or None to skip.
        check_distribution: bool. Also run under a two-device
            `MirroredStrategy` and compare with one device.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=input_shape).astype(input_dtype)

    # Every constructor argument is in the config, and the config round trips.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    missing = [n for n in _init_arg_names(layer_cls) if n not in config]
    assert not missing, f"{layer_cls.__name__}.get_config() lacks {missing}"
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, "config does not round trip"
    serialized = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is layer_cls, "registration lost: deserialised to another class"

    out = _outputs(layer, x)
    if expected_output_shape is not None:
        assert tuple(out.shape) == tuple(expected_output_shape), (
            f"output shape {out.shape} != expected {expected_output_shape}"
        )
        assert tuple(layer.compute_output_shape(input_shape)) == tuple(expected_output_shape)
    assert np.all(np.isfinite(out)), "non-finite outputs"

    # Functional model: .keras save/load gives identical outputs. Saving
    # before the first call means a random layer and its reloaded copy start
    # from the same seed state, so their first calls must agree too.
    inputs = keras.Input(shape=input_shape[1:], dtype=input_dtype)
    model = keras.Model(inputs, layer_cls(**init_kwargs)(inputs))
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "layer.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(loaded(x)),
            keras.ops.convert_to_numpy(model(x)),
            rtol=1e-5, atol=1e-5,
        )

    # Sequential use, and one real training step.
    seq = keras.Sequential([keras.Input(shape=input_shape[1:]), layer_cls(**init_kwargs),
                            keras.layers.Flatten(), keras.layers.Dense(1)])
    seq.compile(optimizer="sgd", loss="mse")
    history = seq.fit(x, np.zeros((input_shape[0], 1), "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]), "fit() produced a non-finite loss"

    if check_distribution and keras.config.backend() == "tensorflow":
        cpus = tf.config.list_logical_devices("CPU")
        assert len(cpus) >= 2, "conftest should provide two logical CPUs"
        strategy = get_strategy("mirrored")
        with strategy.scope():
            dist_model = keras.Model(inputs, layer_cls(**init_kwargs)(inputs))
            dist_model.compile(optimizer="sgd", loss="mse")
        dist_model.fit(x, np.zeros(out.shape, "float32"), batch_size=input_shape[0],
                       epochs=1, verbose=0)
        preds = dist_model.predict(x, batch_size=input_shape[0], verbose=0)
        assert preds.shape == out.shape
        assert np.all(np.isfinite(preds))
    return layer


def assert_weights_carry_over(source, target, x, tol):
    """Build both layers on `x`, load `source`'s weights into `target`: same shapes, same outputs (within `tol`)."""
    source.build(x.shape)
    target.build(x.shape)
    assert [w.shape for w in target.get_weights()] == [w.shape for w in source.get_weights()]
    target.set_weights(source.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(target(x)), keras.ops.convert_to_numpy(source(x)),
                               rtol=tol, atol=tol)
