"""Results of AugShift suites: accuracy next to consistency, per run group.

Reads every finished run's `run.json` through `read_run_summary`, so runs
written by keras_gpos 0.1 (percent) and later (fractions) share one table
without mixing units. JSON holds fractions; tables print percent.

`summarize` judges one claim per run group besides the baseline,
`more_consistent_than_baseline`: on the same test images and the same view
pairs (one evaluation seed for every model), the group's per-image
consistency, averaged over its seeds, beats the baseline's (paired bootstrap
over images, one-sided), and the group beats the baseline in every seed the
two share. A claim about a training method needs several seeds: with one
shared seed it cannot be judged. Holm's correction runs over the report.
Runs written before schema 3 hold no per-image outcomes: their claims cannot
be judged.
"""

import pathlib

import numpy as np

from keras_gpos.base import stats
from keras_gpos.base.files import read_json
from keras_gpos.base.rendering import (
    correction_text, format_mean_spread, markdown_table, pyplot, save_figure, verdict_text, write_files,
)
from keras_gpos.base.schema import FINGERPRINT_FILE, read_fingerprint
from keras_gpos.base.verdicts import cannot_judge, correct, judged
from keras_gpos.reporting.budget import budget_markdown
from keras_gpos.reporting.grouping import check_alike, group_rows
from keras_gpos.reporting.schema import read_augshift_summary
from keras_gpos.base.stats import mean_and_spread

BASELINE = "baseline"
MIN_SEEDS = 2

# What a group and the baseline may differ in (fields only one of them uses are not compared either).
BASELINE_FIELDS = ("variant", "consistency_weight")
GROUP_ORDER = ("baseline", "blurpool", "aps", "augshift", "augshift_blurpool", "augshift_aps")


def run_row(run_dir):
    """A finished AugShift run's row: its run.json, where it lies, and its setting (fingerprint less seed)."""
    row = {**read_augshift_summary(run_dir), "run_dir": str(run_dir)}
    fingerprint = pathlib.Path(run_dir) / FINGERPRINT_FILE
    if fingerprint.exists():
        recorded = read_fingerprint(fingerprint)
        setting = {"settings": {k: v for k, v in recorded["settings"].items() if k != "seed"},
                   "data": recorded.get("data", {})}
        if "keras_backend" in recorded:
            setting["keras_backend"] = recorded["keras_backend"]
        row["setting"] = setting
    return row


def _group_order(name):
    order = {v: i for i, v in enumerate(GROUP_ORDER)}
    return (order.get(name.split("_lam")[0], 9), name)


def _probe(row):
    return (row.get("location_probe") or {}).get("test_accuracy")


def _evaluation(row):
    """What pairs two runs by image: the test images and the view seed (None: not recorded)."""
    per_image = row.get("per_image") or {}
    return per_image.get("test_digest"), per_image.get("eval_seed"), len(per_image.get("agree", ()))


def consistency_verdict(group, runs, baseline_runs):
    """`<group>/more_consistent_than_baseline` of one run group (see the module docstring)."""
    key, claim = f"{group}/more_consistent_than_baseline", "more_consistent_than_baseline"
    if not baseline_runs:
        return cannot_judge(key, claim, "no_reference")
    if any("per_image" not in r for r in runs + baseline_runs):
        return cannot_judge(key, claim, "no_per_image_outcomes")
    if len({_evaluation(r) for r in runs + baseline_runs}) != 1:
        return cannot_judge(key, claim, "different_images")
    seeds = sorted({r["seed"] for r in runs} & {r["seed"] for r in baseline_runs})
    if len(seeds) < MIN_SEEDS:
        return cannot_judge(key, claim, "one_seed", seeds=seeds, minimum=MIN_SEEDS)
    images = len(runs[0]["per_image"]["agree"])
    if images < stats.MIN_IMAGES:
        return cannot_judge(key, claim, "too_few_images", images=images, minimum=stats.MIN_IMAGES)

    def pooled(rows):
        rows = [r for r in rows if r["seed"] in seeds]
        return np.mean([stats.per_image_rates(r["per_image"]["agree"], r["per_image"]["agree_trials"])
                        for r in rows], axis=0)

    result = stats.bootstrap_test(np.stack([pooled(runs), pooled(baseline_runs)], axis=1),
                                  lambda m: m[..., 0] - m[..., 1])
    by_seed = {r["seed"]: r["consistency"] for r in baseline_runs}
    agreement = stats.seed_agreement([r["consistency"] - by_seed[r["seed"]] for r in runs if r["seed"] in seeds])
    return judged(key, claim, result,
                  f"consistency minus the baseline's, per image averaged over seeds {seeds}, paired by image and "
                  f"view pair; bootstrap over {images} test images ({stats.DRAWS} draws, seed 0), one-sided",
                  seeds={**agreement, "required": agreement["of"]})


def summarize(rows):
    """One entry per run group (variant, lambda, distance...), averaged over seeds.

    Runs of one group must be seeds of one setting (`keras_gpos.reporting.grouping`):
    runs that share a group name but differ elsewhere (epochs, data, canvas) are refused.
    """
    groups = group_rows(rows, lambda row: row["group"], identity=lambda row: (None, row["seed"]), what="run group")
    summary = []
    for name in sorted(groups, key=_group_order):
        runs = sorted(groups[name], key=lambda r: r["seed"])
        entry = {"group": name, "variant": runs[0]["variant"],
                 "consistency_weight": runs[0]["consistency_weight"],
                 "seeds": [r["seed"] for r in runs], "epochs": runs[0]["epochs"]}
        for key, values in (
            ("test_accuracy", [r["test_accuracy"] for r in runs]),
            ("consistency", [r["consistency"] for r in runs]),
            ("location_probe", [_probe(r) for r in runs]),
            ("view_latent_distance", [r.get("view_latent_distance") for r in runs]),
            ("train_seconds", [r["train_seconds"] for r in runs]),
        ):
            present = [v for v in values if v is not None]
            mean, std = mean_and_spread(present)
            entry[key] = {"mean": mean, "std": std, "per_seed": values}
        modes = sorted({mode for r in runs for mode in (r.get("consistency_by_protocol") or {})})
        entry["by_protocol"] = {}
        for mode in modes:
            values = [(r.get("consistency_by_protocol") or {}).get(mode) for r in runs]
            values = [v for v in values if v]
            consistency, accuracy = ([v[key] for v in values] for key in ("consistency", "accuracy"))
            entry["by_protocol"][mode] = {
                "consistency": dict(zip(("mean", "std"), mean_and_spread(consistency)), per_seed=consistency),
                "accuracy": dict(zip(("mean", "std"), mean_and_spread(accuracy)), per_seed=accuracy),
                "input_shape": values[0]["input_shape"], "protocol": values[0]["protocol"],
            }
        sweeps = np.array([r["accuracy_vs_shift"]["accuracy"] for r in runs])
        entry["accuracy_vs_shift"] = {"offsets": runs[0]["accuracy_vs_shift"]["offsets"],
                                      "mean": sweeps.mean(0).tolist()}
        probes = [r.get("location_probe") or {} for r in runs]
        entry["location_probe"]["chance"] = probes[0].get("chance", 1.0 / 9)
        entry["location_probe"]["uniform_chance"] = probes[0].get("uniform_chance", 1.0 / 9)
        summary.append(entry)
    for name in groups:
        check_alike(groups[name], groups.get(BASELINE, []), BASELINE_FIELDS, "the baseline")
    verdicts = [consistency_verdict(e["group"], groups[e["group"]], groups.get(BASELINE, []))
                for e in summary if e["group"] != BASELINE]
    (settled,), rule = correct([verdicts])
    for entry in summary:
        entry["verdicts"] = {v.claim: v.to_dict() for v in settled if v.key.startswith(entry["group"] + "/")}
    return summary, rule


def verdict_lines(summary):
    """One line per run group with a verdict: is it more consistent than the baseline?"""
    return [f"- {e['group']} is more consistent than the baseline: {verdict_text(v)}."
            for e in summary for v in e.get("verdicts", {}).values()]


def _pct(values, digits=1):
    present = [100 * v for v in values if v is not None]
    return format_mean_spread(present, digits) if present else "n/a"


def _probe_chance(summary):
    chances = {(e["location_probe"]["chance"], e["location_probe"]["uniform_chance"]) for e in summary}
    if len(chances) != 1:
        return "chance per run group in results.json"
    chance, uniform = chances.pop()
    return (f"chance {100 * chance:.1f}% (held-out majority rate; 1/positions {100 * uniform:.1f}%)"
            if chance is not None else "chance n/a")


def markdown(summary, rows, rule=None):
    headers = ["run group", "lambda", "seeds", "epochs", "test acc (%)", "consistency (%)",
               "location probe (%)", "view latent distance", "acc range over offsets (%)", "train s/run"]
    table = []
    for e in summary:
        sweep = e["accuracy_vs_shift"]["mean"]
        distances = [v for v in e["view_latent_distance"]["per_seed"] if v is not None]
        table.append([
            e["group"], e["consistency_weight"] if e["variant"].startswith("augshift") else "-",
            len(e["seeds"]), e["epochs"], _pct(e["test_accuracy"]["per_seed"]),
            _pct(e["consistency"]["per_seed"]), _pct(e["location_probe"]["per_seed"]),
            format_mean_spread(distances, digits=3) if distances else "n/a",
            f"{100 * min(sweep):.1f}-{100 * max(sweep):.1f}", f"{e['train_seconds']['mean']:.0f}",
        ])
    lines = []
    for r in sorted(rows, key=lambda r: (_group_order(r["group"]), r["seed"])):
        distance = r.get("view_latent_distance")
        probe = _probe(r)
        lines.append([f"{r['group']} seed {r['seed']}", f"{100 * r['test_accuracy']:.1f}",
                      f"{100 * r['consistency']:.1f}", "n/a" if probe is None else f"{100 * probe:.1f}",
                      "n/a" if distance is None else f"{distance:.3f}", r["best_epoch"]])
    modes = sorted({mode for e in summary for mode in e.get("by_protocol", {})})
    protocol_table = ""
    if modes:
        protocol_headers = ["run group"] + [f"{mode}: acc / consistency (%)" for mode in modes]
        lines_p = []
        for e in summary:
            cells = [e["group"]]
            for mode in modes:
                scores = e.get("by_protocol", {}).get(mode)
                cells.append("n/a" if not scores else
                             f"{_pct(scores['accuracy']['per_seed'])} / {_pct(scores['consistency']['per_seed'])}")
            lines_p.append(cells)
        described = {mode: next(e["by_protocol"][mode] for e in summary if mode in e.get("by_protocol", {}))
                     for mode in modes}
        protocol_table = ("\n### Consistency under every protocol\n\n" + markdown_table(protocol_headers, lines_p)
                          + "\n" + "".join(f"- {mode} (input {tuple(d['input_shape'])}): {d['protocol']}\n"
                                            for mode, d in described.items()))
    data = rows[0]["dataset"] if rows else {}
    solvers = sorted({(r.get("location_probe") or {}).get("solver", "Adam softmax, 0.1 protocol") for r in rows})
    return (
        "## AugShift vs BlurPool: accuracy next to shift consistency\n\n"
        + markdown_table(headers, table)
        + "\nMean ± sample std over seeds, in percent. Location probe: linear softmax on frozen pooled "
        f"latents, 3x3 positions, {_probe_chance(summary)} (lower = less position information; "
        f"solver: {'; '.join(solvers)}). View latent distance: mean |z_a - z_b|^2 / "
        "mean(|z_a|^2, |z_b|^2) over test view pairs (0 = the pooled latent ignores the shift).\n\n"
        f"Protocol: {rows[0]['protocol'] if rows else ''}\n\n"
        f"Data: {data.get('name')} ({data.get('train_images')} train / {data.get('val_images')} "
        f"val / {data.get('test_images')} test images); best epoch chosen on validation "
        "accuracy, never on test.\n" + protocol_table + "\n### Per seed (percent)\n\n"
        + markdown_table(["run", "acc", "consistency", "probe", "latent distance", "best epoch"], lines)
        + _verdict_section(summary, rule)
    )


def _verdict_section(summary, rule):
    lines = verdict_lines(summary)
    if not lines:
        return ""
    return ("\n### Is AugShift more consistent than the baseline?\n\n" + "\n".join(lines) + "\n\n"
            + correction_text(rule) + " A claim about a training method holds only where every shared seed "
            "agrees, and needs at least two seeds.\n")


def plot(summary, path):
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for e in summary:
        label = (f"{e['group']} (acc {100 * e['test_accuracy']['mean']:.1f}, "
                 f"cons {100 * e['consistency']['mean']:.1f})")
        ax.plot(e["accuracy_vs_shift"]["offsets"], [100 * v for v in e["accuracy_vs_shift"]["mean"]],
                marker="o", markersize=3, label=label)
    ax.set_xlabel("diagonal offset of the image (px)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs shift (mean over seeds)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def write_report(output_dir, runs=None, extra=None):
    """Writes results.json/.md/.png for finished AugShift runs.

    Args:
        output_dir: where the results go.
        runs: run directories to report; default every finished run under
            `output_dir/runs` (what `run_augshift` trained there).
        extra: optional dict merged into results.json; its `"time_budget"` (a suite's
            `BudgetOutcome.to_dict()`) is worded too.

    Returns:
        A `keras_gpos.reporting.Report`.

    Raises:
        ValueError: no finished run (no run.json) among them.
    """
    output_dir = pathlib.Path(output_dir)
    if runs is None:
        runs = sorted(p.parent for p in (output_dir / "runs").glob("*/run.json"))
    rows = [run_row(d) for d in runs]
    if not rows:
        raise ValueError(f"No finished AugShift runs (run.json) in {output_dir / 'runs'}.")
    summary, rule = summarize(rows)
    payload = {"experiment": "augshift", "summary": summary, "verdict_rule": rule, "runs": rows, **(extra or {})}
    step_time = output_dir / "step_time.json"  # from benchmarks/augshift_step.py
    if step_time.exists():
        payload["step_time"] = read_json(step_time)
    text = markdown(summary, rows, rule) + budget_markdown(payload.get("time_budget"))
    for bench in payload.get("step_time", {}).get("runs", []):
        text += (f"\nStep time ({bench['model']}, batch {bench['batch_size']}): plain "
                 f"{bench['plain_ms']:.0f} ms, AugShift {bench['augshift_ms']:.0f} ms, "
                 f"ratio {bench['ratio']:.2f} (benchmarks/augshift_step.py).\n")
    return write_files(output_dir, payload, text, lambda p: plot(summary, p))
