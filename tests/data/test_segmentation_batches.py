"""Segmentation batches: image and mask stay aligned under flips; evaluation in order.

The backend_agnostic tests also run on JAX (tests/integration/test_jax_backend.py selects them by marker).
"""

import numpy as np
import pytest

from keras_gpos.data import SegmentationSet, make_street_scenes, numpy_stream, segmentation_batches

pytestmark = pytest.mark.backend_agnostic


def _coded_scenes(count=12, height=5, width=7):
    """Scenes whose mask is a function of the pixel (column code in the image), so alignment is checkable."""
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 4, (count, height, width), dtype=np.uint8)
    images = np.zeros((count, height, width, 3), np.uint8)
    images[..., 0] = masks * 50 + 10
    images[..., 1] = np.arange(width, dtype=np.uint8) * 30  # the column, mirrored by a flip
    images[..., 2] = np.arange(count, dtype=np.uint8)[:, None, None]  # which scene
    return SegmentationSet(images, masks, ("a", "b", "c", "d"))


def test_training_flips_image_and_mask_together_and_only_when_asked():
    scenes = _coded_scenes()
    flipped = {}
    for flip in (True, False):
        source = segmentation_batches(scenes, 5, training=True, flip=flip, seed=3)
        flipped[flip] = 0
        for images, masks in numpy_stream(source, 4):
            assert images.dtype == np.float32 and masks.dtype == np.int32
            np.testing.assert_array_equal((images[..., 0] - 10) / 50, masks)  # aligned, pixel by pixel
            for image in images:
                original = scenes.images[int(image[0, 0, 2])].astype(np.float32)
                mirrored = np.array_equal(image, original[:, ::-1])
                assert mirrored or np.array_equal(image, original)
                flipped[flip] += mirrored
    assert 5 < flipped[True] < 43 and flipped[False] == 0, flipped


def test_evaluation_is_every_scene_in_order_as_raw_float_pixels():
    scenes = make_street_scenes(7, (16, 24), seed=0)
    batches = list(numpy_stream(segmentation_batches(scenes, 3, flip=True)))
    assert [len(images) for images, _ in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([i for i, _ in batches]), scenes.images.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([m for _, m in batches]), scenes.masks)


def test_bad_arguments():
    scenes = _coded_scenes()
    with pytest.raises(ValueError, match="batch_size must be a positive int; got True"):
        segmentation_batches(scenes, True)
    with pytest.raises(ValueError, match="is empty"):
        segmentation_batches(scenes.head(0), 2)
