"""The session's tiny finished location run (tests/conftest.py: tiny_run_once), as (config, run.json)."""

import pytest


@pytest.fixture(scope="session")
def tiny_location_run(tiny_run_once):
    from keras_gpos.reporting.schema import read_run_summary

    return tiny_run_once.config, read_run_summary(tiny_run_once.run)


@pytest.fixture(scope="session")
def tiny_audited_suite(tmp_path_factory):
    """A finished `channel_position --audit` suite (fc on location and on the class, ResNet-10 width 4, 1 epoch,
    40 embedded training and 24 test images on a 2x2 grid), trained once per session; tests copy its folder."""
    from keras_gpos.experiments.channel_position import ChannelPositionConfig, run_channel_position

    config = ChannelPositionConfig(
        output_dir=str(tmp_path_factory.mktemp("tiny_audited_suite") / "suite"), dataset="embedded",
        embedded_train_size=40, embedded_test_size=24, grid_size=2, depth=10, width=4, epochs=1, batch_size=16,
        verbose=0, variants=("fc_location", "fc_class"), audit=True, audit_images=24)
    return config, run_channel_position(config)
