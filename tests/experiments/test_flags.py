"""train.py's flags: parsed strictly (one dash or two, flagfiles line by line), everything else refused
in one line naming where it came from; a round-trip fuzzer over configs and their legal spellings."""

import dataclasses
import pathlib
import tempfile

import pytest
from absl import flags as absl_flags
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evaluate
import train
from keras_gpos.experiments import EXPERIMENTS
from keras_gpos.experiments import flags as experiment_flags
from keras_gpos.experiments.config import field_help, result_settings
from keras_gpos.experiments.registry import get_experiment, make_config
from tests.flag_utils import parse_train_flags


def _parse(*args):
    name, config, _ = experiment_flags.parse(["train.py", *args])
    return name, config


@pytest.mark.adversarial
@pytest.mark.parametrize("args", [["-experiment=classification"], ["-experiment", "classification"]])
def test_single_dash_flags_pick_the_experiment(args):
    name, config = _parse(*args)
    assert name == "classification" and config.task == "class"


def test_flags_take_their_value_after_an_equals_sign_or_as_the_next_argument():
    name, config = _parse("--experiment", "augshift", "--dataset=embedded", "-epochs", "3", "--fill", "-1.5")
    assert (name, config.epochs, config.fill) == ("augshift", 3, -1.5)


@pytest.mark.adversarial
@pytest.mark.parametrize("args, message", [
    (["--experiment=location", "\u2014epochs=3"], r"unexpected argument '\u2014epochs=3' \(the command line\) "
                                                   r"\(it starts with '\u2014', not a dash\)"),
    (["--experiment=location", "--", "--epochs=3"], r"'--' \(the command line\) ends the flags, but train\.py "
                                                    r"takes no arguments, so \['--epochs=3'\] would be ignored"),
    (["--experiment=location", "runs/x"], r"unexpected argument 'runs/x' \(the command line\)"),
])
def test_anything_that_is_not_a_flag_is_refused_naming_it(args, message):
    with pytest.raises(ValueError, match=message):
        _parse(*args)


@pytest.mark.adversarial
def test_a_flagfile_line_that_is_not_a_flag_and_a_bom_are_refused_naming_the_line(tmp_path):
    plain = tmp_path / "plain.cfg"
    plain.write_text("# a comment\n--experiment=location\n\nepochs=3\n")
    with pytest.raises(ValueError, match=rf"{plain} line 4: 'epochs=3' is not a flag"):
        _parse(f"--flagfile={plain}")
    bom = tmp_path / "bom.cfg"
    bom.write_bytes("\ufeff--experiment=location\n--epochs=3\n".encode())
    with pytest.raises(ValueError, match=rf"{bom} line 1 starts with a UTF-8 byte-order mark"):
        _parse("--flagfile", str(bom))
    outer = tmp_path / "outer.cfg"
    outer.write_text(f"--flagfile={plain}\n")
    with pytest.raises(ValueError, match="line 4"):  # nested flagfiles name the inner file
        _parse(f"-flagfile={outer}")


def test_an_unknown_flag_in_a_flagfile_or_a_loop_of_flagfiles_is_named(tmp_path):
    loop = tmp_path / "loop.cfg"
    loop.write_text(f"--flagfile={loop}\n")
    with pytest.raises(ValueError, match="includes itself"):
        _parse(f"--flagfile={loop}")
    other = tmp_path / "other.cfg"
    other.write_text("--experiment=location\n--canvas_size=40\n")
    with pytest.raises(ValueError, match=r"does not take --canvas_size \(a flag of augshift\)"):
        _parse(f"--flagfile={other}")


@pytest.mark.adversarial
@pytest.mark.parametrize("args, message", [
    (["--experiment=classification", "--task=location"], "does not take --task: the experiment is the task"),
    (["--experiment=location", "--task=class"], "does not take --task"),
    (["--experiment=channel_position", "--head=fc"], "does not take --head: each variant sets it"),
])
def test_a_field_the_experiment_sets_itself_is_not_a_flag(args, message):
    with pytest.raises(ValueError, match=message):
        _parse(*args)


def test_help_lists_only_the_flags_an_experiment_takes():
    assert "--task:" not in experiment_flags.help_text("classification")
    assert "--head:" not in experiment_flags.help_text("channel_position")
    assert "--head:" in experiment_flags.help_text("location")


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp", "Zs")), min_size=1,
                max_size=12).filter(lambda text: not text.startswith(("-", "#", "/")))

_COMMON = {
    "output_dir": _TEXT.map(lambda text: f"runs/{text}"),
    "seed": st.integers(0, 2**31 - 1),
    "epochs": st.integers(1, 50),
    "batch_size": st.integers(1, 512),
    "learning_rate": st.floats(1e-6, 1.0, exclude_min=True),
    "beta_1": st.floats(0.0, 0.999),
    "deterministic": st.booleans(),
    "verbose": st.sampled_from((0, 1, 2)),
    "overwrite": st.booleans(),
}

_IMAGES = {
    "dataset": st.just("embedded"),
    "embedded_train_size": st.integers(1, 10_000),
    "embedded_test_size": st.integers(1, 10_000),
    "train_examples": st.integers(0, 5_000),
    "val_fraction": st.floats(0.01, 0.9),
}

_UNIQUE = dict(min_size=1, max_size=3, unique=True)

FIELDS = {
    "location": {**_COMMON, **_IMAGES, "grid_size": st.integers(1, 6), "width": st.integers(1, 64),
                 "background": st.sampled_from(("zeros", "black", "white", "mean", "noise")),
                 "flip": st.booleans(), "padding": st.sampled_from(("zero", "reflect", "replicate", "circular")),
                 "audit_every": st.integers(0, 5)},
    "channel_position": {**_COMMON, **_IMAGES, "width": st.integers(1, 64), "eval_repeats": st.integers(1, 4),
                         "seeds": st.lists(st.integers(0, 100), **_UNIQUE).map(tuple),
                         "paddings": st.lists(st.sampled_from(("zero", "reflect", "circular")), **_UNIQUE).map(tuple),
                         "grid_sizes": st.lists(st.integers(1, 5), **_UNIQUE).map(tuple),
                         "variants": st.lists(st.sampled_from(("gapnet_location", "fc_class", "permutenet_class")),
                                              **_UNIQUE).map(tuple)},
    "augshift": {**_COMMON, **_IMAGES, "canvas_size": st.integers(32, 64), "fill": st.floats(-2.0, 2.0),
                 "seeds": st.lists(st.integers(0, 100), **_UNIQUE).map(tuple),
                 "consistency_weights": st.lists(st.floats(0.0, 10.0), **_UNIQUE).map(tuple),
                 "variants": st.lists(st.sampled_from(("baseline", "augshift", "blurpool")), **_UNIQUE).map(tuple),
                 "normalize_latents": st.booleans(), "distance": st.sampled_from(("mse", "cosine"))},
}


@st.composite
def _configs(draw):
    name = draw(st.sampled_from(sorted(FIELDS)))
    names = draw(st.lists(st.sampled_from(sorted(FIELDS[name])), unique=True, max_size=8))
    if name == "augshift" and "dataset" not in names:
        names.append("dataset")  # its default, cifar10_binary, needs a --data_dir
    return name, {field: draw(FIELDS[name][field]) for field in names}


def _text(value):
    if isinstance(value, tuple):
        return ",".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


@st.composite
def _spellings(draw, name, values):
    """Each flag as the command line or a flagfile may legally spell it: `(argument list, in_file)`."""
    spelled = []
    for flag, value in [("experiment", name), *values.items()]:
        dashes = draw(st.sampled_from(("-", "--")))
        in_file = draw(st.booleans())
        if isinstance(value, bool) and draw(st.booleans()):
            spelled.append(([f"{dashes}{'' if value else 'no'}{flag}"], in_file))
        elif not in_file and not isinstance(value, bool) and draw(st.booleans()):
            spelled.append(([f"{dashes}{flag}", _text(value)], False))
        else:
            spelled.append(([f"{dashes}{flag}={_text(value)}"], in_file))
    return draw(st.permutations(spelled))


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_config_written_in_any_legal_spelling_parses_back_to_itself(data):
    name, values = data.draw(_configs())
    try:
        expected = make_config(name, **values)
    except ValueError:
        return  # a combination the config refuses (e.g. more validation images than images)
    spelled = data.draw(_spellings(name, values))
    with tempfile.TemporaryDirectory() as folder:
        lines = [arg for args, in_file in spelled if in_file for arg in args]
        groups = [args for args, in_file in spelled if not in_file]
        if lines:
            flagfile = pathlib.Path(folder) / "flags.cfg"
            flagfile.write_text("# written by the fuzzer\n" + "\n".join(lines) + "\n", encoding="utf-8")
            groups.insert(data.draw(st.integers(0, len(groups))), [f"--flagfile={flagfile}"])
        parsed_name, parsed = _parse(*[arg for args in groups for arg in args])
    assert parsed_name == name
    assert parsed == expected, [f.name for f in dataclasses.fields(parsed)
                                if getattr(parsed, f.name) != getattr(expected, f.name)]


def test_an_experiments_help_names_the_flagfiles_that_reproduce_its_figures(tmp_path):
    from keras_gpos.experiments.flags import flagfiles_of, help_text

    (tmp_path / "flags" / "paper").mkdir(parents=True)
    (tmp_path / "flags" / "base.cfg").write_text("# The base run.\n--experiment=location\n--epochs=3\n")
    (tmp_path / "flags" / "paper" / "child.cfg").write_text("# A child of the base.\n--flagfile=flags/base.cfg\n")
    (tmp_path / "flags" / "other.cfg").write_text("# Another experiment.\n--experiment=augshift\n")
    assert flagfiles_of("location", tmp_path) == [("flags/base.cfg", "The base run."),
                                                  ("flags/paper/child.cfg", "A child of the base.")]
    assert "flags/quickstart.cfg" in help_text("channel_position")  # the shipped flagfiles, recursively


REPO = pathlib.Path(__file__).resolve().parents[2]


def test_flagfile_becomes_a_frozen_config(tmp_path):
    flagfile = tmp_path / "x.cfg"
    flagfile.write_text("# comment\n--experiment=channel_position\n--paddings=zero,circular\n"
                        "--grid_sizes=2,3\n--seeds=0,1\n--width=8\n")
    name, config = parse_train_flags([f"--flagfile={flagfile}", "--epochs=3"])
    assert name == "channel_position"
    assert config.paddings == ("zero", "circular") and config.grid_sizes == (2, 3)
    assert config.seeds == (0, 1) and config.width == 8 and config.epochs == 3
    assert len(config.run_configs()) == 2 * 2 * 2 * 5
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.width = 3


@pytest.mark.parametrize("flagfile", sorted((REPO / "flags").glob("*.cfg")), ids=lambda p: p.name)
def test_every_shipped_flagfile_is_documented(flagfile):
    # Parsing every flagfile (flags/ recursively) is test_every_flagfile_parses_into_a_valid_config below.
    table = (REPO / "docs" / "experiments" / "index.md").read_text()
    assert f"`{flagfile.name}`" in table, f"{flagfile.name} is missing from docs/experiments/index.md's flagfile table"


def test_flags_use_the_experiments_own_defaults():
    _, location = parse_train_flags(["--experiment=location"])
    _, classification = parse_train_flags(["--experiment=classification"])
    assert location.task == "location" and classification.task == "class"
    assert location.beta_1 == 0.5 and location.batch_size == 48
    # Defaults a 2-core CPU runs in minutes on the embedded data; the paper's settings are flags/paper/.
    assert (location.dataset, location.depth, location.width, location.epochs) == ("embedded", 10, 16, 4)
    _, augshift = parse_train_flags(["--experiment=augshift"])
    assert (augshift.dataset, augshift.depth, augshift.width, augshift.variants) == (
        "embedded", 10, 16, ("baseline", "augshift"))
    _, attack = parse_train_flags(["--experiment=position_attack"])
    assert (attack.dataset, attack.depth, attack.width, attack.epochs) == ("street_scenes", 10, 16, 4)


def test_a_default_the_data_source_never_reads_is_not_part_of_the_fingerprint():
    from keras_gpos.experiments.config import result_settings

    _, cifar = parse_train_flags(["--experiment=location", "--dataset=cifar10_binary", "--data_dir=/x"])
    _, embedded = parse_train_flags(["--experiment=location"])
    assert "embedded_train_size" not in result_settings(cifar)
    assert result_settings(embedded)["embedded_train_size"] == embedded.embedded_train_size


@pytest.mark.parametrize(
    "argv",
    [["--experiment=location"], ["--experiment=classification"], ["--experiment=channel_position"],
     ["--experiment=augshift", "--dataset=embedded"], ["--experiment=position_attack"]],
    ids=lambda argv: argv[0].split("=")[1],
)
def test_every_resnet_experiment_takes_depth_50_and_says_so(argv):
    _, config = parse_train_flags([*argv, "--depth=50"])
    assert config.depth == 50
    depth_field = next(f for f in dataclasses.fields(config) if f.name == "depth")
    assert "50" in field_help(depth_field)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--experiment=location", "--seeds=0,1"], "does not take --seeds"),
        (["--experiment=location", "--padding=mirror"], "Unknown padding mode 'mirror'"),
        (["--experiment=location", "--grid_size=0"], "grid_size must be a positive int"),
        (["--experiment=location", "--permute_at=pooled"], "permute_at='pooled' needs head='fc'"),
        (["--experiment=location", "--arch=vgg", "--depth=11", "--permute_at=stage9"], "out of range for arch 'vgg'"),
        (["--experiment=location", "--depth=11"], "depth 11 is not a resnet depth"),
        (["--experiment=location", "--seed=-1"], r"seed must be an int in \[0, 2147483647\]; got -1"),
        (["--experiment=location", "--learning_rate=inf"], "learning_rate must be a finite number"),
        (["--experiment=augshift", "--fill=nan"], "fill must be a finite number"),
        (["--experiment=augshift", "--consistency_weights=1,inf"], "consistency_weights must be a finite number"),
        (["--experiment=location", "--output_dir= "], "output_dir must name a folder"),
        (["--experiment=location", "--seeds=0,1"],
         "does not take --seeds \\(a flag of augshift, channel_position, position_attack\\)"),
        (["--experiment=location", "--dataset=cifar10_binary"], "needs --data_dir"),
        (["--experiment=location", "--strategy=gpu_magic"], "Unknown strategy 'gpu_magic'"),
        (["--experiment=channel_position", "--paddings=zero,bogus"], "Unknown padding 'bogus'"),
    ],
)
def test_bad_or_contradictory_flags_are_clear_errors(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_train_flags(argv)


def test_help_lists_the_experiments_and_each_experiments_own_flags():
    overview = experiment_flags.help_text()
    for name, experiment in EXPERIMENTS.items():
        assert name in overview and experiment.summary in overview
    augshift = experiment_flags.help_text("augshift")
    assert "--consistency_weights:" in augshift and "--grid_size:" not in augshift
    assert "(default: 64)" in augshift.split("--batch_size:")[1].splitlines()[1]  # AugShift's own default
    location = experiment_flags.help_text("location")
    assert "(default: 48)" in location.split("--batch_size:")[1].splitlines()[1]
    assert "--consistency_weights" not in location


def test_a_flag_of_another_experiment_names_its_owner():
    with pytest.raises(ValueError, match=r"does not take --canvas_size \(a flag of augshift\)"):
        experiment_flags.parse(["train.py", "--experiment=location", "--canvas_size=40"])
    with pytest.raises(ValueError, match="Unknown experiment 'locaton'"):
        experiment_flags.parse(["train.py", "--experiment=locaton"])


# Every shipped flagfile, in flags/ and its subfolders (flags/paper/), parses into a valid config.
#
# A renamed or retired flag must break here, not hours into a user's sweep. The paper's
# protocols (flags/paper/) also set every value that changes a result explicitly, so a
# changed default (the CPU-sized defaults of the experiments) never changes what they run.


FLAGFILES = sorted((REPO / "flags").rglob("*.cfg"))
PAPER = [path for path in FLAGFILES if path.parent.name == "paper"]


# Result fields a paper flagfile may leave unset, with the reason.
MAY_BE_UNSET = {
    "augshift": {"probe_epochs": "unused since keras_gpos 0.2"},
    "position_attack": {"model_path": "empty trains the model (the protocol)",
                        "image_height": "the CamVid folder is read at its own size",
                        "image_width": "the CamVid folder is read at its own size"},
}


def _parse_flagfile(flagfile, *extra):
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
    _, config, _ = _parse_flagfile(flagfile.relative_to(REPO))  # make_config runs the config's validation
    if hasattr(config, "run_configs"):
        assert config.run_configs(), f"{_label(flagfile)} plans no runs"
    if hasattr(config, "leaves"):
        assert config.leaves(), f"{_label(flagfile)} plans no runs"
    assert flagfile.read_text().startswith("# "), f"{_label(flagfile)} must open with a comment on what it runs"


def unset_result_fields(flagfile):
    """The fields that change a run's result (its fingerprint) which `flagfile` leaves to the defaults."""
    name, config, values = _parse_flagfile(flagfile)
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


# A flag is given once per source; a later one overrides only a flagfile read before it. A flagfile value
# never ends at a comment, and a flag spelled with dashes is named with its underscore spelling (second
# hostile pass, findings 7, 8 and 20).


def _config_of(*args):
    name, config, _ = experiment_flags.parse(["train.py", *args])
    return config


def _flagfile(path, *lines):
    path.write_text("\n".join(lines) + "\n")
    return f"--flagfile={path}"


@pytest.mark.adversarial
@pytest.mark.parametrize("args, first, second", [
    (["--epochs=1", "--epochs=2"], "--epochs=1", "--epochs=2"),
    (["-epochs=1", "--epochs", "2"], "-epochs=1", "--epochs"),
    (["--flip", "--noflip"], "--flip", "--noflip"),
])
def test_a_flag_given_twice_on_the_command_line_is_refused_naming_both(args, first, second):
    # Finding 7: `train.py ... --epochs=1 --epochs=2` trained 2 epochs without a word.
    with pytest.raises(ValueError, match=rf"--\w+ is given twice: '{first}' \(the command line\) and '{second}' "
                                         r"\(the command line\); give it once"):
        _config_of("--experiment=location", *args)


@pytest.mark.adversarial
def test_a_flag_given_twice_in_one_flagfile_is_refused_naming_both_lines(tmp_path):
    flagfile = _flagfile(tmp_path / "x.cfg", "--experiment=location", "--epochs=1", "# more", "--epochs=2")
    with pytest.raises(ValueError, match=rf"--epochs is given twice: '--epochs=1' \({tmp_path / 'x.cfg'} line 2\) "
                                         rf"and '--epochs=2' \({tmp_path / 'x.cfg'} line 4\)"):
        _config_of(flagfile)


def test_a_flag_after_a_flagfile_overrides_it_on_the_command_line_and_in_a_flagfile(tmp_path):
    base = _flagfile(tmp_path / "base.cfg", "--experiment=location", "--epochs=3", "--noflip")
    assert _config_of(base, "--epochs=1", "--flip").epochs == 1  # the documented `--flagfile=... --epochs=1`
    child = _flagfile(tmp_path / "child.cfg", base, "--epochs=5")  # as flags/permutenet_long_embedded.cfg
    assert _config_of(child).epochs == 5
    assert _config_of(child, "--epochs=7").epochs == 7


@pytest.mark.adversarial
def test_a_flag_a_later_flagfile_would_override_or_two_flagfiles_set_is_refused(tmp_path):
    first = _flagfile(tmp_path / "a.cfg", "--experiment=location", "--epochs=3")
    second = _flagfile(tmp_path / "b.cfg", "--epochs=4")
    with pytest.raises(ValueError, match=r"'--epochs=1' \(the command line\) and '--epochs=3' \(.*a\.cfg line 2\); "
                                         "the flagfile read after it would override it"):
        _config_of("--epochs=1", first)
    with pytest.raises(ValueError, match=r"'--epochs=3' \(.*a\.cfg line 2\) and '--epochs=4' \(.*b\.cfg line 1\); "
                                         "two flagfiles read side by side set it"):
        _config_of(first, second)
    with pytest.raises(ValueError, match="two flagfiles read side by side"):
        _config_of(first, first)


@pytest.mark.adversarial
def test_train_and_evaluate_refuse_a_repeated_flag_in_one_line(capsys, tmp_path):
    assert train.main(["train.py", "--experiment=location", "--epochs=1", "--epochs=2",
                       f"--output_dir={tmp_path / 'run'}"]) == 2
    assert capsys.readouterr().err.strip().endswith("give it once (a flag given after a --flagfile overrides "
                                                    "that flagfile's value).")
    assert evaluate.main(["evaluate.py", "--runs=a", "--runs=b", f"--output_dir={tmp_path / 'rep'}"]) == 2
    assert "--runs is given twice" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "rep").exists()


@pytest.mark.adversarial
@pytest.mark.parametrize("line", ["--output_dir=/tmp/x/od_run  # my run", "--epochs=3 # short",
                                  "--flip=false\t# off", "--padding=zero // the paper", "--seeds=0,1 #two"])
def test_a_comment_after_a_flagfile_value_is_refused_naming_the_line(tmp_path, line):
    # Finding 8: the comment became part of a string value (a folder named 'od_run  # my run').
    flagfile = _flagfile(tmp_path / "c.cfg", "--experiment=channel_position", line)
    with pytest.raises(ValueError, match=rf"{tmp_path / 'c.cfg'} line 2: .* has a comment after its value, which "
                                         "would be read as part of it; put the comment on a line of its own"):
        _config_of(flagfile)


def test_a_hash_inside_a_value_is_still_a_value(tmp_path):
    flagfile = _flagfile(tmp_path / "h.cfg", "--experiment=location", f"--output_dir={tmp_path}/run#2")
    assert _config_of(flagfile).output_dir == f"{tmp_path}/run#2"


@pytest.mark.adversarial
def test_a_flag_spelled_with_dashes_is_unknown_and_its_underscore_spelling_suggested(tmp_path):
    # Finding 20: '--learning-rate=0.01' was "an unexpected argument ... takes only flags".
    with pytest.raises(ValueError, match=r"unknown flag '--learning-rate' \(the command line\) \(flag names use "
                                         r"underscores: --learning_rate\)"):
        _config_of("--experiment=location", "--learning-rate=0.01")
    flagfile = _flagfile(tmp_path / "d.cfg", "--experiment=location", "-batch-size=4")
    with pytest.raises(ValueError, match=r"d\.cfg line 2: '-batch-size=4' is not a known flag \(flag names use "
                                         r"underscores: --batch_size\)"):
        _config_of(flagfile)
