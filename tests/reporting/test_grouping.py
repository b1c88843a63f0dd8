"""Report rows average seeds of one setting; what a run did not record is not compared."""

import pytest

from keras_gpos.reporting.grouping import group_rows

pytestmark = pytest.mark.backend_agnostic


def _row(seed, run_dir, **setting):
    return {"seed": seed, "task": "location", "run_dir": run_dir, "label": "fc", "setting": setting}


def test_what_one_run_did_not_record_is_not_compared():
    new = _row(0, "a", settings={"lr": 1}, data={"n": 3, "content": {"test": "x"}}, keras_backend="tensorflow")
    old = _row(1, "b", settings={"lr": 1}, data={"n": 3})  # keras_gpos 0.2: no content, no backend
    assert list(group_rows([new, old], lambda r: r["label"])) == ["fc"]
    other = _row(2, "c", settings={"lr": 1}, data={"n": 3, "content": {"test": "y"}})
    with pytest.raises(ValueError, match=r"a and c share the row 'fc' but differ in data\.content\.test: x -> y"):
        group_rows([new, old, other], lambda r: r["label"])
