"""AugShift: the consistency loss, the two-view model, metrics and callbacks."""

import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gpos
from keras_gpos.data import ViewProtocol
from keras_gpos.export import export_saved_model
from keras_gpos.losses import ShiftConsistencyLoss
from keras_gpos.metrics import ShiftConsistency, accuracy_vs_shift, shift_consistency
from keras_gpos.training import AugShiftModel, ConsistencyWarmup, ShiftConsistencyCallback
from keras_gpos.training.distribution import get_strategy

CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# --- ShiftConsistencyLoss ---------------------------------------------------

def test_mse_and_cosine_distances_and_lambda():
    a = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
    b = np.array([[0.0, 1.0], [0.0, 1.0]], "float32")
    mse = ShiftConsistencyLoss()(a, b)
    np.testing.assert_allclose(float(mse), ((1 + 1) / 2 + (0 + 1) / 2) / 2, rtol=1e-6)
    np.testing.assert_allclose(float(ShiftConsistencyLoss(weight=3.0)(a, b)), 3 * float(mse), rtol=1e-6)
    # Cosine: orthogonal pair -> 1, parallel pair -> 0.
    np.testing.assert_allclose(float(ShiftConsistencyLoss(distance="cosine")(a, b)), 0.5, rtol=1e-6)
    # Normalised MSE ignores scale: z and 2z are at distance 0.
    np.testing.assert_allclose(float(ShiftConsistencyLoss(normalize=True)(b, 2 * b)), 0.0, atol=1e-7)
    assert float(ShiftConsistencyLoss(weight=0.0)(a, b)) == 0.0


def test_consistency_loss_serializes():
    loss = ShiftConsistencyLoss(weight=2.5, distance="cosine", normalize=True)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is ShiftConsistencyLoss
    assert (restored.weight, restored.distance, restored.normalize) == (2.5, "cosine", True)


@pytest.mark.parametrize("kwargs,match", [
    ({"weight": -0.1}, "weight \\(lambda\\) must be >= 0; got -0.1"),
    ({"weight": "1"}, "must be a number"),
    ({"distance": "l1"}, "Unknown distance 'l1'"),
    ({"normalize": 1}, "normalize must be a bool"),
])
def test_consistency_loss_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShiftConsistencyLoss(**kwargs)


def test_consistency_loss_rejects_mismatched_or_unpooled_latents():
    loss = ShiftConsistencyLoss()
    with pytest.raises(ValueError, match="differ in shape"):
        loss(np.zeros((4, 8)), np.zeros((4, 6)))
    with pytest.raises(ValueError, match="Pool feature maps first"):
        loss(np.zeros((4, 3, 3, 8)), np.zeros((4, 3, 3, 8)))


# --- AugShiftModel ----------------------------------------------------------

def _encoder(feature_map=True, side=8, seed=0, batch_norm=False):
    inputs = keras.Input((side, side, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", kernel_initializer=keras.initializers.GlorotUniform(seed))(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    if not feature_map:
        x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x)


def _head(seed=1):
    return keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(seed))


def _views(n=8, side=8, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, side, side, 3)).astype("float32")
    a = np.roll(base, 1, axis=2)
    b = np.roll(base, -2, axis=1)
    y = (np.arange(n) % 3).astype("int64")
    return a, b, y


def _model(weight=1.0, **kwargs):
    model = AugShiftModel(_encoder(**kwargs), _head(), ShiftConsistencyLoss(weight))
    model.compile(keras.optimizers.SGD(0.1), CE, metrics=["accuracy"])
    return model


def test_loss_is_cross_entropy_on_both_views_plus_lambda_consistency():
    model = _model(weight=2.0)
    a, b, y = _views()
    logs = model.evaluate((a, b), y, batch_size=8, return_dict=True, verbose=0)
    za, zb = (keras.ops.convert_to_numpy(model.latents(v)) for v in (a, b))
    logits = keras.ops.convert_to_numpy(model.head(np.concatenate([za, zb])))
    ce = float(CE(np.concatenate([y, y]), logits))
    consistency = 2.0 * float(np.mean((za - zb) ** 2))
    np.testing.assert_allclose(logs["ce_loss"], ce, rtol=1e-5)
    np.testing.assert_allclose(logs["consistency_loss"], consistency, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], ce + consistency, rtol=1e-5)


def test_fit_reports_terms_and_single_view_validation_is_plain_accuracy():
    model = _model()
    a, b, y = _views(16)
    history = model.fit((a, b), y, validation_data=(a, y), batch_size=8, epochs=2, verbose=0,
                        callbacks=[ConsistencyWarmup(1)])
    for key in ("loss", "ce_loss", "consistency_loss", "view_agreement", "accuracy",
                "val_loss", "val_accuracy", "consistency_scale"):
        assert key in history.history, key
    # Plain images cannot measure the two-view terms: they are not logged
    # (a logged 0 would read as perfect consistency).
    assert "val_consistency_loss" not in history.history
    assert history.history["consistency_scale"] == [0.0, 1.0]
    assert history.history["consistency_loss"][0] == 0.0  # warm-up epoch 0: lambda x 0


def test_consistency_term_pulls_the_views_latents_together():
    # A position-sensitive encoder (flatten + dense) on images at two random
    # canvas positions: without the term the views' latents differ a lot;
    # with lambda = 10 they are pulled together. Measured over seeds 0-2:
    # relative distance ~0.5-0.9 at lambda 0, below 0.1 at lambda 10.
    rng = np.random.default_rng(0)
    images = rng.normal(size=(32, 6, 6, 3)).astype("float32")
    a, b = keras_gpos.data.canvas_views(images, 10, seed=[0, 1])
    y = (np.arange(32) % 3).astype("int64")
    distances = {}
    for weight in (0.0, 10.0):
        keras.utils.set_random_seed(0)
        encoder = keras.Sequential([keras.Input((10, 10, 3)), keras.layers.Flatten(),
                                    keras.layers.Dense(8)])
        model = AugShiftModel(encoder, _head(), ShiftConsistencyLoss(weight))
        model.compile(keras.optimizers.Adam(0.01), CE)
        model.fit((a, b), y, batch_size=32, epochs=40, verbose=0)
        za, zb = (keras.ops.convert_to_numpy(model.latents(v)) for v in (a, b))
        # Relative distance, so shrinking every latent does not count.
        distances[weight] = np.mean((za - zb) ** 2) / np.mean(za**2 + zb**2)
    assert distances[10.0] < 0.3 * distances[0.0], distances


def test_mirrored_strategy_gives_the_single_device_loss_and_update():
    # The same global batch on one device and split over two logical CPUs
    # must give the same loss and the same weights after one step. An
    # unscaled consistency term (a bare mean in train_step) would be summed
    # over both replicas and double its gradient, which this catches.
    a, b, y = _views(8)
    dataset = tf.data.Dataset.from_tensor_slices(((a, b), y)).batch(8)
    keras.utils.set_random_seed(0)
    single = _model(weight=5.0)
    initial = single.get_weights()
    single_logs = single.fit(dataset, epochs=1, verbose=0).history
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(cpus) >= 2, "conftest should provide two logical CPUs"
    strategy = get_strategy("mirrored")
    with strategy.scope():
        mirrored = _model(weight=5.0)
        mirrored.set_weights(initial)
    mirrored_logs = mirrored.fit(dataset, epochs=1, verbose=0).history
    for key in ("loss", "ce_loss", "consistency_loss"):
        np.testing.assert_allclose(mirrored_logs[key], single_logs[key], rtol=1e-4, err_msg=key)
    for got, want in zip(mirrored.get_weights(), single.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_saves_loads_and_exports_the_inference_model(tmp_path):
    model = _model(batch_norm=True)
    a, b, y = _views(8)
    model.fit((a, b), y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "augshift.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, AugShiftModel)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(a)),
                               keras.ops.convert_to_numpy(model(a)), rtol=1e-5, atol=1e-5)
    assert loaded.consistency_loss.get_config() == model.consistency_loss.get_config()

    inference = model.inference_model()
    export = export_saved_model(inference, tmp_path / "saved_model")
    served = tf.saved_model.load(str(export))
    assert "serving_default" in served.signatures
    np.testing.assert_allclose(served.serve(a).numpy(), keras.ops.convert_to_numpy(model(a)),
                               rtol=1e-5, atol=1e-5)


def test_vector_encoder_works_like_a_feature_map_encoder():
    a, b, y = _views(8)
    model = _model(feature_map=False)
    model.fit((a, b), y, batch_size=8, epochs=1, verbose=0)
    assert model(a).shape == (8, 3)


def test_bad_inputs_are_clear_errors():
    sequence_encoder = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Reshape((64, 3))])
    with pytest.raises(ValueError, match="latent vector .* or a feature map"):
        AugShiftModel(sequence_encoder, _head())
    with pytest.raises(ValueError, match="ShiftConsistencyLoss"):
        AugShiftModel(_encoder(), _head(), consistency_loss=keras.losses.MeanSquaredError())
    with pytest.raises(ValueError, match="encoder must be a Keras layer"):
        AugShiftModel(lambda x: x, _head())
    model = _model()
    a, b, y = _views(8)
    with pytest.raises(ValueError, match=r"\(\(view_a, view_b\), labels\)"):
        model.fit(a, y, batch_size=8, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="differ in shape"):
        AugShiftModel.split_views((tf.zeros((2, 8, 8, 3)), tf.zeros((2, 10, 10, 3))))
    with pytest.raises(ValueError, match="warmup_epochs must be an int >= 0; got -1"):
        ConsistencyWarmup(-1)


def test_warmup_ramps_linearly():
    warmup = ConsistencyWarmup(4)
    assert [warmup.scale_at(e) for e in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert ConsistencyWarmup(0).scale_at(0) == 1.0


# --- Metrics and the consistency callback -----------------------------------

def test_shift_consistency_metric_counts_agreeing_top1():
    metric = ShiftConsistency()
    metric.update_state(np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 1.0]]),
                        np.array([[2.0, 1.0], [1.0, 0.0], [5.0, 0.0]]))
    np.testing.assert_allclose(float(metric.result()), 2 / 3, rtol=1e-6)
    metric.update_state(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]]), sample_weight=np.array([3.0]))
    np.testing.assert_allclose(float(metric.result()), 5 / 6, rtol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        metric.update_state(np.zeros((2, 3)), np.zeros((3, 3)))


def _mean_colour_classifier(side):
    # Mean over the canvas of an image on a 0 background does not depend on
    # where the image sits: a perfectly shift-invariant classifier.
    inputs = keras.Input((side, side, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, kernel_initializer="glorot_uniform")(pooled))


def _position_classifier(side):
    inputs = keras.Input((side, side, 3))
    flat = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, kernel_initializer="glorot_uniform")(flat))


def test_consistency_and_accuracy_vs_shift_protocol():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(40, 8, 8, 3)).astype("float32")
    labels = rng.integers(0, 3, 40)
    canvas = ViewProtocol("canvas", canvas_size=14)
    invariant = _mean_colour_classifier(14)
    assert shift_consistency(invariant, images, protocol=canvas, repeats=2) == 1.0  # a fraction
    offsets, accuracy = accuracy_vs_shift(invariant, images, labels, canvas)
    assert offsets == list(range(7))
    assert max(accuracy) - min(accuracy) < 1e-9 and 0.0 <= accuracy[0] <= 1.0  # flat curve
    keras.utils.set_random_seed(0)
    sensitive = _position_classifier(14)
    assert shift_consistency(sensitive, images, protocol=canvas, repeats=2) < 0.9
    # Same seed, same views: the protocol is reproducible, also when the data come batched otherwise.
    once = shift_consistency(sensitive, images, protocol=canvas, seed=5)
    assert once == shift_consistency(sensitive, images, protocol=canvas, seed=5, batch_size=7)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    scores = keras_gpos.metrics.consistency_and_accuracy(sensitive, dataset, protocol=canvas, seed=5)
    assert scores["consistency"] == once and 0.0 <= scores["accuracy"] <= 1.0
    offsets, _ = accuracy_vs_shift(_mean_colour_classifier(8), images, labels,
                                   ViewProtocol("shift", max_shift=3), stride=2)
    assert offsets == [0, 2, 3]


def test_consistency_callback_logs_each_epoch():
    a, b, y = _views(8)
    model = _model()
    callback = ShiftConsistencyCallback(a, ViewProtocol("shift", max_shift=2))
    history = model.fit((a, b), y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    assert len(history.history["val_consistency"]) == 2
    assert all(0.0 <= v <= 1.0 for v in history.history["val_consistency"])


def test_public_api():
    assert keras_gpos.training.AugShiftModel is AugShiftModel
    assert keras_gpos.losses.ShiftConsistencyLoss is ShiftConsistencyLoss
    assert keras_gpos.metrics.ShiftConsistency is ShiftConsistency
    assert pathlib.Path(keras_gpos.__file__).exists()


def test_view_latent_distance_is_zero_for_an_invariant_encoder_and_scale_free():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(20, 8, 8, 3)).astype("float32")
    inputs = keras.Input((14, 14, 3))
    invariant = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    canvas = ViewProtocol("canvas", canvas_size=14)
    assert keras_gpos.metrics.view_latent_distance(invariant, images, canvas) < 1e-10
    flat = keras.Model(inputs, keras.layers.Flatten()(inputs))
    doubled = keras.Model(inputs, keras.layers.Rescaling(2.0)(keras.layers.Flatten()(inputs)))
    d_flat = keras_gpos.metrics.view_latent_distance(flat, images, canvas)
    assert d_flat > 0.5  # flattened pixels move with the image
    np.testing.assert_allclose(
        keras_gpos.metrics.view_latent_distance(doubled, images, canvas), d_flat, rtol=1e-5)
