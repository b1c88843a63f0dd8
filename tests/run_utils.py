"""Tiny location run configs shared by tests (the process starters are tests/cli/processes.py)."""

from keras_gpos.experiments.location import LocationConfig


def _tiny(tmp_path, **overrides):
    values = dict(output_dir=str(tmp_path / "run"), dataset="embedded", embedded_train_size=64,
                  embedded_test_size=8, grid_size=2, depth=10, width=4, epochs=1, batch_size=16, verbose=0)
    values.update(overrides)
    return LocationConfig(**values)


def _tiny_config(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path / "run"), dataset="embedded", embedded_train_size=120,
        embedded_test_size=12, grid_size=2, depth=10, width=4, epochs=1, batch_size=16,
        verbose=0,
    )
    values.update(overrides)
    return LocationConfig(**values)
