"""The audit's verdicts on constructed models whose answers are known: one test per state."""

import json
import pathlib
import warnings

import keras
import numpy as np
import pytest

from keras_gpos.audit import position_audit
from keras_gpos.audit.rendering import audit_markdown, verdict
from keras_gpos.audit.verdicts import correct_audits

pytestmark = pytest.mark.backend_agnostic

GRID, SIDE, CELL = 3, 48, 16
LABELS = np.arange(24) % 2
# Bright images are class 1, dim ones class 0; every image fills every cell of a 3x3 canvas.
IMAGES = (np.random.default_rng(0).uniform(0.2, 0.6, size=(24, CELL, CELL, 1))
          + LABELS[:, None, None, None]).astype("float32")


def _model(name, function):
    inputs = keras.Input((SIDE, SIDE, 1))
    features = keras.layers.Lambda(function, name=name)(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features)))


def _cells(x):
    """Channel c = the image's activity inside cell c: position lives only in the channel order."""
    masks = np.zeros((SIDE, SIDE, GRID * GRID), "float32")
    for cell in range(GRID * GRID):
        row, column = divmod(cell, GRID)
        masks[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL, cell] = 1.0
    return x * keras.ops.convert_to_tensor(masks)


def _blind(x):
    """Every channel holds the canvas mean: nothing about position survives pooling, the class does."""
    return keras.ops.mean(x, axis=(1, 2), keepdims=True) + 0 * x[..., :1] + keras.ops.zeros((1, 1, 1, 4))


def _constant(x):
    """Nothing about the image at all: a model at chance on every task."""
    return 0 * x + keras.ops.ones((1, 1, 1, 4))


def _audit(function, name, images=IMAGES, labels=LABELS):
    return position_audit(_model(name, function), (images, labels), layers=[name], grid_size=GRID, verbose=0)


@pytest.fixture(scope="module")
def in_channel_order():
    return _audit(_cells, "cells")


def _states(audit):
    return {claim: v["state"] for claim, v in audit.layers[0]["verdicts"].items()}


def test_position_only_in_channel_order_holds_and_the_class_survives_the_loss_of_order(in_channel_order):
    states = _states(in_channel_order)
    assert states["location_decodable"] == "holds" and states["location_in_channel_order"] == "holds"
    assert states["location_order_free"] == "does_not_hold"
    assert states["class_decodable"] == "holds" and states["class_order_free"] == "holds"
    # Ordered and sorted probes read the class identically: a gap of 0, two identical models.
    assert states["class_in_channel_order"] == "does_not_hold"
    assert in_channel_order.layers[0]["verdicts"]["class_in_channel_order"]["estimate"] == 0.0
    assert states["class_survives_order_loss_better"] == "holds"
    assert in_channel_order.verdict_rule == {"correction": "holm", "alpha": 0.05, "family": 7}
    text = verdict(in_channel_order.layers[0])
    assert "position lives in the channel order (the ordered probe beats the sorted one): holds" in text
    assert "The paper's claim agrees with this run." in text


def test_per_image_outcomes_are_recorded_for_every_probe(in_channel_order):
    probes = in_channel_order.layers[0]["location"]
    assert in_channel_order.probe_images["test"] == 12
    for view in ("ordered", "sorted", "sum"):
        assert len(probes[view]["per_image_correct"]) == 12 and probes[view]["trials"] == GRID * GRID
        assert sum(probes[view]["per_image_correct"]) / (12 * 9) == pytest.approx(probes[view]["accuracy"])
    assert probes["ordered"]["uniform_chance"] == pytest.approx(1 / 9)
    low, high = probes["ordered"]["interval"]
    assert low <= probes["ordered"]["accuracy"] <= high


def test_a_position_blind_model_cannot_say_whether_position_is_in_channel_order():
    states = _states(_audit(_blind, "blind"))
    assert states["location_decodable"] == "does_not_hold"
    assert states["location_in_channel_order"] == "cannot_be_judged"
    assert states["class_decodable"] == "holds"
    # Location is at chance, so "the class survives better" has no location share to compare with.
    assert states["class_survives_order_loss_better"] == "cannot_be_judged"


def test_a_model_at_chance_judges_nothing_and_warns_once_per_layer():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        audit = _audit(_constant, "constant")
    degenerate = [w for w in caught if "degenerate" in str(w.message)]
    assert len(degenerate) == 1 and "'constant'" in str(degenerate[0].message)
    assert audit.layers[0]["degenerate_features"]
    layer = audit.layers[0]
    assert layer["verdicts"]["class_survives_order_loss_better"]["reason"] == "probe_at_chance"
    assert {v["state"] for c, v in layer["verdicts"].items() if "in_channel_order" in c} == {"cannot_be_judged"}
    # The case: the old text said "(as the paper predicts)" with the class at chance.
    assert "as the paper predicts" not in verdict(layer)
    assert "This run cannot test the paper's claim." in verdict(layer)


def test_too_few_images_cannot_be_judged():
    audit = _audit(_cells, "cells", IMAGES[:8], LABELS[:8])
    reasons = {v["reason"] for v in audit.layers[0]["verdicts"].values()}
    assert reasons == {"too_few_images"} and audit.verdict_rule["family"] == 0
    assert "cannot be judged here (too few images)" in audit.to_markdown()


def test_several_audits_in_one_report_share_one_correction(in_channel_order):
    record = in_channel_order.to_dict()
    settled = correct_audits([record, record])
    assert settled[0]["verdict_rule"]["family"] == 14
    verdicts = settled[0]["layers"][0]["verdicts"]
    assert verdicts["location_decodable"]["p_adjusted"] == pytest.approx(
        14 * record["layers"][0]["verdicts"]["location_decodable"]["p_value"])


def test_an_audit_written_before_per_image_outcomes_renders_cannot_be_judged():
    # audit_quickstart is regenerated with per-image outcomes (issue 27); the padding audit is not.
    path = pathlib.Path(__file__).parents[2] / "docs" / "results" / "audit_padding_cifar" / "results.json"
    text = audit_markdown(json.loads(path.read_text())["audits"])
    assert "cannot be judged here (no per-image outcomes)" in text and "as the paper predicts" not in text
