"""The AugShift suite checks, before any training, that its new runs are seeds of the same settings as
the finished runs of their group in the folder."""

import pytest

from keras_gpos.experiments import augshift
from keras_gpos.experiments.augshift import AugShiftConfig, run_augshift
from tests.reporting.test_augshift import _run_summary


def test_new_seeds_of_a_group_with_other_settings_are_refused_before_training(tmp_path, monkeypatch):
    _run_summary(tmp_path / "runs" / "baseline_seed0", 0, epochs=12)
    monkeypatch.setattr(augshift, "train_one", lambda *a, **k: pytest.fail("trained"))
    config = AugShiftConfig(output_dir=str(tmp_path), dataset="embedded", embedded_train_size=40,
                            embedded_test_size=8, variants=("baseline",), seeds=(1,), epochs=6, width=4, depth=10,
                            canvas_size=56)
    with pytest.raises(ValueError, match=r"baseline_seed0 and .*baseline_seed1 share the run group 'baseline' but "
                                         r"differ in settings\.epochs: 12 -> 6; they are not seeds"):
        run_augshift(config)
