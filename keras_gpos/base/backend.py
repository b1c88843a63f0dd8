"""Backend helpers: the one per-backend compile of a model function, and the TensorFlow gate.

Library loops (the ranking, the audit, the attack evaluator) call a model on
many batches. Calling a Keras model eagerly is slow, and a fresh
`tf.function` per call retraces. `ModelFunction(model, function)` compiles
`function(call, *arrays)`, where `call(images)` runs the model in inference
mode, once per backend:

* TensorFlow: a `tf.function` (with a free batch axis when the argument
  shapes are given), whose variable updates TensorFlow keeps itself;
* JAX: a `jax.jit` of the model's `stateless_call`, its variables passed as
  arguments (so changed weights never retrace). The non-trainable state the
  call returns, the seed generators of random layers among it, is written
  back after every call, so a `ChannelPermutation` draws a fresh order at
  every compiled call, as it does on TensorFlow and eagerly;
* other backends: an eager call.

`compiled_forward(model)` is the cached plain forward pass built on it; it
maps a NumPy batch to a NumPy output (or a list, for models with several
outputs) and pads a smaller last batch to the first batch's size on JAX, so
it reuses the same program. `traces(model)` counts its traces.
"""

import weakref

import keras
import numpy as np


def requires_tensorflow(what):
    """Imports TensorFlow for a TensorFlow-only entry point, or says plainly that it is one."""
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            f"{what} needs TensorFlow, which is not installed: pip install 'keras_gpos[tf]' (in a clone: "
            "pip install -e '.[tf]'). Everything else of keras_gpos, train.py and evaluate.py included, "
            "runs without it on JAX."
        ) from error
    return tf


def requires_extra(module, extra, what):
    """Imports an optional dependency, or raises an `ImportError` with the install line that adds it.

    Args:
        module: str. The module to import (e.g. `"keras_hub"`).
        extra: str. keras_gpos's optional extra that installs it (e.g. `"hub"`).
        what: str. What needs it, for the message.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{what} needs {module}, from keras_gpos's optional extra '{extra}': pip install "
            f"'keras_gpos[{extra}]' (in a clone of the repository: pip install -e '.[{extra}]')."
        ) from error


def is_eager(tensor):
    """True for a concrete tensor, False for a symbolic one (inside `tf.function` or `jax.jit`)."""
    try:
        keras.ops.convert_to_numpy(tensor)
        return True
    except Exception:  # noqa: BLE001 - a symbolic tensor of any backend
        return False


class ModelFunction:
    """`function(call, *arrays)` compiled once for `model` on the current backend.

    Args:
        model: a built `keras.Model`.
        function: `(call, *arrays) -> tensors`, where `call(images)` is the
            model's inference-mode forward pass. Python side effects in it run
            only while tracing.
        signature: optional list of `(shape without the batch axis, dtype)`,
            one per array: on TensorFlow the function is then traced once for
            any batch size.

    Attributes:
        traces: int. How often `function` was traced (0: never called).
    """

    def __init__(self, model, function, signature=None):
        self.model = model
        self.function = function
        self.traces = 0
        backend = keras.config.backend()
        if backend == "tensorflow":
            self._call = self._tensorflow(signature)
        elif backend == "jax":
            self._call = self._jax()
        else:
            self._call = self._eager

    def _inference(self, images):
        return self.model(images, training=False)

    def _eager(self, *arrays):
        self.traces = max(self.traces, 1)
        return self.function(self._inference, *arrays)

    def _tensorflow(self, signature):
        import tensorflow as tf

        def traced(*arrays):
            self.traces += 1  # runs only while tracing
            return self.function(self._inference, *arrays)

        if signature is None or any(None in tuple(shape) for shape, _ in signature):
            return tf.function(traced, reduce_retracing=True)
        return tf.function(traced, input_signature=[
            tf.TensorSpec((None,) + tuple(shape), dtype) for shape, dtype in signature])

    def _jax(self):
        import jax

        model = self.model

        def stateless(trainable, non_trainable, *arrays):
            self.traces += 1  # runs only while jax traces
            state = [non_trainable]

            def call(images):
                outputs, state[0] = model.stateless_call(trainable, state[0], images, training=False)
                return outputs

            return self.function(call, *arrays), state[0]

        compiled = jax.jit(stateless)

        def run(*arrays):
            outputs, non_trainable = compiled([v.value for v in model.trainable_variables],
                                              [v.value for v in model.non_trainable_variables], *arrays)
            for variable, value in zip(model.non_trainable_variables, non_trainable):
                variable.assign(value)
            return outputs

        return run

    def __call__(self, *arrays):
        return self._call(*arrays)


_FORWARDS = weakref.WeakKeyDictionary()


class _Forward:
    """NumPy in, NumPy out forward pass over `ModelFunction` (see the module docstring)."""

    def __init__(self, model):
        shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
        self.compiled = ModelFunction(model, lambda call, images: call(images),
                                      None if shape is None else [(shape, "float32")])
        self.pad = keras.config.backend() == "jax"
        self.batch = None

    def _run(self, images):
        count = len(images)
        if not self.pad:
            return self.compiled(images)
        if self.batch is None:
            self.batch = count
        if count > self.batch:
            parts = [self._run(images[start:start + self.batch]) for start in range(0, count, self.batch)]
            return keras.tree.map_structure(lambda *p: np.concatenate([np.asarray(v) for v in p]), *parts)
        if count < self.batch:
            pad = np.zeros((self.batch - count,) + images.shape[1:], images.dtype)
            images = np.concatenate([images, pad])
        return keras.tree.map_structure(lambda o: o[:count], self.compiled(images))

    def __call__(self, images):
        outputs = self._run(np.asarray(images, dtype="float32"))
        return keras.tree.map_structure(lambda o: np.asarray(keras.ops.convert_to_numpy(o)), outputs)


def compiled_forward(model):
    """The cached compiled forward function of `model` (see the module docstring)."""
    forward = _FORWARDS.get(model)
    if forward is None:
        forward = _Forward(model)
        _FORWARDS[model] = forward
    return forward


def traces(model):
    """How often `model`'s compiled forward pass was traced (0: never called)."""
    forward = _FORWARDS.get(model)
    return 0 if forward is None else forward.compiled.traces

__all__ = [
    "requires_tensorflow", "requires_extra", "is_eager", "ModelFunction", "compiled_forward", "traces"
]
