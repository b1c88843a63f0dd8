"""Resource bounds: the memory override is named when it is not a number."""

import pytest

from keras_gpos.runs.resources import GIB, MemoryPlan, available_memory_bytes

pytestmark = pytest.mark.backend_agnostic


@pytest.mark.adversarial
@pytest.mark.parametrize("value", ["8GB", "0", "-2", "nan", "inf"])
def test_a_bad_memory_limit_is_named(monkeypatch, value):
    monkeypatch.setenv("KERAS_GPOS_MEMORY_LIMIT_GB", value)
    with pytest.raises(ValueError, match=rf"KERAS_GPOS_MEMORY_LIMIT_GB='{value}' is not a positive number of GiB"):
        MemoryPlan("experiment location").add("data", GIB, ("embedded_train_size",)).check()


def test_the_memory_limit_overrides_what_the_machine_has(monkeypatch):
    monkeypatch.setenv("KERAS_GPOS_MEMORY_LIMIT_GB", "1.5")
    assert available_memory_bytes() == 1.5 * GIB
    with pytest.raises(ValueError, match=r"needs about 2\.0 GiB .* lower --embedded_train_size"):
        MemoryPlan("experiment location").add("data", 2 * GIB, ("embedded_train_size",)).check()
