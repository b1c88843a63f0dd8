"""Resource bounds: the memory override is named when it is not a number."""

import pytest

from keras_gpos.runs.resources import GIB, MemoryPlan, available_memory_bytes


@pytest.mark.backend_agnostic
@pytest.mark.adversarial
@pytest.mark.parametrize("value", ["8GB", "0", "-2", "nan", "inf"])
def test_a_bad_memory_limit_is_named(monkeypatch, value):
    monkeypatch.setenv("KERAS_GPOS_MEMORY_LIMIT_GB", value)
    with pytest.raises(ValueError, match=rf"KERAS_GPOS_MEMORY_LIMIT_GB='{value}' is not a positive number of GiB"):
        MemoryPlan("experiment location").add("data", GIB, ("embedded_train_size",)).check()


@pytest.mark.backend_agnostic
def test_the_memory_limit_overrides_what_the_machine_has(monkeypatch):
    monkeypatch.setenv("KERAS_GPOS_MEMORY_LIMIT_GB", "1.5")
    assert available_memory_bytes() == 1.5 * GIB
    with pytest.raises(ValueError, match=r"needs about 2\.0 GiB .* lower --embedded_train_size"):
        MemoryPlan("experiment location").add("data", 2 * GIB, ("embedded_train_size",)).check()


@pytest.mark.parametrize("args, flags", [
    (["--experiment=location", "--grid_size=1000"], "--batch_size, --grid_size"),
    (["--experiment=location", "--embedded_train_size=1000000000"], "--embedded_train_size"),
    (["--experiment=position_attack", "--image_height=100000"], "--image_height"),
    (["--experiment=position_attack", "--street_train_size=1000000000"], "--street_train_size"),
])
def test_settings_that_cannot_fit_in_memory_are_refused_at_once(args, flags, monkeypatch):
    from keras_gpos.experiments import location, position_attack, run_experiment
    from tests.flag_utils import parse_train_flags

    # "At once" means before any data is read or any model built: spies on both (not a clock).
    def spy(what):
        def refuse(*args, **kwargs):
            raise AssertionError(f"{what} ran before the memory check refused the settings")
        return refuse

    for module in (location, position_attack):
        for what in ("prepare_data", "build_model"):
            monkeypatch.setattr(module, what, spy(f"{module.__name__}.{what}"))
    name, config = parse_train_flags([*args, "--output_dir=/nonexistent/never-written"])
    with pytest.raises(ValueError, match=r"needs about [\d.]+ GiB of memory .* more than the [\d.]+ GiB") as error:
        run_experiment(name, config)
    assert flags in str(error.value)
