"""The event study's simultaneous (sup-t) band is simultaneous (issue 22).

The pointwise intervals use t(G-1); the band's critical value must come from the same
t world (a multivariate t with G-1 degrees of freedom), or with few clusters the "uniform"
band is narrower than the pointwise intervals it should contain. References: scipy's
``multivariate_t`` (an independent sampler) and Student's t quantile, which the sup-t
critical value equals when there is one event time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evalkit as ek
from evalkit.plots import event_study_plot


def regions_panel(regions: int = 6, per_region: int = 10, periods: int = 12, seed: int = 0
                  ) -> pd.DataFrame:
    """Practices in ``regions`` regions; half the regions adopt (at periods 6 and 8), the
    rest never; shocks shared by region and period."""
    rng = np.random.default_rng(seed)
    units = regions * per_region
    unit = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(1, periods + 1), units)
    region = unit // per_region
    start_by_region = np.where(np.arange(regions) < regions // 2,
                               np.where(np.arange(regions) % 2 == 0, 6, 8), 0)
    cohort = start_by_region[region]
    D = (cohort > 0) & (t >= cohort)
    y = (rng.normal(size=units)[unit] + 0.1 * t + 0.5 * D
         + rng.normal(0, 0.5, (regions, periods))[region, t - 1] + rng.normal(size=unit.size))
    return pd.DataFrame({"unit": unit, "t": t, "region": region, "cohort": cohort, "y": y})


OPTS = dict(outcome="y", unit="unit", time="t", cohort="cohort")


def test_band_with_six_clusters_contains_every_pointwise_interval():
    """6 clusters: the pointwise intervals use t(5) = 2.5706; the band's critical value
    must be at least that (the old normal draws gave about 2.5, a band inside the
    pointwise intervals at every event time)."""
    res = ek.event_study(regions_panel(), cluster="region", leads=3, lags=3, seed=1, **OPTS)
    crit = res.diagnostics["sup_t_critical_value"]
    assert res.diagnostics["clusters"] == 6
    assert crit >= stats.t.ppf(0.975, 5)
    band = res.plot_data()["event_study"]
    assert (band["band_low"] <= band["ci_low"]).all()
    assert (band["band_high"] >= band["ci_high"]).all()
    est = band[band["se"] > 0]
    assert (est["band_high"] - est["band_low"] > est["ci_high"] - est["ci_low"]).all()


def test_critical_value_matches_scipy_multivariate_t():
    """Reference: scipy.stats.multivariate_t with the coefficients' correlation (from the
    event study's own pointwise SEs and pyfixest-checked covariance) and df = G - 1; the
    95% quantile of max |T| from 200,000 of its draws. Both are Monte Carlo estimates
    (standard error about 0.01 each), so they must agree to 0.04."""
    d = regions_panel(seed=3)
    res = ek.event_study(d, cluster="region", leads=3, lags=3, seed=2, n_boot=200_000,
                         **OPTS)
    # the coefficients' covariance, recomputed independently: OLS with dummies, CR1 by
    # region (any small-sample factor: only the correlation matters)
    import statsmodels.api as sm

    e = np.where(d["cohort"] > 0, d["t"] - d["cohort"], 99)
    X = pd.get_dummies(d[["unit", "t"]].astype(str), drop_first=True).astype(float)
    names = []
    for k in (-3, -2, 0, 1, 2, 3):
        on = (e <= k) if k == -3 else (e >= k) & (e != 99) if k == 3 else e == k
        X[f"e{k}"] = on.astype(float)
        names.append(f"e{k}")
    fit = sm.OLS(d["y"], sm.add_constant(X)).fit(cov_type="cluster",
                                                 cov_kwds={"groups": d["region"]})
    V = fit.cov_params().loc[names, names].to_numpy()
    se = np.sqrt(np.diag(V))
    # 6 clusters leave the CR1 covariance of 6 coefficients singular (rank G - 1 = 5)
    draws = stats.multivariate_t(loc=np.zeros(6), shape=V / np.outer(se, se), df=5,
                                 allow_singular=True).rvs(
        200_000, random_state=np.random.default_rng(11))
    ref = float(np.quantile(np.abs(draws).max(axis=1), 0.95))
    assert res.diagnostics["sup_t_critical_value"] == pytest.approx(ref, abs=0.04)
    assert ref > stats.t.ppf(0.975, 5) + 0.2  # six event times: far above pointwise


def test_one_event_time_gives_the_pointwise_t_quantile():
    """With a single event-time coefficient max |T| is |T|: the sup-t critical value is
    Student's t(G-1) quantile, up to Monte Carlo error (and never below it)."""
    res = ek.event_study(regions_panel(regions=8), cluster="region", leads=1, lags=0,
                         bin_endpoints=False, seed=4, n_boot=100_000, **OPTS)
    q = stats.t.ppf(0.975, 7)
    assert len(res.effects) == 1
    assert q <= res.diagnostics["sup_t_critical_value"] < q + 0.03


@pytest.mark.parametrize("regions", [6, 12, 30])
def test_critical_value_is_never_below_pointwise(regions):
    """With few draws the Monte Carlo quantile can fall below the pointwise t quantile by
    chance (with one event time, half the time); the band still contains the pointwise
    interval, whatever the seed."""
    d = regions_panel(regions=regions, per_region=3)
    q = stats.t.ppf(0.975, regions - 1)
    for seed in range(10):
        res = ek.event_study(d, cluster="region", leads=1, lags=0, bin_endpoints=False,
                             seed=seed, n_boot=20, **OPTS)
        assert res.diagnostics["sup_t_critical_value"] >= q


def test_no_draws_means_no_band():
    """n_boot=0: no simultaneous band (NaN columns and critical value), no crash; the plot
    draws pointwise intervals only."""
    res = ek.event_study(regions_panel(), cluster="region", leads=2, lags=2, n_boot=0,
                         **OPTS)
    assert np.isnan(res.diagnostics["sup_t_critical_value"])
    band = res.plot_data()["event_study"]
    est = band[band["event_time"] != -1]
    assert est[["band_low", "band_high"]].isna().all().all()
    assert est[["ci_low", "ci_high"]].notna().all().all()
    fig, alt = event_study_plot(res)
    assert fig is not None and "No simultaneous band is drawn" in alt
    with pytest.raises(ek.DesignError, match="n_boot must be a whole number"):
        ek.event_study(regions_panel(), cluster="region", n_boot=-1, **OPTS)
