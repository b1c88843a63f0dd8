"""Benchmarks are not tests: this only checks that the suite still runs."""

import json
import math
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_benchmark_suite_smoke_run_writes_every_section(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", f"--out={out}"],
        cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(out.read_text())
    assert set(payload["sections"]) >= {"input pipeline", "training step"}
    for figures in payload["sections"].values():
        for f in figures:
            assert f["unit"] and math.isfinite(f["value"]), f
            # Overheads are signed differences (noise can make them negative);
            # every rate, time and ratio must be positive.
            if f["unit"] != "% of step":
                assert f["value"] > 0, f
    assert "pipeline / train step" in result.stdout
