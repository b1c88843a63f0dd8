"""AugShiftModel: the two-view loss, fit logs, the warm-up, distribution, saving and export, bad inputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gpos
from keras_gpos.export import export_saved_model
from keras_gpos.losses import ShiftConsistencyLoss
from keras_gpos.training import AugShiftModel, ConsistencyWarmup
from keras_gpos.training.distribution import get_strategy


def _pooled_model():
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
                                keras.layers.GlobalAveragePooling2D()])
    model = AugShiftModel(encoder, keras.layers.Dense(3), ShiftConsistencyLoss(2.0))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.backend_agnostic
def test_consistency_warmup_puts_the_scale_back_when_training_ends():
    model = _pooled_model()
    views = np.random.default_rng(0).normal(size=(2, 4, 8, 8, 3)).astype("float32")
    labels = np.zeros(4, int)
    history = model.fit(tuple(views), labels, epochs=2, verbose=0, callbacks=[ConsistencyWarmup(4)])
    assert history.history["consistency_scale"] == [0.0, 0.25]  # the ramp ran
    # A later fit without the callback trains with the configured weight, not the last ramp value.
    assert float(keras.ops.convert_to_numpy(model.consistency_scale.value)) == 1.0


@pytest.mark.backend_agnostic
def test_consistency_warmup_refuses_a_model_that_is_not_augshift():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="needs an AugShiftModel"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0, callbacks=[ConsistencyWarmup(1)])


CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


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


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
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


@pytest.mark.backend_agnostic
def test_warmup_ramps_linearly():
    warmup = ConsistencyWarmup(4)
    assert [warmup.scale_at(e) for e in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert ConsistencyWarmup(0).scale_at(0) == 1.0


RNG = np.random.default_rng(0)


@pytest.mark.backend_agnostic
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
