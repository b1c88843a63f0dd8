"""One way in for every kind of data a Keras user brings.

Every library entry point that reads images (ranking, the attack evaluator,
the consistency functions and metrics, the audit) passes its data argument
through `batches`, which accepts:

* a NumPy array of images `(N, h, w, c)`;
* a tuple `(images, labels_or_masks)` of arrays;
* a `tf.data.Dataset`, batched or not, whose elements are images or
  `(images, labels[, sample_weights])` tuples (dict elements with an
  `"images"` key also work);
* a Python generator or iterable of image batches or `(images, labels)`
  batches (read once: a second pass over a generator is an error);
* an in-memory set with `as_arrays() -> (images, labels)`, such as a
  `keras_gpos.data.ImageSet` or `SegmentationSet` (uint8 pixels given as
  float32 values in [0, 255]; normalise them yourself if your model needs it).

It yields NumPy batches `(images, labels or None)`. Only NumPy and
`keras.ops` are used; TensorFlow is imported only to recognise a `tf.data`
object when TensorFlow is already loaded, so this module works without it.

Each batch then goes through one contract per input kind, the same in every
entry point (the ranking, the attack evaluator, the consistency functions,
the audit, the segmentation loaders and the experiments):

* images: `check_images` (rank, dtype, finite values, the model's channels);
* class labels: `class_labels` (`(N,)`, `(N, 1)` or one-hot, as Keras' losses);
* masks: `segmentation_masks` (`(N, h, w)`, `(N, h, w, 1)` or one-hot; size and ids);
* label image files: `read_label_image` (the index a pixel stores, in every PIL mode that stores one);
* models: `check_model_layout` (channels_last), `single_output` and
  `check_segmentation_model` (one output, at the masks' size and class count).

Each returns the value as the library reads it or raises a one-line
`ValueError` naming the argument and what was expected.
"""

import sys
import warnings

import numpy as np

from keras_gpos.base.validation import check_finite_array, check_label_range, integer_values


def _is_tf_dataset(data):
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(data, tf.data.Dataset)


def _to_numpy(value):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy") and not isinstance(value, (list, tuple)):
        return np.asarray(value.numpy())
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))


def _split_element(element, name):
    """`(images, labels or None)` of one element: a batch, a tuple, or a dict."""
    if isinstance(element, dict):
        for key in ("images", "image", "inputs", "x"):
            if key in element:
                labels = next((element[k] for k in ("labels", "label", "masks", "mask", "y")
                               if k in element), None)
                return element[key], labels
        raise ValueError(f"{name}: dict elements need an 'images' key; got keys {sorted(element)}.")
    if isinstance(element, (tuple, list)):
        if len(element) == 0:
            raise ValueError(f"{name}: got an empty tuple as a batch.")
        if len(element) > 3:
            raise ValueError(
                f"{name}: elements must be images or (images, labels[, sample_weights]); got a "
                f"tuple of {len(element)}."
            )
        return element[0], element[1] if len(element) > 1 else None
    return element, None


class Batches:
    """A re-iterable stream of `(images, labels or None)` NumPy batches.

    Build it with `batches(data, ...)`. `has_labels` says whether labels were
    given; `first_shape` is the shape of the first batch's images; `count`
    is the number of images when it is known in advance (arrays, in-memory
    sets, unbatched datasets of known cardinality), else None.
    """

    def __init__(self, source, name, image_rank, has_labels, one_shot=False, count=None):
        self._source = source
        self.count = count
        self.name = name
        self.image_rank = image_rank
        self.has_labels = has_labels
        self._one_shot = one_shot
        self._used = False

    def __iter__(self):
        if self._one_shot:
            if self._used:
                raise ValueError(
                    f"{self.name}: a generator can be read only once; pass an array, a tf.data "
                    "dataset or a function that makes a new generator."
                )
            self._used = True
        for images, labels in self._source():
            yield images, labels


def _check_images(images, name, index, image_rank):
    if images.ndim == image_rank - 1:
        images = images[None]
    if images.ndim != image_rank:
        raise ValueError(
            f"{name}: batch {index} has images of shape {images.shape}; expected "
            f"(batch, height, width, channels)."
        )
    if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)):
        raise ValueError(f"{name}: batch {index} holds {images.dtype} values, not image pixels.")
    return images


def batches(data, batch_size=32, name="data", image_rank=4):
    """Normalises any supported data into a `Batches` stream (see the module doc).

    Args:
        data: the user's data, any kind listed in the module docstring.
        batch_size: int. Batch size for arrays, sets and unbatched datasets.
        name: str. How errors name the argument (e.g. `"rank_position_channels data"`).
        image_rank: int. Rank of a batch of images (4 for `(b, h, w, c)`).

    Raises:
        ValueError: an unsupported type, images and labels of different
            lengths, or images that are not `(batch, h, w, c)`.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    batch_size = int(batch_size)
    if callable(getattr(data, "as_arrays", None)):  # an in-memory set (ImageSet, SegmentationSet)
        images, labels = data.as_arrays()
        return _array_batches(np.asarray(images).astype(np.float32), labels, batch_size, name, image_rank)
    if isinstance(data, np.ndarray):
        return _array_batches(data, None, batch_size, name, image_rank)
    if isinstance(data, tuple) and len(data) in (2, 3) and all(
            isinstance(v, np.ndarray) or v is None for v in data[:2]):
        images, labels = np.asarray(data[0]), (None if data[1] is None else np.asarray(data[1]))
        return _array_batches(images, labels, batch_size, name, image_rank)
    if _is_tf_dataset(data):
        return _dataset_batches(data, batch_size, name, image_rank)
    if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise ValueError(
            f"{name} must be an array of images, an (images, labels) tuple, a tf.data.Dataset, "
            f"a generator of batches, or a keras_gpos ImageSet/SegmentationSet; got "
            f"{type(data).__name__}."
        )
    return _iterable_batches(data, name, image_rank)


def _array_batches(images, labels, batch_size, name, image_rank):
    images = np.asarray(images)
    if images.ndim != image_rank:
        raise ValueError(
            f"{name}: images must be (N, height, width, channels); got an array of shape {images.shape}."
        )
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(images):
            raise ValueError(f"{name}: {len(labels)} labels for {len(images)} images.")

    def source():
        for start in range(0, len(images), batch_size):
            stop = start + batch_size
            yield images[start:stop], None if labels is None else labels[start:stop]

    return Batches(source, name, image_rank, labels is not None, count=len(images))


def _dataset_batches(dataset, batch_size, name, image_rank):
    spec = dataset.element_spec
    image_spec, label_spec = _split_element(spec, name)
    if not hasattr(image_spec, "shape"):
        raise ValueError(f"{name}: cannot read images from a dataset with element spec {spec}.")
    rank = len(image_spec.shape)
    count = None
    if rank == image_rank - 1:
        cardinality = int(dataset.cardinality())
        count = cardinality if cardinality >= 0 else None  # -1 infinite, -2 unknown
        dataset = dataset.batch(batch_size)
    elif rank != image_rank:
        raise ValueError(
            f"{name}: dataset images have shape {image_spec.shape}; expected (height, width, "
            "channels) per example or (batch, height, width, channels) per batch."
        )

    def source():
        for element in dataset:
            images, labels = _split_element(element, name)
            yield _to_numpy(images), None if labels is None else _to_numpy(labels)

    return Batches(source, name, image_rank, label_spec is not None, count=count)


def _iterable_batches(iterable, name, image_rank):
    one_shot = iter(iterable) is iterable  # generators and iterators, not re-iterable containers

    def source():
        for element in iterable:
            images, labels = _split_element(element, name)
            yield _to_numpy(images), None if labels is None else _to_numpy(labels)

    return Batches(source, name, image_rank, has_labels=None, one_shot=one_shot)


def iterate(stream, max_batches=None):
    """Yields `(index, images, labels)` with shapes checked; empty batches skipped."""
    for index, (images, labels) in enumerate(stream):
        if max_batches is not None and index >= max_batches:
            return
        images = _check_images(np.asarray(images), stream.name, index, stream.image_rank)
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{stream.name}: batch {index} has {len(labels)} labels for {len(images)} images.")
        if len(images) == 0:
            continue
        yield index, images, labels


_WARNED = set()


def warn_once(key, message):
    """A `UserWarning` shown once per process for each `key`."""
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(message, UserWarning, stacklevel=3)


def check_value_range(images, what, input_range=None):
    """Warns about un-normalised pixels: uint8 images once, and far-out-of-range values.

    Args:
        images: one batch.
        what: the function or argument being checked (named in the warning).
        input_range: `(low, high)` the model expects, or None (then only the
            uint8 warning).
    """
    if images.dtype == np.uint8:
        warn_once(("uint8", what), (
            f"{what}: got uint8 images (raw pixels). Most models take normalised floats; "
            "normalise them first unless your model rescales inside."))
    if input_range is None:
        return
    low, high = (float(v) for v in input_range)
    span = max(high - low, 1e-6)
    found_low, found_high = float(np.min(images)), float(np.max(images))
    if found_low < low - span or found_high > high + span:
        warn_once(("range", what, low, high), (
            f"{what}: images range over [{found_low:.3g}, {found_high:.3g}], far outside the "
            f"stated input range [{low:g}, {high:g}]; check the normalisation."))


def check_model_input(model, images, what):
    """Raises before tracing when `images` do not fit the model's fixed input shape."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return
    expected = tuple(inputs[0].shape[1:])
    given = tuple(images.shape[1:])
    if len(expected) != len(given) or any(e is not None and e != g for e, g in zip(expected, given)):
        raise ValueError(
            f"{what}: model {model.name!r} takes inputs of shape {(None,) + expected}; got images "
            f"of shape {tuple(images.shape)}. Resize or pad the images (or build the model for "
            "this size)."
        )


# The input contracts: one per kind of input, called by every public entry point
# that takes that kind. Each returns the value as the library reads it, or raises
# a one-line `ValueError` naming the argument and what was expected.

def _layers_of(model):
    """Every layer of `model`, nested models included (depth first)."""
    for layer in getattr(model, "layers", None) or []:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers_of(layer)


def model_data_format(model):
    """`"channels_first"` when any layer of `model` reads that layout, else `"channels_last"`."""
    for layer in _layers_of(model):
        if getattr(layer, "data_format", None) == "channels_first":
            return "channels_first"
    return "channels_last"


def check_model_layout(model, what):
    """Refuses a model whose layers read `channels_first`: keras_gpos reads channels on the last axis.

    Flips, pooled channel vectors, canvases and channel masks all take the
    last axis as channels; a `channels_first` model would be read on the
    wrong axis, so it is refused before any work.
    """
    for layer in _layers_of(model):
        if getattr(layer, "data_format", None) == "channels_first":
            raise ValueError(
                f"{what}: model {getattr(model, 'name', model)!r} reads channels_first (layer "
                f"{layer.name!r}); keras_gpos reads (batch, height, width, channels), so build the "
                "model with data_format='channels_last'.")
    return model


def model_input_shape(model):
    """`(height, width, channels)` of `model`'s first input (None entries where free), or None."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return None
    return tuple(None if d is None else int(d) for d in inputs[0].shape[1:])


def check_images(images, what, model=None, input_range=None):
    """The image contract: `(batch, height, width, channels)` pixels the model can take.

    Args:
        images: one batch (array-like).
        what: str. How the error names the argument (e.g. `"position_audit: batch 0"`).
        model: optional model; its input channel count (and layout) is checked.
        input_range: optional `(low, high)` the model expects (far-out values warn once).

    Returns:
        The images as a NumPy array (dtype kept).

    Raises:
        ValueError: another rank, a dtype that is not a number (bool, complex,
            strings), NaN/Inf pixels, or a channel count the model does not take.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{what}: images must be (batch, height, width, channels); got shape {images.shape}.")
    if images.dtype == np.bool_ or not (np.issubdtype(images.dtype, np.floating)
                                        or np.issubdtype(images.dtype, np.integer)):
        raise ValueError(f"{what}: images hold {images.dtype} values, not pixels (expected floats or ints).")
    check_finite_array(images, what)
    if model is not None:
        check_model_layout(model, what)
        expected = model_input_shape(model)
        if expected is not None and expected[-1] is not None and images.shape[-1] != expected[-1]:
            raise ValueError(
                f"{what}: images have {images.shape[-1]} channel(s) (shape {images.shape}); model "
                f"{model.name!r} takes {expected[-1]} (input (None, {', '.join(map(str, expected))})).")
    check_value_range(images, what.split(":")[0], input_range)
    return images


def _from_one_hot(values, what, kind):
    """Class indices of exactly one-hot rows (last axis), as Keras' categorical losses take them."""
    values = np.asarray(values)
    if values.dtype == np.bool_:
        values = values.astype(np.int64)
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise ValueError(f"{what} must hold one-hot {kind}; got dtype {values.dtype}.")
    if not (np.all((values == 0) | (values == 1)) and np.all(values.sum(axis=-1) == 1)):
        raise ValueError(
            f"{what}: {kind} of shape {values.shape} are read as one-hot rows over {values.shape[-1]} "
            "classes, but some rows are not exactly one-hot (soft labels are not class indices).")
    return values.argmax(axis=-1).astype(np.int64)


def _class_ids(values, what, num_classes, rank, kind):
    """Class ids of rank `rank` from ids (with an optional trailing axis of 1) or one-hot rows; None: other rank."""
    values = np.asarray(values)
    if values.ndim == rank + 1 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim == rank + 1:
        if num_classes is not None and values.shape[-1] != num_classes:
            return None
        return _from_one_hot(values, what, kind)
    if values.ndim == rank:
        return integer_values(values, what, kind)
    return None


def class_labels(labels, what, num_classes=None, count=None):
    """The label contract: class labels in every layout Keras accepts for a classification target.

    `(N,)` or `(N, 1)` class indices (ints, or floats that are whole numbers),
    as `SparseCategoricalCrossentropy` takes them, or `(N, classes)` one-hot
    rows, as `CategoricalCrossentropy` takes them (soft rows are refused: they
    name no single class).

    Args:
        labels: array-like.
        what: str. How the error names the argument.
        num_classes: int or None. Indices must lie in `[0, num_classes)`; a
            one-hot width must equal it.
        count: int or None. How many labels are expected (the images).

    Returns:
        int64 array `(N,)` of class indices.
    """
    indices = _class_ids(labels, what, num_classes, 1, "labels")
    if indices is None:
        classes = "classes" if num_classes is None else num_classes
        raise ValueError(f"{what}: class labels must be (N,), (N, 1) or one-hot (N, {classes}); got shape "
                         f"{np.shape(labels)}.")
    if count is not None and len(indices) != count:
        raise ValueError(f"{what}: {len(indices)} labels for {count} images.")
    if num_classes is not None:
        check_label_range(indices, what, num_classes)
    elif indices.size and indices.min() < 0:
        raise ValueError(f"{what} holds negative labels {sorted(set(indices[indices < 0].tolist()))[:5]}.")
    return indices


def segmentation_masks(masks, what, num_classes, ignore_label=None, spatial_shape=None):
    """The mask contract: dense labels `(N, h, w)` of class ids or the ignore label.

    Takes `(N, h, w)` or `(N, h, w, 1)` class ids, or `(N, h, w, classes)`
    one-hot rows (the layouts Keras' sparse and categorical losses take).

    Args:
        masks: array-like.
        what: str. How the error names the argument.
        num_classes: int or None. Ids must lie in `[0, num_classes)` or equal
            `ignore_label` (None: any id >= 0).
        ignore_label: int or None.
        spatial_shape: `(h, w)` the masks must have (the images', or the
            model output's), or None.

    Returns:
        int32 array `(N, h, w)`.
    """
    ids = _class_ids(masks, what, num_classes, 3, "labels")
    if ids is None:
        classes = "classes" if num_classes is None else num_classes
        raise ValueError(f"{what}: masks must be (N, h, w), (N, h, w, 1) or one-hot (N, h, w, {classes}); got "
                         f"shape {np.shape(masks)}.")
    if spatial_shape is not None and tuple(ids.shape[1:]) != tuple(spatial_shape):
        raise ValueError(f"{what}: masks are {ids.shape[1]}x{ids.shape[2]} but the images are "
                         f"{spatial_shape[0]}x{spatial_shape[1]}; expected (N, {spatial_shape[0]}, "
                         f"{spatial_shape[1]}).")
    # Without num_classes only negative ids (other than the ignore label) are wrong.
    check_label_range(ids, what, np.iinfo(np.int32).max if num_classes is None else num_classes, ignore_label)
    return ids.astype(np.int32)


# PIL modes whose pixel values are class indices ("P": the palette index, not its colour).
LABEL_IMAGE_MODES = ("1", "L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def read_label_image(path):
    """The label-file contract: a label image read as class indices, exactly as stored.

    Every mode that stores one number per pixel is read as that number:
    `"L"` (8-bit), `"P"` (the palette index, never the colour it maps to),
    `"1"`, `"I;16"` and `"I"` (16/32-bit), and `"F"` when every value is a
    whole number. Colour modes (`RGB`, `RGBA`, `LA`, ...) cannot hold one
    index per pixel and are refused, as are lossy JPEG files, whose
    compression changes labels.

    Returns:
        int64 array `(height, width)`.

    Raises:
        ValueError: an unreadable or truncated file, a JPEG, or a mode that holds no
            indices (naming the file and the mode).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()  # chunk checksums and the end marker: a truncated file is an error, not fewer rows
        with Image.open(path) as image:
            image.load()
            mode, file_format = image.mode, image.format
            values = np.asarray(image)
    except (OSError, SyntaxError, UnidentifiedImageError) as error:
        raise ValueError(f"cannot read label image {path}: {error}") from error
    if file_format == "JPEG":
        raise ValueError(f"label image {path} is a JPEG (mode {mode}); its lossy compression changes labels, "
                         "so store label images as PNG.")
    if mode not in LABEL_IMAGE_MODES:
        raise ValueError(
            f"label image {path} has mode {mode!r}, which holds no class index per pixel; expected one of "
            f"{list(LABEL_IMAGE_MODES)} (convert colour-coded labels to class indices first).")
    if values.ndim != 2:
        raise ValueError(f"label image {path} (mode {mode}) decodes to shape {values.shape}, not (height, width).")
    return integer_values(values, f"label image {path} (mode {mode})")


def _output_kind(outputs):
    if isinstance(outputs, dict):
        return "dict"
    if isinstance(outputs, (list, tuple)):
        return "list"
    return "tensor"


def single_output(outputs, what, model):
    """The model contract for one output: a tensor, or a list of one; a dict or several outputs refused."""
    kind = _output_kind(outputs)
    if kind == "list" and len(outputs) == 1:
        return outputs[0]
    if kind != "tensor":
        keys = sorted(outputs) if kind == "dict" else f"{len(outputs)} outputs"
        raise ValueError(f"{what}: model {getattr(model, 'name', model)!r} returns a {kind} ({keys}); it needs "
                         "one output tensor, e.g. keras.Model(model.input, model.output['logits']).")
    return outputs


def model_output_spec(model, input_shape):
    """`model`'s output structure for one batch of `input_shape` images, traced symbolically (no call).

    Returns a `keras.KerasTensor`, or a dict / list of them for models with several outputs.
    """
    import keras

    outputs = getattr(model, "outputs", None)
    if outputs and tuple(model_input_shape(model) or ()) == tuple(input_shape):
        return model.output  # a functional model built for this size knows its outputs
    return model.compute_output_spec(keras.KerasTensor((1,) + tuple(input_shape), dtype="float32"))


def check_segmentation_model(model, what, input_shape, num_classes):
    """The model contract for dense predictions: one `(batch, h, w, num_classes)` tensor, at the masks' size.

    Args:
        model: the model whose outputs are scored against masks.
        what: str. How the error names the caller.
        input_shape: `(h, w, c)` of the images (and so of the masks).
        num_classes: int. The classes of the masks.

    Raises:
        ValueError: a `channels_first` model, a dict or multi-output model,
            an output of another spatial size than the masks (a 1x1 output is
            never broadcast), or another class count than the data.
    """
    check_model_layout(model, what)
    name = getattr(model, "name", type(model).__name__)
    try:
        spec = model_output_spec(model, input_shape)
    except Exception as error:  # noqa: BLE001 - any tracing failure is the user's model not taking the images
        raise ValueError(f"{what}: model {name!r} cannot take images of shape {tuple(input_shape)}: "
                         f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from error
    shape = tuple(single_output(spec, what, model).shape)
    height, width = int(input_shape[0]), int(input_shape[1])
    if len(shape) != 4 or tuple(shape[1:3]) != (height, width):
        raise ValueError(f"{what}: model {name!r} outputs {shape[1:]} for {height}x{width} images; the masks "
                         f"need ({height}, {width}, classes) predictions (upsample inside the model).")
    if shape[-1] != num_classes:
        raise ValueError(f"{what}: model {name!r} predicts {shape[-1]} classes but the data has "
                         f"{num_classes}; it was trained for other labels.")
    return shape

__all__ = [
    "Batches", "batches", "iterate", "warn_once", "check_value_range", "check_model_input", "model_data_format",
    "check_model_layout", "model_input_shape", "check_images", "class_labels", "segmentation_masks",
    "LABEL_IMAGE_MODES", "read_label_image", "single_output", "model_output_spec", "check_segmentation_model"
]
