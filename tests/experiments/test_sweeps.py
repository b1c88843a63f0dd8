"""One owner for the suites' plural flags: no value twice, no plural with its single twin."""

import pytest

from keras_gpos.experiments import flags as experiment_flags
from keras_gpos.experiments.augshift import AugShiftConfig
from keras_gpos.experiments.channel_position import ChannelPositionConfig


def _parse(*args):
    return experiment_flags.parse(["train.py", *args])[1]


@pytest.mark.adversarial
@pytest.mark.parametrize("args, message", [
    (["--seeds=0,0"], r"--seeds holds 0 more than once \(0,0\)"),
    (["--paddings=zero,zero"], r"--paddings holds zero more than once"),
    (["--grid_sizes=3,3"], r"--grid_sizes holds 3 more than once"),
    (["--experiment=augshift", "--dataset=embedded", "--consistency_weights=1,1.0"], "holds 1.0 more than once"),
    (["--experiment=position_attack", "--attack_n=4,4"], "--attack_n holds 4 more than once"),
])
def test_a_sweep_value_given_twice_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        _parse(*args)


@pytest.mark.adversarial
@pytest.mark.parametrize("args, pair", [
    (["--seed=0", "--seeds=1,2"], "--seeds and --seed"),
    (["--padding=zero", "--paddings=reflect"], "--paddings and --padding"),
    (["--grid_sizes=3", "--grid_size=3"], "--grid_sizes and --grid_size"),  # even when they agree
    (["--experiment=augshift", "--dataset=embedded", "--seed=0", "--seeds=0"], "--seeds and --seed"),
])
def test_a_plural_flag_and_its_single_twin_contradict_whatever_the_values(args, pair):
    with pytest.raises(ValueError, match=f"{pair} contradict each other"):
        _parse(*args)


@pytest.mark.adversarial
def test_a_single_twin_alone_is_a_one_value_sweep():
    config = _parse("--experiment=augshift", "--dataset=embedded", "--seed=3")
    assert config.seeds == (3,) and {seed for _, _, seed in config.leaves()} == {3}
    config = _parse("--seed=4", "--padding=reflect")
    assert {(c.seed, c.padding) for _, c in config.run_configs()} == {(4, "reflect")}


def test_configs_built_in_python_refuse_what_their_values_show():
    with pytest.raises(ValueError, match="--seeds holds 1 more than once"):
        ChannelPositionConfig(seeds=(1, 1))
    with pytest.raises(ValueError, match="--seeds and --seed contradict"):
        AugShiftConfig(dataset="embedded", seed=5)  # would be ignored: AugShift trains every --seeds value
    with pytest.raises(ValueError, match="sets --head per variant"):
        ChannelPositionConfig(head="fc")


def test_the_suite_expands_its_axes_in_order():
    config = ChannelPositionConfig(seeds=(1, 0), grid_sizes=(2, 3), variants=("gapnet_location", "fc_class"))
    names = [name for name, _ in config.run_configs()]
    assert names == ["gapnet_location_zero_g2_s1", "fc_class_zero_g2_s1", "gapnet_location_zero_g2_s0",
                     "fc_class_zero_g2_s0", "gapnet_location_zero_g3_s1", "fc_class_zero_g3_s1",
                     "gapnet_location_zero_g3_s0", "fc_class_zero_g3_s0"]
