"""Bootstrap MDE of mean costs: against the closed forms with and without clustering."""

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import DataError
from evalkit.power.costs import bootstrap_se, cost_mde


def test_unclustered_bootstrap_se_matches_welch_se():
    rng = np.random.default_rng(2)
    cost = np.r_[rng.lognormal(7, 1.2, 3000), rng.lognormal(7.2, 1.2, 1500)]
    arm = np.r_[np.zeros(3000), np.ones(1500)].astype(int)
    se, _ = bootstrap_se(cost, arm, n_boot=4000, seed=1)
    expected = np.sqrt(cost[arm == 0].var(ddof=1) / 3000 + cost[arm == 1].var(ddof=1) / 1500)
    assert se == pytest.approx(expected, rel=0.06)  # MC error of an SD over 4000 draws ~1.1%


def test_clustered_bootstrap_se_carries_the_design_effect():
    rng = np.random.default_rng(4)
    k, m, rho = 60, 25, 0.1  # clusters per arm, people per cluster, ICC
    arm = np.repeat([0, 1], k * m)
    cluster = np.repeat(np.arange(2 * k), m)
    cost = 1000 + 300 * (np.sqrt(rho) * rng.normal(size=2 * k)[cluster]
                         + np.sqrt(1 - rho) * rng.normal(size=2 * k * m))
    frame = pd.DataFrame({"cost": cost, "arm": arm, "practice": cluster})
    res = cost_mde(frame, cost="cost", treated="arm", cluster="practice", n_boot=4000)
    design_effect = 1 + (m - 1) * rho
    expected = 300 * np.sqrt(2 * design_effect / (k * m))
    assert res.se == pytest.approx(expected, rel=0.2)
    naive = cost_mde(frame, cost="cost", treated="arm", n_boot=4000)
    assert naive.se < 0.75 * res.se  # ignoring clusters understates the MDE
    units = res.plot_data()["mde_by_units"]
    assert units["mde"].is_monotonic_decreasing


def test_missing_column_is_one_line_data_error():
    with pytest.raises(DataError, match="no column 'spend'"):
        cost_mde(pd.DataFrame({"cost": [1.0, 2.0], "arm": [0, 1]}), cost="spend",
                 treated="arm")
