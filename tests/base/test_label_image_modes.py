"""Label image files in mode "1" are read as the 0/1 indices they store (second hostile pass)."""

import numpy as np
import pytest

from keras_gpos.base.inputs import read_label_image

pytestmark = pytest.mark.backend_agnostic


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
