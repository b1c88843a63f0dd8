"""The channel-position suite loads (and digests) its data once and checks its report folder first."""

import pathlib
import types

import pytest

from keras_gpos.data import image_set
from keras_gpos.experiments import channel_position
from keras_gpos.experiments.channel_position import ChannelPositionConfig, run_channel_position
from keras_gpos.runs.directory import RunDirectoryError


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


# --- issue 27: the suite audits its networks and its report leads with where position lives ---

def _copy(suite, target):
    """A copy of the session's audited suite in `target`, and its config pointed there."""
    import shutil

    config, _ = suite
    shutil.copytree(config.output_dir, target, symlinks=True)
    return config.replace(output_dir=str(target))


def _count_audits(monkeypatch):
    from keras_gpos.experiments import audit

    calls, original = [], audit.audit_run_directory
    monkeypatch.setattr(audit, "audit_run_directory", lambda settings, run_dir, *a: calls.append(
        pathlib.Path(run_dir).name) or original(settings, run_dir, *a))
    return calls


def test_the_audited_suite_writes_one_report_that_leads_with_where_position_lives(tiny_audited_suite):
    config, payload = tiny_audited_suite
    folder = pathlib.Path(config.output_dir)
    assert sorted(p.name for p in folder.iterdir()) == ["audit", "results.json", "results.md", "results.png", "runs"]
    assert sorted(p.name for p in (folder / "audit").iterdir()) == ["fc_class_zero_g2_s0.json",
                                                                   "fc_location_zero_g2_s0.json"]
    assert [a["run"]["name"] for a in payload["audits"]] == ["fc_location_zero_g2_s0", "fc_class_zero_g2_s0"]
    assert [len(a["layers"]) for a in payload["audits"]] == [1, 1]  # the pooled vector the head reads
    text = (folder / "results.md").read_text()
    assert text.startswith("## Where position lives") and "### What the verdicts say" in text
    assert payload["budget"] == "1 epoch of 36 training images"
    from keras_gpos.reporting.results import render_file

    assert render_file(folder / "results.json") == text  # the file alone words the same report


def test_a_finished_audited_suite_neither_retrains_nor_re_audits(tiny_audited_suite, tmp_path, monkeypatch):
    config = _copy(tiny_audited_suite, tmp_path / "suite")
    models = sorted((tmp_path / "suite" / "runs").glob("*/model.keras"))
    stamps = [m.stat().st_mtime_ns for m in models]
    calls = _count_audits(monkeypatch)
    payload = run_channel_position(config)
    assert calls == [] and [m.stat().st_mtime_ns for m in models] == stamps
    assert [a["layers"][0]["location"] for a in payload["audits"]] == [
        a["layers"][0]["location"] for a in tiny_audited_suite[1]["audits"]]


def test_an_interrupted_audit_finishes_and_changed_settings_audit_again(tiny_audited_suite, tmp_path, monkeypatch):
    config = _copy(tiny_audited_suite, tmp_path / "suite")
    audits = tmp_path / "suite" / "audit"
    (audits / "fc_class_zero_g2_s0.json").unlink()  # killed after the first audit was kept
    for name in ("results.json", "results.md", "results.png"):
        (tmp_path / "suite" / name).unlink()
    calls = _count_audits(monkeypatch)
    run_channel_position(config)
    assert calls == ["fc_class_zero_g2_s0"] and (tmp_path / "suite" / "results.md").exists()
    calls.clear()
    run_channel_position(config.replace(audit_layers=2))
    assert calls == ["fc_location_zero_g2_s0", "fc_class_zero_g2_s0"]


def test_a_file_in_the_audit_folder_that_the_suite_did_not_write_is_refused(tiny_audited_suite, tmp_path):
    config = _copy(tiny_audited_suite, tmp_path / "suite")
    (tmp_path / "suite" / "audit" / "fc_location_zero_g2_s0.json").write_text('{"mine": 1}\n')
    with pytest.raises(ValueError, match=r"fc_location_zero_g2_s0\.json is not an audit this suite wrote"):
        run_channel_position(config)
    assert (tmp_path / "suite" / "audit" / "fc_location_zero_g2_s0.json").read_text() == '{"mine": 1}\n'


def test_audit_flags_without_audit_or_without_an_fc_run_are_refused():
    with pytest.raises(ValueError, match=r"audit_images=64 takes effect with --audit only"):
        ChannelPositionConfig(audit_images=64)
    with pytest.raises(ValueError, match=r"--audit audits the unpermuted fc runs .* \['gapnet_location'\]"):
        ChannelPositionConfig(audit=True, variants=("gapnet_location",))
    assert ChannelPositionConfig(audit=True, audit_layers=2).audit_layers == 2


def test_the_quickstart_flagfile_audits():
    from keras_gpos.experiments.flags import parse

    flagfile = pathlib.Path(__file__).parents[2] / "flags" / "quickstart.cfg"
    _, config, _ = parse(["train.py", f"--flagfile={flagfile}"])
    assert config.audit and config.variants[:2] == ("gapnet_location", "fc_location")
