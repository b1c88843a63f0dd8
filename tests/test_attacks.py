"""ChannelMask, mask insertion (flat and nested models), compiled sweeps, export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_gpos
from keras_gpos.attacks import (
    AttackEvaluator, get_channel_mask, insert_channel_mask, random_channel_sets,
)
from keras_gpos.data import make_street_scenes, segmentation_dataset
from keras_gpos.export import export_saved_model
from keras_gpos.layers import ChannelMask
from tests.layer_test_utils import run_layer_test


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_channel_mask_layer_contract(mode):
    run_layer_test(ChannelMask, {"channels": [1, 3], "mode": mode}, (2, 4, 5, 6), (2, 4, 5, 6))


def test_channel_mask_zeroes_or_fills_exactly_the_chosen_channels():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 5)).astype("float32")
    mask = ChannelMask(channels=[0, 3])
    out = keras.ops.convert_to_numpy(mask(x))
    np.testing.assert_array_equal(out[..., [0, 3]], 0.0)
    np.testing.assert_array_equal(out[..., [1, 2, 4]], x[..., [1, 2, 4]])
    mask.set_channels(tf.constant([4]))  # a tensor works as well as a list
    out = keras.ops.convert_to_numpy(mask(x))
    np.testing.assert_array_equal(out[..., 4], 0.0)
    np.testing.assert_array_equal(out[..., :4], x[..., :4])

    fill = ChannelMask(channels=[1], mode="mean")
    fill.build(x.shape)
    fill.set_fill_values([0.0, 7.0, 0.0, 0.0, 0.0])
    out = keras.ops.convert_to_numpy(fill(x))
    np.testing.assert_array_equal(out[..., 1], 7.0)
    np.testing.assert_array_equal(out[..., 0], x[..., 0])


def test_channel_mask_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Unknown mask mode 'noise'"):
        ChannelMask(mode="noise")
    with pytest.raises(ValueError, match=r"non-negative indices; got \[-1\]"):
        ChannelMask(channels=[-1])
    with pytest.raises(ValueError, match=r"channel indices \[5\] are out of range for a layer with 5 channels"):
        ChannelMask(channels=[5])(np.zeros((1, 2, 2, 5), "float32"))
    mask = ChannelMask()
    mask(np.zeros((1, 2, 2, 5), "float32"))
    with pytest.raises(ValueError, match=r"\[7\] are out of range"):
        mask.set_channels([1, 7])
    with pytest.raises(ValueError, match="integer indices"):
        mask.set_channels([1.5])


def tiny_deeplab(num_classes=6, size=(32, 48)):
    keras.utils.set_random_seed(0)
    return keras_gpos.models.build_deeplab(num_classes, size + (3,), depth=10, width=4, aspp_filters=8)


def test_inserted_mask_shares_weights_and_changes_only_masked_channels():
    model = tiny_deeplab()
    attacked = insert_channel_mask(model, "stage4_out")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 48, 3)).astype("float32")
    np.testing.assert_allclose(attacked.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert {id(w) for w in model.weights} <= {id(w) for w in attacked.weights}
    mask = get_channel_mask(attacked)
    assert mask.name == "stage4_out_channel_mask" and mask.num_channels == 32
    mask.set_channels(range(32))
    assert not np.allclose(attacked.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-3)
    features = keras_gpos.ranking.feature_model(attacked, "stage4_out_channel_mask")
    np.testing.assert_array_equal(features.predict(x, verbose=0), 0.0)


def test_mask_inside_nested_keras_cv_backbone():
    model = keras_gpos.models.build_keras_cv_deeplab(3, (64, 64, 3), stackwise_filters=(64, 8, 8, 16))
    attacked = insert_channel_mask(model, "v2_stack_3_block2_out", channels=range(16))
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    mask = get_channel_mask(attacked)
    assert mask.num_channels == 16
    masked = keras.ops.convert_to_numpy(attacked(x))
    assert not np.allclose(masked, keras.ops.convert_to_numpy(model(x)), atol=1e-4)
    mask.set_channels([])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(attacked(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-5)


def test_insert_channel_mask_errors():
    model = tiny_deeplab()
    with pytest.raises(ValueError, match=r"no layer named 'stage4_outt'.*close matches: \['stage4_out'"):
        insert_channel_mask(model, "stage4_outt")
    with pytest.raises(ValueError, match="out of range for a layer with 32 channels"):
        insert_channel_mask(model, "stage4_out", channels=[32])
    inputs = keras.Input((8,))
    dense = keras.Model(inputs, keras.layers.Dense(3, name="dense")(inputs))
    with pytest.raises(ValueError, match=r"'dense' outputs .*not a 4-D"):
        insert_channel_mask(dense, "dense")
    with pytest.raises(ValueError, match="needs fill_values"):
        insert_channel_mask(model, "stage4_out", mode="mean")


def small_segmenter(channels=32, size=(16, 16)):
    """Two convolutions: enough for a mask to matter, cheap to run 48 times."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(size + (3,))
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="features")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(6, 1)(x))


def test_sweeping_n_and_channel_sets_traces_once():
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    labels = np.random.default_rng(1).integers(0, 6, (4, 16, 16)).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)  # a ragged last batch too
    evaluator = AttackEvaluator(insert_channel_mask(small_segmenter(), "features"), dataset, 6)
    rng = np.random.default_rng(0)
    results = []
    for n in (1, 2, 3, 4, 6, 8, 12, 16):  # 8 values of N
        for _ in range(6):  # x 6 channel sets
            results.append(evaluator.evaluate(rng.choice(32, n, replace=False))["all"]["miou"])
    assert evaluator.trace_count == 1
    assert len(set(results)) > 1  # the sets really differ
    with pytest.raises(ValueError, match=r"\[40\] are out of range"):
        evaluator.evaluate([40])


def test_evaluator_matches_region_metric():
    model = tiny_deeplab()
    scenes = make_street_scenes(5, (32, 48), seed=3)
    dataset = segmentation_dataset(scenes, 2)
    attacked = insert_channel_mask(model, "stage4_out")
    evaluator = AttackEvaluator(attacked, dataset, 6, regions={"left": "left", "centre": "centre"})
    got = evaluator.evaluate([0, 1, 2])
    metrics = {name: keras_gpos.metrics.RegionMeanIoU(6, region=name) for name in ("left", "centre")}
    for images, labels in dataset:
        logits = attacked(images)  # the mask still holds channels 0-2
        for metric in metrics.values():
            metric.update_state(labels, logits)
    for name, metric in metrics.items():
        assert got[name]["miou"] == pytest.approx(float(metric.result()), abs=1e-6)


def test_random_channel_sets_are_distinct_and_checked():
    sets = random_channel_sets(32, 8, 5, seed=1)
    assert len(sets) == 5 and all(len(set(s.tolist())) == 8 for s in sets)
    assert len({tuple(s) for s in sets}) == 5
    with pytest.raises(ValueError, match="N=33 is larger than the 32 channels"):
        random_channel_sets(32, 33, 5)


def test_attacked_model_exports_as_saved_model(tmp_path):
    model = tiny_deeplab()
    attacked = insert_channel_mask(model, "stage4_out", channels=[0, 5, 9])
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 48, 3)).astype("float32")
    expected = attacked.predict(x, verbose=0)
    path = export_saved_model(attacked, tmp_path / "attacked")
    loaded = tf.saved_model.load(str(path))
    assert "serving_default" in loaded.signatures
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, rtol=1e-4, atol=1e-4)
    # The export holds the mask that was set: it differs from the clean model.
    assert not np.allclose(expected, model.predict(x, verbose=0), atol=1e-4)


def _sided_segmenter(k=4, size=16):
    """Channels 0..k-1 see only the left half, k..2k-1 only the right half; class 1
    wins on a pixel while the channels of its half are intact."""
    left = np.zeros((size, size, 1), "float32")
    left[:, : size // 2] = 1.0
    halves = np.concatenate([np.repeat(left, k, axis=-1), np.repeat(1.0 - left, k, axis=-1)], axis=-1)
    inputs = keras.Input((size, size, 1))
    features = keras.layers.Lambda(lambda x: x * keras.ops.convert_to_tensor(halves), name="sided")(inputs)
    support = keras.layers.Lambda(lambda f: keras.ops.sum(f, axis=-1, keepdims=True))(features)
    logits = keras.layers.Lambda(lambda s: keras.ops.concatenate([0.5 * keras.ops.ones_like(s), s], -1))(support)
    return keras.Model(inputs, logits)


def test_the_region_contrast_finds_side_specific_channels_and_random_pairs_do_not():
    from keras_gpos.attacks import compare
    from keras_gpos.ranking import rank_position_channels

    model = _sided_segmenter()
    # Content brighter on the left (as street scenes keep to one side): left channels
    # respond more to the image than to its mirror.
    ramp = np.linspace(1.0, 0.2, 16, dtype="float32")[None, None, :, None]
    images = np.repeat(ramp, 6, axis=0) * np.ones((6, 16, 16, 1), "float32")
    ranking = rank_position_channels(model, "sided", images)
    assert set(ranking.top(4, "left").tolist()) == {0, 1, 2, 3}
    assert set(ranking.top(4, "right").tolist()) == {4, 5, 6, 7}
    masks = np.ones((6, 16, 16), "int32")
    evaluator = AttackEvaluator(insert_channel_mask(model, "sided"), (images, masks), 2,
                                regions={"all": "all", "left": "left", "right": "right"})
    comparison = compare(evaluator, ranking, n_values=(4,), random_draws=6, contrast_pairs=20, seed=0, verbose=0)
    contrast = comparison.contrasts[0]
    assert contrast["contrast"] > 0.5 and contrast["holds"]
    assert contrast["random"]["p95"] < contrast["contrast"] and contrast["p_value"] <= 1 / 21 + 1e-9
    left_row = next(r for r in comparison.regions if r["ranking"] == "left")
    assert left_row["drops"]["left"] > 0.5 and left_row["drops"]["right"] == pytest.approx(0.0, abs=1e-6)
    # Six random sets cannot make "hurts more: left" significant (p >= 1/7): it is not claimed.
    assert left_row["hurts_more"] is None and left_row["verdict"]["reason"] == "too_few_draws"
    assert len(contrast["random_values"]) == 20
    # With 20 or fewer draws the 95th percentile is the largest random value, not an interpolation
    # below it: a claim cannot hold while a random set did as well.
    assert contrast["random"]["p95"] == max(contrast["random_values"])
    row = comparison.rows[0]
    assert row["random"]["p95"] == max(row["random_values"])
