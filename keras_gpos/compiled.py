"""One compiled forward pass per model, per backend.

Library loops (the ranking, the audit) call a model on many batches. Calling
a Keras model eagerly is slow, and a fresh `tf.function` per call retraces
(and TensorFlow warns about it). `compiled_forward(model)` returns one
function per model, cached for the model's lifetime:

* TensorFlow: a `tf.function` with a free batch axis (traced once);
* JAX: a `jax.jit` of the model's `stateless_call`, its variables passed as
  arguments (so changed weights never retrace); batches are padded to the
  first batch's size, so a smaller last batch reuses the same program;
* other backends: an eager call.

The function maps a NumPy batch to a NumPy output (or a list, for models
with several outputs). `traces(model)` counts the traces.
"""

import weakref

import keras
import numpy as np

_CACHE = weakref.WeakKeyDictionary()


class _Forward:
    def __init__(self, model):
        self.model = model
        self.traces = 0
        self.batch = None
        backend = keras.config.backend()
        if backend == "tensorflow":
            self._call = self._tensorflow()
        elif backend == "jax":
            self._call = self._jax()
        else:
            self._call = self._eager

    def _eager(self, images):
        self.traces = max(self.traces, 1)
        return self.model(images, training=False)

    def _tensorflow(self):
        import tensorflow as tf

        def forward(images):
            self.traces += 1  # runs only while tracing
            return self.model(images, training=False)

        shape = tuple(self.model.inputs[0].shape[1:]) if getattr(self.model, "inputs", None) else None
        if shape is None or None in shape:
            return tf.function(forward, reduce_retracing=True)
        return tf.function(forward, input_signature=[tf.TensorSpec((None,) + shape, tf.float32)])

    def _jax(self):
        import jax

        model = self.model

        def forward(trainable, non_trainable, images):
            self.traces += 1  # runs only while jax traces
            outputs, _ = model.stateless_call(trainable, non_trainable, images, training=False)
            return outputs

        compiled = jax.jit(forward)

        def run(images):
            count = len(images)
            if self.batch is None:
                self.batch = count
            if count < self.batch:
                pad = np.zeros((self.batch - count,) + images.shape[1:], images.dtype)
                images = np.concatenate([images, pad])
            elif count > self.batch:
                return self._chunked(images)
            outputs = compiled([v.value for v in model.trainable_variables],
                               [v.value for v in model.non_trainable_variables], images)
            return keras.tree.map_structure(lambda o: o[:count], outputs)

        return run

    def _chunked(self, images):
        parts = [self._call(images[start:start + self.batch]) for start in range(0, len(images), self.batch)]
        return keras.tree.map_structure(lambda *p: np.concatenate([np.asarray(v) for v in p]), *parts)

    def __call__(self, images):
        images = np.asarray(images, dtype="float32")
        outputs = self._call(images)
        return keras.tree.map_structure(lambda o: np.asarray(keras.ops.convert_to_numpy(o)), outputs)


def compiled_forward(model):
    """The cached compiled forward function of `model` (see the module docstring)."""
    forward = _CACHE.get(model)
    if forward is None:
        forward = _Forward(model)
        _CACHE[model] = forward
    return forward


def traces(model):
    """How often `model`'s compiled forward pass was traced (0: never called)."""
    forward = _CACHE.get(model)
    return 0 if forward is None else forward.traces
