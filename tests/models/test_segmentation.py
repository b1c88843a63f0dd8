"""The DeepLab segmentation models."""

import pytest

from keras_gpos.models import build_deeplab


@pytest.mark.parametrize("output_stride, side", [(16, 6), (8, 12)])
def test_resnet50_deeplab_output_stride(output_stride, side):
    model = build_deeplab(3, (96, 96, 3), depth=50, width=2, output_stride=output_stride, aspp_filters=4)
    assert tuple(model.get_layer("stage4_out").output.shape[1:]) == (side, side, 64)
    assert tuple(model.output.shape[1:]) == (96, 96, 3)
