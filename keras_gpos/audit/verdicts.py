"""The audit's claims, judged by held-out image.

Per layer and task (`location`, and `class` with class labels), from the
probes' per-image outcomes (correct canvases of each held-out image, out of
its `grid_size**2` canvases):

* `<task>_decodable`: the ordered probe scores above chance (the held-out
  majority rate), one-sided bootstrap over images;
* `<task>_order_free`: the sorted (order-free) probe scores above chance;
* `<task>_in_channel_order`: the ordered probe beats the sorted one on the
  same images (paired bootstrap over images); requires `<task>_decodable`,
  else it cannot be judged (the probe is at chance);
* `class_survives_order_loss_better`: the class keeps a larger share of its
  above-chance accuracy without the channel order than location does,
  `kept = (sorted - chance) / (ordered - chance)`, compared on the same
  images (the paper's prediction); requires both `<task>_decodable`.

Fewer than `keras_gpos.base.stats.MIN_IMAGES` held-out images: every claim
cannot be judged (too few images). Holm's correction runs over all the
verdicts of one report (`correct_audits` for several audits in one report).
"""

import numpy as np

from keras_gpos.base import stats
from keras_gpos.base.verdicts import cannot_judge, correct, judged, missing

TASKS = ("location", "class")
# The claim of each verdict, and what the paper predicts of it (None: no prediction).
CLAIMS = {
    "location_decodable": True, "location_order_free": None, "location_in_channel_order": True,
    "class_decodable": None, "class_order_free": None, "class_in_channel_order": None,
    "class_survives_order_loss_better": True,
}


def _test_text(images, draws, seed, what):
    return f"{what}; bootstrap over {images} held-out images ({draws} draws, seed {seed}), one-sided"


def _columns(probes, views):
    return np.stack([stats.per_image_rates(probes[v]["per_image_correct"], probes[v]["trials"]) for v in views],
                    axis=1)


def task_verdicts(layer, task, probes, seed=0, draws=stats.DRAWS):
    """The three per-task verdicts of one layer (see the module docstring)."""
    key = f"{layer}/{task}"
    ordered, sorted_ = probes["ordered"], probes["sorted"]
    images = len(ordered["per_image_correct"])
    if images < stats.MIN_IMAGES:
        return [cannot_judge(f"{key}_{claim}", f"{task}_{claim}", "too_few_images", images=images,
                             minimum=stats.MIN_IMAGES) for claim in ("decodable", "order_free", "in_channel_order")]
    verdicts = []
    for claim, probe in (("decodable", ordered), ("order_free", sorted_)):
        result = stats.above_chance(probe["per_image_correct"], probe["trials"], probe["chance"], draws=draws,
                                    seed=seed)
        verdicts.append(judged(
            f"{key}_{claim}", f"{task}_{claim}", {**result, "estimate": result["estimate"] - probe["chance"],
                                                  "interval": [v - probe["chance"] for v in result["interval"]]},
            _test_text(images, draws, seed, "accuracy minus the held-out majority rate"),
            accuracy=probe["accuracy"], chance=probe["chance"], uniform_chance=probe.get("uniform_chance")))
    result = stats.paired_difference(ordered["per_image_correct"], sorted_["per_image_correct"], ordered["trials"],
                                     sorted_["trials"], draws=draws, seed=seed)
    verdicts.append(judged(f"{key}_in_channel_order", f"{task}_in_channel_order", result,
                           _test_text(images, draws, seed, "ordered minus sorted probe accuracy, paired by image"),
                           requires={f"{key}_decodable": "probe_at_chance"},
                           ordered=ordered["accuracy"], sorted=sorted_["accuracy"]))
    return verdicts


def survival_verdict(layer, location, class_, seed=0, draws=stats.DRAWS):
    """`class_survives_order_loss_better` of one layer (see the module docstring)."""
    key = f"{layer}/class_survives_order_loss_better"
    claim = "class_survives_order_loss_better"
    images = len(location["ordered"]["per_image_correct"])
    if images < stats.MIN_IMAGES:
        return cannot_judge(key, claim, "too_few_images", images=images, minimum=stats.MIN_IMAGES)
    columns = np.concatenate([_columns(location, ("ordered", "sorted")), _columns(class_, ("ordered", "sorted"))],
                             axis=1)
    chance_l, chance_c = location["ordered"]["chance"], class_["ordered"]["chance"]
    result = stats.bootstrap_test(columns, stats.kept_share_difference(chance_l, chance_c), 0.0, draws, seed=seed)
    return judged(key, claim, result,
                  _test_text(images, draws, seed, "class kept share minus location kept share without the "
                             "channel order, kept = (sorted - chance) / (ordered - chance), paired by image"),
                  requires={f"{layer}/location_decodable": "probe_at_chance",
                            f"{layer}/class_decodable": "probe_at_chance"},
                  location_kept=stats.kept_share(location["ordered"]["accuracy"], location["sorted"]["accuracy"],
                                                 chance_l),
                  class_kept=stats.kept_share(class_["ordered"]["accuracy"], class_["sorted"]["accuracy"], chance_c))


def layer_verdicts(entry, seed=0, draws=stats.DRAWS):
    """Every provisional verdict of one audited layer (a `PositionAudit.layers` entry), as `Verdict`s."""
    name = entry["name"]
    verdicts = []
    for task in TASKS:
        probes = entry.get(task)
        if probes is None:
            continue
        if "per_image_correct" not in probes["ordered"]:
            verdicts += [cannot_judge(f"{name}/{task}_{c}", f"{task}_{c}", "no_per_image_outcomes")
                         for c in ("decodable", "order_free", "in_channel_order")]
        else:
            verdicts += task_verdicts(name, task, probes, seed, draws)
    if entry.get("class") is not None:
        if "per_image_correct" not in entry["class"]["ordered"]:
            verdicts.append(cannot_judge(f"{name}/class_survives_order_loss_better",
                                         "class_survives_order_loss_better", "no_per_image_outcomes"))
        else:
            verdicts.append(survival_verdict(name, entry["location"], entry["class"], seed, draws))
    return verdicts


def missing_layer_verdicts(entry):
    """The verdicts of a layer from a results file without per-image outcomes: all cannot be judged."""
    tasks = [t for t in TASKS if entry.get(t) is not None]
    claims = [f"{t}_{c}" for t in tasks for c in ("decodable", "order_free", "in_channel_order")]
    if "class" in tasks:
        claims.append("class_survives_order_loss_better")
    return {claim: missing(f"{entry['name']}/{claim}", claim) for claim in claims}


def audit_groups(audits):
    """Each audit dict's verdict dicts as one group of `keras_gpos.base.verdicts.correct`.

    Layers without verdicts (older files) give `missing_layer_verdicts`.
    """
    groups = []
    for audit in audits:
        group = []
        for layer in audit["layers"]:
            group += list((layer.get("verdicts") or missing_layer_verdicts(layer)).values())
        groups.append(group)
    return groups


def with_settled_verdicts(audits, groups, rule):
    """The audit dicts with their layers' verdicts replaced by the settled `groups` and the report's `rule`."""
    out = []
    for audit, group in zip(audits, groups):
        by_key = {v["key"]: v for v in group}
        layers = [{**layer, "verdicts": {v["claim"]: v for k, v in by_key.items() if k.startswith(layer["name"] + "/")
                                         and k[len(layer["name"]) + 1:] == v["claim"]}}
                  for layer in audit["layers"]]
        out.append({**audit, "layers": layers, "verdict_rule": rule})
    return out


def correct_audits(audits):
    """Settles the verdicts of several audit dicts as one report (Holm over all of them).

    Each layer's `verdicts` (claim -> verdict dict) is replaced by the
    settled one; each audit gets the report's `verdict_rule`. Layers without
    verdicts (older files) get `missing_layer_verdicts`. A report that holds
    other verdicts too corrects them together (`audit_groups`,
    `with_settled_verdicts`).
    """
    settled, rule = correct(audit_groups(audits))
    return with_settled_verdicts(audits, settled, rule)
