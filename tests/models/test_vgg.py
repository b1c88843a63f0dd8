"""The VGG backbone and its depths."""

import pytest

from keras_gpos.models import build_classifier

pytestmark = pytest.mark.backend_agnostic


def test_vgg_backbone_and_depths():
    model = build_classifier(10, arch="vgg", depth=11, width=8, head="fc")
    assert tuple(model.get_layer("features").output.shape[1:]) == (6, 6, 64)
    with pytest.raises(ValueError, match="depth 12 is not a vgg depth"):
        build_classifier(10, arch="vgg", depth=12)
    with pytest.raises(ValueError, match=r"depth 101 is not a resnet depth; expected one of \[10, 18, 34, 50\]"):
        build_classifier(10, depth=101)
