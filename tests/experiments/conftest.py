"""One tiny finished location run, trained once per test session."""

import pytest


@pytest.fixture(scope="session")
def tiny_location_run(tmp_path_factory):
    from keras_gpos.experiments.location import LocationConfig, train_location

    config = LocationConfig(
        output_dir=str(tmp_path_factory.mktemp("tiny_location") / "run"), dataset="embedded",
        embedded_train_size=120, embedded_test_size=12, grid_size=2, depth=10, width=4, epochs=1,
        batch_size=16, head="fc", verbose=0)
    return config, train_location(config)
