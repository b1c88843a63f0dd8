"""Verdicts as data: three states, Holm over a report, requirements between claims, the seed rule."""

import pytest

from keras_gpos.base.rendering import verdict_text
from keras_gpos.base.verdicts import Verdict, cannot_judge, correct, judged, missing, requirement

pytestmark = pytest.mark.backend_agnostic


def _result(p, estimate=0.3):
    return {"estimate": estimate, "interval": [estimate - 0.1, estimate + 0.1], "p_value": p, "level": 0.95}


def test_holm_settles_the_states_of_one_report():
    # Alone, 0.03 would hold; beside 0.04 and 0.5 Holm needs 0.05 / 3 for the smallest.
    verdicts = [judged("a", "x", _result(0.03), "t"), judged("b", "x", _result(0.04), "t"),
                judged("c", "x", _result(0.5), "t")]
    (settled,), rule = correct([verdicts])
    assert [v.state for v in settled] == ["does_not_hold"] * 3
    assert [v.p_adjusted for v in settled] == pytest.approx([0.09, 0.09, 0.5])
    assert rule == {"correction": "holm", "alpha": 0.05, "family": 3}
    (alone,), _ = correct([[judged("a", "x", _result(0.03), "t")]])
    assert alone[0].state == "holds" and alone[0].p_adjusted == pytest.approx(0.03)


def test_a_claim_that_needs_a_failed_one_cannot_be_judged():
    decodable = judged("layer/decodable", "decodable", _result(0.6), "t")
    gap = judged("layer/gap", "gap", _result(0.0005), "t", requires={"layer/decodable": "probe_at_chance"})
    either = judged("layer/any", "any", _result(0.0005), "t",
                    requires=[requirement(["layer/decodable", "layer/gap"], "model_at_chance")])
    (settled,), rule = correct([[decodable, gap, either]])
    assert settled[1].state == "cannot_be_judged" and settled[1].reason == "probe_at_chance"
    # The chain settles from its root: `any` needs decodable or gap, and neither holds.
    assert settled[2].state == "cannot_be_judged" and settled[2].reason == "model_at_chance"
    assert rule["family"] == 3  # tested claims count, whatever their requirements did
    assert "layer/decodable does not hold" in verdict_text(settled[1].to_dict())


def test_a_settled_report_can_be_settled_again_as_part_of_a_larger_one():
    first = [judged("a", "x", _result(0.0005), "t"),
             judged("b", "y", _result(0.001), "t", requires={"a": "probe_at_chance"})]
    (once,), _ = correct([first])
    assert [v.state for v in once] == ["holds", "holds"]
    more = [judged(f"m{i}", "x", _result(0.9), "t") for i in range(200)]
    (again, _), rule = correct([[v.to_dict() for v in once], more])
    assert isinstance(again[0], dict) and rule["family"] == 202
    assert [v["state"] for v in again] == ["does_not_hold", "cannot_be_judged"]


def test_a_claim_over_seeds_holds_only_where_the_seeds_agree():
    split = judged("a", "x", _result(0.0005), "t", seeds={"holds_in": 1, "of": 2, "required": 2})
    every = judged("b", "x", _result(0.0005), "t", seeds={"holds_in": 2, "of": 2, "required": 2})
    (settled,), _ = correct([[split, every]])
    assert [v.state for v in settled] == ["does_not_hold", "holds"]
    assert "in 1 of 2 seeds" in verdict_text(settled[0].to_dict())


def test_cannot_be_judged_needs_a_known_reason_and_stays_out_of_the_family():
    with pytest.raises(ValueError, match="needs a reason"):
        Verdict("a", "x", "cannot_be_judged", reason="bad luck")
    with pytest.raises(ValueError, match="state must be one of"):
        Verdict("a", "x", "maybe")
    (settled,), rule = correct([[cannot_judge("a", "x", "too_few_images", images=4)]])
    assert settled[0].state == "cannot_be_judged" and rule["family"] == 0
    assert verdict_text(missing("a", "x")) == "cannot be judged here (no per-image outcomes)"


def test_a_requirement_outside_the_report_is_an_error():
    with pytest.raises(ValueError, match="requires \\['elsewhere'\\]"):
        correct([[judged("a", "x", _result(0.01), "t", requires={"elsewhere": "probe_at_chance"})]])


def test_a_verdict_round_trips_through_its_dict():
    (settled,), _ = correct([[judged("a", "x", _result(0.01), "t", accuracy=0.9)]])
    assert Verdict.from_dict(settled[0].to_dict()) == settled[0]
    text = verdict_text(settled[0].to_dict())
    assert text.startswith("holds (+30.0 pt, 95% interval +20.0 to +40.0; p = 0.0100, Holm 0.0100")
