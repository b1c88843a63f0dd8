"""`rank_position_channels`' inputs and randomness (`keras_gpos.ranking.position_ranking`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import dataclasses
import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

import keras_gpos
from keras_gpos import data
from keras_gpos.attacks import AttackEvaluator, insert_channel_mask
from keras_gpos.data.segmentation import SegmentationSet, segmentation_dataset
from keras_gpos.layers import ChannelPermutation
from keras_gpos.ranking import PositionRanking, rank_position_channels
from tests.any_input_utils import IMAGES, _functional, _input_kinds


def _model(permute=False):
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(8, 3, padding="same", name="stage")(inputs)
    if permute:
        features = ChannelPermutation(seed=5, name="shuffle")(features)
    return keras.Model(inputs, features, name="ranked")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_a_permutation_before_the_ranked_layer_stays_random_and_reproducible(images):
    # Finding 1 (the ranking path): each compiled forward draws a new order on TF and JAX alike.
    def scores():
        keras.utils.set_random_seed(0)
        model = _model(permute=True)
        return [rank_position_channels(model, "shuffle", images, batch_size=4).overall for _ in range(3)]

    first = scores()
    assert not np.allclose(first[0], first[1]) and np.allclose(np.sort(first[0]), np.sort(first[1]))
    again = scores()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


@pytest.mark.backend_agnostic
def test_images_the_model_cannot_read_are_one_line_errors(images):
    with pytest.raises(ValueError, match=r"batch 0: images have 2 channel\(s\) .*model 'ranked' takes 3") as error:
        rank_position_channels(_model(), "stage", images[..., :2])
    assert "\n" not in str(error.value)
    inputs = keras.Input((3, 8, 8))
    channels_first = keras.Model(inputs, keras.layers.Conv2D(2, 1, data_format="channels_first", name="cf")(inputs))
    with pytest.raises(ValueError, match=r"rank_position_channels: model .* reads channels_first"):
        rank_position_channels(channels_first, "cf", images)


class HalfChannels(keras.layers.Layer):
    """Channel 0 sees only the left half, channel 1 only the right half,
    channel 2 the whole image: the constructed case for the sign convention."""

    def call(self, x):
        width = ops.shape(x)[2]
        columns = ops.cast(ops.arange(width), "float32")
        left = ops.cast(columns < ops.cast(width, "float32") / 2, x.dtype)[None, None, :, None]
        return ops.concatenate([x * left, x * (1 - left), x], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape[:-1] + (3,)


def half_channel_model(size=8):
    """Predicts class 1 where the pixel is bright, reading channel 0 on the
    left half and channel 1 on the right half (channel 2 is unused)."""
    inputs = keras.Input((size, size, 1))
    features = HalfChannels(name="features")(inputs)
    head = keras.layers.Conv2D(2, 1, name="head")
    logits = head(features)
    head.set_weights([np.array([[[[0.0, 1.0], [0.0, 1.0], [0.0, 0.0]]]], "float32"),
                      np.array([0.0, -0.5], "float32")])
    return keras.Model(inputs, logits)


def left_heavy_scenes(count=40, size=8, left_share=0.8, seed=0):
    """Bright squares, most of them in the left half (like street content
    that keeps to one side)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, size, size, 1), "float32")
    for image in images:
        top = rng.integers(0, size - 3)
        left = rng.integers(0, size // 2 - 2) if rng.random() < left_share else rng.integers(size // 2, size - 2)
        image[top:top + 3, left:left + 2] = 1.0
    return images


def test_positive_signed_score_means_left_and_attack_hurts_left():
    model = half_channel_model()
    images = left_heavy_scenes()
    ranking = rank_position_channels(model, "features", images, batch_size=16)
    # Channel 0 (left-only) has z > z_flip on left-heavy data: "left".
    assert ranking.signed[0] > 0 > ranking.signed[1]
    assert ranking.top(1, "left").tolist() == [0]
    assert ranking.top(1, "right").tolist() == [1]
    assert set(ranking.top(2).tolist()) == {0, 1}
    assert ranking.overall[2] == pytest.approx(0.0, abs=1e-7)  # position-free channel

    # The name follows what the attack does: masking the "left" channel
    # breaks the left half only, and the mirror case the right half only.
    labels = (images[..., 0] > 0.5).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    evaluator = AttackEvaluator(insert_channel_mask(model, "features"), dataset, 2)
    base = evaluator.evaluate()
    assert base["left"]["miou"] == pytest.approx(1.0) and base["right"]["miou"] == pytest.approx(1.0)
    left_attack = evaluator.evaluate(ranking.top(1, "left"))
    right_attack = evaluator.evaluate(ranking.top(1, "right"))
    assert left_attack["left"]["miou"] < 0.6 and left_attack["right"]["miou"] == pytest.approx(1.0)
    assert right_attack["right"]["miou"] < 0.6 and right_attack["left"]["miou"] == pytest.approx(1.0)


@pytest.mark.backend_agnostic
def test_vertical_flip_names_top_and_bottom():
    model = half_channel_model()
    images = np.transpose(left_heavy_scenes(), (0, 2, 1, 3))  # content now mostly on top
    ranking = rank_position_channels(model, "features", images, flip="vertical")
    assert ranking.kinds == ("overall", "top", "bottom")
    # Channels 0/1 split left/right, not top/bottom: no vertical position.
    np.testing.assert_allclose(ranking.overall, 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="expected one of"):
        ranking.order("left")


def symmetric_conv_model(seed, channels=6):
    """A conv net whose kernels are mirror-symmetric: with zero padding it
    commutes with horizontal flips, so pooled features ignore mirroring."""
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(3, 3, 3, channels)).astype("float32")
    kernel = (kernel + kernel[:, ::-1]) / 2
    inputs = keras.Input((10, 12, 3))
    conv = keras.layers.Conv2D(channels, 3, padding="same", name="features")
    x = conv(inputs)
    conv.set_weights([kernel, rng.normal(size=channels).astype("float32")])
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


@pytest.mark.backend_agnostic
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_mirror_symmetric_model_has_zero_scores(seed):
    images = np.random.default_rng(seed).uniform(0, 1, (6, 10, 12, 3)).astype("float32")
    ranking = rank_position_channels(symmetric_conv_model(seed), "features", images, batch_size=4)
    np.testing.assert_allclose(ranking.overall, 0.0, atol=1e-5)
    np.testing.assert_allclose(ranking.signed, 0.0, atol=1e-5)


@pytest.mark.backend_agnostic
def test_model_that_mirrors_its_input_has_zero_scores():
    inputs = keras.Input((6, 9, 2))
    mirrored = keras.layers.Lambda(lambda x: keras.ops.flip(x, axis=2), name="mirror")(inputs)
    model = keras.Model(inputs, mirrored)
    images = np.random.default_rng(0).normal(size=(5, 6, 9, 2)).astype("float32")
    ranking = rank_position_channels(model, "mirror", images)
    # Zero up to float32 summation order (the two views are pooled in a different order).
    np.testing.assert_allclose(ranking.overall, 0.0, atol=1e-6)


class TakeChannels(keras.layers.Layer):
    def __init__(self, order, **kwargs):
        super().__init__(**kwargs)
        self.order = list(order)

    def call(self, x):
        return ops.take(x, self.order, axis=-1)


def positional_model(seed, permutation=None):
    """Zero-padded random convs (so channels carry position), optionally
    followed by a fixed channel permutation at the ranked layer."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 5, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(10, 5, padding="same", activation="relu")(x)
    x = TakeChannels(permutation if permutation is not None else range(10), name="features")(x)
    return keras.Model(inputs, x)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_permuting_channels_permutes_the_ranking(seed):
    permutation = np.random.default_rng(seed).permutation(10)
    images = np.random.default_rng(seed + 1).uniform(0, 1, (8, 12, 12, 3)).astype("float32")
    plain = rank_position_channels(positional_model(seed), "features", images)
    permuted = rank_position_channels(positional_model(seed, permutation), "features", images)
    np.testing.assert_allclose(permuted.overall, plain.overall[permutation], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(permuted.signed, plain.signed[permutation], rtol=1e-4, atol=1e-7)
    # The ranked channel at every position is the permuted image of the original one.
    assert permutation[permuted.order()].tolist() == plain.order().tolist()


@pytest.mark.backend_agnostic
def test_streaming_mean_matches_one_pass_and_max_batches():
    model = positional_model(0)
    images = np.random.default_rng(2).uniform(0, 1, (10, 12, 12, 3)).astype("float32")
    whole = rank_position_channels(model, "features", images, batch_size=10)
    streamed = rank_position_channels(model, "features", images, batch_size=3)
    np.testing.assert_allclose(streamed.overall, whole.overall, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(streamed.signed, whole.signed, rtol=1e-5, atol=1e-6)
    assert streamed.num_images == 10
    assert rank_position_channels(model, "features", images, batch_size=3, max_batches=2).num_images == 6


def test_ranking_accepts_image_label_datasets():
    model = positional_model(0)
    images = np.random.default_rng(2).uniform(0, 255, (6, 12, 12, 3)).astype("uint8")
    data = SegmentationSet(images, np.zeros((6, 12, 12), "uint8"), ("a", "b"))
    from_dataset = rank_position_channels(model, "features", segmentation_dataset(data, 4))
    from_array = rank_position_channels(model, "features", images.astype("float32"), batch_size=4)
    np.testing.assert_allclose(from_dataset.overall, from_array.overall, rtol=1e-5)


@pytest.mark.backend_agnostic
def test_save_load_json_and_plot(tmp_path):
    ranking = rank_position_channels(
        half_channel_model(), "features", left_heavy_scenes(), data_description={"source": "constructed"}
    )
    path = ranking.save(tmp_path / "ranking.json")
    record = json.loads(path.read_text())
    assert record["metadata"]["layer"] == "features"
    assert record["metadata"]["data"] == {"source": "constructed"}
    assert record["metadata"]["model"]
    assert record["orders"]["left"][0] == 0
    loaded = PositionRanking.load(path)
    np.testing.assert_array_equal(loaded.overall, ranking.overall)
    assert loaded.top(2, "right").tolist() == ranking.top(2, "right").tolist()
    png = ranking.plot(tmp_path / "ranking.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.backend_agnostic
def test_unknown_layer_lists_close_matches():
    with pytest.raises(ValueError, match=r"no layer named 'featurs'.*close matches: \['features'"):
        rank_position_channels(half_channel_model(), "featurs", left_heavy_scenes(4))


@pytest.mark.backend_agnostic
def test_layer_that_is_not_4d_is_rejected():
    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="pooled")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
    with pytest.raises(ValueError, match=r"'pooled' outputs .*not a 4-D"):
        rank_position_channels(model, "pooled", np.zeros((2, 8, 8, 3), "float32"))


@pytest.mark.backend_agnostic
def test_bad_n_flip_and_empty_data_are_errors():
    ranking = rank_position_channels(half_channel_model(), "features", left_heavy_scenes(4))
    with pytest.raises(ValueError, match="N=4 is larger than the 3 channels of features"):
        ranking.top(4)
    with pytest.raises(ValueError, match="Unknown flip 'diagonal'"):
        rank_position_channels(half_channel_model(), "features", left_heavy_scenes(4), flip="diagonal")
    with pytest.raises(ValueError, match="got no images"):
        rank_position_channels(half_channel_model(), "features", np.zeros((0, 8, 8, 1), "float32"))


@pytest.mark.backend_agnostic
def test_nested_keras_cv_backbone_layer_is_found():
    model = keras_gpos.models.build_keras_cv_deeplab(3, (64, 64, 3), stackwise_filters=(64, 8, 8, 16))
    assert "v2_stack_3_block2_out" not in [layer.name for layer in model.layers]  # nested
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    ranking = rank_position_channels(model, "v2_stack_3_block2_out", images)
    assert ranking.num_channels == 16 and np.all(np.isfinite(ranking.overall))


def test_every_input_kind_ranks_the_same():
    model, layer, _ = _functional()
    labels = np.zeros(len(IMAGES), "int64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = rank_position_channels(model, layer, IMAGES)
        for name, data in _input_kinds(IMAGES, labels).items():
            got = rank_position_channels(model, layer, data)
            np.testing.assert_allclose(got.overall, reference.overall, rtol=1e-5, atol=1e-8, err_msg=name)
        images_only = tf.data.Dataset.from_tensor_slices(IMAGES).batch(4)
        np.testing.assert_allclose(rank_position_channels(model, layer, images_only).overall, reference.overall,
                                   rtol=1e-5, atol=1e-8)


@pytest.mark.backend_agnostic
def test_an_untrained_network_ranking_warns_naming_the_layer():
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(4, 3, kernel_initializer="zeros", name="flat")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(features))
    with pytest.warns(UserWarning, match=r"every score of layer 'flat' is near zero.*Is the model trained"):
        rank_position_channels(model, "flat", IMAGES)


@pytest.mark.backend_agnostic
def test_repeated_rankings_reuse_one_compiled_pass():
    model, layer, _ = _functional()
    from keras_gpos import compiled
    from keras_gpos.ranking.position_ranking import pooled_feature_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            rank_position_channels(model, layer, IMAGES, batch_size=4)  # 4 + 2: two batch sizes
    assert compiled.traces(pooled_feature_model(model, layer)) == 1


def _tiny_classifier():
    from keras_gpos.models import build_classifier

    keras.utils.set_random_seed(0)
    return build_classifier(4, input_shape=(32, 32, 3), depth=10, width=4, head="fc")


@pytest.mark.adversarial
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_ranking_refuses_non_finite_images_instead_of_a_nan_ranking(bad):
    from keras_gpos.ranking import rank_position_channels

    model = _tiny_classifier()
    images = np.random.default_rng(0).normal(size=(6, 32, 32, 3)).astype("float32")
    images[4, 3, 3, 0] = bad
    with pytest.raises(ValueError, match="batch 1 holds NaN or Inf pixels"):
        rank_position_channels(model, "stage4_out", images, batch_size=4)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(6))).batch(3)
    with pytest.raises(ValueError, match="batch 1 holds NaN or Inf pixels"):
        rank_position_channels(model, "stage4_out", dataset)


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_ranking_refuses_a_layer_that_overflows():
    from keras_gpos.ranking import rank_position_channels

    model = _tiny_classifier()
    layer = model.get_layer("stem_conv")
    layer.set_weights([np.full_like(w, 1e38) for w in layer.get_weights()])
    images = np.ones((2, 32, 32, 3), "float32")
    with pytest.raises(ValueError, match="produced NaN or Inf on batch 0"):
        rank_position_channels(model, "stage4_out", images)


@pytest.mark.adversarial
def test_empty_data_is_a_clear_error_everywhere():
    from keras_gpos.attacks import AttackEvaluator, insert_channel_mask
    from keras_gpos.data.segmentation import SegmentationSet, segmentation_dataset
    from keras_gpos.models import build_deeplab
    from keras_gpos.ranking import rank_position_channels

    model = _tiny_classifier()
    with pytest.raises(ValueError, match="got no images"):
        rank_position_channels(model, "stage4_out", np.zeros((0, 32, 32, 3), "float32"))
    empty_ds = tf.data.Dataset.from_tensor_slices(np.zeros((0, 32, 32, 3), "float32")).batch(2)
    with pytest.raises(ValueError, match="got no images"):
        rank_position_channels(model, "stage4_out", empty_ds)

    keras.utils.set_random_seed(0)
    attacked = insert_channel_mask(
        build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8), "stage4_out")
    images, masks = np.zeros((0, 32, 48, 3), "float32"), np.zeros((0, 32, 48), "int32")
    empty = tf.data.Dataset.from_tensor_slices((images, masks)).batch(2)
    with pytest.raises(ValueError, match="AttackEvaluator got an empty dataset"):
        AttackEvaluator(attacked, empty, 3)
    # Unknown cardinality (a filter) that turns out empty: caught when the data are read.
    filtered = tf.data.Dataset.from_tensor_slices(
        (np.zeros((2, 32, 48, 3), "float32"), np.zeros((2, 32, 48), "int32"))
    ).filter(lambda x, y: False).batch(2)
    with pytest.raises(ValueError, match="AttackEvaluator got an empty dataset"):
        AttackEvaluator(attacked, filtered, 3)

    nothing = SegmentationSet(np.zeros((0, 8, 8, 3), np.uint8), np.zeros((0, 8, 8), np.uint8),
                              ("a", "b"), source="folder:x")
    with pytest.raises(ValueError, match="folder:x is empty"):
        segmentation_dataset(nothing, 2, training=True)
    shapes = data.make_shapes_dataset(4)
    no_shapes = dataclasses.replace(shapes, images=shapes.images[:0], labels=shapes.labels[:0])
    with pytest.raises(ValueError, match="empty"):
        data.grid_dataset(no_shapes, 2, "location", batch_size=4)


# rank_position_channels reads every batch once, in the right layout (second hostile pass).


CONTRACT_IMAGES = np.random.default_rng(0).normal(size=(12, 8, 8, 3)).astype("float32")


def unbuilt_sequential():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.layers.Conv2D(4, 3, padding="same", name="c1"), keras.layers.ReLU(),
                             keras.layers.Conv2D(5, 3, strides=2, padding="same", name="c2"),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_unbuilt_sequential_ranks_the_generator_batch_that_built_it():
    def generator():
        for start in range(0, 12, 4):
            yield CONTRACT_IMAGES[start:start + 4]

    # The batch read to build the model was consumed: 8 of 12 images were ranked.
    ranking = rank_position_channels(unbuilt_sequential(), "c2", generator(), verbose=0)
    assert ranking.num_images == 12
    from_array = rank_position_channels(unbuilt_sequential(), "c2", CONTRACT_IMAGES, batch_size=4, verbose=0)
    np.testing.assert_allclose(ranking.overall, from_array.overall, rtol=1e-5, atol=1e-7)


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_feature_callable_refuses_channels_first_images():
    layer = keras.layers.Conv2D(4, 3, data_format="channels_first")
    nchw = np.transpose(CONTRACT_IMAGES, (0, 3, 1, 2))  # (12, 3, 8, 8): 8 "channels" when read as channels_last
    with pytest.raises(ValueError, match=r"\(8, 3, 8, 8\) look channels_first .* transpose them to \(N, 8, 8, 3\)"):
        rank_position_channels(None, lambda t: layer(t), nchw, verbose=0)


@pytest.mark.backend_agnostic
def test_feature_callable_still_takes_channels_last_images():
    layer = keras.layers.Conv2D(4, 3)
    assert rank_position_channels(None, lambda t: layer(t), CONTRACT_IMAGES, verbose=0).num_channels == 4


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_a_list_of_images_and_labels_suggests_a_tuple():
    model = unbuilt_sequential()
    with pytest.raises(ValueError, match=r"a list is read as batches of images, so pass .* tuple \(images, labels\)"):
        rank_position_channels(model, "c2", [CONTRACT_IMAGES, np.zeros(12)], verbose=0)
