"""Coverage of the default ITS intervals (issue 22) and the AR(1) GLS fit against
statsmodels' GLS at the same rho.

The default (``autocorrelation="auto"``) fits AR(1) errors with a bias-corrected rho
whatever the pre-tests say, with or without a comparison series. The full grid is
``benchmarks/its_coverage.py`` (docs/its-coverage.md); here one hard cell runs at a modest
number of replications, and a reduced grid is marked slow.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.linalg import block_diag, toeplitz

import evalkit as ek


def _ar1(rng, reps, n, rho, sd):
    e = np.empty((reps, n))
    e[:, 0] = rng.normal(0, sd, reps)
    for i in range(1, n):
        e[:, i] = rho * e[:, i - 1] + rng.normal(0, sd * np.sqrt(1 - rho**2), reps)
    return e


def simulate(seed, reps, *, n_pre, n_post, rho, family, change, controlled):
    """Monthly series (treated, then comparison), one row a series and month."""
    rng = np.random.default_rng(seed)
    n = n_pre + n_post
    t = np.arange(n)
    season = np.cos(2 * np.pi * (t % 12 + 1) / 12)
    after = t >= n_pre
    truth = {("gaussian", "level"): -3.0, ("gaussian", "slope"): -0.1,
             ("quasipoisson", "level"): np.log(0.85),
             ("quasipoisson", "slope"): np.log(0.995)}[family, change]
    effect = after * (truth if change == "level" else truth * (t - n_pre))
    frames = []
    for s in (0, 1) if controlled else (0,):
        if family == "quasipoisson":
            e = _ar1(rng, reps, n, rho, 0.08)
            pop = (100_000.0 if s == 0 else 80_000.0) * (1 + 0.0005 * t)
            mu = pop * (0.002 if s == 0 else 0.0025) * np.exp(
                0.002 * t + 0.1 * season + (s == 0) * effect + e)
            y = rng.poisson(mu).astype(float)
        else:
            e = _ar1(rng, reps, n, rho, 2.0)
            pop = np.ones(n)
            y = (50.0 if s == 0 else 45.0) + 0.05 * t + 2 * season + (s == 0) * effect + e
        frames.append((y, pop, np.full(n, s)))
    Y = np.concatenate([f[0] for f in frames], axis=1)
    pop = np.concatenate([f[1] for f in frames])
    comp = np.concatenate([f[2] for f in frames])
    return Y, pop, comp, np.tile(t, len(frames)), truth


def coverage_of_default(reps, seed=2022, **cell):
    """Share of ``ek.its`` default 95% intervals covering the truth."""
    Y, pop, comp, t, truth = simulate(seed, reps, **cell)
    family = cell["family"]
    covered = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for y in Y:
            data = pd.DataFrame({"month": t, "y": y, "pop": pop, "comparison": comp})
            res = ek.its(data, outcome="y", time="month", start=cell["n_pre"], family=family,
                         denominator="pop" if family == "quasipoisson" else None,
                         seasonality={"fourier": 1, "period": 12}, horizons=(),
                         control="comparison" if cell["controlled"] else None)
            rec = res.effects.set_index("estimand").loc[f"{cell['change']}_change"]
            low, high = rec["ci_low"], rec["ci_high"]
            if family == "quasipoisson":
                low, high = np.log(low), np.log(high)
            covered.append(low <= truth <= high)
    return float(np.mean(covered))


def test_default_covers_in_a_hard_cell():
    """48 months before and 36 after, AR(1) rho 0.6, a comparison series, gaussian level
    change: the default covers within 3.3 Monte Carlo SEs of 95% at 200 replications (the
    old default, a Breusch-Godfrey pre-test and then Newey-West, covered about 79%)."""
    reps = 200
    cov = coverage_of_default(reps, n_pre=48, n_post=36, rho=0.6, family="gaussian",
                              change="level", controlled=True)
    band = 3.3 * np.sqrt(0.95 * 0.05 / reps)
    assert abs(cov - 0.95) <= band, cov


def test_controlled_ar1_gls_matches_statsmodels_gls_at_the_same_rho():
    """The default fit of a controlled ITS is GLS with AR(1) errors in each series (a
    common rho, no correlation between the series): statsmodels' GLS with that
    block-diagonal correlation matrix gives the same estimates and SEs; the uncorrected rho
    is the lag-1 autocorrelation (within series) of the GLS residuals at that rho; the
    corrected rho adds (1 + 3 rho) / n + p / n with n and p per series; and the interval
    uses t quantiles with Satterthwaite df."""
    Y, pop, comp, t, _ = simulate(7, 1, n_pre=48, n_post=36, rho=0.5, family="gaussian",
                                  change="level", controlled=True)
    data = pd.DataFrame({"month": t, "y": Y[0], "comparison": comp})
    res = ek.its(data, outcome="y", time="month", start=48, control="comparison",
                 seasonality={"fourier": 1, "period": 12}, horizons=())
    d = res.diagnostics
    assert d["remedy"] == "ar" and d["controlled"]
    n = 84
    group = 1.0 - comp
    tt = t.astype(float)
    after = (t >= 48).astype(float)
    X = np.column_stack([np.ones(2 * n), tt, after, after * (t - 48), group, group * tt,
                         group * after, group * after * (t - 48),
                         np.sin(2 * np.pi * (t % 12 + 1) / 12),
                         np.cos(2 * np.pi * (t % 12 + 1) / 12)])
    p = X.shape[1]

    def gls(rho):
        block = toeplitz(rho ** np.arange(n))
        return sm.GLS(Y[0], X, sigma=block_diag(block, block)).fit()

    raw, rho = d["ar_rho_uncorrected"], d["ar_rho"]
    r = Y[0] - gls(raw).fittedvalues
    pairs = np.sum(r[1:n] * r[: n - 1]) + np.sum(r[n + 1:] * r[n:-1])
    assert raw == pytest.approx(pairs / np.sum(r**2), abs=1e-6)
    assert rho == pytest.approx(raw + (1 + 3 * raw) / n + (p / 2) / n, abs=1e-12)
    ref = gls(rho)
    coef = res.plot_data()["coefficients"].set_index("term")
    assert coef.loc["group_level_change", "estimate"] == pytest.approx(ref.params[6], abs=1e-8)
    assert coef.loc["group_level_change", "se"] == pytest.approx(ref.bse[6], rel=1e-8)
    assert coef.loc["group_slope_change", "se"] == pytest.approx(ref.bse[7], rel=1e-8)
    # The interval: t with Satterthwaite df, 2 / Var(log v), from the estimated scale (N - p
    # df) and rho (variance (1 - rho^2) / N), with d log v / d rho from GLS at rho +- 0.01.
    N, h = 2 * n, 0.01
    dlog = (np.log(gls(rho + h).bse[6] ** 2) - np.log(gls(rho - h).bse[6] ** 2)) / (2 * h)
    df = 2 / (dlog**2 * (1 - rho**2) / N + 2 / (N - p))
    rec = res.effects.set_index("estimand").loc["level_change"]
    q = stats.t.ppf(0.975, df)
    assert (rec["ci_high"] - rec["ci_low"]) / (2 * rec["se"]) == pytest.approx(q, rel=1e-4)
    assert rec["ci_low"] == pytest.approx(ref.params[6] - q * ref.bse[6], abs=1e-4)


def test_default_for_counts_without_a_comparison_is_ar1_and_says_so():
    """Counts with no residual autocorrelation still get AR(1) errors by default; the
    reason names the default and the Breusch-Godfrey p-value, and ``none`` is still there
    on request."""
    Y, pop, comp, t, _ = simulate(3, 1, n_pre=48, n_post=36, rho=0.0, family="quasipoisson",
                                  change="level", controlled=False)
    data = pd.DataFrame({"month": t, "y": Y[0], "pop": pop})
    kw = dict(outcome="y", time="month", start=48, family="quasipoisson", denominator="pop",
              seasonality={"fourier": 1, "period": 12}, horizons=())
    res = ek.its(data, **kw)
    assert res.diagnostics["remedy"] == "ar"
    assert "by default" in res.diagnostics["remedy_reason"]
    assert "Breusch-Godfrey" in res.diagnostics["remedy_reason"]
    assert ek.its(data, **kw, autocorrelation="none").diagnostics["remedy"] == "none"


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gaussian", "quasipoisson"])
@pytest.mark.parametrize("controlled", [False, True])
@pytest.mark.parametrize("rho", [0.0, 0.3])
def test_default_covers_on_a_reduced_grid(family, controlled, rho):
    """72/48 months, level change: the default's coverage is within 3.3 Monte Carlo SEs of
    95% at 300 replications."""
    reps = 300
    cov = coverage_of_default(reps, n_pre=72, n_post=48, rho=rho, family=family,
                              change="level", controlled=controlled)
    assert abs(cov - 0.95) <= 3.3 * np.sqrt(0.95 * 0.05 / reps), cov


def test_arima_errors_are_refused_with_a_comparison_series():
    """SARIMAX would read the stacked treated and comparison series as one series."""
    Y, pop, comp, t, _ = simulate(5, 1, n_pre=48, n_post=36, rho=0.3, family="gaussian",
                                  change="level", controlled=True)
    data = pd.DataFrame({"month": t, "y": Y[0], "comparison": comp})
    with pytest.raises(ek.errors.DesignError, match="one series"):
        ek.its(data, outcome="y", time="month", start=48, control="comparison",
               autocorrelation="arima")
