"""The audit's Markdown and figure (`keras_gpos.audit.rendering`).

Backend-agnostic: run once more with KERAS_BACKEND=jax.
"""

import pytest

from keras_gpos.audit.rendering import audit_figure, audit_markdown

pytestmark = pytest.mark.backend_agnostic


def _probes(accuracies, chance):
    return {view: {"accuracy": value, "chance": chance, "uniform_chance": chance}
            for view, value in zip(("ordered", "sorted", "sum"), accuracies)}


def _audit(model="net", layers=("stage2", "stage4"), class_chance=0.14):
    return {"model": model, "images": 40, "probe_images": {"train": 20, "test": 20}, "grid_size": 3,
            "input_shape": [96, 96, 3], "background": 0.0, "timing": {"forward_seconds": 1.0, "probe_seconds": 1.0,
                                                                       "backend": "tensorflow"},
            "layers": [{"name": name, "channels": 8, "location": _probes((1.0, 0.99, 0.3), 1 / 9),
                        "class": _probes((0.9, 0.3, 0.1), class_chance), "rankings": {}, "verdicts": {}}
                       for name in layers]}


def test_the_markdown_gives_the_class_chance_beside_the_location_chance():
    text = audit_markdown([_audit()])
    assert "location chance 11.1% (held-out majority rate)" in text
    assert "class chance 14.0% (held-out majority rate), 1/classes 14.0%" in text


def test_the_legend_covers_no_bar():
    # Bars reach 100%, so a legend inside the axes sits on some of them; this one sits beside them.
    figure = audit_figure([_audit("a"), _audit("b", layers=("s1", "s2", "s3", "s4"))])
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axes in figure.axes:
        legend = axes.get_legend().get_window_extent(renderer)
        bars = [patch.get_window_extent(renderer) for patch in axes.patches if patch.get_height() > 0]
        assert bars and not [bar for bar in bars if bar.overlaps(legend)]
        assert legend.x1 <= figure.bbox.x1 + 1  # and it is on the figure, not cut off
    import matplotlib.pyplot as plt

    plt.close(figure)
