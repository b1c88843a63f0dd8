"""Report rows average seeds of one setting; what a run did not record is not compared; a row read
against a reference (PermuteNet against its fc network, AugShift against the baseline) was trained alike."""

import pytest

from keras_gpos.reporting import augshift, location
from keras_gpos.reporting.grouping import group_rows
from tests.reporting.test_augshift import _run
from tests.reporting.test_location import _suite

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


# A row read against a reference (PermuteNet against its unpermuted network, an AugShift group against
# the baseline) must have been trained alike but for what is compared; otherwise the report is refused,
# naming the field (second hostile pass, finding 1: "location kept -13%" from a 1-epoch permuted run read
# against a 3-epoch reference).


TRAINING = {"epochs": 3, "learning_rate": 0.01, "head": "fc", "permute_at": "", "permute_per_sample": False}
DATA = {"dataset": "embedded", "content": {"test": {"sha256": "a" * 64}}}


def _with_settings(rows, permuted=None, reference=None):
    """`rows` with the settings their runs recorded (`evaluate_run`'s "setting")."""
    for row in rows:
        own = {**TRAINING, **(reference or {})}
        if "+permute@" in row["variant"]:
            own = {**TRAINING, "permute_at": "pooled", **(permuted or {})}
        row["setting"] = {"settings": own, "data": DATA, "keras_backend": "tensorflow"}
        row["run_dir"] = f"R/{row['variant']}_{row['task']}_s{row['seed']}"
    return rows


def test_a_permuted_row_trained_like_its_reference_is_read_against_it():
    rows = _with_settings(_suite(1.0, 1 / 9, 0.8, 0.75), permuted={"permute_per_sample": True})
    summary, _ = location.summarize(rows)
    assert next(e for e in summary if e["variant"] == "fc+permute@pooled")["reference_variant"] == "fc"


@pytest.mark.adversarial
def test_a_permuted_row_trained_otherwise_than_its_reference_is_refused_naming_the_fields():
    rows = _with_settings(_suite(1.0, 1 / 9, 0.8, 0.75), permuted={"epochs": 1, "learning_rate": 0.0001})
    with pytest.raises(ValueError, match=r"R/fc\+permute@pooled_\w+ is compared with R/fc_\w+ \(its reference fc\) "
                                         r"but they were trained differently \(settings\.epochs: 3 -> 1; "
                                         r"settings\.learning_rate: 0\.01 -> 0\.0001\); only permute_at, "
                                         "permute_per_sample may differ"):
        location.summarize(rows)


@pytest.mark.adversarial
def test_a_permuted_row_scored_on_other_data_than_its_reference_is_refused():
    rows = _with_settings(_suite(1.0, 1 / 9, 0.8, 0.75))
    for row in rows:
        if row["variant"] == "fc":
            row["setting"] = {**row["setting"], "data": {**DATA, "content": {"test": {"sha256": "b" * 64}}}}
    with pytest.raises(ValueError, match=r"trained differently \(data\.content\.test\.sha256"):
        location.summarize(rows)


def _augshift_rows(baseline=None, other=None):
    rows = []
    for seed in (0, 1):
        for variant, changes in (("baseline", baseline), ("augshift", other)):
            row = _run(variant, seed, 0.6)
            settings = {"epochs": 3, "learning_rate": 0.01, "variant": variant,
                        "consistency_weight": row["consistency_weight"], **(changes or {})}
            if variant != "baseline":
                settings["distance"] = "mse"  # a field only AugShift runs record
            row["setting"] = {"settings": settings, "data": DATA}
            row["run_dir"] = f"R/{row['group']}_s{seed}"
            rows.append(row)
    return rows


def test_an_augshift_group_trained_like_the_baseline_is_read_against_it():
    summary, _ = augshift.summarize(_augshift_rows())
    assert {e["group"] for e in summary} == {"baseline", "augshift_lam1_mse"}


@pytest.mark.adversarial
def test_an_augshift_group_trained_otherwise_than_the_baseline_is_refused_naming_the_fields():
    rows = _augshift_rows(other={"epochs": 1, "learning_rate": 0.001})
    with pytest.raises(ValueError, match=r"R/augshift_lam1_mse_s0 is compared with R/baseline_s0 \(the baseline\) "
                                         r"but they were trained differently \(settings\.epochs: 3 -> 1; "
                                         r"settings\.learning_rate: 0\.01 -> 0\.001\)"):
        augshift.summarize(rows)
