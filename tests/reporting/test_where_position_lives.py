"""The lead of an audited channel-position report, on constructed results (`keras_gpos.reporting.where_position_lives`).

Rows and audits are built from per-image outcomes drawn at chosen rates; the
verdicts are computed by the library, never written here.
"""

import copy

import numpy as np
import pytest

from keras_gpos.audit.verdicts import layer_verdicts
from keras_gpos.reporting import where_position_lives
from keras_gpos.reporting.location import markdown, summarize_with_audits

pytestmark = pytest.mark.backend_agnostic

IMAGES = 60
CHANCE = {"location": 1 / 9, "class": 0.1}
RUN = {"model": "resnet10-w16", "padding": "zero", "grid_size": 3}


def _counts(rate, key):
    return np.random.default_rng([int(1000 * rate), *map(ord, key)]).binomial(9, rate, size=IMAGES)


def _row(variant, task, rate):
    correct = _counts(rate, variant + task)
    return {**RUN, "variant": variant, "task": task, "seed": 0, "accuracy": float(correct.sum() / (9 * IMAGES)),
            "chance_accuracy": CHANCE[task], "majority_rate": CHANCE[task], "test_images": IMAGES,
            "per_image": {"correct": correct.tolist(), "trials": 9}, "test_digest": "d0"}


def _probe(rate, chance, key):
    correct = _counts(rate, key)
    return {"accuracy": float(correct.sum() / (9 * IMAGES)), "chance": chance, "uniform_chance": chance,
            "per_image_correct": correct.tolist(), "trials": 9, "interval": [rate - 0.05, rate + 0.05]}


def _audit(task, location, class_):
    """The audit of the fc network trained on `task`: (ordered, sorted, sum) probe rates per task."""
    layer = {"name": "features", "channels": 16, "rankings": {}}
    for probed, rates in (("location", location), ("class", class_)):
        layer[probed] = {view: _probe(rate, CHANCE[probed], task + probed + view)
                         for view, rate in zip(("ordered", "sorted", "sum"), rates)}
    layer["verdicts"] = {v.claim: v.to_dict() for v in layer_verdicts(layer)}
    return {"model": f"runs/fc_{task}", "images": 2 * IMAGES, "probe_images": {"train": IMAGES, "test": IMAGES},
            "grid_size": 3, "input_shape": [96, 96, 3], "background": 0.0, "layers": [layer],
            "timing": {"forward_seconds": 1.0, "probe_seconds": 1.0, "backend": "tensorflow"},
            "run": {**RUN, "name": f"fc_{task}", "variant": "fc", "task": task, "seed": 0}}


def _quickstart_like():
    """PermuteNet at chance on both tasks; the class-trained fc holds location in its channel order."""
    rows = [_row("gapnet", "location", 1.0), _row("fc", "location", 1.0), _row("fc", "class", 0.6),
            _row("fc+permute@pooled", "location", 1 / 9), _row("fc+permute@pooled", "class", 0.1)]
    audits = [_audit("location", (1.0, 0.99, 0.3), (0.1, 0.1, 0.1)),
              _audit("class", (0.95, 0.2, 0.2), (0.75, 0.3, 0.1))]
    return rows, audits


def _report(rows, audits):
    summary, rule, settled = summarize_with_audits(rows, audits)
    return summary, rule, settled, markdown(summary, rule, audits=settled, budget="4 epochs of 1,800 images")


def test_the_report_leads_with_one_table_per_task_with_intervals():
    summary, rule, audits, text = _report(*_quickstart_like())
    assert text.startswith("## Where position lives\n")
    lead = text[:text.index("## Location and object classification")]
    location = lead[lead.index("**Location"):lead.index("**Class")]
    class_ = lead[lead.index("**Class"):lead.index("Percent, each")]
    rows = {line.split(" | ")[0][2:] + "/" + line.split(" | ")[1]: line.split(" | ")
            for line in location.splitlines() if line.startswith("| ") and "---" not in line}
    assert list(rows) == ["network/trained on", "GAPNet/location", "fc/location", "PermuteNet/location", "fc/class"]
    fc = next(e for e in summary if e["variant"] == "fc")
    low, high = fc["location"]["interval"]
    assert rows["fc/location"][2] == f"{100 * fc['location']['mean']:.1f} ({100 * low:.1f} to {100 * high:.1f})"
    permuted = next(e for e in summary if e["variant"] == "fc+permute@pooled")
    assert rows["PermuteNet/location"][3].startswith(f"{100 * permuted['retained']['location']:.0f}% (")
    probes = audits[1]["layers"][0]["location"]
    assert rows["fc/class"][2] == "" and rows["fc/class"][4].startswith(f"{100 * probes['ordered']['accuracy']:.1f} (")
    assert rows["fc/class"][5].startswith(f"{100 * probes['sorted']['accuracy']:.1f} (")
    assert "fc | location |  |  |" in class_  # the location-trained network's class probes, no own accuracy
    assert rule["family"] == 8 + 14  # one Holm family: the suite's verdicts and both audits'
    assert all(a["verdict_rule"] == rule for a in audits)
    assert "## Audit details" in text and "### runs/fc_class" in text and "### Every verdict" in text


def test_the_paragraph_says_what_holds_what_cannot_be_shown_and_why_and_points_to_longer_runs():
    _, _, _, text = _report(*_quickstart_like())
    paragraph = text[text.index("### What the verdicts say"):text.index("## Location and object classification")]
    shows = paragraph[paragraph.index("**What this run shows.**"):paragraph.index("**What it cannot show")]
    cannot = paragraph[paragraph.index("**What it cannot show"):paragraph.index("**Where longer runs")]
    assert "Trained on the location, GAPNet (100.0%) and fc (100.0%) beat chance (11.1%)." in shows
    assert "The fc network trained on the class holds the location " in shows
    assert "at this budget (4 epochs of 1,800 images), and why." in cannot
    assert "PermuteNet trained on the location does not beat chance" in cannot
    assert ("whether the permutation keeps a larger share of the class than of location (the paper's thesis) cannot "
            "be judged here: the model it compares is at chance") in cannot
    assert "The fc network trained on the location holds no class" in cannot
    assert "docs/results/permutenet_long_embedded/" in paragraph and "Read what they measured there." in paragraph


def test_the_paragraph_follows_the_verdict_states_not_fixed_sentences():
    summary, rule, audits, _ = _report(*_quickstart_like())
    permuted = next(e for e in summary if e["variant"] == "fc+permute@pooled")
    flipped = copy.deepcopy(summary)
    verdict = next(e for e in flipped if e["variant"] == "fc+permute@pooled")["verdicts"]
    verdict["class_keeps_more_than_location"].update(state="holds", estimate=0.3, interval=[0.1, 0.5], reason=None)
    before = where_position_lives.paragraph(summary, audits, rule=rule)
    after = where_position_lives.paragraph(flipped, audits, rule=rule)
    assert "the paper's thesis) cannot be judged here" in before and "the paper's thesis) cannot" not in after
    assert (f"Under the permutation PermuteNet keeps a larger share of the class than of location (class "
            f"{100 * permuted['retained']['class']:.1f}%") in after and "as the paper predicts" in after


def test_a_run_where_every_claim_holds_says_so_and_points_nowhere():
    rows = [_row("fc", "location", 1.0), _row("fc", "class", 0.6), _row("fc+permute@pooled", "location", 0.5),
            _row("fc+permute@pooled", "class", 0.55)]
    _, _, _, text = _report(rows, [_audit("class", (0.95, 0.2, 0.2), (0.75, 0.7, 0.1))])
    assert "**What this run shows.**" in text and "as the paper predicts" in text
    assert "**Where longer runs show more.**" not in text


def test_a_claim_that_loses_to_the_correction_says_so():
    verdict = {"state": "does_not_hold", "estimate": 0.09, "interval": [0.004, 0.18], "p_value": 0.034,
               "p_adjusted": 0.24, "alpha": 0.05}
    text = where_position_lives._not_shown(verdict, {"family": 22})
    assert text == ("; +9.0 pt, 95% interval +0.4 to +18.0; p = 0.034 before and 0.240 after Holm's correction "
                    "over the report's 22 claims")


def test_the_figure_draws_the_audited_probes_beside_the_accuracies():
    import matplotlib.pyplot as plt

    from keras_gpos.reporting.location import figure

    rows, audits = _quickstart_like()
    summary, _, audits = summarize_with_audits(rows, audits)
    fig = figure(summary, audits)
    probes = fig.axes[-1]
    assert len(fig.axes) == 3 and "Where position lives" in probes.get_title()
    labels = [label.get_text() for label in probes.get_xticklabels()]
    assert labels == ["fc, location-trained\nprobe for the location", "fc, location-trained\nprobe for the class",
                      "fc, class-trained\nprobe for the location", "fc, class-trained\nprobe for the class"]
    heights = [round(bar.get_height(), 6) for bar in probes.patches]
    expected = [100 * a["layers"][-1][task][view]["accuracy"] for a in audits for task in ("location", "class")
                for view in ("ordered", "sorted", "sum")]
    assert heights == [round(h, 6) for h in expected]
    plt.close(fig)
