"""PermuteNet's layer: shuffle the channel order on every forward pass."""

import keras
from keras import ops

from keras_gpos.base.serialization import register


@register
class ChannelPermutation(keras.layers.Layer):
    """Randomly reorders the channel axis, afresh on every call.

    A network that sees a new channel order at every step cannot store
    information in *which* channel is active, only in channel statistics
    that every ordering shares. Placing this layer after global pooling turns
    a classifier into the paper's PermuteNet. The permutation is drawn in
    training *and* at inference.

    Args:
        per_sample: bool. If False (the paper's setting) one permutation is
            shared by the whole batch; if True every sample gets its own.
        axis: int. The channel axis (default -1, channels last).
        seed: int or None. Seed of the layer's random stream; two layers with
            the same seed produce the same sequence of permutations.

    Call arguments:
        inputs: a tensor of rank >= 2.

    Examples:
        >>> layer = keras_gpos.layers.ChannelPermutation(seed=0)
        >>> x = np.arange(4.0)[None, :]
        >>> sorted(np.asarray(layer(x))[0].tolist())
        [0.0, 1.0, 2.0, 3.0]
    """

    def __init__(self, per_sample=False, axis=-1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(per_sample, bool):
            raise ValueError(f"per_sample must be a bool; got {per_sample!r}.")
        if not isinstance(axis, int):
            raise ValueError(f"axis must be an int; got {axis!r}.")
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"seed must be an int or None; got {seed!r}.")
        self.per_sample = per_sample
        self.axis = axis
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def build(self, input_shape):
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(
                f"ChannelPermutation needs inputs of rank >= 2; got {input_shape}."
            )
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or axis == 0:
            raise ValueError(
                f"axis={self.axis} is not a channel axis of an input of rank "
                f"{rank} (axis 0 is the batch)."
            )
        if input_shape[axis] is None:
            raise ValueError(
                "ChannelPermutation needs a known channel count; got "
                f"input shape {input_shape}."
            )
        self._axis = axis
        self._channels = int(input_shape[axis])

    def call(self, inputs):
        channels = self._channels
        if not self.per_sample:
            order = keras.random.shuffle(
                ops.arange(channels), seed=self.seed_generator
            )
            return ops.take(inputs, order, axis=self._axis)
        # One independent order per sample: argsort of uniform noise.
        batch = ops.shape(inputs)[0]
        noise = keras.random.uniform((batch, channels), seed=self.seed_generator)
        order = ops.argsort(noise, axis=-1)
        rank = len(inputs.shape)
        # Reshape the orders so they broadcast along every non-channel axis.
        index_shape = [batch] + [1] * (rank - 1)
        index_shape[self._axis] = channels
        order = ops.reshape(order, index_shape)
        order = ops.broadcast_to(order, ops.shape(inputs))
        return ops.take_along_axis(inputs, order, axis=self._axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {"per_sample": self.per_sample, "axis": self.axis, "seed": self.seed}
        )
        return config
