"""Empirical check of the DiD MDE on the synthetic panels (slow; the full table is
docs/power.md, written by benchmarks/power_empirical.py)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mde_sized_effects_planted_in_the_synthetic_panels_are_detected_about_80pct():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from power_empirical import run
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    table = run(followups=(6, 12))
    total = table[table["scheme"] == "all"].iloc[0]
    assert total["placebo dates"] > 300
    assert 0.75 <= total["share"] <= 0.85, table.to_string()
    by_scheme = table[table["scheme"] != "all"]
    assert (by_scheme["share"] > 0.6).all(), table.to_string()


def test_planted_detection_on_one_scheme():
    import evalkit as ek
    from evalkit.power.empirical import planted_detection

    panel = ek.read(ROOT / "data/synthetic/virtual-wards/panel.csv")
    panel = panel[(panel["treated"] == 1) | (panel["comparison"] == 1)]
    out = planted_detection(panel, outcome="emergency_admissions", unit="practice",
                            time="month", start="2019-10", treated="treated",
                            denominator="list_size", followup=6)
    assert len(out) == 37
    assert (out["placebo_start"] < "2019-10").all()  # planted in the pre-period copy only
    assert 0.7 <= out["detected"].mean() <= 0.9
