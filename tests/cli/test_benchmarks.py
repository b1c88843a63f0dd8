"""Benchmarks are not tests: this only checks that the suite still runs.

No timing thresholds: the smoke sizes say nothing about speed. It checks
that every section reports, that every figure is a finite number (rates,
times, ratios and memory positive), that targets come with a verdict, and
that the attack sweep compiled its evaluation once.
"""

import json
import math
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]

SECTIONS = {"input pipeline", "channel ranking", "attack sweep", "training step", "scaling", "audit",
            "probe speed"}


# Signed or possibly zero: overheads are differences (noise can make them
# negative), RSS growth can be zero, a fitted slope or intercept can have
# either sign on tiny sizes; a probe accuracy change can be zero.
SIGNED = ("overhead", "RSS growth", "slope", "R^2", "fixed cost", "accuracy change")


def test_benchmark_suite_smoke_run_writes_every_section(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", f"--out={out}"],
        cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(out.read_text())
    assert set(payload["sections"]) == SECTIONS
    for section, figures in payload["sections"].items():
        assert figures, section
        for f in figures:
            assert f["unit"] is not None and math.isfinite(f["value"]), f
            if not any(word in f["name"] for word in SIGNED):
                assert f["value"] > 0, f
            if f["target"]:
                assert isinstance(f["met"], bool), f
    by_name = {f["name"]: f for f in payload["sections"]["attack sweep"]}
    assert by_name["AttackEvaluator traces (after the sweep)"]["value"] == 1
    scaling = {f["name"]: f for f in payload["sections"]["scaling"]}
    assert scaling["AttackEvaluator traces (after all sweeps)"]["value"] == 1
    assert (out.with_suffix(".md")).read_text().count("|") > 20
    assert "grid pipeline / train step" in result.stdout
