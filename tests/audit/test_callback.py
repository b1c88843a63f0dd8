"""PositionAuditCallback: probe accuracies in the training logs, the last audit written."""

import json

import keras
import numpy as np
import pytest

import keras_gpos
from keras_gpos.audit import PositionAuditCallback, position_audit

pytestmark = pytest.mark.backend_agnostic


RNG = np.random.default_rng(0)


def test_the_callback_logs_probe_accuracies_and_writes_the_last_audit(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras_gpos.models.build_classifier(2, (32, 32, 3), depth=10, width=4, head="fc")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probe = (RNG.normal(size=(8, 16, 16, 3)).astype("float32"), np.arange(8) % 2)
    callback = PositionAuditCallback(probe, layers=["stage4_out"], every=2, grid_size=2, directory=tmp_path)
    history = model.fit(np.zeros((8, 32, 32, 3), "float32"), np.zeros(8), epochs=3, verbose=0,
                        callbacks=[callback])
    assert len(callback.seconds) == 2  # epochs 2 and 3 (the last)
    values = history.history["audit_stage4_out_location_ordered"]
    assert len(values) == 2
    assert "audit_stage4_out_class_sorted" in history.history and "audit_seconds" in history.history
    # The last value is the audit of the trained model, and the written audit is that one.
    again = position_audit(model, probe, layers=["stage4_out"], grid_size=2, flips=(), verbose=0)
    assert values[-1] == again.layers[0]["location"]["ordered"]["accuracy"]
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["audits"][0]["layers"][0]["location"]["ordered"]["accuracy"] == values[-1]
