"""The suites: one owner for their plural flags (no value twice, no plural with its single twin), and
`--budget_s` (the runs that fit train, the next invocation continues; a spy clock, nothing timed)."""

import functools
import json
import pathlib

import pytest

from keras_gpos.experiments import augshift, channel_position
from keras_gpos.experiments import flags as experiment_flags
from keras_gpos.experiments.augshift import AugShiftConfig
from keras_gpos.experiments.channel_position import ChannelPositionConfig
from keras_gpos.reporting import augshift as augshift_report
from keras_gpos.runs import budget as budget_module
from keras_gpos.runs.budget import RunBudget
from tests.flag_utils import parse_train_flags


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


# `--budget_s` on the suites: the runs that fit train, the next invocation continues, the report says
# what ran. Training is a spy that moves a fake clock; nothing is timed for real.


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _fake_budget(monkeypatch, module, clock):
    monkeypatch.setattr(module, "RunBudget", functools.partial(RunBudget, clock=clock))


def _finish(run_dir, seconds):
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps({"train_seconds": seconds}))
    return {"train_seconds": seconds}


def _channel_position(tmp_path, monkeypatch, budget_s):
    """One invocation of a 3-seed GAPNet suite whose runs take 100 s each; returns (trained, reports)."""
    clock, trained, reports = FakeClock(), [], []
    _fake_budget(monkeypatch, channel_position, clock)

    def train(run_config, splits):
        if (pathlib.Path(run_config.output_dir) / "run.json").exists():
            return {"train_seconds": 100.0}  # reused: loaded, no time
        clock.now += 100
        trained.append(pathlib.Path(run_config.output_dir).name)
        return _finish(run_config.output_dir, 100.0)

    monkeypatch.setattr(channel_position, "train_location", train)
    monkeypatch.setattr(channel_position, "evaluate_run", lambda run_dir, **k: {"run_dir": run_dir})
    monkeypatch.setattr(channel_position, "write_report",
                        lambda output_dir, rows, extra, **kwargs: reports.append((rows, extra)) or _Report())
    config = ChannelPositionConfig(output_dir=str(tmp_path), dataset="embedded", embedded_train_size=40,
                                   embedded_test_size=8, seeds=(0, 1, 2), variants=("gapnet_location",),
                                   width=4, depth=10, budget_s=budget_s)
    channel_position.run_channel_position(config)
    return trained, reports


class _Report:
    text = json = markdown = plot = ""
    payload = {}


def test_channel_position_trains_what_fits_and_the_next_invocation_continues(tmp_path, monkeypatch):
    trained, reports = _channel_position(tmp_path, monkeypatch, budget_s=150)
    assert trained == ["gapnet_location_zero_g3_s0"]  # s1 would end at 200 s > 150 s
    rows, extra = reports[0]
    assert [pathlib.Path(r["run_dir"]).name for r in rows] == trained  # the report holds only finished runs
    budget = extra["time_budget"]
    assert [r["name"] for r in budget["ran"]] == trained
    assert [r["name"] for r in budget["not_started"]] == ["gapnet_location_zero_g3_s1", "gapnet_location_zero_g3_s2"]

    trained, reports = _channel_position(tmp_path, monkeypatch, budget_s=150)  # the same command again
    assert trained == ["gapnet_location_zero_g3_s1"]
    rows, extra = reports[0]
    assert len(rows) == 2 and extra["time_budget"]["reused"] == ["gapnet_location_zero_g3_s0"]
    assert [r["name"] for r in extra["time_budget"]["not_started"]] == ["gapnet_location_zero_g3_s2"]


def test_without_a_budget_every_run_trains_and_the_report_has_no_budget(tmp_path, monkeypatch):
    trained, reports = _channel_position(tmp_path, monkeypatch, budget_s=0)
    assert len(trained) == 3 and "time_budget" not in reports[0][1]


def test_augshift_trains_what_fits_and_reports_it(tmp_path, monkeypatch):
    clock, trained, extras = FakeClock(), [], []
    _fake_budget(monkeypatch, augshift, clock)
    seconds = {"baseline": 100, "augshift": 300}

    def train_one(config, variant, consistency_weight, seed, splits):
        clock.now += seconds[variant]
        name = augshift.run_name(variant, consistency_weight, config, seed)
        trained.append(name)
        return _finish(tmp_path / "runs" / name, seconds[variant])

    monkeypatch.setattr(augshift, "train_one", train_one)
    monkeypatch.setattr(augshift, "check_suite_groups", lambda *a: None)
    monkeypatch.setattr(augshift_report, "write_report",
                        lambda output_dir, extra=None: extras.append(extra) or _Report())
    config = AugShiftConfig(output_dir=str(tmp_path), dataset="embedded", embedded_train_size=40,
                            embedded_test_size=8, variants=("baseline", "augshift"), seeds=(0, 1), width=4,
                            depth=10, budget_s=450)
    augshift.run_augshift(config)
    # baseline_s0 (100), augshift_s0 (estimate 100: ends at 400), baseline_s1 (400 + 100 > 450: left),
    # augshift_s1 (400 + 300: left).
    assert trained == ["baseline_seed0", "augshift_lam1_mse_seed0"]
    assert [r["name"] for r in extras[0]["time_budget"]["not_started"]] == ["baseline_seed1", "augshift_lam1_mse_seed1"]


def test_budget_s_is_a_flag_of_the_suites_and_never_part_of_a_fingerprint():
    from keras_gpos.experiments.config import result_settings

    for argv in (["--experiment=channel_position"], ["--experiment=augshift"]):
        _, config = parse_train_flags([*argv, "--budget_s=3600"])
        assert config.budget_s == 3600 and "budget_s" not in result_settings(config)
    with pytest.raises(ValueError, match="does not take --budget_s"):
        parse_train_flags(["--experiment=location", "--budget_s=10"])


def test_a_budget_with_several_workers_is_refused():
    with pytest.raises(ValueError, match="budget_s cannot be used with strategy=multi_worker_mirrored"):
        ChannelPositionConfig(budget_s=10, strategy="multi_worker_mirrored")
    with pytest.raises(ValueError, match="budget_s must be >= 0"):
        AugShiftConfig(budget_s=-1)


def _position_attack_seeds(tmp_path, monkeypatch, budget_s, **settings):
    """One invocation of a 3-seed position attack whose seeds take 100 s each; returns (ran, budgets)."""
    from keras_gpos.experiments import position_attack
    from keras_gpos.experiments.position_attack import PositionAttackConfig
    from keras_gpos.reporting import position_attack as attack_report

    clock, ran, budgets = FakeClock(), [], []
    _fake_budget(monkeypatch, budget_module, clock)  # run_seeds imports RunBudget when it runs

    def attack(leaf):
        clock.now += 100
        ran.append(leaf.seed)
        folder = pathlib.Path(leaf.output_dir)
        _finish(folder, 100.0)
        (folder / "results.json").write_text(json.dumps({"config": leaf.to_dict(), "seconds": {"total": 100.0}}))
        return {}

    monkeypatch.setattr(position_attack, "run_position_attack", attack)
    monkeypatch.setattr(position_attack, "seed_results", lambda run_dirs: list(run_dirs))
    monkeypatch.setattr(attack_report, "write_seed_report",
                        lambda output_dir, results, extra=None: budgets.append((results, extra)) or _Report())
    config = PositionAttackConfig(output_dir=str(tmp_path), seeds=(0, 1, 2), budget_s=budget_s, **settings)
    position_attack.run_seeds(config)
    return ran, budgets


def test_position_attack_seeds_run_what_fits_and_the_next_invocation_continues(tmp_path, monkeypatch):
    ran, reports = _position_attack_seeds(tmp_path, monkeypatch, budget_s=150)
    assert ran == [0]
    results, extra = reports[0]
    assert [pathlib.Path(r).name for r in results] == ["s0"]  # judged over the seeds that finished
    assert [r["name"] for r in extra["time_budget"]["not_started"]] == ["s1", "s2"]

    ran, reports = _position_attack_seeds(tmp_path, monkeypatch, budget_s=150)
    assert ran == [1] and reports[0][1]["time_budget"]["reused"] == ["s0"]
    # Other attack settings: the recorded attacks are not these, so the seeds run again.
    ran, _ = _position_attack_seeds(tmp_path, monkeypatch, budget_s=0, attack_n=(8,))
    assert ran == [0, 1, 2]


def test_position_attack_seeds_and_budget_are_checked():
    from keras_gpos.experiments.position_attack import PositionAttackConfig

    with pytest.raises(ValueError, match="budget_s needs --seeds"):
        PositionAttackConfig(budget_s=60)
    with pytest.raises(ValueError, match="--seeds trains one model per seed"):
        PositionAttackConfig(seeds=(0, 1), model_path="m.keras")
    with pytest.raises(ValueError, match="contradict"):
        parse_train_flags(["--experiment=position_attack", "--seeds=0,1", "--seed=2"])
