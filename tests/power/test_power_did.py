"""DiD power from placebo dates: against the design-effect closed form, and staggered."""

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import DataError, DesignError
from evalkit.power.did import did_mde, window_changes


def _clustered_panel(k_t=20, k_c=20, m=10, T=3000, rho=0.2, seed=3):
    """Units in clusters; the outcome is a cluster-period shock (share rho of the variance)
    plus a unit-period one, independent over time."""
    rng = np.random.default_rng(seed)
    k = k_t + k_c
    cluster = np.repeat(np.arange(k), m)
    shock = rng.normal(size=(k, T))[cluster] * np.sqrt(rho)
    y = shock + rng.normal(size=(k * m, T)) * np.sqrt(1 - rho)
    units = np.repeat(np.arange(k * m), T)
    return pd.DataFrame({"unit": units, "t": np.tile(np.arange(1, T + 1), k * m),
                         "y": y.ravel(), "treated": (cluster[units] < k_t).astype(int)})


def test_window_changes():
    Y = np.arange(10, dtype=float)[None]
    ch = window_changes(Y, baseline=2, followup=3)
    # at s = 2: mean(2, 3, 4) - mean(0, 1) = 3 - 0.5
    assert ch[0, 2] == pytest.approx(2.5)
    assert np.isnan(ch[0, :2]).all() and np.isnan(ch[0, 8:]).all()


def test_placebo_se_matches_design_effect_closed_form():
    k_t = k_c = 20
    m, rho, h, B = 10, 0.2, 6, 6
    panel = _clustered_panel(k_t, k_c, m, rho=rho)
    res = did_mde(panel, outcome="y", unit="unit", time="t", treated="treated", start=3001,
                  baseline=B, followup=h, followups=(h,), unit_multiples=(1.0,),
                  n_subsets=2)
    design_effect = 1 + (m - 1) * rho
    closed = np.sqrt((1 / h + 1 / B) * design_effect / m * (1 / k_t + 1 / k_c))
    # ~3,000 overlapping placebo windows: the SE is estimated to within a few percent.
    assert res.se == pytest.approx(closed, rel=0.08)
    assert res.curve["n_draws"].iloc[0] > 2900
    naive = np.sqrt((1 / h + 1 / B) / m * (1 / k_t + 1 / k_c))
    assert res.se > 1.4 * naive


def test_staggered_did_on_synthetic_panel():
    panel = ek.read("data/synthetic/federation-mdt/panel.csv")
    res = did_mde(panel, outcome="emergency_admissions", unit="practice", time="month",
                  cohort="cohort", denominator="list_size", effect=-0.5, n_subsets=50)
    assert res.design == "staggered_did"
    assert res.diagnostics["cohorts"] == 3 and res.diagnostics["n_comparison"] == 30
    units = res.plot_data()["mde_by_units"]
    assert units["mde"].is_monotonic_decreasing
    assert units.loc[units["multiple"] == 1.0, "n_units"].iloc[0] == 120
    # the by-units fit reproduces the observed panel's own placebo SE at multiple 1
    assert units.loc[units["multiple"] == 1.0, "se"].iloc[0] == pytest.approx(res.se, rel=0.15)
    frame = res.to_frame().set_index("quantity")
    assert 0 < frame.loc["power", "value"] < 1
    assert list(res.curve["followup"]) == list(range(3, 37, 3))


def test_did_needs_treated_or_cohort():
    panel = pd.DataFrame({"u": [1, 1], "t": [1, 2], "y": [1.0, 2.0], "d": [0, 1]})
    with pytest.raises(DesignError, match="either treated"):
        did_mde(panel, outcome="y", unit="u", time="t")
    with pytest.raises(DataError, match="no column 'z'"):
        did_mde(panel, outcome="z", unit="u", time="t", treated="d", start=2)


def test_pre_period_drift_shifts_the_detectable_fall_and_rise():
    """Treated units trending up by 0.01 a period against the comparison: each placebo
    estimate carries a drift of 0.01 (h + B) / 2, which a fall must overcome."""
    panel = _clustered_panel(k_t=10, k_c=10, m=5, T=400, rho=0.1, seed=8)
    panel["y"] += 0.01 * panel["t"] * panel["treated"]
    res = did_mde(panel, outcome="y", unit="unit", time="t", treated="treated", start=401,
                  baseline=12, followup=6, followups=(6,), unit_multiples=(1.0,),
                  n_subsets=2, effect=-0.5)
    row = res.planned()
    assert res.diagnostics["drift"] == pytest.approx(0.01 * (6 + 12) / 2, abs=0.02)
    assert row["mde_fall"] == pytest.approx(-row["mde"] - res.diagnostics["drift"])
    assert row["mde_rise"] == pytest.approx(row["mde"] - res.diagnostics["drift"])
    assert any("drift" in w for w in res.warnings)
    assert "Allowing for the pre-period drift" in res.summary()
