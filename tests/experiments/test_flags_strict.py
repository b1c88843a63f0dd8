"""A flag is given once per source; a later one overrides only a flagfile read before it. A flagfile value
never ends at a comment, and a flag spelled with dashes is named with its underscore spelling (second
hostile pass, findings 7, 8 and 20)."""

import pytest

import evaluate
import train
from keras_gpos.experiments import flags as experiment_flags


def _parse(*args):
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
        _parse("--experiment=location", *args)


@pytest.mark.adversarial
def test_a_flag_given_twice_in_one_flagfile_is_refused_naming_both_lines(tmp_path):
    flagfile = _flagfile(tmp_path / "x.cfg", "--experiment=location", "--epochs=1", "# more", "--epochs=2")
    with pytest.raises(ValueError, match=rf"--epochs is given twice: '--epochs=1' \({tmp_path / 'x.cfg'} line 2\) "
                                         rf"and '--epochs=2' \({tmp_path / 'x.cfg'} line 4\)"):
        _parse(flagfile)


def test_a_flag_after_a_flagfile_overrides_it_on_the_command_line_and_in_a_flagfile(tmp_path):
    base = _flagfile(tmp_path / "base.cfg", "--experiment=location", "--epochs=3", "--noflip")
    assert _parse(base, "--epochs=1", "--flip").epochs == 1  # the documented `--flagfile=... --epochs=1`
    child = _flagfile(tmp_path / "child.cfg", base, "--epochs=5")  # as flags/permutenet_long_embedded.cfg
    assert _parse(child).epochs == 5
    assert _parse(child, "--epochs=7").epochs == 7


@pytest.mark.adversarial
def test_a_flag_a_later_flagfile_would_override_or_two_flagfiles_set_is_refused(tmp_path):
    first = _flagfile(tmp_path / "a.cfg", "--experiment=location", "--epochs=3")
    second = _flagfile(tmp_path / "b.cfg", "--epochs=4")
    with pytest.raises(ValueError, match=r"'--epochs=1' \(the command line\) and '--epochs=3' \(.*a\.cfg line 2\); "
                                         "the flagfile read after it would override it"):
        _parse("--epochs=1", first)
    with pytest.raises(ValueError, match=r"'--epochs=3' \(.*a\.cfg line 2\) and '--epochs=4' \(.*b\.cfg line 1\); "
                                         "two flagfiles read side by side set it"):
        _parse(first, second)
    with pytest.raises(ValueError, match="two flagfiles read side by side"):
        _parse(first, first)


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
        _parse(flagfile)


def test_a_hash_inside_a_value_is_still_a_value(tmp_path):
    flagfile = _flagfile(tmp_path / "h.cfg", "--experiment=location", f"--output_dir={tmp_path}/run#2")
    assert _parse(flagfile).output_dir == f"{tmp_path}/run#2"


@pytest.mark.adversarial
def test_a_flag_spelled_with_dashes_is_unknown_and_its_underscore_spelling_suggested(tmp_path):
    # Finding 20: '--learning-rate=0.01' was "an unexpected argument ... takes only flags".
    with pytest.raises(ValueError, match=r"unknown flag '--learning-rate' \(the command line\) \(flag names use "
                                         r"underscores: --learning_rate\)"):
        _parse("--experiment=location", "--learning-rate=0.01")
    flagfile = _flagfile(tmp_path / "d.cfg", "--experiment=location", "-batch-size=4")
    with pytest.raises(ValueError, match=r"d\.cfg line 2: '-batch-size=4' is not a known flag \(flag names use "
                                         r"underscores: --batch_size\)"):
        _parse(flagfile)
