"""A suite's time budget: which runs start, judged by a fake clock (no real timing)."""

import pytest

from keras_gpos.runs.budget import RunBudget, is_finished

pytestmark = pytest.mark.backend_agnostic


class FakeClock:
    """A clock that moves only when a fake training advances it."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _suite(budget, clock, runs, seconds, finished=()):
    """Drives `budget` like a suite: each run of `runs` `(name, group)` takes `seconds[group]` on the clock;
    a run in `finished` is loaded (no time) and reports `seconds[group]` as its recorded training time."""
    trained = []

    def train(name, group):
        if name not in finished:
            clock.now += seconds[group]
        trained.append(name)
        return {"train_seconds": seconds[group]}

    for name, group in runs:
        budget.run(name, group, name in finished, lambda n=name, g=group: train(n, g))
    return trained


def test_runs_start_while_their_measured_time_fits():
    clock = FakeClock()
    budget = RunBudget(250, clock=clock)
    runs = [(f"gap_s{seed}", "gap") for seed in range(4)]
    # 100 s each: after two (200 s spent), a third would end at 300 s > 250 s.
    assert _suite(budget, clock, runs, {"gap": 100}) == ["gap_s0", "gap_s1"]
    outcome = budget.outcome().to_dict()
    assert [r["name"] for r in outcome["ran"]] == ["gap_s0", "gap_s1"]
    assert [r["seconds"] for r in outcome["ran"]] == [100, 100]
    assert outcome["not_started"] == [{"name": "gap_s2", "estimate_s": 100.0}, {"name": "gap_s3", "estimate_s": 100.0}]
    assert outcome["elapsed_s"] == 200 and outcome["budget_s"] == 250


def test_the_first_run_starts_without_an_estimate_and_then_the_budget_stops_the_rest():
    clock = FakeClock()
    budget = RunBudget(10, clock=clock)
    # No run measured yet: the first starts although it takes longer than the whole budget.
    assert _suite(budget, clock, [("a", "a"), ("b", "b")], {"a": 60, "b": 1}) == ["a"]
    assert budget.outcome().not_started == [{"name": "b", "estimate_s": 60.0}]  # another group: the longest run


def test_a_cheaper_group_still_starts_after_a_dearer_one_was_left_out():
    clock = FakeClock()
    budget = RunBudget(100, clock=clock)
    runs = [("slow_s0", "slow"), ("fast_s0", "fast"), ("slow_s1", "slow"), ("fast_s1", "fast")]
    trained = _suite(budget, clock, runs, {"slow": 50, "fast": 10})
    # slow_s0 (50), fast_s0 (estimate 50, takes 10: 60), slow_s1 (60 + 50 > 100: left), fast_s1 (60 + 10).
    assert trained == ["slow_s0", "fast_s0", "fast_s1"]
    assert [r["name"] for r in budget.outcome().not_started] == ["slow_s1"]


def test_finished_runs_are_reused_and_their_recorded_time_is_the_estimate():
    # The second invocation of a suite: runs finished by the first are loaded, not trained, and their
    # recorded seconds are their group's estimate (without them, gap_s1's would be fast_s0's 10 s).
    clock = FakeClock()
    budget = RunBudget(50, clock=clock)
    runs = [("gap_s0", "gap"), ("fast_s0", "fast"), ("gap_s1", "gap")]
    trained = _suite(budget, clock, runs, {"gap": 80, "fast": 10}, finished={"gap_s0"})
    assert trained == ["gap_s0", "fast_s0"]  # "trained" here includes the suite's call that loads gap_s0
    outcome = budget.outcome()
    assert outcome.reused == ["gap_s0"] and [r["name"] for r in outcome.ran] == ["fast_s0"]
    assert outcome.not_started == [{"name": "gap_s1", "estimate_s": 80.0}]  # 10 s spent + 80 > 50


def test_every_invocation_trains_one_run_so_reruns_finish_a_suite_of_runs_longer_than_the_budget():
    runs = [(f"slow_s{seed}", "slow") for seed in range(3)]
    finished = set()
    for invocation in range(3):
        clock = FakeClock()
        budget = RunBudget(10, clock=clock)
        trained = _suite(budget, clock, runs, {"slow": 60}, finished=set(finished))
        new = [name for name in trained if name not in finished]
        assert new == [f"slow_s{invocation}"]  # the recorded 60 s exceed the budget, yet one run starts
        finished.update(new)
    assert finished == {"slow_s0", "slow_s1", "slow_s2"}


def test_no_budget_starts_everything():
    clock = FakeClock()
    budget = RunBudget(0, clock=clock)
    assert _suite(budget, clock, [("a", "a"), ("b", "a")], {"a": 1e6}) == ["a", "b"]
    assert budget.outcome().not_started == []


def test_a_failed_run_is_not_counted_as_ran():
    budget = RunBudget(100, clock=FakeClock())

    def fail():
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        budget.run("a", "a", False, fail)
    assert budget.outcome().ran == []


def test_a_negative_budget_is_refused():
    with pytest.raises(ValueError, match="budget_s must be >= 0"):
        RunBudget(-1)


def test_a_finished_run_is_one_with_run_json_unless_overwritten(tmp_path):
    assert not is_finished(tmp_path)
    (tmp_path / "run.json").write_text("{}")
    assert is_finished(tmp_path) and not is_finished(tmp_path, overwrite=True)
