"""The session's tiny finished location run (tests/conftest.py: tiny_run_once), as (config, run.json)."""

import pytest


@pytest.fixture(scope="session")
def tiny_location_run(tiny_run_once):
    from keras_gpos.reporting.schema import read_run_summary

    return tiny_run_once.config, read_run_summary(tiny_run_once.run)
