"""run.json is read through one structure-checked reader."""

import pytest

from keras_gpos.reporting.schema import read_run_summary

pytestmark = pytest.mark.backend_agnostic


@pytest.mark.parametrize("text, problem", [("[]", "it holds a list"), ('{"config": 3}', "'config' is an integer"),
                                           ('{"schema_version": "2"}', "'schema_version' is a string")])
def test_a_run_summary_of_another_structure_is_one_line_naming_it(tmp_path, text, problem):
    (tmp_path / "run.json").write_text(text)
    with pytest.raises(ValueError, match=rf"{tmp_path / 'run.json'} is not a valid run summary: expected a JSON "
                                         rf"object; {problem}"):
        read_run_summary(tmp_path)
