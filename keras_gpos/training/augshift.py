"""AugShift: train a classifier so its pooled latent ignores where the object is.

Backend-agnostic: it uses the hooks every Keras backend shares. Given a pair
of views, the forward pass returns both views' logits and pooled latents,
and `compute_loss` (with `training=`) turns them into the loss, so Keras'
own `train_step` of each backend (TensorFlow, JAX) does the gradients,
`tf.distribute` or `keras.distribution` included.

`AugShiftModel` wraps any encoder (image -> latent) and head (latent ->
logits). It trains on batches of two translated views of the same images,
`((view_a, view_b), labels)`, runs both through the encoder in one
forward pass, and minimises

    mean cross-entropy over both views + scale x lambda x distance(z_a, z_b)

where the cross-entropy (or whatever loss was compiled) is averaged over the
2B logits, lambda and the distance live in a
`keras_gpos.losses.ShiftConsistencyLoss`, and `scale` is a non-trainable
variable that `ConsistencyWarmup` can ramp from 0 to 1. Both loss terms go
through `keras.losses.Loss` reductions, which divide by the number of
replicas under `tf.distribute`, so `fit`, callbacks, compiled metrics and
distribution strategies behave as for any Keras model.

Inference is the plain classifier: `model(images)` = head(pool(encoder)),
and `model.inference_model()` returns it as a functional model that
`keras_gpos.export.export_saved_model` writes as a SavedModel.
"""

import keras
from keras import ops
from keras.src.backend.common.symbolic_scope import in_symbolic_scope  # Keras' own build check
from keras.src.losses.loss import unscale_loss_for_distribution

from keras_gpos.losses.shift_consistency import ShiftConsistencyLoss
from keras_gpos.metrics.agreement import ShiftConsistency
from keras_gpos.base.serialization import register


def _latent_rank_error(shape):
    return ValueError(
        "The encoder must output a latent vector (batch, dim) or a feature map "
        f"(batch, height, width, channels); got shape {tuple(shape)}."
    )


def pool_latent(z):
    """Global average pooling for a feature map; a vector passes through."""
    rank = len(z.shape)
    if rank == 2:
        return z
    if rank == 4:
        return ops.mean(z, axis=(1, 2))
    raise _latent_rank_error(z.shape)


@register
class AugShiftModel(keras.Model):
    """Encoder + head trained with cross-entropy on two views plus a shift-consistency loss.

    Args:
        encoder: a Keras model or layer mapping images to a latent vector
            `(batch, dim)` or a feature map `(batch, h, w, c)` (globally
            average pooled before the head and the consistency loss).
        head: a Keras model or layer mapping the pooled latent to logits.
        consistency_loss: a `keras_gpos.losses.ShiftConsistencyLoss` (it
            holds lambda and the distance); default MSE with lambda 1.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Call arguments:
        inputs: a batch of images; returns logits (inference path, one
            view). Given a pair of views, returns the first view's logits.

    Training data: `((view_a, view_b), labels)` batches, e.g. from
    `keras_gpos.data.shift_view_dataset`. Evaluation accepts either two
    views or plain `(images, labels)`.

    Examples:
        >>> encoder = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
        ...                             keras.layers.GlobalAveragePooling2D()])
        >>> model = keras_gpos.training.AugShiftModel(
        ...     encoder, keras.layers.Dense(3),
        ...     consistency_loss=keras_gpos.losses.ShiftConsistencyLoss(weight=1.0))
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...               metrics=["accuracy"])
        >>> view_a, view_b = np.random.default_rng(0).normal(size=(2, 8, 16, 16, 3)).astype("float32")
        >>> history = model.fit((view_a, view_b), np.zeros(8, int), epochs=1, verbose=0)
        >>> "consistency_loss" in history.history
        True
    """

    def __init__(self, encoder, head, consistency_loss=None, **kwargs):
        super().__init__(**kwargs)
        for role, value in (("encoder", encoder), ("head", head)):
            if not isinstance(value, keras.layers.Layer):
                raise ValueError(f"{role} must be a Keras layer or model; got {value!r}.")
        if consistency_loss is None:
            consistency_loss = ShiftConsistencyLoss()
        if not isinstance(consistency_loss, ShiftConsistencyLoss):
            raise ValueError(
                "consistency_loss must be a keras_gpos.losses.ShiftConsistencyLoss; "
                f"got {consistency_loss!r}."
            )
        outputs = getattr(encoder, "outputs", None)
        if outputs:
            if len(outputs) != 1:
                raise ValueError(f"The encoder must have one output; it has {len(outputs)}.")
            if len(outputs[0].shape) not in (2, 4):
                raise _latent_rank_error(outputs[0].shape)
        self.encoder = encoder
        self.head = head
        self.consistency_loss = consistency_loss
        # Multiplies lambda; ConsistencyWarmup ramps it. A variable (not a
        # Python float) so changing it never retraces the train function.
        self.consistency_scale = keras.Variable(
            1.0, trainable=False, dtype="float32", name="consistency_scale"
        )
        self.ce_tracker = keras.metrics.Mean(name="ce_loss")
        self.consistency_tracker = keras.metrics.Mean(name="consistency_loss")
        self.view_agreement = ShiftConsistency(name="view_agreement")
        if outputs:
            # A functional encoder fixes every shape: build now, so fit()'s
            # BackupAndRestore and .keras loading find a built model.
            self.build(tuple(encoder.inputs[0].shape))

    def build(self, input_shape):
        if not self.encoder.built:
            self.encoder.build(input_shape)
        latent_shape = self.encoder.compute_output_shape(input_shape)
        if len(latent_shape) == 4:
            latent_shape = (latent_shape[0], latent_shape[-1])
        elif len(latent_shape) != 2:
            raise _latent_rank_error(latent_shape)
        if not self.head.built:
            self.head.build(latent_shape)
        self.built = True

    def latents(self, images, training=False):
        """Pooled latents `(batch, dim)` of a batch of images."""
        return pool_latent(self.encoder(images, training=training))

    def call(self, inputs, training=False):
        if not isinstance(inputs, (tuple, list)):
            return self.head(self.latents(inputs, training=training), training=training)
        view_a, view_b = self.split_views(inputs)
        if in_symbolic_scope():
            # Keras builds compiled metrics and losses from a symbolic call on
            # a training batch; they see labels (B,), so answer (B, classes).
            return self.head(self.latents(view_a, training=training), training=training)
        # One forward pass over both views: BatchNorm sees both, and the step
        # costs about one pass over a double batch.
        z = self.latents(ops.concatenate([view_a, view_b], axis=0), training=training)
        return {"logits": self.head(z, training=training), "latents": z}

    @staticmethod
    def split_views(x):
        """Checks and returns the two views of a training batch."""
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            raise ValueError(
                "AugShiftModel trains on ((view_a, view_b), labels) batches; got inputs "
                f"of type {type(x).__name__}. Build them with "
                "keras_gpos.data.shift_view_dataset(..., two_views=True)."
            )
        view_a, view_b = x
        shape_a, shape_b = tuple(view_a.shape), tuple(view_b.shape)
        if len(shape_a) != len(shape_b) or any(
            a is not None and b is not None and a != b for a, b in zip(shape_a, shape_b)
        ):
            raise ValueError(f"The two views differ in shape: {shape_a} vs {shape_b}.")
        return view_a, view_b

    def _two_view_trackers(self):
        return (self.ce_tracker, self.consistency_tracker, self.view_agreement)

    @staticmethod
    def _doubled(y, sample_weight):
        y2 = ops.concatenate([y, y], axis=0)
        w2 = None if sample_weight is None else ops.concatenate([sample_weight] * 2, axis=0)
        return y2, w2

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict):
            if training:
                self.split_views(x)  # a plain batch in fit: say what AugShift trains on
            return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                        training=training)
        logits, z = y_pred["logits"], y_pred["latents"]
        batch = ops.shape(z)[0] // 2
        y2, w2 = self._doubled(y, sample_weight)
        ce = super().compute_loss(x=x, y=y2, y_pred=logits, sample_weight=w2, training=training)
        consistency = ops.cast(self.consistency_scale, z.dtype) * self.consistency_loss(
            z[:batch], z[batch:], sample_weight=sample_weight)
        # Keras losses divide by the replica count so that gradients summed
        # over replicas are right; the trackers want the per-batch value.
        self.ce_tracker.update_state(unscale_loss_for_distribution(ce), sample_weight=batch)
        self.consistency_tracker.update_state(unscale_loss_for_distribution(consistency),
                                              sample_weight=batch)
        return ce + ops.cast(consistency, ce.dtype)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if not isinstance(y_pred, dict):
            # Plain (images, labels): the ordinary classifier evaluation. The
            # two-view trackers have nothing to measure, so they are not
            # reported (a logged 0 would read as perfect consistency).
            logs = super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)
            two_view = {m.name for m in self._two_view_trackers()}
            return {k: v for k, v in logs.items() if k not in two_view}
        logits = y_pred["logits"]
        batch = ops.shape(logits)[0] // 2
        self.view_agreement.update_state(logits[:batch], logits[batch:])
        y2, w2 = self._doubled(y, sample_weight)
        return super().compute_metrics(x, y2, logits, sample_weight=w2)

    def inference_model(self, input_shape=None, name=None):
        """The trained classifier (encoder, pooling, head) as a functional model.

        It shares weights with this model; export it with
        `keras_gpos.export.export_saved_model`.

        Args:
            input_shape: `(h, w, c)`; needed only when the encoder is not a
                functional model with a known input.
        """
        if input_shape is None:
            inputs = getattr(self.encoder, "inputs", None)
            if not inputs:
                raise ValueError(
                    "The encoder has no symbolic input; pass input_shape=(h, w, c)."
                )
            input_shape = tuple(inputs[0].shape[1:])
        images = keras.Input(shape=input_shape, name="images")
        z = self.encoder(images)
        if len(z.shape) == 4:
            z = keras.layers.GlobalAveragePooling2D(name="pooled_latent")(z)
        elif len(z.shape) != 2:
            raise _latent_rank_error(z.shape)
        return keras.Model(images, self.head(z), name=name or f"{self.name}_inference")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "head": keras.saving.serialize_keras_object(self.head),
                "consistency_loss": keras.saving.serialize_keras_object(self.consistency_loss),
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("encoder", "head", "consistency_loss"):
            config[key] = keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)


class ConsistencyWarmup(keras.callbacks.Callback):
    """Ramps AugShift's consistency weight from 0 to lambda over the first epochs.

    At the start of epoch `e` (0-based) the model's `consistency_scale` is
    set to `min(1, e / warmup_epochs)`: the classifier first learns the
    classes, then is asked to be shift-invariant. When training ends the
    scale it found is put back, so a later `fit` without the
    callback trains with the configured weight, not the last ramp value.

    Args:
        warmup_epochs: int >= 0. Epochs of the linear ramp (0: full weight
            from the start).

    Examples:
        >>> warmup = keras_gpos.training.ConsistencyWarmup(3)
        >>> [round(warmup.scale_at(epoch), 2) for epoch in range(5)]
        [0.0, 0.33, 0.67, 1.0, 1.0]
    """

    def __init__(self, warmup_epochs):
        super().__init__()
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be an int >= 0; got {warmup_epochs!r}.")
        self.warmup_epochs = warmup_epochs
        self._scale_before = None

    def scale_at(self, epoch):
        if self.warmup_epochs == 0:
            return 1.0
        return min(1.0, epoch / self.warmup_epochs)

    def on_train_begin(self, logs=None):
        if not isinstance(self.model, AugShiftModel):
            raise ValueError("ConsistencyWarmup needs an AugShiftModel.")
        self._scale_before = float(keras.ops.convert_to_numpy(self.model.consistency_scale.value))

    def on_epoch_begin(self, epoch, logs=None):
        self.model.consistency_scale.assign(self.scale_at(epoch))

    def on_train_end(self, logs=None):
        if self._scale_before is not None:
            self.model.consistency_scale.assign(self._scale_before)
            self._scale_before = None

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["consistency_scale"] = self.scale_at(epoch)
