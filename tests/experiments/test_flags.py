"""train.py's flags: parsed strictly (one dash or two, flagfiles line by line), everything else refused
in one line naming where it came from; a round-trip fuzzer over configs and their legal spellings."""

import dataclasses
import pathlib
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_gpos.experiments import EXPERIMENTS
from keras_gpos.experiments import flags as experiment_flags
from keras_gpos.experiments.config import field_help
from keras_gpos.experiments.registry import make_config
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
    # Parsing every flagfile (flags/ recursively) is tests/experiments/test_flagfiles.py.
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
