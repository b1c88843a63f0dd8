"""The channel-position suite loads (and digests) its data once and checks its report folder first."""

import types

import pytest

from keras_gpos.data import image_set
from keras_gpos.experiments import channel_position
from keras_gpos.experiments.channel_position import (
    ChannelPositionConfig,
    run_channel_position,
)
from keras_gpos.runs.directory import RunDirectoryError
from tests.flag_utils import parse_train_flags


def test_the_data_digest_is_computed_once_per_suite(tmp_path, monkeypatch):
    config = ChannelPositionConfig(output_dir=str(tmp_path / "suite"), dataset="embedded", embedded_train_size=40,
                                   embedded_test_size=8, seeds=(0, 1), variants=("gapnet_location", "fc_class"),
                                   width=4, depth=10)
    digests, given = [], []
    original = image_set.arrays_digest
    monkeypatch.setattr(image_set, "arrays_digest", lambda *a: digests.append(1) or original(*a))

    def train(run_config, splits):
        given.append(splits)
        splits.identity()  # what RunDirectory's fingerprint reads

    monkeypatch.setattr(channel_position, "train_location", train)
    monkeypatch.setattr(channel_position, "evaluate_run", lambda *a, splits, **k: {"splits": splits})
    report = types.SimpleNamespace(text="", json="", markdown="", plot="", payload={})
    monkeypatch.setattr(channel_position, "write_report", lambda *a, **k: report)
    run_channel_position(config)
    assert len(given) == 4 and all(splits is given[0] for splits in given)
    assert len(digests) == 3  # train, val and test, once


def test_the_suite_refuses_a_report_folder_with_other_files_before_any_run(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "notes.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match=r"did not write there \(notes\.txt\)"):
        run_channel_position(ChannelPositionConfig(output_dir=str(suite), dataset="embedded", width=4, depth=10))
    assert sorted(p.name for p in suite.iterdir()) == ["notes.txt"]


def test_suite_sweeps_replace_single_fields_and_conflicts_are_errors():
    _, config = parse_train_flags(["--experiment=channel_position", "--grid_size=2", "--padding=reflect",
                        "--seed=4"])
    runs = config.run_configs()
    assert {c.grid_size for _, c in runs} == {2} and {c.padding for _, c in runs} == {"reflect"}
    assert {c.seed for _, c in runs} == {4}
    with pytest.raises(ValueError, match="--grid_sizes and --grid_size contradict"):
        parse_train_flags(["--experiment=channel_position", "--grid_size=2", "--grid_sizes=3,4"])
