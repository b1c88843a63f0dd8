"""Any results.json worded again: the Markdown of its experiment's report, from the file alone.

`render(payload)` rebuilds a report's text (numbers, verdicts and their
correction) from a results.json of any schema, through
`keras_gpos.reporting.schema.upgrade_results`. Files written before schema 3
hold no per-image outcomes, so their claims read "cannot be judged here (no
per-image outcomes)" instead of failing or repeating an old sentence.

`plot(payload, path)` redraws the figure of a location, channel-position or
audit results.json from the file alone, so a committed report's PNG follows
the current drawing without retraining.

Examples:
    >>> text = keras_gpos.reporting.results.render_file("docs/results/quickstart/results.json")  # doctest: +SKIP
    >>> keras_gpos.reporting.results.plot_file("docs/results/quickstart/results.json", "results.png")  # doctest: +SKIP
"""

from keras_gpos.base.files import read_json
from keras_gpos.reporting.schema import upgrade_results


def render(payload, source="results.json"):
    """The Markdown report of a results.json dict (see the module docstring).

    Raises:
        ValueError: a schema or experiment this version cannot word.
    """
    payload = upgrade_results(payload, source)
    experiment = payload["experiment"]
    if experiment in ("location", "classification", "channel_position"):
        from keras_gpos.reporting import location

        if payload.get("audits"):  # a suite that audited its networks (--audit)
            summary, rule, audits = location.summarize_with_audits(payload["runs"], payload["audits"])
            return location.markdown(summary, rule, audits=audits, budget=payload.get("budget"))
        summary, rule = location.summarize(payload["runs"])
        return location.markdown(summary, rule)
    if experiment == "audit":
        from keras_gpos.audit.rendering import audit_markdown

        return audit_markdown(payload["audits"], (payload.get("config") or {}).get("title"))
    if experiment == "augshift":
        from keras_gpos.reporting import augshift

        summary, rule = augshift.summarize(payload["runs"])
        return augshift.markdown(summary, payload["runs"], rule)
    if experiment == "position_attack":
        from keras_gpos.reporting import position_attack

        if "seeds_summary" in payload:
            return position_attack.seeds_markdown(position_attack.summarize_seeds(payload["runs"]))
        return position_attack.markdown(payload)
    raise ValueError(f"{source}: no report for experiment {experiment!r}.")


def render_file(path):
    """`render` of the results.json at `path`."""
    return render(read_json(path), str(path))


def plot(payload, path, source="results.json"):
    """Draws the PNG of a results.json dict at `path` (location, classification, channel-position or audit).

    Returns:
        The path of the PNG.

    Raises:
        ValueError: an experiment whose figure needs more than its results.json.
    """
    payload = upgrade_results(payload, source)
    experiment = payload["experiment"]
    if experiment in ("location", "classification", "channel_position"):
        from keras_gpos.reporting import location

        if payload.get("audits"):
            summary, _, audits = location.summarize_with_audits(payload["runs"], payload["audits"])
            return location.plot(summary, path, audits)
        return location.plot(location.summarize(payload["runs"])[0], path)
    if experiment == "audit":
        from keras_gpos.audit.rendering import audit_plot

        return audit_plot(payload["audits"], path)
    raise ValueError(f"{source}: no figure is drawn from the results.json of experiment {experiment!r}; rerun it.")


def plot_file(path, png_path):
    """`plot` of the results.json at `path`, saved at `png_path`."""
    return plot(read_json(path), png_path, str(path))
