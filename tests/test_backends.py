"""The library's public API on whatever Keras backend this process runs.

No TensorFlow import here: the main test process runs these on TensorFlow,
and `tests/test_jax_backend.py` runs this same file under
`KERAS_BACKEND=jax` (in one subprocess, with the layer tests).
"""

import keras
import numpy as np
import pytest

import keras_gpos
from keras_gpos.attacks import AttackEvaluator, insert_channel_mask
from keras_gpos.losses import ShiftConsistencyLoss
from keras_gpos.training import AugShiftModel

pytestmark = pytest.mark.backend_agnostic

RNG = np.random.default_rng(0)
CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _segmenter():
    keras.utils.set_random_seed(0)
    return keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8)


def _scenes(count=6):
    scenes = keras_gpos.data.make_street_scenes(count, (32, 48), seed=2)
    return scenes.images.astype("float32"), np.minimum(scenes.masks, 2).astype("int32")


def test_backend_is_the_one_asked_for():
    import os

    assert keras.config.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


def test_augshift_fits_on_numpy_views_and_the_terms_add_up():
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(6, 3),
                                keras.layers.BatchNormalization(), keras.layers.ReLU()])
    model = AugShiftModel(encoder, keras.layers.Dense(3), ShiftConsistencyLoss(2.0))
    model.compile(keras.optimizers.SGD(0.05), CE, metrics=["accuracy"])
    base = RNG.normal(size=(16, 16, 16, 3)).astype("float32")
    view_a, view_b = np.roll(base, 1, axis=2), np.roll(base, -2, axis=1)
    y = np.arange(16) % 3
    history = model.fit((view_a, view_b), y, batch_size=8, epochs=2, verbose=0,
                        validation_data=(view_a, y), callbacks=[keras_gpos.training.ConsistencyWarmup(1)])
    for key in ("loss", "ce_loss", "consistency_loss", "view_agreement", "accuracy", "val_accuracy"):
        assert key in history.history and np.all(np.isfinite(history.history[key])), key
    assert history.history["consistency_loss"][0] == 0.0  # warm-up: lambda x 0 in epoch 0
    logs = model.evaluate((view_a, view_b), y, batch_size=16, return_dict=True, verbose=0)
    np.testing.assert_allclose(logs["loss"], logs["ce_loss"] + logs["consistency_loss"], rtol=1e-5)
    z_a, z_b = (keras.ops.convert_to_numpy(model.latents(v)) for v in (view_a, view_b))
    np.testing.assert_allclose(logs["consistency_loss"], 2.0 * np.mean((z_a - z_b) ** 2), rtol=1e-4)
    assert keras.ops.convert_to_numpy(model.inference_model()(view_a)).shape == (16, 3)


def test_attack_evaluator_compiles_once_for_every_channel_set():
    attacked = insert_channel_mask(_segmenter(), "stage4_out")
    images, masks = _scenes(7)
    evaluator = AttackEvaluator(attacked, (images, masks), 3, batch_size=4)  # 4 + 3: padded last batch
    clean = evaluator.evaluate(())
    for channels in ([0], [1, 2, 3], list(range(16)), []):
        evaluator.evaluate(channels)
    assert evaluator.trace_count == 1
    assert evaluator.evaluate(())["all"]["miou"] == pytest.approx(clean["all"]["miou"], abs=1e-9)
    # Same numbers as the metric computed directly, with the model applied eagerly.
    metric = keras_gpos.metrics.RegionMeanIoU(3, region="left")
    metric.update_state(masks, keras.ops.convert_to_numpy(attacked(images)))
    assert float(metric.result()) == pytest.approx(clean["left"]["miou"], abs=1e-5)


def test_ranking_consistency_and_probe_run():
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc")
    images = RNG.normal(size=(6, 32, 32, 3)).astype("float32")
    protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
    scores = keras_gpos.metrics.consistency_and_accuracy(model, images, np.zeros(6, int), protocol, repeats=1)
    assert 0.0 <= scores["consistency"] <= 1.0 and 0.0 <= scores["accuracy"] <= 1.0
    canvases = protocol.place(images, np.zeros(6, int), np.zeros(6, int))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranking = keras_gpos.ranking.rank_position_channels(model, "stage4_out", canvases)
    assert ranking.num_channels == 32 and np.all(np.isfinite(ranking.overall))
    result = keras_gpos.metrics.position_probe(
        keras.Model(model.input, model.get_layer("pooled").output), images[:4], images[4:], protocol)
    assert 0.0 <= result.accuracy <= 1.0


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


def test_aps_network_is_exactly_invariant_to_circular_shifts():
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(5, (16, 16, 3), depth=10, width=4, padding="circular",
                                               head="fc", downsample="aps")
    x = RNG.normal(size=(1, 16, 16, 3)).astype("float32")
    shifts = np.concatenate([np.roll(x, (dy, dx), axis=(1, 2)) for dy in range(16) for dx in range(16)])
    logits = keras.ops.convert_to_numpy(model(shifts, training=False))
    assert np.abs(logits - logits[0]).max() <= 1e-5 * max(np.abs(logits[0]).max(), 1.0)


def test_every_consistency_protocol_scores_an_invariant_model_1_and_a_position_reader_below():
    # One dominant colour channel per image (1.0 against 0.3) under a spatial
    # pattern shared by the channels (0..0.4): every view keeps the dominant
    # channel the largest anywhere, so "the channel with the largest value"
    # is invariant under every protocol; a dense layer over the pixels reads
    # where the pattern sits.
    dominant = np.eye(3, dtype="float32")[np.arange(12) % 3]
    pattern = RNG.uniform(0.0, 0.4, size=(12, 16, 16, 1)).astype("float32")
    images = (0.3 + 0.7 * dominant[:, None, None, :] + pattern).astype("float32")
    for mode in keras_gpos.data.VIEW_MODES:
        protocol = keras_gpos.data.ViewProtocol(mode, canvas_size=24, max_shift=4)
        shape = protocol.input_shape(images.shape[1:])
        inputs = keras.Input(shape)
        invariant = keras.Model(inputs, keras.layers.GlobalMaxPooling2D()(inputs))
        assert keras_gpos.metrics.shift_consistency(invariant, images, protocol=protocol, repeats=3) == 1.0, mode
        keras.utils.set_random_seed(0)
        reader = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(
            inputs * keras.ops.convert_to_tensor(RNG.normal(size=shape).astype("float32")))))
        assert keras_gpos.metrics.shift_consistency(reader, images, protocol=protocol, repeats=3) < 1.0, mode
