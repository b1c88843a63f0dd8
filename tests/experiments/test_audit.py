"""The audit experiment's --models: one model file is audited once (second hostile pass)."""

import pytest

from keras_gpos.experiments.audit import expand_models

pytestmark = pytest.mark.backend_agnostic


@pytest.mark.adversarial
def test_entries_that_resolve_to_one_model_file_are_audited_once(tmp_path):
    for name in ("a_s0", "a_s1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.keras").write_bytes(b"not read here")
    patterns = [str(tmp_path / "a_s0"), str(tmp_path / "a_s*"), str(tmp_path / "a_s0" / "model.keras")]
    paths = expand_models(patterns)
    # Four audits of two models inflated the Holm family.
    assert [p.name for p in paths] == ["a_s0", "a_s1"]
