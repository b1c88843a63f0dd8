"""Verdicts: every claim a report makes, as data with three states.

A `Verdict` says of one claim (a `key` unique in its report, and the `claim`
it tests):

* `holds`: its test rejects the null after Holm's correction over the
  report's verdicts (and, over seeds, the effect has the claimed sign in as
  many seeds as the claim requires); it carries the test, the estimate, its
  interval and the raw and adjusted p-values;
* `does_not_hold`: the test was run and does not reject;
* `cannot_be_judged`: this run cannot answer, for a `reason` in `REASONS`
  (a probe at chance, no labelled pixels, too few images, one seed, no
  per-image outcomes in an older file, ...), with the numbers behind it in
  `context`.

Builders (`judged`, `cannot_judge`) make provisional verdicts; `correct`
adjusts the p-values of a report's verdicts together (Holm) and settles
their states, including those that `require` another verdict to hold (a
probe must be above chance before its gap means anything). Verdicts live in
`to_dict()` and results.json; reports only word them
(`keras_gpos.base.rendering.verdict_text`).
"""

import dataclasses

from keras_gpos.base.stats import ALPHA, holm

HOLDS = "holds"
DOES_NOT_HOLD = "does_not_hold"
CANNOT_BE_JUDGED = "cannot_be_judged"
STATES = (HOLDS, DOES_NOT_HOLD, CANNOT_BE_JUDGED)

# Why a claim cannot be judged here (worded by `keras_gpos.base.rendering.REASON_TEXT`).
REASONS = (
    "probe_at_chance",        # the probe the claim reads is not above chance
    "model_at_chance",        # the model the claim compares is not above chance
    "reference_at_chance",    # the unpermuted reference is not above chance: no share to keep
    "no_labelled_pixels",     # a region holds no labelled pixel: no mIoU
    "too_few_images",         # fewer held-out images than keras_gpos.base.stats.MIN_IMAGES
    "too_few_draws",          # the random baseline cannot give a p-value below alpha
    "one_seed",               # the claim is about training and needs several seeds
    "no_per_image_outcomes",  # a results file written before schema 3
    "no_reference",           # nothing to compare with (no baseline or unpermuted run)
    "different_images",       # the compared evaluations did not score the same images
    "no_random_baseline",     # a results file before schema 3 kept no random baseline for this claim
)
CORRECTION = "holm"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One claim's verdict (see the module docstring).

    Attributes:
        key: str. Unique within its report, e.g. `"stage4_out/location_in_channel_order"`.
        claim: str. What is claimed, a name from the module that judges it.
        state: one of `STATES`.
        test: str or None. The test, in words (resampling unit, draws, seed, sidedness).
        estimate: float or None. The tested statistic.
        interval: `[low, high]` or None. Its bootstrap interval (level in `level`).
        p_value: float or None. One-sided, before correction.
        p_adjusted: float or None. After Holm over the report's verdicts.
        alpha: float. The family-wise level.
        level: float or None. The interval's level.
        reason: str or None. Why it cannot be judged (one of `REASONS`).
        requires: list of `{"any_of": [keys], "reason": reason}`: for each
            entry, at least one of those verdicts must hold, else this one
            cannot be judged, for that reason.
        seeds: dict or None. `{"holds_in": k, "of": n, "required": r}`.
        context: dict. Numbers the wording may quote (accuracies, chance, ...).
    """

    key: str
    claim: str
    state: str
    test: str = None
    estimate: float = None
    interval: list = None
    p_value: float = None
    p_adjusted: float = None
    alpha: float = ALPHA
    level: float = None
    reason: str = None
    requires: list = dataclasses.field(default_factory=list)
    seeds: dict = None
    context: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.state not in STATES:
            raise ValueError(f"verdict state must be one of {list(STATES)}; got {self.state!r}.")
        if self.state == CANNOT_BE_JUDGED and self.reason not in REASONS:
            raise ValueError(f"a verdict that cannot be judged needs a reason in {list(REASONS)}; got {self.reason!r}.")

    @property
    def holds(self):
        return self.state == HOLDS

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record):
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in fields})


def cannot_judge(key, claim, reason, **context):
    """A verdict that this run cannot give, for `reason` (one of `REASONS`)."""
    return Verdict(key, claim, CANNOT_BE_JUDGED, reason=reason, context=context)


def requirement(keys, reason):
    """A `requires` entry: at least one of `keys` must hold, else `reason`."""
    return {"any_of": [keys] if isinstance(keys, str) else list(keys), "reason": reason}


def judged(key, claim, result, test, requires=None, seeds=None, alpha=ALPHA, **context):
    """A provisional verdict from a test result (`keras_gpos.base.stats.bootstrap_test`'s dict).

    Its state is settled by `correct`; `seeds` (`seed_agreement` plus
    `"required"`) makes it hold only where enough seeds agree. `requires`:
    `requirement` entries, or a dict `{key: reason}` (each key must hold).
    """
    if isinstance(requires, dict):
        requires = [requirement(k, reason) for k, reason in requires.items()]
    p = result["p_value"]
    agree = seeds is None or seeds["holds_in"] >= seeds["required"]
    return Verdict(key, claim, HOLDS if p <= alpha and agree else DOES_NOT_HOLD, test=test,
                   estimate=result.get("estimate"), interval=result.get("interval"), p_value=p,
                   p_adjusted=None, alpha=alpha, level=result.get("level"), requires=list(requires or []),
                   seeds=seeds, context=context)


def _settle(verdict, p_adjusted):
    agree = verdict.seeds is None or verdict.seeds["holds_in"] >= verdict.seeds["required"]
    state = HOLDS if p_adjusted <= verdict.alpha and agree else DOES_NOT_HOLD
    context = {k: v for k, v in verdict.context.items() if k != "unmet"}
    return dataclasses.replace(verdict, p_adjusted=p_adjusted, state=state, reason=None, context=context)


def correct(groups, alpha=ALPHA):
    """Holm's correction over every verdict of one report; settles their states.

    Args:
        groups: lists of `Verdict`s (or their dicts). `requires` keys are
            resolved within a group, so several audits in one report may
            reuse layer names.
        alpha: the family-wise level.

    Returns:
        `(groups, rule)`: the settled verdicts in the same shape (the same
        type as given), and the rule as data:
        `{"correction": "holm", "alpha", "family": m}`, where `m` counts the
        verdicts that were tested.
    """
    as_dicts = [[isinstance(v, dict) for v in group] for group in groups]
    groups = [[Verdict.from_dict(v) if isinstance(v, dict) else v for v in group] for group in groups]
    # Every verdict with a p-value is tested, also one an earlier correction
    # settled as cannot-be-judged through a requirement: settling starts afresh.
    tested = [(g, i) for g, group in enumerate(groups) for i, v in enumerate(group) if v.p_value is not None]
    adjusted = holm([groups[g][i].p_value for g, i in tested])
    settled = [list(group) for group in groups]
    for (g, i), p in zip(tested, adjusted):
        settled[g][i] = _settle(dataclasses.replace(settled[g][i], alpha=alpha), p)
    for group in settled:
        changed = True
        while changed:  # a chain of requirements settles from its root
            changed = False
            by_key = {v.key: v for v in group}
            for i, verdict in enumerate(group):
                if verdict.state == CANNOT_BE_JUDGED:
                    continue
                for needed in verdict.requires:
                    unknown = [k for k in needed["any_of"] if k not in by_key]
                    if unknown:
                        raise ValueError(f"verdict {verdict.key!r} requires {unknown}, which are not in its report.")
                    if not any(by_key[k].holds for k in needed["any_of"]):
                        group[i] = dataclasses.replace(
                            verdict, state=CANNOT_BE_JUDGED, reason=needed["reason"],
                            context={**verdict.context, "unmet": " or ".join(needed["any_of"])})
                        changed = True
                        break
    out = [[v.to_dict() if was_dict else v for v, was_dict in zip(group, flags)]
           for group, flags in zip(settled, as_dicts)]
    return out, {"correction": CORRECTION, "alpha": alpha, "family": len(tested)}


def missing(key, claim, reason="no_per_image_outcomes"):
    """The dict of a verdict an older results file cannot give (default: no per-image outcomes)."""
    return cannot_judge(key, claim, reason).to_dict()

__all__ = [
    "HOLDS", "DOES_NOT_HOLD", "CANNOT_BE_JUDGED", "STATES", "REASONS", "CORRECTION", "Verdict", "cannot_judge",
    "requirement", "judged", "correct", "missing"
]
