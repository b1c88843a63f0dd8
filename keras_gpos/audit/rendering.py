"""Position audits drawn: a table per model and one figure, from their dicts.

JSON holds fractions; tables print percent. The figure shows, per model and
layer, how well a linear probe decodes location (and class) from the pooled
vector as it is (ordered), from its sorted values, and from the channel sum:
where ordered >> sorted, position lives in the channel order.
"""

import numpy as np

from keras_gpos.audit.verdicts import missing_layer_verdicts
from keras_gpos.base.rendering import (
    correction_text, markdown_table, paper_agreement, pyplot, save_figure, verdict_text, write_files,
)


VIEW_LABELS = {"ordered": "ordered", "sorted": "sorted (order-free)", "sum": "channel sum"}


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.1f}"


def _probe_cells(probes):
    if probes is None:
        return ["-", "-", "-"]
    return [_pct(probes[view]["accuracy"]) for view in ("ordered", "sorted", "sum")]


# What each audit claim says, and what the paper predicts of it (None: no prediction).
CLAIM_TEXT = {
    "location_decodable": ("location is decodable (the ordered probe beats chance)", None),
    "location_order_free": ("location survives the loss of order (the sorted probe beats chance)", None),
    "location_in_channel_order": ("position lives in the channel order (the ordered probe beats the sorted one)",
                                  True),
    "class_decodable": ("the class is decodable (the ordered probe beats chance)", None),
    "class_order_free": ("the class survives the loss of order (the sorted probe beats chance)", None),
    "class_in_channel_order": ("the class lives in the channel order (the ordered probe beats the sorted one)",
                               None),
    "class_survives_order_loss_better": (
        "the class keeps a larger share of its above-chance accuracy without the channel order than "
        "location does", True),
}


def verdict_lines(layer):
    """One line per verdict of an audited layer: the claim, its state and numbers, the paper's prediction.

    A layer from a results file without per-image outcomes gets "cannot be
    judged here (no per-image outcomes)" for every claim.
    """
    verdicts = layer.get("verdicts") or missing_layer_verdicts(layer)
    order = list(CLAIM_TEXT)  # the same order whether the verdicts come from memory or a (key-sorted) JSON file
    lines = []
    for claim, record in sorted(verdicts.items(), key=lambda item: (
            order.index(item[0]) if item[0] in order else len(order), item[0])):
        words, predicted = CLAIM_TEXT.get(claim, (claim.replace("_", " "), None))
        lines.append(f"{words}: {verdict_text(record)}.{paper_agreement(record, predicted)}")
    return lines


def verdict(layer):
    """Where position lives at this layer, and the paper's prediction, from its verdicts, in one text."""
    return " ".join(verdict_lines(layer))


def _chance_text(layers, task):
    probe = layers[0][task]["ordered"] if layers and layers[0].get(task) else None
    if probe is None:
        return None
    uniform = probe.get("uniform_chance")
    return (f"{task} chance {_pct(probe['chance'])}% (held-out majority rate)"
            + ("" if uniform is None else f", 1/classes {_pct(uniform)}%"))


def audit_markdown(audits, title=None, level=1):
    """Markdown of one or more audits (`PositionAudit.to_dict()`): a table per model, a verdict per layer.

    `level`: the title's heading level (each model's is one deeper), so the
    audits can be a section of a larger report.
    """
    lines = [f"{'#' * level} {title or 'Position audit'}", ""]
    for audit in audits:
        chances = "; ".join(t for t in (_chance_text(audit["layers"], task) for task in ("location", "class")) if t)
        lines += [
            f"{'#' * (level + 1)} {audit['model']}",
            "",
            f"{audit['images']} images ({audit['probe_images']['train']} probe-train / "
            f"{audit['probe_images']['test']} held-out), {audit['grid_size']}x{audit['grid_size']} grid on a "
            f"{audit['input_shape'][0]}x{audit['input_shape'][1]} canvas, background {audit['background']}; "
            f"{chances}. Probe accuracies in percent; the verdicts test against the majority rate.",
            "",
        ]
        rows = []
        for layer in audit["layers"]:
            rankings = layer["rankings"]
            rows.append([layer["name"], layer["channels"], *_probe_cells(layer["location"]),
                         *_probe_cells(layer["class"]),
                         _pct((rankings.get("horizontal") or {}).get("top_10pct_share")),
                         _pct((rankings.get("vertical") or {}).get("top_10pct_share"))])
        lines.append(markdown_table(
            ["layer", "channels", "location ordered", "location sorted", "location sum", "class ordered",
             "class sorted", "class sum", "h-flip top-10% share", "v-flip top-10% share"], rows))
        for layer in audit["layers"]:
            lines.append(f"- `{layer['name']}`:")
            lines += [f"  - {line}" for line in verdict_lines(layer)]
            impact = layer.get("impact")
            if impact and "clean_accuracy" in impact:  # class labels
                parts = [f"N={r['n']}: top {100 * r['top_drop']:.1f} vs random {100 * r['random_mean']:.1f} "
                         f"(p {r['p_value']:.2f})" for r in impact["rows"]]
                lines.append(f"  Accuracy drop (points, clean {100 * impact['clean_accuracy']:.1f}%): "
                             + "; ".join(parts) + ".")
            elif impact:  # segmentation masks: an AttackComparison
                parts = [f"N={r['n']}: top {r['top_drop']:.3f} vs random {r['random']['mean']:.3f} "
                         f"(p {r['p_value']:.2f}, holds: {'yes' if r['holds'] else 'no'})" for r in impact["rows"]]
                lines.append(f"  mIoU drop (clean {impact['clean']['all']:.3f}): " + "; ".join(parts) + ".")
        lines += ["", f"Forward passes {audit['timing']['forward_seconds']:.1f} s, probe fitting "
                      f"{audit['timing']['probe_seconds']:.1f} s ({audit['timing']['backend']}).", ""]
    rule = audits[0].get("verdict_rule") if audits else None
    if rule:
        lines += [correction_text(rule) + " Per-model audits in one report share one correction.", ""]
    elif audits:
        lines += ["Verdicts: this results file holds no per-image outcomes (written before schema 3), so no "
                  "claim can be judged; rerun the audit.", ""]
    lines.append(
        "Probes: softmax regression on standardised pooled features (L2 1e-3, L-BFGS; at most 128 principal "
        "directions, see keras_gpos.metrics.probe), fitted on the canvases of the probe-train images and "
        "scored on the held-out images' canvases. Sorted = each pooled vector sorted (what a permutation "
        "cannot change); sum = the channel sum (all a dense layer behind a fresh permutation can read).\n")
    return "\n".join(lines)


def audit_figure(audits):
    """The matplotlib figure of the probe accuracies of several audits (dicts); its legend sits beside the bars."""
    plt = pyplot()
    rows = len(audits)
    fig, axes = plt.subplots(rows, 1, figsize=(max(7, 2.2 * max(len(a["layers"]) for a in audits) + 3) + 2.4,
                                               3.2 * rows), squeeze=False)
    colours = {"ordered": "#1f77b4", "sorted": "#ff7f0e", "sum": "#2ca02c"}
    for ax, audit in zip(axes[:, 0], audits):
        layers = audit["layers"]
        tasks = ["location"] + (["class"] if layers[0]["class"] else [])
        width = 0.8 / (3 * len(tasks))
        for t, task in enumerate(tasks):
            for v, view in enumerate(("ordered", "sorted", "sum")):
                offset = (t * 3 + v) * width - 0.4 + width / 2
                values = [100 * layer[task][view]["accuracy"] for layer in layers]
                ax.bar(np.arange(len(layers)) + offset, values, width, color=colours[view],
                       hatch="//" if task == "class" else None, edgecolor="white",
                       label=f"{task}: {VIEW_LABELS[view]}")
            chance = 100 * layers[0][task]["ordered"]["chance"]
            ax.axhline(chance, color="black", lw=0.8, ls=":" if task == "location" else "--")
        ax.set_xticks(range(len(layers)))
        ax.set_xticklabels([layer["name"] for layer in layers], fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("probe accuracy (%)")
        ax.set_title(f"{audit['model']}: where position lives (dotted: location chance; dashed: class chance)",
                     fontsize=9)
        # Outside the axes, at their right: bars reach 100%, so no corner inside is free.
        ax.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


def audit_plot(audits, path):
    """Saves one figure of the probe accuracies of several audits (dicts) as a PNG (`audit_figure`)."""
    return save_figure(audit_figure(audits), path)


def save_audit_files(output_dir, audits, extra=None):
    """Writes results.json, results.md and results.png for one or more audits (dicts); returns a `Report`."""
    payload = {"experiment": "audit", "audits": audits, **(extra or {})}
    title = (extra or {}).get("title")
    return write_files(output_dir, payload, audit_markdown(audits, title), lambda p: audit_plot(audits, p))
