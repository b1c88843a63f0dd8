"""How the audit words its verdict on the paper's prediction."""

import pytest

pytestmark = pytest.mark.backend_agnostic


@pytest.mark.parametrize("state, reason, expected", [
    ("holds", None, "The paper's claim agrees with this run."),
    ("does_not_hold", None, "The paper's claim does not agree with this run."),
    ("cannot_be_judged", "probe_at_chance", "This run cannot test the paper's claim."),  # e.g. the class at chance
])
def test_the_audit_verdict_on_the_papers_prediction(state, reason, expected):
    # The sentence comes from the settled verdict (keras_gpos.audit.verdicts), never from two gaps alone.
    from keras_gpos.audit.rendering import verdict

    claim = {"key": "l/class_survives_order_loss_better", "claim": "class_survives_order_loss_better",
             "state": state, "reason": reason, "estimate": None if reason else 0.3, "p_value": None,
             "context": {}}
    assert verdict({"name": "l", "verdicts": {"class_survives_order_loss_better": claim}}).endswith(expected)
