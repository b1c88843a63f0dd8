"""Which layers the audit looks at by default."""

import pytest

import keras_gpos
from keras_gpos.audit import candidate_layers

pytestmark = pytest.mark.backend_agnostic


def test_default_layers_are_the_stage_ends_spread_over_depth():
    model = keras_gpos.models.build_classifier(4, (64, 64, 3), depth=10, width=4, head="fc")
    stages = candidate_layers(model)
    # The stem and stage 1 share a resolution (stage 1 has stride 1): stage 1 ends it.
    assert stages == ["stage1_block1_out", "stage2_block1_out", "stage3_block1_out", "features"]
    assert keras_gpos.audit.default_layers(model, 3) == ["stage1_block1_out", "stage3_block1_out", "features"]
