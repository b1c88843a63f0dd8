"""The whole library (models, ranking, attacks, layers, losses) under mixed precision, on any backend."""

import keras
import numpy as np
import pytest

import keras_gpos
from keras_gpos.attacks import AttackEvaluator, insert_channel_mask
from keras_gpos.losses import ShiftConsistencyLoss

pytestmark = pytest.mark.backend_agnostic


RNG = np.random.default_rng(0)


def _scenes(count=6):
    scenes = keras_gpos.data.make_street_scenes(count, (32, 48), seed=2)
    return scenes.images.astype("float32"), np.minimum(scenes.masks, 2).astype("int32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_everything_runs_under_mixed_precision_close_to_float32(policy):
    images = RNG.uniform(0, 255, size=(4, 32, 48, 3)).astype("float32")
    masks = _scenes(4)[1]
    x = RNG.normal(size=(2, 8, 8, 4)).astype("float32")
    results = {}
    for name in ("float32", policy):
        keras.config.set_dtype_policy(name)
        try:
            keras.utils.set_random_seed(0)
            model = keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8,
                                                   padding="partial")
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ranking = keras_gpos.ranking.rank_position_channels(model, "stage4_out", images)
            attacked = insert_channel_mask(model, "stage4_out", mode="mean", fill_values=ranking.channel_mean)
            miou = AttackEvaluator(attacked, (images, masks), 3).evaluate(ranking.top(4))["all"]["miou"]
            layers = keras_gpos.layers
            outputs = [keras.ops.convert_to_numpy(keras.ops.cast(layer(x), "float32")) for layer in (
                layers.PaddedConv2D(4, 3, padding_mode="circular", kernel_initializer="ones"),
                layers.BlurPool2D(3), layers.ChannelMask([1]), layers.SpatialPadding2D(1, "reflect"))]
            loss = float(ShiftConsistencyLoss()(x.reshape(2, -1), x.reshape(2, -1) * 0.5))
            results[name] = (ranking.channel_mean, miou, outputs, loss)
        finally:
            keras.config.set_dtype_policy("float32")
    reference, mixed = results["float32"], results[policy]
    np.testing.assert_allclose(mixed[0], reference[0], rtol=0.05, atol=0.05)
    assert abs(mixed[1] - reference[1]) < 0.05
    for got, want in zip(mixed[2], reference[2]):
        np.testing.assert_allclose(got, want, rtol=0.03, atol=0.05)
    assert mixed[3] == pytest.approx(reference[3], rel=0.02)
