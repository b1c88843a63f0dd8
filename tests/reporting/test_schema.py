"""run.json is read through one structure-checked reader."""

import json
import pathlib

import pytest

from keras_gpos.reporting.results import render_file
from keras_gpos.reporting.schema import read_run_summary

pytestmark = pytest.mark.backend_agnostic


@pytest.mark.parametrize("text, problem", [("[]", "it holds a list"), ('{"config": 3}', "'config' is an integer"),
                                           ('{"schema_version": "2"}', "'schema_version' is a string")])
def test_a_run_summary_of_another_structure_is_one_line_naming_it(tmp_path, text, problem):
    (tmp_path / "run.json").write_text(text)
    with pytest.raises(ValueError, match=rf"{tmp_path / 'run.json'} is not a valid run summary: expected a JSON "
                                         rf"object; {problem}"):
        read_run_summary(tmp_path)


# A result file's schema is read, never guessed: without schema_version it is schema 1 (percent) only
# where keras_gpos 0.1 must have written it, and a rate outside [0, 1] is refused naming the field (second
# hostile pass, finding 5: a results.json less its schema_version was divided by 100; 1.7 and 41.2 rendered
# as 106.9% and 2081.9%).


RESULTS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "results"


def _write(path, payload):
    path.write_text(json.dumps(payload))
    return path


@pytest.mark.adversarial
def test_a_results_file_that_lost_its_schema_version_is_refused_naming_it(tmp_path):
    payload = json.loads((RESULTS / "quickstart" / "results.json").read_text())
    del payload["schema_version"]
    path = _write(tmp_path / "results.json", payload)
    with pytest.raises(ValueError, match=rf"{path} has no schema_version but records 'experiment', which only "
                                         "schema 2 and later write"):
        render_file(path)


@pytest.mark.adversarial
def test_a_results_file_without_a_version_whose_rates_read_either_way_is_refused(tmp_path):
    payload = json.loads((RESULTS / "quickstart" / "results.json").read_text())
    payload = {key: value for key, value in payload.items() if key not in ("schema_version", "experiment",
                                                                           "keras_gpos_version")}
    path = _write(tmp_path / "results.json", payload)
    with pytest.raises(ValueError, match=rf"{path} has no schema_version and its rates .* read as fractions and as "
                                         "percent alike: add schema_version"):
        render_file(path)


def test_a_results_file_of_keras_gpos_0_1_is_still_read_as_percent():
    text = render_file(RESULTS / "channel_position_cifar10_cpu" / "results.json")  # no version, percent rates
    assert "100.0" in text


@pytest.mark.adversarial
@pytest.mark.parametrize("field, value", [("accuracy", 41.2), ("accuracy", 1.7), ("chance_accuracy", -0.1)])
def test_a_rate_outside_0_and_1_in_a_current_results_file_is_refused_naming_the_field(tmp_path, field, value):
    payload = json.loads((RESULTS / "quickstart" / "results.json").read_text())
    payload["runs"][1][field] = value
    path = _write(tmp_path / "results.json", payload)
    with pytest.raises(ValueError, match=rf"{path}: run 1: {field} is {value:g}, outside \[0, 1\]"):
        render_file(path)


@pytest.mark.adversarial
def test_a_run_summary_that_lost_its_version_or_holds_percent_is_refused_naming_it(tmp_path):
    summary = {"experiment": "location", "test_accuracy": 0.5, "val_accuracy": 0.5, "chance_accuracy": 0.25,
               "config": {"task": "location"}}
    _write(tmp_path / "run.json", summary)
    with pytest.raises(ValueError, match=rf"{tmp_path / 'run.json'} has no schema_version but records 'experiment'"):
        read_run_summary(tmp_path)
    _write(tmp_path / "run.json", {**summary, "schema_version": 3, "test_accuracy": 41.2})
    with pytest.raises(ValueError, match=rf"{tmp_path / 'run.json'}: test_accuracy is 41.2, outside \[0, 1\]"):
        read_run_summary(tmp_path)
