"""Results of a position attack: the comparison table, its plot, and the run's context."""

import pathlib

from keras_gpos.attacks.comparison import AttackComparison
from keras_gpos.files import write_json, write_text
from keras_gpos.reporting.report import Report
from keras_gpos.training.run import SCHEMA_VERSION


def markdown(results):
    comparison = AttackComparison(**results["comparison"])
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
    return "\n".join(header) + comparison.to_markdown() + "\n".join(footer)


def write_report(output_dir, runs, extra=None):
    """Writes results.json, results.md and attack_curves.png for one attack run.

    Args:
        output_dir: the run directory.
        runs: `[results]`, the one run's results dict (see
            `keras_gpos.experiments.position_attack`).
        extra: optional dict merged into results.json.

    Returns:
        A `keras_gpos.reporting.report.Report`.
    """
    if len(runs) != 1:
        raise ValueError(f"a position-attack report covers one run; got {len(runs)}.")
    output_dir = pathlib.Path(output_dir)
    payload = {**runs[0], **(extra or {}), "schema_version": SCHEMA_VERSION}
    text = markdown(payload)
    write_json(output_dir / "results.json", payload)
    write_text(output_dir / "results.md", text)
    comparison = AttackComparison(**payload["comparison"])
    plot = comparison.plot(output_dir / "attack_curves.png",
                           title=f"{payload['model']['name']} / {payload['layer']} on {payload['data']['val']['source']}")
    return Report(output_dir / "results.json", output_dir / "results.md", plot, text, payload)
