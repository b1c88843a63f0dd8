"""The position audit on constructed models whose answers are known, and its bad inputs."""

import warnings

import keras
import numpy as np
import pytest

import keras_gpos
from keras_gpos.audit import PositionAuditCallback, candidate_layers, position_audit
from keras_gpos.base.schema import SCHEMA_VERSION

pytestmark = pytest.mark.backend_agnostic

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


def test_default_layers_are_the_stage_ends_spread_over_depth():
    model = keras_gpos.models.build_classifier(4, (64, 64, 3), depth=10, width=4, head="fc")
    stages = candidate_layers(model)
    # The stem and stage 1 share a resolution (stage 1 has stride 1): stage 1 ends it.
    assert stages == ["stage1_block1_out", "stage2_block1_out", "stage3_block1_out", "features"]
    assert keras_gpos.audit.default_layers(model, 3) == ["stage1_block1_out", "stage3_block1_out", "features"]


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


def test_the_callback_logs_probe_accuracies_and_writes_the_last_audit(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(2, (32, 32, 3), depth=10, width=4, head="fc")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probe = (RNG.normal(size=(8, 16, 16, 3)).astype("float32"), np.arange(8) % 2)
    callback = PositionAuditCallback(probe, layers=["stage4_out"], every=2, grid_size=2, directory=tmp_path)
    history = model.fit(np.zeros((8, 32, 32, 3), "float32"), np.zeros(8), epochs=3, verbose=0,
                        callbacks=[callback])
    assert len(callback.seconds) == 2  # epochs 2 and 3 (the last)
    values = history.history["audit_stage4_out_location_ordered"]
    assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
    assert "audit_stage4_out_class_sorted" in history.history and "audit_seconds" in history.history
    assert (tmp_path / "results.json").exists()


def test_impact_compares_top_n_with_random_channels():
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(2, (48, 48, 1), depth=10, width=4, head="fc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        audit = position_audit(model, (IMAGES, LABELS), layers=["stage4_out"], grid_size=GRID, impact_n=(4,),
                               random_draws=3, verbose=0)
    impact = audit.layers[0]["impact"]
    assert 0.0 <= impact["clean_accuracy"] <= 1.0
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


@pytest.mark.parametrize("state, reason, expected", [
    ("holds", None, "The paper's claim agrees with this run."),
    ("does_not_hold", None, "The paper's claim does not agree with this run."),
    ("cannot_be_judged", "probe_at_chance", "This run cannot test the paper's claim."),  # e.g. the class at chance
])
def test_the_audit_verdict_on_the_papers_prediction(state, reason, expected):
    # The sentence comes from the settled verdict (keras_gpos.audit.verdicts), never from two gaps alone.
    from keras_gpos.audit.rendering import verdict

    claim = {"key": "l/class_survives_order_loss_better", "claim": "class_survives_order_loss_better",
             "state": state, "reason": reason, "estimate": None if reason else 0.3, "p_value": None,
             "context": {}}
    assert verdict({"name": "l", "verdicts": {"class_survives_order_loss_better": claim}}).endswith(expected)
