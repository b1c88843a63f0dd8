"""A suite's time budget in words: which runs this invocation trained, reused and left for the next.

`budget_markdown(budget)` words the dict of `keras_gpos.runs.budget.BudgetOutcome.to_dict()`
(kept in results.json under `"time_budget"`), so the report says what ran, generated from the
record rather than fixed text.
"""

from keras_gpos.base.rendering import markdown_table


def _seconds(value):
    return "no estimate" if value is None else f"{value:.0f} s"


def budget_markdown(budget):
    """The Markdown section of a suite's budget outcome (empty text when none was set)."""
    if not budget or not budget.get("budget_s"):
        return ""
    ran, reused, left = budget["ran"], budget["reused"], budget["not_started"]
    text = (f"\n### Time budget\n\n{len(ran)} run(s) trained by this invocation, {len(reused)} reused from "
            f"earlier ones, {len(left)} not started, in {budget['elapsed_s']:.0f} s of a {budget['budget_s']:.0f} s "
            "budget.")
    text += (" The runs not started are not in the tables above; rerun the same command to continue.\n"
             if left else " Every run of the suite is finished.\n")
    rows = ([[r["name"], "trained now", f"{r['seconds']:.0f} s"] for r in ran]
            + [[name, "reused (finished earlier)", ""] for name in reused]
            + [[r["name"], "not started", f"estimate {_seconds(r['estimate_s'])}"] for r in left])
    if rows:
        text += "\n" + markdown_table(["run", "status", "seconds"], rows)
    text += f"\nRule: {budget['estimate_rule']}.\n"
    return text
