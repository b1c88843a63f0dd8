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
"""

import sys
import warnings

import numpy as np


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
