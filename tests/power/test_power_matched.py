"""Matched-cohort and t-test power against statsmodels' closed form."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.power import TTestIndPower

from evalkit.power.matched import matched_mde, simulated_t_power, t_test_mde, t_test_power


@pytest.mark.parametrize("d, n1, ratio", [(0.3, 50, 1.0), (0.5, 20, 2.0), (0.2, 200, 0.5)])
def test_t_test_power_matches_statsmodels(d, n1, ratio):
    expected = TTestIndPower().power(effect_size=d, nobs1=n1, alpha=0.05, ratio=ratio)
    assert t_test_power(d * 3.0, 3.0, n1, ratio * n1) == pytest.approx(expected, abs=1e-6)


def test_t_test_mde_matches_statsmodels():
    d = TTestIndPower().solve_power(nobs1=40, ratio=1.5, alpha=0.05, power=0.8)
    assert t_test_mde(2.0, 40, 60) == pytest.approx(2.0 * d, rel=1e-4)


def test_simulated_power_agrees_within_monte_carlo_error():
    expected = TTestIndPower().power(effect_size=0.4, nobs1=60, alpha=0.05, ratio=1)
    reps = 20000
    got = simulated_t_power(0.4, 1.0, 60, 60, reps=reps, seed=3)
    assert abs(got - expected) < 4 * np.sqrt(expected * (1 - expected) / reps)


def test_matched_mde_uses_within_arm_sd_and_change_from_pre():
    rng = np.random.default_rng(5)
    n = 4000
    arm = np.r_[np.ones(1000), np.zeros(3000)].astype(int)
    pre = rng.normal(100, 10, n)
    post = pre + rng.normal(0, 5, n) + 50 * arm  # a real difference must not inflate the SD
    cohort = pd.DataFrame({"t": arm, "y": post, "y0": pre})
    res = matched_mde(cohort, outcome="y", treated="t", pre="y0", ratio=2, n_sims=4000)
    sd = np.sqrt(((999) * np.var(post[arm == 1] - pre[arm == 1], ddof=1)
                  + 2999 * np.var(post[arm == 0] - pre[arm == 0], ddof=1)) / 3998)
    d = TTestIndPower().solve_power(nobs1=1000, ratio=2, alpha=0.05, power=0.8)
    assert res.mde == pytest.approx(d * sd, rel=1e-4)
    assert 0.76 < res.diagnostics["power_at_mde_simulated"] < 0.84
    units = res.plot_data()["mde_by_units"]
    assert units["mde"].is_monotonic_decreasing
    assert set(res.effects["quantity"]) == {"mde"}
    assert "two-sample t test" in res.summary()


def test_matched_mde_power_for_named_effect():
    rng = np.random.default_rng(1)
    cohort = pd.DataFrame({"t": np.repeat([1, 0], 300), "y": rng.normal(0, 2, 600)})
    res = matched_mde(cohort, outcome="y", treated="t", effect=-0.5, n_sims=500)
    frame = res.to_frame().set_index("quantity")
    assert frame.loc["power", "value"] == pytest.approx(
        t_test_power(0.5, res.diagnostics["sd"], 300, 300))
