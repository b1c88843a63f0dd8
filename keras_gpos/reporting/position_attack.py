"""Results of a position attack: the comparison table, its plot, and the run's context."""

import pathlib

import numpy as np

from keras_gpos.attacks.comparison import judge_comparison
from keras_gpos.attacks.rendering import comparison_markdown, comparison_plot
from keras_gpos.base.files import write_json, write_text
from keras_gpos.base.rendering import (
    STATE_TEXT, Report, markdown_table, pyplot, reason_text, save_figure, write_files,
)
from keras_gpos.base.schema import SCHEMA_VERSION
from keras_gpos.base.stats import ratio_to_baseline
from keras_gpos.reporting.budget import budget_markdown


def markdown(results):
    ranked = results["ranking"]["split"]
    scored = results["data"]["val"]
    if ranked == "val":
        data = f"{scored['source']} ({scored['images']} images ranked and scored)"
    else:
        data = (f"ranked on {results['data']['train']['source']} ({results['ranking']['num_images']} images), "
                f"scored on {scored['source']} ({scored['images']} images)")
    config = results["config"]
    header = [
        f"# Position attack: {results['model']['name']} / {results['layer']}",
        "",
        f"Data: {data}; trained on {results['data']['train']['source']} "
        f"({'with' if config['flip_augmentation'] else 'without'} flip augmentation). "
        f"Ranking flip: {results['ranking']['flip']}. Mask mode: {config['mask_mode']}. "
        f"{results['ranking']['num_channels']} channels.",
        "",
    ]
    footer = [f"Compiled evaluation traced {results['trace_count']} time(s).", ""]
    return "\n".join(header) + comparison_markdown(results["comparison"]) + "\n".join(footer)


def write_report(output_dir, runs, extra=None):
    """Writes results.json, results.md and attack_curves.png for one attack run.

    Args:
        output_dir: the run directory.
        runs: `[results]`, the one run's results dict (see
            `keras_gpos.experiments.position_attack`).
        extra: optional dict merged into results.json.

    Returns:
        A `keras_gpos.reporting.Report`.
    """
    if len(runs) != 1:
        raise ValueError(f"a position-attack report covers one run; got {len(runs)}.")
    output_dir = pathlib.Path(output_dir)
    payload = {**runs[0], **(extra or {}), "schema_version": SCHEMA_VERSION}
    text = markdown(payload)
    write_json(output_dir / "results.json", payload)
    write_text(output_dir / "results.md", text)
    title = f"{payload['model']['name']} / {payload['layer']} on {payload['data']['val']['source']}"
    plot = comparison_plot(payload["comparison"], output_dir / "attack_curves.png", title=title)
    return Report(output_dir / "results.json", output_dir / "results.md", plot, text, payload)


def _mean_std(values):
    values = np.asarray(values, np.float64)
    if not values.size:
        return None, None
    return float(values.mean()), (float(values.std(ddof=1)) if len(values) > 1 else None)


def _state(record):
    """A seed's verdict state on a claim and why it cannot be judged (`judge_comparison` gave every claim one)."""
    return record["verdict"]["state"], record["verdict"].get("reason")


def _over_seeds(per_seed):
    """A claim over seeds: it holds where it holds in every seed; one seed that cannot judge it stops it."""
    states = [_state(record) for record in per_seed]
    holds_in = sum(state == "holds" for state, _ in states)
    blocked = [(state, reason) for state, reason in states if state == "cannot_be_judged"]
    verdict = {"state": "cannot_be_judged" if blocked else ("holds" if holds_in == len(states) else "does_not_hold"),
               "reason": blocked[0][1] if blocked else None,
               "seeds": {"holds_in": holds_in, "of": len(states), "required": len(states)}}
    return [state for state, _ in states], verdict


def summarize_seeds(results):
    """Claims judged over seeds: a claim holds when it holds in *every* seed.

    Args:
        results: results dicts of several position-attack runs (one per
            training seed) with the same layer, flip and N values.

    Each claim gets `states_per_seed` and a `verdict` (`holds` in every
    seed, `does_not_hold`, or `cannot_be_judged` with the first blocked
    seed's reason); `holds` is kept as its boolean.
    """
    layers = {(r["layer"], r["ranking"]["flip"]) for r in results}
    if len(layers) != 1:
        raise ValueError(f"the runs attack different layers or flips: {sorted(layers)}; summarise them apart.")
    comparisons = [r["comparison"] if "verdict_rule" in r["comparison"] else judge_comparison(r["comparison"])
                   for r in results]
    seeds = [r["config"]["seed"] for r in results]
    rows = []
    for n in [row["n"] for row in comparisons[0]["rows"]]:
        per_seed = [next(row for row in c["rows"] if row["n"] == n) for c in comparisons]
        top = _mean_std([row["top_drop"] for row in per_seed if row["top_drop"] is not None])
        random = _mean_std([row["random"]["mean"] for row in per_seed if row["random"]["mean"] is not None])
        # Every seed's ratio or none: a mean over the seeds whose random drop is clear of zero would
        # stand for all of them (files written before ratio_to_baseline are re-read through it).
        ratios = [ratio_to_baseline(row["top_drop"], row["random"], row.get("draws") or 0) for row in per_seed]
        ratios = ratios if None not in ratios else []
        states, verdict = _over_seeds(per_seed)
        rows.append({"n": n, "top_drop": top, "random_drop": random,
                     "ratio": _mean_std(ratios) if ratios else (None, None),
                     "states_per_seed": states, "verdict": verdict, "holds": verdict["state"] == "holds"})
    contrasts = []
    for n in [c["n"] for c in comparisons[0]["contrasts"]]:
        per_seed = [next(c for c in comp["contrasts"] if c["n"] == n) for comp in comparisons]
        states, verdict = _over_seeds(per_seed)
        contrasts.append({"n": n, "contrast": _mean_std([c["contrast"] for c in per_seed if c["contrast"] is not None]),
                          "random_p95": _mean_std([c["random"]["p95"] for c in per_seed
                                                   if c["random"]["p95"] is not None]),
                          "states_per_seed": states, "verdict": verdict, "holds": verdict["state"] == "holds"})
    layer, flip = layers.pop()
    return {"layer": layer, "flip": flip, "seeds": seeds, "rows": rows, "contrasts": contrasts,
            "clean_miou": _mean_std([c["clean"]["all"] for c in comparisons if c["clean"]["all"] is not None])}


def _fmt(pair, digits=3):
    mean, std = pair
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def _seed_cell(verdict):
    seeds = verdict["seeds"]
    if verdict["state"] == "cannot_be_judged":
        return f"cannot be judged ({reason_text(verdict)})"
    return f"{STATE_TEXT[verdict['state']]} ({seeds['holds_in']} of {seeds['of']} seeds)"


def seeds_markdown(summary):
    short = {"holds": "yes", "does_not_hold": "no", "cannot_be_judged": "cannot judge"}
    lines = [f"# Position attack over seeds {summary['seeds']}: {summary['layer']}, {summary['flip']} flip", "",
             f"Clean mIoU {_fmt(summary['clean_miou'])} (mean ± std over seeds). A claim holds when it holds "
             "in every seed (each seed's claims are judged from its stored random baselines and corrected by "
             "Holm over that seed's comparison); a seed that cannot judge it leaves it unjudged.", "",
             "## Top-N position channels vs N random channels (mIoU drop)", "",
             markdown_table(["N", "top-N drop", "random drop", "top / random", "per seed", "verdict"],
                            [[r["n"], _fmt(r["top_drop"]), _fmt(r["random_drop"]),
                              _fmt(r["ratio"], 1) if r["ratio"][0] is not None or r["random_drop"][0] is None
                              else "n/a (a seed's random drop ≈ 0)",
                              ", ".join(short[s] for s in r["states_per_seed"]), _seed_cell(r["verdict"])]
                             for r in summary["rows"]]),
             "## Region contrast", "",
             markdown_table(["N", "contrast", "random p95", "per seed", "verdict"],
                            [[c["n"], _fmt(c["contrast"]), _fmt(c["random_p95"]),
                              ", ".join(short[s] for s in c["states_per_seed"]), _seed_cell(c["verdict"])]
                             for c in summary["contrasts"]])]
    return "\n".join(lines)


def write_seed_report(output_dir, results, extra=None):
    """results.json/.md/.png of several seeds' attacks on one layer and flip; `extra` (merged into
    results.json) may hold a seeds suite's `"time_budget"`, which the Markdown words."""
    summary = summarize_seeds(results)

    def plot(path):
        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        ns = [r["n"] for r in summary["rows"]]
        axes[0].errorbar(ns, [r["top_drop"][0] for r in summary["rows"]],
                         yerr=[r["top_drop"][1] or 0 for r in summary["rows"]], fmt="o-", color="tab:red",
                         capsize=3, label="top-N")
        axes[0].errorbar(ns, [r["random_drop"][0] for r in summary["rows"]],
                         yerr=[r["random_drop"][1] or 0 for r in summary["rows"]], fmt="s--", color="tab:gray",
                         capsize=3, label="random N")
        axes[0].set_xlabel("N")
        axes[0].set_ylabel("mIoU drop (mean ± std over seeds)")
        axes[0].legend(fontsize=8)
        cn = [c["n"] for c in summary["contrasts"]]
        axes[1].errorbar(cn, [c["contrast"][0] for c in summary["contrasts"]],
                         yerr=[c["contrast"][1] or 0 for c in summary["contrasts"]], fmt="o-", color="tab:red",
                         capsize=3, label="region contrast")
        axes[1].plot(cn, [c["random_p95"][0] for c in summary["contrasts"]], "v:", color="tab:gray",
                     label="random p95 (mean)")
        axes[1].axhline(0, color="k", lw=0.8)
        axes[1].set_xlabel("N")
        axes[1].legend(fontsize=8)
        fig.suptitle(f"{summary['layer']}, {summary['flip']} flip, seeds {summary['seeds']}", fontsize=9)
        fig.tight_layout()
        return save_figure(fig, path)

    payload = {"experiment": "position_attack", "seeds_summary": summary, "runs": results, **(extra or {})}
    text = seeds_markdown(summary) + budget_markdown(payload.get("time_budget"))
    return write_files(output_dir, payload, text, plot)
