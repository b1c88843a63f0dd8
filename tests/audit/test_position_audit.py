"""`position_audit`'s inputs and impact N values (`keras_gpos.audit.position_audit`, `impact`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import keras
import numpy as np
import pytest

from keras_gpos.audit import position_audit
from keras_gpos.layers import ChannelPermutation

pytestmark = pytest.mark.backend_agnostic


def _classifier(permute=False, seed=3):
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="stage")(inputs)
    if permute:
        features = ChannelPermutation(seed=seed, name="shuffle")(features)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    return keras.Model(inputs, keras.layers.Dense(3)(pooled), name="tiny")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).normal(size=(8, 4, 4, 3)).astype("float32")


def _audit(model, data, **kwargs):
    return position_audit(model, data, grid_size=2, probe_images=8, verbose=0, **kwargs)


@pytest.mark.adversarial
def test_images_with_another_channel_count_are_a_one_line_error(images):
    # Finding 12: a TypeError that printed the whole array.
    with pytest.raises(ValueError, match=r"images have 1 channel\(s\) .*model 'tiny' takes 3") as error:
        _audit(_classifier(), images[..., :1], layers=["stage"])
    assert "\n" not in str(error.value) and "array(" not in str(error.value)


@pytest.mark.adversarial
def test_impact_n_above_a_layers_channels_is_said_not_dropped(images):
    # Finding 6: N values above a layer's channels vanished from the result without a word.
    labels = np.arange(8) % 3
    with pytest.warns(UserWarning, match=r"layer 'stage' has 6 channels; impact_n values \[8\]"):
        audit = _audit(_classifier(), (images, labels), layers=["stage"], impact_n=(2, 8), random_draws=2)
    layer = audit.to_dict()["layers"][0]
    assert layer["impact_skipped_n"] == [8] and [row["n"] for row in layer["impact"]["rows"]] == [2]
    with pytest.raises(ValueError, match=r"impact_n=\(8, 9\) is larger than the channels of every audited layer"):
        _audit(_classifier(), (images, labels), layers=["stage"], impact_n=(8, 9))


@pytest.mark.adversarial
def test_a_permutation_inside_the_audited_model_stays_random_and_reproducible(images):
    # Finding 1 (the audit path): the compiled forward carries the seed state on every backend.
    def rankings(count):
        keras.utils.set_random_seed(0)
        model = _classifier(permute=True)
        return [tuple(np.round(_audit(model, images, layers=["shuffle"], flips=("horizontal",))
                               .layers[0]["rankings"]["horizontal"]["overall"], 6)) for _ in range(count)]

    first = rankings(2)
    assert first[0] != first[1] and sorted(first[0]) == sorted(first[1])
    assert rankings(1) == first[:1]


def test_class_labels_in_every_keras_layout_audit_alike(images):
    model = _classifier()
    labels = np.arange(8) % 3
    reference = _audit(model, (images, labels), layers=["stage"]).layers[0]["class"]
    assert _audit(model, (images, np.eye(3)[labels]), layers=["stage"]).layers[0]["class"] == reference
    with pytest.raises(ValueError, match=r"labels of batch 0 holds negative labels \[-1\]"):
        _audit(model, (images, labels - 1), layers=["stage"])
    with pytest.raises(ValueError, match="masks are 4x3 but the images are 4x4"):
        _audit(model, (images, np.zeros((8, 4, 3), "int32")), layers=["stage"])


def test_a_channels_first_model_is_refused_before_any_work(images):
    inputs = keras.Input((3, 8, 8))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, data_format="channels_first", name="cf")(inputs))
    with pytest.raises(ValueError, match=r"position_audit: model .* reads channels_first \(layer 'cf'\)"):
        _audit(model, images, layers=["cf"])


# --- issue 27: what a user trips over ----------------------------------------

class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.backbone = keras.layers.Conv2D(5, 3, padding="same", activation="relu")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(3)

    def call(self, x, training=False):
        return self.head(self.pool(self.backbone(x)))


def test_the_repr_of_an_audit_is_one_short_line(images):
    audit = _audit(_classifier(), (images, np.arange(8) % 3), layers=["stage"])
    text = repr(audit)
    assert "\n" not in text and len(text) < 300, text
    assert text.startswith("PositionAudit(model='tiny', layers=['stage'], grid_size=2, images=8, labels='class'")
    assert "verdicts: " in text and "per_image_correct" not in text


def test_a_subclassed_model_is_audited_through_a_feature_callable(images):
    model = _Subclassed()
    model(images[:1])
    audit = _audit(model, (images, np.arange(8) % 3), layers=[lambda x: model.backbone(x)], input_shape=(8, 8, 3))
    layer = audit.layers[0]
    assert layer["name"] == "features" and layer["channels"] == 5
    assert set(layer["location"]) == {"ordered", "sorted", "sum"} and layer["class"] is not None
    # The same features through a functional twin that shares the weights: the same probes.
    inputs = keras.Input((8, 8, 3))
    twin = keras.Model(inputs, model.backbone(inputs))
    reference = _audit(twin, (images, np.arange(8) % 3), layers=[twin.layers[-1].name])
    assert layer["location"]["ordered"]["accuracy"] == reference.layers[0]["location"]["ordered"]["accuracy"]


def test_a_subclassed_model_without_a_feature_callable_is_told_the_argument_that_works(images):
    model = _Subclassed()
    model(images[:1])
    with pytest.raises(ValueError, match=r"subclassed .* layers=\[lambda x: model\.backbone\(x\)\]") as error:
        _audit(model, images)
    assert "features=" not in str(error.value)
    with pytest.raises(ValueError, match="mixes feature callables with layer names"):
        _audit(_classifier(), images, layers=["stage", lambda x: x])
    with pytest.raises(ValueError, match="impact_n ablates channels inside the model's graph"):
        _audit(model, (images, np.arange(8) % 3), layers=[lambda x: model.backbone(x)], impact_n=(2,))
