"""The budget section of a suite's report is generated from what the suite recorded."""

import pytest

from keras_gpos.reporting.budget import budget_markdown
from keras_gpos.runs.budget import BudgetOutcome

pytestmark = pytest.mark.backend_agnostic


def test_the_report_names_what_ran_what_was_reused_and_what_did_not_start():
    outcome = BudgetOutcome(600, 590.4, [{"name": "gapnet_zero_g3_s1", "seconds": 301.2}], ["gapnet_zero_g3_s0"],
                            [{"name": "gapnet_zero_g3_s2", "estimate_s": 301.2}]).to_dict()
    text = budget_markdown(outcome)
    assert "1 run(s) trained by this invocation, 1 reused from earlier ones, 1 not started, in 590 s of a 600 s" in text
    assert "| gapnet_zero_g3_s1 | trained now | 301 s |" in text
    assert "| gapnet_zero_g3_s0 | reused (finished earlier) |" in text
    assert "| gapnet_zero_g3_s2 | not started | estimate 301 s |" in text
    assert "rerun the same command to continue" in text


def test_a_suite_that_finished_says_so_and_no_budget_adds_nothing():
    done = BudgetOutcome(600, 20, [{"name": "a", "seconds": 20}], [], []).to_dict()
    assert "Every run of the suite is finished." in budget_markdown(done)
    assert budget_markdown(None) == "" and budget_markdown({**done, "budget_s": 0.0}) == ""


def test_the_location_report_and_its_rerendering_carry_the_budget_section(tmp_path):
    from keras_gpos.reporting.location import write_report
    from keras_gpos.reporting.results import render_file
    from tests.reporting.test_location import _suite

    outcome = BudgetOutcome(100, 90, [{"name": "fc_location_zero_g3_s0", "seconds": 90}], [],
                            [{"name": "fc_location_zero_g3_s1", "estimate_s": 90}]).to_dict()
    report = write_report(tmp_path, _suite(1.0, 0.3, 0.9, 0.5), {"experiment": "channel_position",
                                                                "time_budget": outcome})
    assert "| fc_location_zero_g3_s1 | not started | estimate 90 s |" in report.text
    assert (tmp_path / "results.md").read_text() == report.text
    assert "| fc_location_zero_g3_s1 | not started |" in render_file(tmp_path / "results.json")
