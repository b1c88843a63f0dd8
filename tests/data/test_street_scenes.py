"""The embedded street scenes: deterministic, with position priors; argument checks."""

import numpy as np
import pytest

from keras_gpos.data import (
    STREET_CLASSES,
    load_segmentation_dataset,
    make_street_scenes,
)


def test_street_scenes_are_deterministic_and_have_position_priors():
    scenes = make_street_scenes(60, (48, 64), seed=0)
    again = make_street_scenes(60, (48, 64), seed=0)
    np.testing.assert_array_equal(scenes.images, again.images)
    assert scenes.images.shape == (60, 48, 64, 3) and scenes.masks.shape == (60, 48, 64)
    assert scenes.class_names == STREET_CLASSES and scenes.ignore_label is None
    masks = scenes.masks
    top, bottom = masks[:, :12], masks[:, -12:]
    sky, road = STREET_CLASSES.index("sky"), STREET_CLASSES.index("road")
    # Sky on top, road at the bottom, never the other way round.
    assert (top == sky).mean() > 0.3 and (bottom == sky).mean() == 0.0
    assert (bottom == road).mean() > 0.3 and (top == road).mean() == 0.0
    # Not mirror-symmetric: buildings mostly on the left, trees on the right.
    building, trees = STREET_CLASSES.index("building"), STREET_CLASSES.index("vegetation")
    left, right = masks[:, :, :32], masks[:, :, 32:]
    assert (left == building).mean() > 2 * (right == building).mean()
    assert (right == trees).mean() > 2 * (left == trees).mean()
    assert not np.array_equal(make_street_scenes(2, (48, 64), seed=1).images, scenes.images[:2])


def test_street_scene_arguments_are_checked():
    with pytest.raises(ValueError, match="count must be a positive int; got 0"):
        make_street_scenes(0)
    with pytest.raises(ValueError, match="at least 16x16"):
        make_street_scenes(2, (8, 64))
    with pytest.raises(ValueError, match="Unknown segmentation dataset 'camvid'"):
        load_segmentation_dataset("camvid")
    with pytest.raises(ValueError, match="needs data_dir"):
        load_segmentation_dataset("folder")
