"""A time budget for a suite: start each run only if it should end within the budget.

A suite (`channel_position`, `augshift`) trains its runs in order. With a
budget (`--budget_s`), `RunBudget` decides before each run that still has to
train whether it fits, and records what ran, what was reused and what was not
started, with the estimate that kept it out. Finished runs are skipped by the
run lifecycle, so the next invocation of the same command continues where the
budget stopped this one.

How a run's time is estimated (`RunBudget.estimate`), in this order:

1. the mean of the measured seconds of the runs of its group (the same
   settings, another seed), measured in this invocation (wall time: training
   and scoring) or recorded by a finished run of an earlier invocation (its
   training seconds);
2. else the longest measured seconds of any run of the suite;
3. else none.

The first run an invocation has to train starts whenever any of the budget
is left, whatever its estimate ("run one, then stop when the budget is
gone"), so every invocation makes progress and reruns finish the suite even
when one run takes longer than the budget. Every later run starts when the
seconds spent so far plus its estimate are within the budget; a later run of
a cheaper group may still start after a dearer one was left out. A budget of
0 means no limit.
"""

import dataclasses
import pathlib
import time

ESTIMATE_RULE = (
    "the first run an invocation trains starts if any budget is left; a later one starts when the seconds spent "
    "plus its estimate fit in the budget; its estimate is the mean measured seconds of its group's runs (other "
    "seeds: wall seconds of runs trained now, training seconds recorded by runs finished earlier), else the "
    "longest of any run measured"
)


@dataclasses.dataclass
class BudgetOutcome:
    """What a suite did under its budget (numbers and names; `keras_gpos.reporting.budget` words it).

    Attributes:
        budget_s: float. The budget in seconds (0: no limit).
        elapsed_s: float. Seconds spent by this invocation when the suite stopped training.
        ran: list of `{"name", "seconds"}`: runs trained by this invocation, with their wall seconds.
        reused: list of run names finished by an earlier invocation.
        not_started: list of `{"name", "estimate_s"}`: runs left for the next invocation.
    """

    budget_s: float
    elapsed_s: float
    ran: list
    reused: list
    not_started: list

    def to_dict(self):
        return {**dataclasses.asdict(self), "estimate_rule": ESTIMATE_RULE}


class RunBudget:
    """Decides which of a suite's runs to start within `budget_s` seconds.

    Args:
        budget_s: float. Seconds this invocation may spend (0: no limit).
        clock: function returning seconds; `time.monotonic` by default (tests pass a fake).

    Example (a suite's loop):

        budget = RunBudget(config.budget_s)
        for name, run_dir in runs:
            if not budget.run(name, group_of(name), is_finished(run_dir, overwrite), lambda: train(name)):
                ...  # left for the next invocation
        outcome = budget.outcome()
    """

    def __init__(self, budget_s=0.0, clock=time.monotonic):
        if not budget_s >= 0:
            raise ValueError(f"budget_s must be >= 0 seconds (0: no limit); got {budget_s}.")
        self.budget_s = float(budget_s)
        self._clock = clock
        self._start = clock()
        self._seconds = {}  # group -> measured or recorded seconds of its runs
        self._ran, self._reused, self._not_started = [], [], []

    def elapsed(self):
        return self._clock() - self._start

    def estimate(self, group):
        """The expected seconds of a run of `group` (module docstring), or None before any measurement."""
        own = self._seconds.get(group)
        if own:
            return sum(own) / len(own)
        every = [seconds for values in self._seconds.values() for seconds in values]
        return max(every) if every else None

    def should_start(self, name, group):
        """Whether run `name` of `group` fits; a run that does not is recorded as not started."""
        if not self.budget_s:
            return True
        elapsed, estimate = self.elapsed(), self.estimate(group)
        if not self._ran or estimate is None:  # the invocation's first training: progress, while budget is left
            fits = elapsed < self.budget_s
        else:
            fits = elapsed + estimate <= self.budget_s
        if not fits:
            self._not_started.append({"name": name, "estimate_s": estimate})
        return fits

    def reused(self, name, group, seconds=None):
        """Run `name` was finished by an earlier invocation; its recorded `seconds` inform the estimates."""
        self._reused.append(name)
        if seconds is not None and seconds > 0:
            self._seconds.setdefault(group, []).append(float(seconds))

    def ran(self, name, group, seconds):
        """Run `name` of `group` trained now in `seconds` (wall)."""
        self._ran.append({"name": name, "seconds": float(seconds)})
        self._seconds.setdefault(group, []).append(float(seconds))

    def timing(self, name, group):
        """A context manager that records run `name`'s wall seconds when it ends without an error."""
        return _Timing(self, name, group)

    def run(self, name, group, finished, train):
        """Reuses, trains or leaves run `name`: `train()` runs when the run is `finished` (it loads it) or fits.

        Returns:
            bool: whether the run is finished now (reused or trained); False when it was not started.
        """
        if finished:
            summary = train()
            self.reused(name, group, summary.get("train_seconds") if isinstance(summary, dict) else None)
            return True
        if not self.should_start(name, group):
            return False
        with self.timing(name, group):
            train()
        return True

    def outcome(self):
        return BudgetOutcome(self.budget_s, self.elapsed(), list(self._ran), list(self._reused),
                             list(self._not_started))


def is_finished(run_dir, overwrite=False):
    """Whether `run_dir` holds a finished run (`run.json`) that the lifecycle reuses rather than trains."""
    return (pathlib.Path(run_dir) / "run.json").exists() and not overwrite


class _Timing:
    def __init__(self, budget, name, group):
        self._budget, self._name, self._group = budget, name, group

    def __enter__(self):
        self._started = self._budget._clock()
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self._budget.ran(self._name, self._group, self._budget._clock() - self._started)
        return False
