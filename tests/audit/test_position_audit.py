"""`position_audit`'s inputs and impact N values (`keras_gpos.audit.position_audit`, `impact`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import warnings

import keras
import numpy as np
import pytest

import keras_gpos
from keras_gpos.audit import position_audit
from keras_gpos.base.schema import SCHEMA_VERSION
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


GRID, SIDE, CELL = 3, 48, 16

RNG = np.random.default_rng(0)


# Bright images (class 1) and dim ones (class 0), 16x16, on a zero background.
LABELS = np.arange(24) % 2
IMAGES = (RNG.uniform(0.2, 0.6, size=(24, CELL, CELL, 1)) + LABELS[:, None, None, None]).astype("float32")


def _cell_masks():
    masks = np.zeros((SIDE, SIDE, GRID * GRID), "float32")
    for cell in range(GRID * GRID):
        row, column = divmod(cell, GRID)
        masks[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL, cell] = 1.0
    return masks


def _one_hot_location_model():
    """Channel c = the image's activity inside cell c: position lives only in channel order."""
    inputs = keras.Input((SIDE, SIDE, 1))
    masks = _cell_masks()
    features = keras.layers.Lambda(lambda x: x * keras.ops.convert_to_tensor(masks), name="one_hot")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    return keras.Model(inputs, keras.layers.Dense(2)(pooled))


def _position_blind_model():
    """Every channel holds the canvas mean: nothing about position survives pooling."""
    inputs = keras.Input((SIDE, SIDE, 1))
    mean = keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=(1, 2), keepdims=True) + 0 * x,
                               name="blind")(inputs)
    features = keras.layers.Concatenate(name="features")([mean] * 4)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features)))


def test_position_in_channel_order_is_found_and_order_free_views_lose_it():
    audit = position_audit(_one_hot_location_model(), (IMAGES, LABELS), layers=["one_hot"], grid_size=GRID,
                           verbose=0)
    layer = audit.layers[0]
    location = layer["location"]
    assert location["ordered"]["accuracy"] == 1.0
    assert location["ordered"]["chance"] == pytest.approx(1 / 9)
    # Sorted vector and channel sum are the same wherever the image sits.
    assert location["sorted"]["accuracy"] <= 2 / 9 and location["sum"]["accuracy"] <= 2 / 9
    assert layer["gaps"]["location"]["ordered_minus_sorted"] >= 0.75
    # The class (brightness) survives every view: it is not in the channel order.
    for view in ("ordered", "sorted", "sum"):
        assert layer["class"][view]["accuracy"] == 1.0, view
    assert layer["gaps"]["class"]["ordered_minus_sorted"] == 0.0
    assert audit.probe_images == {"train": 12, "test": 12} and audit.labels == "class"


def test_a_model_that_ignores_position_decodes_nothing_about_it():
    audit = position_audit(_position_blind_model(), IMAGES, layers=["features"], grid_size=GRID, verbose=0)
    location = audit.layers[0]["location"]
    for view in ("ordered", "sorted", "sum"):
        assert location[view]["accuracy"] <= 2 / 9, (view, location)
    assert audit.layers[0]["class"] is None and audit.labels == "none"


def test_flip_rankings_find_the_channels_of_one_side():
    # One-hot cells: a horizontal flip swaps left and right columns, so the
    # channels of the left and right cells (6 of 9) carry all the score.
    audit = position_audit(_one_hot_location_model(), IMAGES, layers=["one_hot"], grid_size=GRID, verbose=0)
    horizontal = audit.layers[0]["rankings"]["horizontal"]
    top = set(horizontal["top_channels"][:6])
    assert top == {0, 2, 3, 5, 6, 8}
    assert horizontal["top_10pct_share"] > 0.1  # the top channel holds more than a uniform tenth


def test_the_audit_writes_json_markdown_and_png_and_reads_every_input_kind(tmp_path):
    import tensorflow as tf

    model = _one_hot_location_model()
    from_arrays = position_audit(model, (IMAGES, LABELS), layers=["one_hot"], grid_size=GRID, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS)).batch(5)
    from_dataset = position_audit(model, dataset, layers=["one_hot"], grid_size=GRID, verbose=0)
    assert from_dataset.layers[0]["location"] == from_arrays.layers[0]["location"]
    report = from_arrays.save(tmp_path)
    assert report.payload["audits"][0]["model"] == model.name and report.payload["schema_version"] == SCHEMA_VERSION
    assert "location ordered" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_a_model_without_a_fixed_input_size_gets_the_grid_canvas():
    inputs = keras.Input((None, None, 1))
    features = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(features))
    audit = position_audit(model, IMAGES, layers=["conv"], grid_size=2, verbose=0)
    assert audit.input_shape == (32, 32, 1)
    audit = position_audit(model, IMAGES, layers=["conv"], grid_size=2, input_shape=(40, 40, 1), verbose=0)
    assert audit.input_shape == (40, 40, 1)


def test_bad_inputs_are_clear_errors():
    model = _one_hot_location_model()
    with pytest.raises(ValueError, match=r"layer 'global_average_pooling2d.*' outputs \(None, 9\), not a 4-D"):
        position_audit(model, IMAGES, layers=[model.layers[-2].name], verbose=0)
    with pytest.raises(ValueError, match="at least 4 images for a held-out split; got 3"):
        position_audit(model, IMAGES[:3], layers=["one_hot"], verbose=0)
    with pytest.raises(ValueError, match="3 labels for 24 images"):
        position_audit(model, (IMAGES, LABELS[:3]), layers=["one_hot"], verbose=0)
    with pytest.raises(ValueError, match="grid_size must be >= 2"):
        position_audit(model, IMAGES, grid_size=1, verbose=0)
    inputs = keras.Input((SIDE, SIDE, 1))
    exploding = keras.Model(inputs, keras.layers.Lambda(lambda x: x / 0.0, name="boom")(inputs))
    with pytest.raises(ValueError, match="layer 'boom' produced NaN or Inf activations"):
        position_audit(exploding, IMAGES, layers=["boom"], verbose=0)
    bad = IMAGES.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="batch 0 holds 1 NaN or Inf value"):
        position_audit(model, bad, layers=["one_hot"], verbose=0)


def test_impact_compares_top_n_with_random_channels():
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(2, (48, 48, 1), depth=10, width=4, head="fc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        audit = position_audit(model, (IMAGES, LABELS), layers=["stage4_out"], grid_size=GRID, impact_n=(4,),
                               random_draws=3, verbose=0)
    impact = audit.layers[0]["impact"]  # its numbers: TF == JAX in tests/integration/test_jax_backend.py
    row = impact["rows"][0]
    assert row["n"] == 4 and row["random_std"] is not None and 0.0 < row["p_value"] <= 1.0
    assert "Accuracy drop (points, clean" in audit.to_markdown()


def test_impact_on_segmentation_masks_smaller_than_the_input():
    # Left half bright = class 1. The model's input is 48x48; images and masks are 16x16:
    # the images are resized bilinearly, the masks by nearest neighbour, and scored together.
    images = np.zeros((8, CELL, CELL, 1), "float32")
    images[:, :, : CELL // 2] = 1.0
    masks = (images[..., 0] > 0.5).astype("int32")
    inputs = keras.Input((SIDE, SIDE, 1))
    features = keras.layers.Lambda(lambda x: x * keras.ops.ones((1, 1, 1, 4)), name="feat")(inputs)
    level = keras.layers.Lambda(lambda f: keras.ops.mean(f, axis=-1, keepdims=True))(features)
    logits = keras.layers.Lambda(lambda s: keras.ops.concatenate([0.5 - s, s - 0.5], -1))(level)
    model = keras.Model(inputs, logits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        audit = position_audit(model, (images, masks), layers=["feat"], grid_size=GRID, impact_n=(2,),
                               random_draws=2, num_classes=2, verbose=0)
    impact = audit.layers[0]["impact"]
    assert impact["clean"]["all"] > 0.9 and audit.labels == "segmentation"
    assert "mIoU drop (clean " in audit.to_markdown()


def test_impact_without_a_flip_to_rank_by_is_refused():
    model = keras_gpos.models.build_classifier(2, (48, 48, 1), depth=10, width=4, head="fc")
    with pytest.raises(ValueError, match=r"impact_n .* flips=\(\)"):
        position_audit(model, (IMAGES, LABELS), layers=["stage4_out"], impact_n=(4,), flips=(), verbose=0)


# position_audit reads its layers and labels as given (second hostile pass).


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return keras_gpos.models.build_classifier(4, (32, 32, 3), depth=10, width=4, head="fc")


def few_images(count=8):
    return np.random.default_rng(0).normal(size=(count, 16, 16, 3)).astype("float32")


@pytest.mark.adversarial
def test_a_layer_listed_twice_is_refused(model):
    # It was audited twice, inside one Holm family.
    with pytest.raises(ValueError, match="layers lists 'stage4_out' and 'stage4_out', the same layer"):
        position_audit(model, few_images(), layers=["stage4_out", "stage4_out"], grid_size=2, verbose=0)


@pytest.mark.adversarial
def test_class_probe_chance_follows_num_classes(model):
    labels = np.arange(8) % 2  # only classes 0 and 1 occur, but the task has 4
    audit = position_audit(model, (few_images(), labels), layers=["stage4_out"], grid_size=2, num_classes=4,
                           flips=(), verbose=0)
    ordered = audit.layers[0]["class"]["ordered"]
    assert ordered["uniform_chance"] == pytest.approx(0.25)


@pytest.mark.adversarial
def test_unbuilt_sequential_with_input_shape_audits_every_generator_batch():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Conv2D(4, 3, padding="same", name="c1"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    data = few_images(12)

    def generator():
        for start in range(0, 12, 4):
            yield data[start:start + 4]

    # input_shape was ignored: "Sequential model ... is not built; pass input_shape".
    audit = position_audit(model, generator(), layers=["c1"], grid_size=2, input_shape=(32, 32, 3), flips=(),
                           verbose=0)
    assert audit.images == 12
