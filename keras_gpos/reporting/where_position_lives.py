"""Where position lives: the lead of a channel-position report that audited its networks.

One table per task (location, class) and setting (model, padding, grid):
each row a network of the suite, with

* its own accuracy on the task, when it was trained on it, and for a
  permuted network the share of the above-chance accuracy its permutation
  keeps (`keras_gpos.reporting.location.summarize`);
* for an audited network (trained on either task), the probes of its
  pooled vector for the task: ordered, sorted and channel sum, and the share
  of the ordered probe's above-chance accuracy the sorted one keeps (the
  audit, `keras_gpos.audit`, at its deepest audited layer).

Every number has its 95% bootstrap interval over test images
(`keras_gpos.base.stats`). Under the tables a text generated from the
verdict states only says what the run shows (claims that hold), what it
cannot show at this budget and why (claims that do not hold or cannot be
judged, with their reasons), and where the longer committed runs of the
same suite are (pointers, never findings).
"""

import numpy as np

from keras_gpos.base import stats
from keras_gpos.base.rendering import fixed, markdown_table, reason_text

TASKS = ("location", "class")
TASK_WORDS = {"location": "location (which grid cell)", "class": "class (which object)"}
NETWORK_NAMES = {"gapnet": "GAPNet", "fc": "fc", "fc+permute@pooled": "PermuteNet"}
# Longer runs of the same suite committed with the keras_gpos repository, and how they differ: pointers
# to read, never findings (their reports hold what they measured).
LONGER_RUNS = (
    ("docs/results/permutenet_steps_embedded/", "ten times the images, 3 epochs, 2 seeds"),
    ("docs/results/permutenet_long_embedded/", "ten times the images, 10 epochs, 2 seeds"),
    ("docs/results/permutenet_scale/", "ten times the images, 20 epochs, on a GPU"),
)


def network_name(variant):
    """`gapnet` -> GAPNet, `fc` -> fc, `fc+permute@pooled` -> PermuteNet (other variants as they are)."""
    return NETWORK_NAMES.get(variant, variant)


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.1f}"


def _with_interval(value, interval, digits=1, suffix=""):
    if value is None:
        return "n/a"
    text = f"{fixed(100 * value, digits)}{suffix}"
    if interval and interval[0] is not None:
        text += f" ({fixed(100 * interval[0], digits)} to {fixed(100 * interval[1], digits)})"
    return text


def _setting(item):
    return (item["model"], item["padding"], item["grid_size"])


def probe_layer(audit):
    """The audit's deepest layer: the pooled vector nearest the head."""
    return audit["layers"][-1]


def order_free_kept(probes):
    """`(kept, interval)`: the share of the ordered probe's above-chance accuracy the sorted probe keeps."""
    ordered, sorted_ = probes["ordered"], probes["sorted"]
    kept = stats.kept_share(ordered["accuracy"], sorted_["accuracy"], ordered["chance"])
    if kept is None or "per_image_correct" not in ordered or len(ordered["per_image_correct"]) < stats.MIN_IMAGES:
        return kept, None
    columns = np.stack([stats.per_image_rates(ordered["per_image_correct"], ordered["trials"]),
                        stats.per_image_rates(sorted_["per_image_correct"], sorted_["trials"])], axis=1)
    return kept, stats.bootstrap_test(columns, stats.kept_share_statistic(ordered["chance"]))["interval"]


def _seed_label(audit, seeds):
    return f" (seed {audit['run']['seed']})" if len(seeds) > 1 else ""


def _probe_cells(probes):
    if probes is None:
        return [""] * 4
    kept, interval = order_free_kept(probes)
    return [_with_interval(probes[v]["accuracy"], probes[v].get("interval")) for v in ("ordered", "sorted", "sum")] + [
        _with_interval(kept, interval, 0, "%")]


def _order(variant):
    """GAPNet, fc, PermuteNet, then any other variant."""
    return (list(NETWORK_NAMES).index(variant) if variant in NETWORK_NAMES else len(NETWORK_NAMES), variant)


def task_rows(task, groups, audits):
    """The rows of one task's table: the networks trained on it, then the audited ones trained on another."""
    seeds = {a["run"]["seed"] for a in audits}
    rows, used = [], set()
    for entry in sorted(groups, key=lambda e: _order(e["variant"])):
        if not entry[task]["runs"]:
            continue
        mine = [a for a in audits if a["run"]["variant"] == entry["variant"] and a["run"]["task"] == task]
        kept = ""
        if entry.get("reference_variant"):
            kept = _with_interval(entry["retained"][task], (entry.get("retained_interval") or {}).get(task), 0, "%")
        accuracy = _with_interval(entry[task]["mean"], entry[task].get("interval"))
        for audit in mine or [None]:
            label = network_name(entry["variant"]) + ("" if audit is None else _seed_label(audit, seeds))
            probes = None if audit is None else probe_layer(audit).get(task)
            rows.append([label, task, accuracy, kept, *_probe_cells(probes)])
            if audit is not None:
                used.add(id(audit))
    for audit in audits:
        if id(audit) in used:
            continue
        probes = probe_layer(audit).get(task)
        if probes is None:
            continue
        rows.append([network_name(audit["run"]["variant"]) + _seed_label(audit, seeds), audit["run"]["task"],
                     "", "", *_probe_cells(probes)])
    return rows


def _chance(task, groups, audits):
    """The task's chance in words: the test set's majority rate, and the probes' held-out one where it differs."""
    tested = next((e[task]["chance"] for e in groups if e[task]["runs"] and e[task]["chance"] is not None), None)
    probed = sorted({probe_layer(a)[task]["ordered"]["chance"] for a in audits if probe_layer(a).get(task)})
    text = "" if tested is None else f"{_pct(tested)}%"
    others = [c for c in probed if tested is None or abs(c - tested) > stats.TOLERANCE]
    if others:
        text += ("; " if text else "") + "probes " + ", ".join(f"{_pct(c)}%" for c in others)
    return text or "n/a"


def settings(summary, audits):
    """`[(setting, groups, audits)]`: the report's (model, padding, grid) settings with their groups and audits."""
    keys = list(dict.fromkeys([_setting(e) for e in summary] + [_setting(a["run"]) for a in audits]))
    return [(key, [e for e in summary if _setting(e) == key], [a for a in audits if _setting(a["run"]) == key])
            for key in keys]


def tables(summary, audits):
    """The Markdown tables of every setting (one per task)."""
    headers = ["network", "trained on", "accuracy (%)", "kept under the permutation", "probe: ordered (%)",
               "probe: sorted (%)", "probe: channel sum (%)", "kept without the channel order"]
    text = []
    for (model, padding, grid), groups, mine in settings(summary, audits):
        layers = sorted({probe_layer(a)["name"] for a in mine})
        text.append(f"{model}, {padding} padding, {grid}x{grid} grid"
                    + (f"; probes on the pooled output of `{'`, `'.join(layers)}`" if layers else "") + ".\n")
        for task in TASKS:
            rows = task_rows(task, groups, mine)
            if rows:
                text.append(f"**{TASK_WORDS[task].capitalize()}**, chance {_chance(task, groups, mine)}\n\n"
                            + markdown_table(headers, rows))
    text.append(
        "Percent, each with its 95% bootstrap interval over test images in parentheses. Accuracy: the network's "
        "own answer on every test image in every cell. Kept under the permutation: (PermuteNet - chance) / "
        "(fc - chance). Probes: a linear probe on the network's globally pooled features, fitted on the canvases "
        "of half the audited images and scored on the other half's, reading the vector as it is (ordered), "
        "sorted (what no channel permutation changes) or summed (all a dense layer behind a fresh permutation "
        "can read); kept without the channel order: (sorted - chance) / (ordered - chance). Chance: the "
        "held-out majority rate.\n")
    return "\n".join(text)


# -- the text generated from the verdicts -------------------------------------

def _verdict(entry, claim):
    return (entry.get("verdicts") or {}).get(claim)


def _state(verdict):
    return None if verdict is None else verdict["state"]


def _points(verdict):
    """`+72.7 pt, 95% interval +66.0 to +79.1`: a verdict's estimate in percentage points."""
    low, high = verdict.get("interval") or (None, None)
    text = f"{100 * verdict['estimate']:+.1f} pt"
    if low is not None:
        text += f", 95% interval {100 * low:+.1f} to {100 * high:+.1f}"
    return text


def _not_shown(verdict, rule):
    """Why a claim that does not hold is not shown, as `; <estimate>[; the correction when it decided]` or ''."""
    parts = [_points(verdict)] if verdict.get("estimate") is not None else []
    p, adjusted = verdict.get("p_value"), verdict.get("p_adjusted")
    if p is not None and adjusted is not None and p <= verdict["alpha"] < adjusted:
        family = f" over the report's {rule['family']} claims" if rule else ""
        parts.append(f"p = {p:.3f} before and {adjusted:.3f} after Holm's correction{family}")
    return "".join("; " + part for part in parts)


def _join(items):
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# What the text says of a claim, by its verdict's state: (holds, does not hold, cannot be judged). `{points}`
# is the estimate with its interval, `{not_shown}` why a claim that does not hold is not shown, `{reason}` why
# one cannot be judged; the other fields are the claim's own.
SENTENCES = {
    "lost_to_permutation": (
        "The permutation costs the {task}: {scores} on the same test images ({points}).",
        "This run does not show the permutation costing the {task} ({scores}{not_shown}).",
        "Whether the permutation costs the {task} cannot be judged here: {reason}."),
    "class_keeps_more_than_location": (
        "Under the permutation {name} keeps a larger share of the class than of location ({kept}; {points}), as "
        "the paper predicts.",
        "So this run does not show the paper's thesis, that under the permutation the class keeps a larger share "
        "than location ({kept}{not_shown}).",
        "So whether the permutation keeps a larger share of the class than of location (the paper's thesis) "
        "cannot be judged here: {reason}."),
    "class_survives_order_loss_better": (
        "Without the channel order, the class of {network} keeps a larger share of its above-chance accuracy than "
        "location does ({kept}; {points}), as the paper predicts.",
        "For {network}, this run does not show the class surviving the loss of the channel order better than "
        "location ({kept}{not_shown}).",
        "For {network}, whether the class survives the loss of the channel order better than location cannot be "
        "judged here: {reason}."),
}


def _place(verdict, claim, shows, cannot, rule, **words):
    """Files the sentence of the verdict's state (`SENTENCES[claim]`) under `shows` (it holds) or `cannot`.

    Returns:
        True when the sentence went under `cannot` (no sentence for a verdict that is None).
    """
    if verdict is None:
        return False
    holds, fails, unjudged = SENTENCES[claim]
    if verdict["state"] == "holds":
        shows.append(holds.format(points=_points(verdict), **words))
        return False
    if verdict["state"] == "does_not_hold":
        cannot.append(fails.format(not_shown=_not_shown(verdict, rule), **words))
    else:
        cannot.append(unjudged.format(reason=reason_text(verdict), **words))
    return True


def _group_sentences(groups, rule):
    """`(shows, cannot, permuted)` of the suite's groups: what holds, what not and why, any permuted claim open."""
    shows, cannot, permuted = [], [], False
    groups = sorted(groups, key=lambda e: _order(e["variant"]))
    for task in TASKS:
        learnt, not_learnt = [], []
        for entry in groups:
            verdict = _verdict(entry, f"{task}_above_chance")
            if verdict is not None:
                (learnt if verdict["state"] == "holds" else not_learnt).append((entry, verdict))
        chance = next((e[task]["chance"] for e, _ in learnt + not_learnt), None)
        if learnt:
            names = (f"{network_name(e['variant'])} ({_pct(e[task]['mean'])}%)" for e, _ in learnt)
            shows.append(f"Trained on the {task}, {_join(names)} beat chance ({_pct(chance)}%).")
        for entry, verdict in not_learnt:
            permuted = permuted or bool(entry.get("reference_variant"))
            name = network_name(entry["variant"])
            if verdict["state"] == "does_not_hold":
                cannot.append(f"{name} trained on the {task} does not beat chance ({_pct(entry[task]['mean'])}% "
                              f"against {_pct(chance)}%{_not_shown(verdict, rule)}).")
            else:
                cannot.append(f"Whether {name} trained on the {task} beats chance cannot be judged here: "
                              f"{reason_text(verdict)}.")
    for entry in groups:
        if not entry.get("reference_variant"):
            continue
        name, reference = network_name(entry["variant"]), network_name(entry["reference_variant"])
        unpermuted = next(g for g in groups if g["variant"] == entry["reference_variant"])
        for task in TASKS:
            verdict = _verdict(entry, f"{task}_lost_to_permutation")
            scores = f"{name} {_pct(entry[task]['mean'])}%, {reference} {_pct(unpermuted[task]['mean'])}%"
            permuted |= _place(verdict, "lost_to_permutation", shows, cannot, rule, task=task, scores=scores)
        kept = f"class {_pct(entry['retained']['class'])}%, location {_pct(entry['retained']['location'])}% kept"
        permuted |= _place(_verdict(entry, "class_keeps_more_than_location"), "class_keeps_more_than_location",
                           shows, cannot, rule, name=name, kept=kept)
    return shows, cannot, permuted


def _network(audit):
    return f"the {network_name(audit['run']['variant'])} network trained on the {audit['run']['task']}"


def _where(task, probes, verdicts, network, rule):
    """`(shows, cannot)` sentences of where one audited network holds one task (its three probe verdicts)."""
    decodable, order_free, in_order = (verdicts.get(f"{task}_{c}") for c in
                                       ("decodable", "order_free", "in_channel_order"))
    ordered, sorted_ = _pct(probes["ordered"]["accuracy"]), _pct(probes["sorted"]["accuracy"])
    kept, _ = order_free_kept(probes)
    subject = network[0].upper() + network[1:]
    readings = f"ordered {ordered}%, sorted {sorted_}%"
    if _state(decodable) == "cannot_be_judged":
        return [], [f"Where {network} holds the {task} cannot be judged here: {reason_text(decodable)}."]
    if _state(decodable) != "holds":
        return [], [f"{subject} holds no {task} a linear probe reads from its pooled vector ({ordered}%, chance "
                    f"{_pct(probes['ordered']['chance'])}%{_not_shown(decodable, rule)})."]
    free, ordered_more = _state(order_free) == "holds", _state(in_order) == "holds"
    if ordered_more and free:
        return [f"{subject} holds the {task} both in its channel order and in its values alone: without the order "
                f"a probe keeps {_pct(kept)}% of its above-chance accuracy ({readings}; the order adds "
                f"{_points(in_order)})."], []
    if ordered_more:
        return [f"{subject} holds the {task} only in its channel order: sorted, its pooled vector gives no more than "
                f"chance ({readings}; the order adds {_points(in_order)})."], []
    if free:
        return [f"{subject} holds the {task} in its values alone: the channel order adds nothing this run can "
                f"show ({readings})."], []
    return [], [f"Where {network} holds the {task} this run cannot tell: neither the sorted probe nor the order "
                f"is shown to carry it ({readings})."]


def _audit_sentences(audit, rule):
    layer = probe_layer(audit)
    verdicts = layer.get("verdicts") or {}
    network = _network(audit)
    shows, cannot = [], []
    for task in TASKS:
        if layer.get(task) is not None:
            task_shows, task_cannot = _where(task, layer[task], verdicts, network, rule)
            shows += task_shows
            cannot += task_cannot
    survives = verdicts.get("class_survives_order_loss_better")
    context = (survives or {}).get("context") or {}
    kept = f"class {_pct(context.get('class_kept'))}%, location {_pct(context.get('location_kept'))}% kept"
    _place(survives, "class_survives_order_loss_better", shows, cannot, rule, network=network, kept=kept)
    return shows, cannot


def paragraph(summary, audits, budget=None, rule=None):
    """The text under the tables, from the verdict states only (see the module docstring).

    Args:
        summary: `keras_gpos.reporting.location.summarize`'s groups (settled verdicts).
        audits: audit dicts with their `run` (settled verdicts).
        budget: optional words for the training budget ("4 epochs of 1,800 images").
        rule: the report's multiple-comparison rule (quoted where the correction decided a claim).
    """
    shows, cannot, permuted = [], [], False
    for _, groups, mine in settings(summary, audits):
        group_shows, group_cannot, group_permuted = _group_sentences(groups, rule)
        shows += group_shows
        cannot += group_cannot
        permuted = permuted or group_permuted
        for audit in mine:
            audit_shows, audit_cannot = _audit_sentences(audit, rule)
            shows += audit_shows
            cannot += audit_cannot
    at = f"at this budget ({budget})" if budget else "at this budget"
    parts = ["**What this run shows.** " + (" ".join(shows) if shows else "No claim of this run holds.")]
    if cannot:
        parts.append(f"**What it cannot show {at}, and why.** " + " ".join(cannot))
    if permuted:
        parts.append("**Where longer runs show more.** The same suite with more training is committed with the "
                     "keras_gpos repository, each with its own report: "
                     + "; ".join(f"`{path}` ({what})" for path, what in LONGER_RUNS)
                     + ". Read what they measured there.")
    return "\n\n".join(parts) + "\n"


def markdown(summary, audits, budget=None, rule=None):
    """The lead section: the tables, then the text generated from the verdicts."""
    return ("## Where position lives\n\n" + tables(summary, audits) + "\n### What the verdicts say\n\n"
            + paragraph(summary, audits, budget, rule))
