"""keras_gpos.reporting.results: 'top / random' is printed only where the random mean is clearly
above zero; otherwise n/a, saying why (second hostile pass, finding 22: ratios such as -14.7 against
a random drop near zero)."""

import json
import pathlib

import pytest

from keras_gpos.reporting.results import render

pytestmark = pytest.mark.backend_agnostic

SEEDS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "results" / "position_attack_camvid_seeds_aspp_h"




def _table_rows(text, header):
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 2
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("| ")), len(lines))
    return {line.split(" | ")[0].strip("| "): line for line in lines[start:end]}


@pytest.mark.adversarial
def test_a_report_prints_n_a_with_the_reason_where_the_random_drop_is_near_zero():
    payload = json.loads((SEEDS / "results.json").read_text())
    one = render(payload["runs"][0], "seed 0")  # random drop 0.002 ± 0.010 over 40 draws at N=4
    rows = _table_rows(one, "| N | N / channels")
    assert "n/a (random drop ≈ 0)" in rows["4"] and "| 8.5 |" in rows["16"]
    over_seeds = _table_rows(render(payload, "seeds"), "| N | top-N drop")
    assert "n/a (a seed's random drop ≈ 0)" in over_seeds["4"] and "| 5.9 ± 2.9 |" in over_seeds["16"]
