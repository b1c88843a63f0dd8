"""Every shipped flagfile, in flags/ and its subfolders (flags/paper/), parses into a valid config.

A renamed or retired flag must break here, not hours into a user's sweep. The paper's
protocols (flags/paper/) also set every value that changes a result explicitly, so a
changed default (the CPU-sized defaults of the experiments) never changes what they run.
"""

import pathlib

import pytest
from absl import flags as absl_flags

from keras_gpos.experiments import flags as experiment_flags
from keras_gpos.experiments.config import result_settings
from keras_gpos.experiments.registry import get_experiment

REPO = pathlib.Path(__file__).resolve().parents[2]
FLAGFILES = sorted((REPO / "flags").rglob("*.cfg"))
PAPER = [path for path in FLAGFILES if path.parent.name == "paper"]
# Result fields a paper flagfile may leave unset, with the reason.
MAY_BE_UNSET = {
    "augshift": {"probe_epochs": "unused since keras_gpos 0.2"},
    "position_attack": {"model_path": "empty trains the model (the protocol)",
                        "image_height": "the CamVid folder is read at its own size",
                        "image_width": "the CamVid folder is read at its own size"},
}


def _parse(flagfile, *extra):
    values = absl_flags.FlagValues()
    name, config, _ = experiment_flags.parse(["train.py", f"--flagfile={flagfile}", *extra], values)
    return name, config, values


def _label(path):
    return path.relative_to(REPO / "flags").as_posix()


def test_the_paper_folder_is_found():
    # The recursive listing is what the parametrised tests below stand on.
    assert len(PAPER) >= 6 and (REPO / "flags" / "paper" / "gapnet_cifar10.cfg") in PAPER
    assert not (REPO / "flags" / "gapnet_cifar10.cfg").exists()  # moved, not copied


@pytest.mark.parametrize("flagfile", FLAGFILES, ids=_label)
def test_every_flagfile_parses_into_a_valid_config(flagfile, monkeypatch):
    monkeypatch.chdir(REPO)  # flagfiles include each other by repo-relative path
    _, config, _ = _parse(flagfile.relative_to(REPO))  # make_config runs the config's validation
    if hasattr(config, "run_configs"):
        assert config.run_configs(), f"{_label(flagfile)} plans no runs"
    if hasattr(config, "leaves"):
        assert config.leaves(), f"{_label(flagfile)} plans no runs"
    assert flagfile.read_text().startswith("# "), f"{_label(flagfile)} must open with a comment on what it runs"


def unset_result_fields(flagfile):
    """The fields that change a run's result (its fingerprint) which `flagfile` leaves to the defaults."""
    name, config, values = _parse(flagfile)
    experiment = get_experiment(name)
    settings = set(result_settings(config))
    given = {flag for flag in settings if flag in values and values[flag].present}
    exempt = set(dict(experiment.fixed_flags)) | set(MAY_BE_UNSET.get(name, ()))
    exempt |= {axis.single for axis in experiment.sweep_axes if axis.single and axis.plural in given}
    if not getattr(config, "audit", True):
        exempt |= {"audit_images", "audit_layers"}  # read only with --audit (given without it, they are refused)
    return sorted(settings - given - exempt)


@pytest.mark.parametrize("flagfile", PAPER, ids=_label)
def test_paper_flagfiles_set_every_result_changing_value(flagfile, monkeypatch):
    monkeypatch.chdir(REPO)
    unset = unset_result_fields(flagfile.relative_to(REPO))
    assert not unset, f"{_label(flagfile)} leaves {unset} to the experiment's defaults"


@pytest.mark.parametrize("flagfile", PAPER, ids=_label)
def test_paper_flagfiles_state_their_data_and_expected_times(flagfile):
    comments = " ".join(line for line in flagfile.read_text().splitlines() if line.startswith("#"))
    if "--flagfile=" not in flagfile.read_text():  # an including file may refer to its base's
        assert "Data:" in comments, f"{_label(flagfile)} does not say which data it needs"
    assert "H100" in comments and "2-core CPU" in comments, f"{_label(flagfile)} gives no GPU and CPU time"


def test_an_unset_result_value_is_found(tmp_path, monkeypatch):
    # The check above can fail: a protocol that leaves the width to the default is caught.
    monkeypatch.chdir(REPO)
    source = (REPO / "flags" / "paper" / "gapnet_cifar10.cfg").read_text()
    flagfile = tmp_path / "gapnet.cfg"
    flagfile.write_text("\n".join(line for line in source.splitlines() if not line.startswith("--width=")))
    assert unset_result_fields(flagfile) == ["width"]
