"""train.py's flags: parsed strictly (one dash or two, flagfiles line by line), everything else refused
in one line naming where it came from; a round-trip fuzzer over configs and their legal spellings."""

import dataclasses
import pathlib
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_gpos.experiments import flags as experiment_flags
from keras_gpos.experiments.registry import make_config


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


# --- the round-trip fuzzer -----------------------------------------------------------------

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
