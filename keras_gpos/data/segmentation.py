"""Semantic segmentation data: in-memory sets, folder pairs, TFDS Cityscapes.

Three sources share one in-memory type, `SegmentationSet`:

* `"street_scenes"`: procedurally drawn scenes with Cityscapes-like position
  priors (see `keras_gpos.data.street_scenes`), no files, no network;
* `"folder"`: an image folder and a mask folder with matching file names
  (the SegNet CamVid layout: `train/`, `trainannot/`, `val/`, `valannot/`);
* `"tfds:cityscapes"`: TFDS `cityscapes/semantic_segmentation`, for users
  who downloaded and prepared Cityscapes themselves (it cannot be
  downloaded automatically).

The pipeline (`segmentation_dataset`, in `keras_gpos.data.segmentation_batches`,
importable from here too) feeds raw float pixels in [0, 255]; the models
normalise inside, so a saved model takes images as they are.
"""

import pathlib

import numpy as np

from keras_gpos.base.inputs import read_label_image
from keras_gpos.data.segmentation_batches import segmentation_dataset  # noqa: F401 - its old home
from keras_gpos.data.segmentation_set import SegmentationSet
from keras_gpos.data.street_scenes import STREET_CLASSES, make_street_scenes  # noqa: F401 - re-exported

SEGMENTATION_DATASETS = ("street_scenes", "folder", "tfds:cityscapes")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

CAMVID_CLASSES = (
    "sky", "building", "pole", "road", "pavement", "tree", "sign_symbol",
    "fence", "car", "pedestrian", "bicyclist",
)
CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic_light",
    "traffic_sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "train", "motorcycle", "bicycle",
)
# Cityscapes label id -> train id (19 evaluated classes); others are ignored.
_CITYSCAPES_EVAL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)


def _image_files(folder):
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _files_by_stem(folder):
    """`{stem: path}` of a folder's images; two files of one stem (`X.png`, `X.jpg`) are refused."""
    by_stem = {}
    for path in _image_files(folder):
        by_stem.setdefault(path.stem, []).append(path)
    doubled = [paths for paths in by_stem.values() if len(paths) > 1]
    if doubled:
        names = "; ".join(" and ".join(p.name for p in paths) for paths in doubled[:3])
        raise ValueError(f"{folder} holds {len(doubled)} file name(s) twice with other suffixes ({names}); "
                         "images and masks pair by name, so keep one file per name.")
    return {stem: paths[0] for stem, paths in by_stem.items()}


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_bit_depth(data):
    """Bit depth of a PNG (from its IHDR header), or None for other formats."""
    if data[:8] == PNG_SIGNATURE and len(data) > 24 and data[12:16] == b"IHDR":
        return data[24]
    return None


def _read_image(path, channels):
    """An image file as uint8 `(height, width, channels)` (Pillow, on every backend; grey and palette
    images are expanded to RGB, as TensorFlow's `decode_image` did)."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read image {path}: {error.strerror or error}") from error
    try:
        import io

        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I"):  # 16-bit grey: keep the high byte, as decode_image does
                image = Image.fromarray((np.asarray(image, np.uint32) >> 8).astype(np.uint8))
            return np.asarray(image.convert("RGB" if channels == 3 else "L")).reshape(
                image.size[1], image.size[0], channels)
    except (OSError, SyntaxError, UnidentifiedImageError, ValueError) as error:
        raise ValueError(f"cannot decode image {path}: {error}") from error


def _read_mask(path):
    """Class indices of a label image, exactly as stored (`keras_gpos.base.inputs.read_label_image`).

    A palette PNG gives its indices, not its colours; a 16-bit PNG gives its
    16-bit values. Values that do not fit a uint8 mask are refused.
    """
    mask = read_label_image(path)
    if mask.size and int(mask.max()) > 255:
        with open(path, "rb") as handle:
            depth = "16-bit " if _png_bit_depth(handle.read(25)) == 16 else ""
        raise ValueError(
            f"{depth}label image {path} holds label {int(mask.max())}; keras_gpos masks hold "
            "class indices up to 255."
        )
    return mask.astype(np.uint8)


def load_mask_folder(image_dir, mask_dir, class_names, ignore_label=None):
    """Loads an image folder and a mask folder whose file *stems* match.

    Masks are single-channel images of class indices (like CamVid's
    `trainannot/`). Image and mask are paired by file name without suffix,
    so `0001.jpg` pairs with `0001.png`.

    Args:
        image_dir: path. Folder of RGB images.
        mask_dir: path. Folder of label images.
        class_names: sequence of str. One name per class index.
        ignore_label: int or None. Mask value of unlabelled pixels.

    Returns:
        A `SegmentationSet`.

    Raises:
        ValueError: a missing or empty folder, file names that do not pair
            up (the first unmatched names are listed), an image and mask of
            different sizes, or labels out of range.

    Example (needs a CamVid-layout folder, so not run as a test):

    >>> data = keras_gpos.data.load_mask_folder(  # doctest: +SKIP
    ...     "camvid-small/val", "camvid-small/valannot",
    ...     keras_gpos.data.CAMVID_CLASSES, ignore_label=11)
    """
    image_dir, mask_dir = pathlib.Path(image_dir), pathlib.Path(mask_dir)
    for kind, folder in (("image", image_dir), ("mask", mask_dir)):
        if not folder.is_dir():
            raise ValueError(f"{kind} folder {folder} does not exist.")
    images = _files_by_stem(image_dir)
    masks = _files_by_stem(mask_dir)
    if not images:
        raise ValueError(f"image folder {image_dir} holds no {'/'.join(IMAGE_SUFFIXES)} files.")
    only_images = sorted(set(images) - set(masks))
    only_masks = sorted(set(masks) - set(images))
    if only_images or only_masks:
        raise ValueError(
            f"file names in {image_dir} and {mask_dir} do not match: "
            f"{len(only_images)} images have no mask (e.g. {only_images[:3]}), "
            f"{len(only_masks)} masks have no image (e.g. {only_masks[:3]})."
        )
    image_list, mask_list = [], []
    for stem in sorted(images):
        image = _read_image(images[stem], channels=3)
        mask = _read_mask(masks[stem])
        _check_mask_labels(mask, masks[stem], len(class_names), ignore_label)
        if mask.shape != image.shape[:2]:
            raise ValueError(
                f"mask {masks[stem]} is {mask.shape[0]}x{mask.shape[1]} but its image "
                f"{images[stem]} is {image.shape[0]}x{image.shape[1]}."
            )
        image_list.append(image)
        mask_list.append(mask)
    shapes = {im.shape for im in image_list}
    if len(shapes) > 1:
        raise ValueError(f"images in {image_dir} differ in size ({sorted(shapes)}); resize them first.")
    return SegmentationSet(
        np.stack(image_list).astype(np.uint8), np.stack(mask_list).astype(np.uint8),
        tuple(class_names), ignore_label, source=f"folder:{image_dir}",
    )


def _check_mask_labels(mask, path, num_classes, ignore_label):
    """Every label of a mask file is a class index or the ignore label."""
    values = np.unique(mask)
    bad = [int(v) for v in values if v >= num_classes and v != ignore_label]
    if bad:
        allowed = f"0..{num_classes - 1}" + ("" if ignore_label is None else f" or the ignore label {ignore_label}")
        raise ValueError(f"label image {path} holds labels {bad[:5]}, outside {allowed}.")


def load_camvid_folders(data_dir):
    """`(train, val)` from a SegNet-style CamVid folder (label 11 = ignore)."""
    data_dir = pathlib.Path(data_dir)
    if not data_dir.is_dir():
        raise ValueError(
            f"segmentation data folder {data_dir} does not exist or is not a folder; expected "
            "train/, trainannot/, val/ and valannot/ inside it."
        )
    return tuple(
        load_mask_folder(data_dir / split, data_dir / f"{split}annot", CAMVID_CLASSES, ignore_label=11)
        for split in ("train", "val")
    )


def load_tfds_cityscapes(data_dir=None, image_size=(256, 512), download=False):
    """`(train, val)` of TFDS `cityscapes/semantic_segmentation`, resized.

    Cityscapes needs a manual download (registration); TFDS then prepares it
    from `data_dir/downloads/manual`. Label ids map to the 19 train ids, all
    other ids to the ignore label 255.
    """
    from keras_gpos.base.backend import requires_tensorflow

    tf = requires_tensorflow("segmentation dataset 'tfds:cityscapes'")
    import tensorflow_datasets as tfds

    builder = tfds.builder("cityscapes/semantic_segmentation", data_dir=data_dir)
    if download:
        builder.download_and_prepare()
    elif not builder.is_prepared():
        raise ValueError(
            "tfds cityscapes/semantic_segmentation is not prepared under "
            f"{builder.data_dir}; download Cityscapes manually (it needs a login), "
            "put the zips in <data_dir>/downloads/manual and set --tfds_download."
        )
    lookup = np.full(256, 255, np.uint8)
    lookup[list(_CITYSCAPES_EVAL_IDS)] = np.arange(len(_CITYSCAPES_EVAL_IDS))
    lookup = tf.constant(lookup)
    height, width = image_size

    def convert(example):
        image = tf.image.resize(example["image_left"], (height, width))
        label = tf.image.resize(example["segmentation_label"], (height, width), method="nearest")
        label = tf.gather(lookup, tf.cast(label[..., 0], tf.int32))
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label

    def load(split):
        images, masks = [], []
        for image, mask in builder.as_dataset(split=split).map(convert).as_numpy_iterator():
            images.append(image)
            masks.append(mask)
        return SegmentationSet(
            np.stack(images), np.stack(masks), CITYSCAPES_CLASSES, 255,
            source=f"tfds:cityscapes/{split}",
            origin={"tfds": "cityscapes/semantic_segmentation", "version": str(builder.info.version),
                    "split": split, "image_size": [height, width]},
        )

    return load("train"), load("validation")


def load_segmentation_dataset(name, data_dir=None, seed=0, train_size=600, val_size=150,
                              image_size=(96, 128), tfds_download=False):
    """Loads `(train, val)` SegmentationSets by name.

    Args:
        name: str. One of `SEGMENTATION_DATASETS`.
        data_dir: str or None. The CamVid-layout folder (`"folder"`) or the
            TFDS data dir (`"tfds:cityscapes"`).
        seed: int. Seed of the street-scene generator (val uses `seed + 1`).
        train_size, val_size: int. Street scenes to draw.
        image_size: `(height, width)` of street scenes and resized Cityscapes.
        tfds_download: bool. Let TFDS prepare Cityscapes.
    """
    if name == "street_scenes":
        return (
            make_street_scenes(train_size, image_size, seed=seed),
            make_street_scenes(val_size, image_size, seed=seed + 1),
        )
    if name == "folder":
        if not data_dir:
            raise ValueError("dataset 'folder' needs data_dir (holding train/, trainannot/, val/, valannot/).")
        return load_camvid_folders(data_dir)
    if name == "tfds:cityscapes":
        return load_tfds_cityscapes(data_dir, image_size, download=tfds_download)
    raise ValueError(f"Unknown segmentation dataset {name!r}; expected one of {list(SEGMENTATION_DATASETS)}.")


def labelled_pixels(data):
    """How many pixels of a `SegmentationSet` hold a class (not the ignore label)."""
    if data.ignore_label is None:
        return int(data.masks.size)
    return int(data.masks.size - np.count_nonzero(data.masks == data.ignore_label))


def check_splits(train, val):
    """What a training run needs of its splits, checked before any training.

    Both splits hold labelled pixels (an all-ignore split trains nothing or
    scores nothing), share one image size (the model is built for the
    training size and scored on val) and one label set.

    Raises:
        ValueError: one line naming the split and what was found.
    """
    for name, split in (("train", train), ("val", val)):
        if len(split) == 0:
            raise ValueError(f"the {name} split ({split.source}) holds no images.")
        if labelled_pixels(split) == 0:
            raise ValueError(f"every pixel of the {name} split ({split.source}) is the ignore label "
                             f"{split.ignore_label}; there is nothing to train on or score.")
    if train.image_shape != val.image_shape:
        raise ValueError(f"val images are {val.image_shape} but train images are {train.image_shape} "
                         f"({val.source} vs {train.source}); resize one split to the other's size.")
    if (train.class_names, train.ignore_label) != (val.class_names, val.ignore_label):
        raise ValueError(f"train and val label sets differ: {train.num_classes} classes / ignore "
                         f"{train.ignore_label} vs {val.num_classes} classes / ignore {val.ignore_label}.")
    return train, val

