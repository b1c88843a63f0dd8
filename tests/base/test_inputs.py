"""The input contracts of `keras_gpos.base.inputs`: one per input kind, each read the same way everywhere.

Property tests (hypothesis, derandomized, bounded example counts) state what
each contract accepts and refuses; the entry points' own bad-input tests sit
beside their modules (tests/attacks, tests/audit, tests/metrics, ...).
Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import keras_gpos
from keras_gpos.attacks import AttackEvaluator, insert_channel_mask
from keras_gpos.base.inputs import (
    check_images,
    check_model_layout,
    check_segmentation_model,
    class_labels,
    model_data_format,
    read_label_image,
    segmentation_masks,
    single_output,
)
from keras_gpos.ranking import rank_position_channels
from tests.any_input_utils import IMAGES, _functional

PROPERTIES = settings(max_examples=25, deadline=None, derandomize=True)

MODEL_PROPERTIES = settings(max_examples=8, deadline=None, derandomize=True)  # each example builds a model


def _one_hot(indices, classes):
    return np.eye(classes, dtype="float32")[indices]


@pytest.mark.backend_agnostic
@PROPERTIES
@given(classes=st.integers(2, 9), data=st.data())
def test_every_keras_label_layout_reads_as_the_same_indices(classes, data):
    indices = np.asarray(data.draw(st.lists(st.integers(0, classes - 1), min_size=1, max_size=12)))
    for layout in (indices, indices[:, None], indices.astype("float32"), _one_hot(indices, classes),
                   _one_hot(indices, classes).astype(bool)):
        np.testing.assert_array_equal(class_labels(layout, "labels", classes, count=len(indices)), indices)


@pytest.mark.backend_agnostic
@PROPERTIES
@given(classes=st.integers(2, 6), bad=st.one_of(st.integers(-5, -1), st.integers(6, 40)))
def test_labels_outside_the_classes_are_refused_in_one_line(classes, bad):
    with pytest.raises(ValueError, match=rf"labels holds labels \[{bad}\] outside \[0, {classes}\)") as error:
        class_labels(np.array([0, bad]), "labels", classes)
    assert "\n" not in str(error.value)


@pytest.mark.backend_agnostic
def test_soft_or_fractional_labels_are_refused():
    with pytest.raises(ValueError, match="not exactly one-hot"):
        class_labels(np.array([[0.7, 0.3], [0.0, 1.0]]), "y", 2)
    with pytest.raises(ValueError, match=r"non-integer labels such as \[1.5\]"):
        class_labels(np.array([0.0, 1.5]), "y", 3)
    with pytest.raises(ValueError, match=r"labels must be \(N,\), \(N, 1\) or one-hot \(N, 4\); got shape \(2, 3\)"):
        class_labels(np.eye(3)[:2], "y", 4)
    with pytest.raises(ValueError, match="3 labels for 2 images"):
        class_labels(np.array([0, 1, 1]), "y", 2, count=2)


@pytest.mark.backend_agnostic
@PROPERTIES
@given(classes=st.integers(2, 5), height=st.integers(1, 5), width=st.integers(1, 5), data=st.data())
def test_every_mask_layout_reads_as_the_same_ids(classes, height, width, data):
    ids = np.asarray(data.draw(st.lists(st.integers(0, classes - 1), min_size=2 * height * width,
                                        max_size=2 * height * width))).reshape(2, height, width)
    for layout in (ids, ids[..., None], ids.astype("float64"), _one_hot(ids, classes)):
        got = segmentation_masks(layout, "masks", classes, spatial_shape=(height, width))
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, ids)


@pytest.mark.backend_agnostic
@PROPERTIES
@given(height=st.integers(1, 6), width=st.integers(1, 6), other=st.integers(1, 6))
def test_masks_of_another_size_than_the_images_are_refused(height, width, other):
    masks = np.zeros((1, height, width), "int32")
    if (other, width) == (height, width):
        assert segmentation_masks(masks, "m", 2, spatial_shape=(other, width)).shape == (1, height, width)
    else:
        with pytest.raises(ValueError, match=rf"masks are {height}x{width} but the images are {other}x{width}"):
            segmentation_masks(masks, "m", 2, spatial_shape=(other, width))


@pytest.mark.backend_agnostic
@PROPERTIES
@given(classes=st.integers(2, 6), ignore=st.integers(6, 255), bad=st.integers(6, 300))
def test_mask_ids_are_classes_or_the_ignore_label(classes, ignore, bad):
    masks = np.array([[[0, ignore], [classes - 1, bad]]])
    if bad == ignore:
        assert segmentation_masks(masks, "m", classes, ignore).max() == ignore
    else:
        with pytest.raises(ValueError, match=rf"holds labels \[{bad}\] outside .* or the ignore label {ignore}"):
            segmentation_masks(masks, "m", classes, ignore)


def _model(channels=3, data_format="channels_last"):
    shape = (6, 6, channels) if data_format == "channels_last" else (channels, 6, 6)
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Conv2D(2, 1, data_format=data_format, name="conv")(inputs),
                       name="tiny")


@pytest.fixture(scope="module")
def rgb_model():
    return _model(3)


@pytest.mark.backend_agnostic
@PROPERTIES
@given(channels=st.integers(1, 6), dtype=st.sampled_from(["float32", "float64", "uint8", "int32", "float16"]))
def test_images_must_have_the_models_channel_count(rgb_model, channels, dtype):
    images = np.zeros((2, 6, 6, channels), dtype)
    if channels == 3:
        assert check_images(images, "x", rgb_model).shape == images.shape
    else:
        with pytest.raises(ValueError, match=rf"x: images have {channels} channel\(s\) .*takes 3") as error:
            check_images(images, "x", rgb_model)
        assert "\n" not in str(error.value) and "array(" not in str(error.value)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 6, 6), "float32"), r"must be \(batch, height, width, channels\); got shape \(2, 6, 6\)"),
    (np.zeros((1, 6, 6, 3), bool), "hold bool values, not pixels"),
    (np.zeros((1, 6, 6, 3), complex), "hold complex128 values, not pixels"),
    (np.full((1, 6, 6, 3), np.nan, "float32"), "holds 108 NaN or Inf value"),
])
def test_images_that_are_not_pixels_are_refused(images, message):
    with pytest.raises(ValueError, match=message):
        check_images(images, "x")


@pytest.mark.backend_agnostic
def test_a_channels_first_model_is_refused_in_one_line():
    model = _model(3, "channels_first")
    assert model_data_format(model) == "channels_first" and model_data_format(_model(3)) == "channels_last"
    with pytest.raises(ValueError, match="reads channels_first \\(layer 'conv'\\).*channels_last") as error:
        check_model_layout(model, "f")
    assert "\n" not in str(error.value)


@pytest.mark.backend_agnostic
@MODEL_PROPERTIES
@given(out_h=st.integers(1, 8), out_w=st.integers(1, 8), classes=st.integers(2, 5))
def test_a_dense_model_must_match_the_mask_size_and_classes(out_h, out_w, classes):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Resizing(out_h, out_w)(keras.layers.Conv2D(classes, 1)(inputs)))
    if (out_h, out_w) != (8, 8):
        with pytest.raises(ValueError, match=rf"outputs \({out_h}, {out_w}, {classes}\) for 8x8 images"):
            check_segmentation_model(model, "f", (8, 8, 3), classes)
    else:
        assert check_segmentation_model(model, "f", (8, 8, 3), classes)[1:] == (8, 8, classes)
        with pytest.raises(ValueError, match=f"predicts {classes} classes but the data has {classes + 1}"):
            check_segmentation_model(model, "f", (8, 8, 3), classes + 1)


@pytest.mark.backend_agnostic
def test_dict_and_multi_output_models_are_refused_naming_what_they_return():
    inputs = keras.Input((4, 4, 3))
    logits = keras.layers.Conv2D(2, 1)(inputs)
    as_dict = keras.Model(inputs, {"logits": logits, "aux": logits})
    with pytest.raises(ValueError, match=r"returns a dict \(\['aux', 'logits'\]\)"):
        check_segmentation_model(as_dict, "f", (4, 4, 3), 2)
    with pytest.raises(ValueError, match=r"returns a list \(2 outputs\)"):
        single_output([logits, logits], "f", as_dict)
    assert single_output([logits], "f", as_dict) is logits


@pytest.mark.backend_agnostic
@PROPERTIES
@given(mode=st.sampled_from(["L", "P", "I;16", "I", "F"]), data=st.data())
def test_label_images_read_as_stored_indices_in_every_index_mode(tmp_path_factory, mode, data):
    top = {"L": 255, "P": 255, "I;16": 65535, "I": 2**31 - 1, "F": 1000}[mode]
    values = np.asarray(data.draw(st.lists(st.integers(0, top), min_size=12, max_size=12))).reshape(3, 4)
    path = tmp_path_factory.mktemp("labels") / f"mask.{'tiff' if mode in ('I', 'F') else 'png'}"
    if mode == "P":
        image = Image.fromarray(values.astype(np.uint8), "P")
        # A palette whose colours are unrelated to the indices: the indices must come back.
        image.putpalette(np.random.default_rng(int(values.sum())).integers(0, 256, 768).astype(np.uint8).tolist())
    elif mode == "F":
        image = Image.fromarray(values.astype(np.float32), "F")
    else:
        dtype = {"L": np.uint8, "I;16": np.uint16, "I": np.int32}[mode]
        image = Image.fromarray(values.astype(dtype))
    image.save(path)
    np.testing.assert_array_equal(read_label_image(path), values)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA"])
def test_label_images_in_colour_modes_are_refused_naming_file_and_mode(tmp_path, mode):
    path = tmp_path / "colour.png"
    Image.new(mode, (4, 3)).save(path)
    with pytest.raises(ValueError, match=rf"label image .*colour\.png has mode '{mode}', which holds no class"):
        read_label_image(path)


@pytest.mark.backend_agnostic
def test_jpeg_and_unreadable_label_images_are_refused(tmp_path):
    Image.new("L", (4, 3)).save(tmp_path / "lossy.jpg")
    with pytest.raises(ValueError, match=r"label image .*lossy\.jpg is a JPEG"):
        read_label_image(tmp_path / "lossy.jpg")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read label image .*broken\.png"):
        read_label_image(tmp_path / "broken.png")


@pytest.mark.backend_agnostic
def test_unsupported_data_and_a_second_pass_over_a_generator_are_clear_errors():
    model, layer, _ = _functional()
    with pytest.raises(ValueError, match="must be an array of images, .* got str"):
        rank_position_channels(model, layer, "images.npy")
    stream = keras_gpos.data.batches((image[None] for image in IMAGES), name="data")
    list(stream)
    with pytest.raises(ValueError, match="a generator can be read only once"):
        list(stream)


@pytest.mark.backend_agnostic
def test_uint8_and_out_of_range_images_warn():
    from keras_gpos.data import inputs as data_inputs

    data_inputs._WARNED.clear()
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(3, (40, 40, 3), depth=10, width=4, head="fc")
    protocol = keras_gpos.data.ViewProtocol(canvas_size=40)
    raw = np.random.default_rng(2).integers(0, 256, (4, 32, 32, 3)).astype(np.uint8)
    with pytest.warns(UserWarning, match="got uint8 images"):
        keras_gpos.metrics.consistency_and_accuracy(model, raw, protocol=protocol, repeats=1)
    segmenter = keras_gpos.models.build_deeplab(3, (32, 48, 3), depth=10, width=4, aspp_filters=8)
    attacked = insert_channel_mask(segmenter, "stage4_out")
    tiny = np.full((2, 32, 48, 3), 5000.0, "float32")
    with pytest.warns(UserWarning, match=r"far outside the stated input range \[0, 255\]"):
        AttackEvaluator(attacked, (tiny, np.zeros((2, 32, 48), "int32")), 3, input_range=(0, 255))


@pytest.mark.backend_agnostic
def test_an_image_size_the_model_cannot_take_fails_before_tracing():
    model, layer, _ = _functional()
    with pytest.raises(ValueError, match=r"takes inputs of shape \(None, 32, 32, 3\); "
                                         r"got images of shape \(6, 40, 40, 3\)"):
        rank_position_channels(model, layer, np.zeros((6, 40, 40, 3), "float32"))


# Label image files in mode "1" are read as the 0/1 indices they store (second hostile pass).


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
def test_mode_1_png_is_read_as_indices_0_and_1(tmp_path):
    from PIL import Image

    values = np.random.default_rng(0).integers(0, 2, (6, 9)).astype(bool)
    path = tmp_path / "mask.png"
    Image.fromarray(values).convert("1").save(path)
    with Image.open(path) as image:
        assert image.mode == "1"
    labels = read_label_image(path)  # was refused: "must hold integer labels; got dtype bool"
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, values.astype(np.int64))
