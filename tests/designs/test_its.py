"""Interrupted time series against published results and statsmodels.

Published: Lopez Bernal, Cummins & Gasparrini (2017), "Interrupted time series
regression for the evaluation of public health interventions: a tutorial",
Int J Epidemiol 46:348-355, Sicily smoking ban (as listed in
../shared/validation/README.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import evalkit as ek
from evalkit.errors import DataError, DesignError

SICILY = dict(outcome="aces", time="time", start=37, family="quasipoisson",
              denominator="stdpop", slope_change=False, autocorrelation="none")


@pytest.fixture(scope="module")
def sicily(validation_dir):
    return pd.read_csv(validation_dir / "sicily.csv")


def level(res):
    return res.effects.set_index("estimand").loc["level_change"]


def test_sicily_level_change_reproduces_published_quasipoisson(sicily):
    res = ek.its(sicily, **SICILY)
    rec = level(res)
    assert round(rec["estimate"], 3) == 0.894
    assert (round(rec["ci_low"], 3), round(rec["ci_high"], 3)) == (0.839, 0.953)
    assert round(res.diagnostics["dispersion"], 3) == 3.559
    assert rec["evidence_level"] == 3


def test_sicily_with_two_harmonics_reproduces_published(sicily):
    res = ek.its(sicily, seasonality={"fourier": 2, "period": 12}, **SICILY)
    rec = level(res)
    assert round(rec["estimate"], 3) == 0.885
    assert (round(rec["ci_low"], 3), round(rec["ci_high"], 3)) == (0.839, 0.933)
    assert round(res.diagnostics["dispersion"], 3) == 2.262
    coef = res.plot_data()["coefficients"].set_index("term")["estimate"]
    assert round(np.exp(12 * coef["time"]), 3) == 1.067


def _manual_design(sicily, harmonics=2):
    t = sicily["time"].to_numpy(dtype=float)
    X = {"const": np.ones(len(t)), "time": t - 1, "level": (t >= 37).astype(float),
         "slope": np.where(t >= 37, t - 37, 0.0)}
    for k in range(1, harmonics + 1):
        X[f"s{k}"] = np.sin(2 * np.pi * k * sicily["month"] / 12)
        X[f"c{k}"] = np.cos(2 * np.pi * k * sicily["month"] / 12)
    return pd.DataFrame(X)


def test_matches_direct_statsmodels_glm_fit(sicily):
    X = _manual_design(sicily)
    ref = sm.GLM(sicily["aces"], X, family=sm.families.Poisson(),
                 offset=np.log(sicily["stdpop"])).fit(scale="X2")
    res = ek.its(sicily, outcome="aces", time="time", start=37, family="quasipoisson",
                 denominator="stdpop", seasonality={"fourier": 2, "period": 12},
                 autocorrelation="none")
    coef = res.plot_data()["coefficients"].set_index("term")
    for ours, theirs in [("level_change", "level"), ("slope_change", "slope"), ("time", "time"),
                         ("sin2", "s2")]:
        assert coef.loc[ours, "estimate"] == pytest.approx(ref.params[theirs], abs=1e-6)
        assert coef.loc[ours, "se"] == pytest.approx(ref.bse[theirs], abs=1e-6)


def _gaussian_series(seed=3, n=72, start=49):
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    y = 20 + 0.1 * t + np.where(t >= start, -2 + 0.05 * (t - start), 0) + rng.normal(0, 1, n)
    return pd.DataFrame({"t": t, "y": y})


def test_gaussian_and_newey_west_match_statsmodels_ols():
    d = _gaussian_series()
    t = d["t"].to_numpy(float)
    X = pd.DataFrame({"const": 1.0, "time": t - 1, "level": (t >= 49) * 1.0,
                      "slope": np.where(t >= 49, t - 49, 0.0)})
    for remedy, fit in [("none", sm.OLS(d["y"], X).fit()),
                        ("hac", sm.OLS(d["y"], X).fit(cov_type="HAC",
                                                      cov_kwds={"maxlags": 3,
                                                                "use_correction": True}))]:
        res = ek.its(d, outcome="y", time="t", start=49, autocorrelation=remedy, lags=3)
        coef = res.plot_data()["coefficients"].set_index("term")
        assert coef.loc["level_change", "estimate"] == pytest.approx(fit.params["level"],
                                                                    abs=1e-8)
        assert coef.loc["level_change", "se"] == pytest.approx(fit.bse["level"], rel=1e-6)
        assert coef.loc["slope_change", "se"] == pytest.approx(fit.bse["slope"], rel=1e-6)


def test_effect_at_horizon_and_cumulative_are_consistent():
    d = _gaussian_series()
    res = ek.its(d, outcome="y", time="t", start=49, autocorrelation="none")
    e = res.effects.set_index("estimand")["estimate"]
    assert e["effect_at_12"] == pytest.approx(e["level_change"] + 12 * e["slope_change"])
    post = np.arange(0, 24)
    assert e["cumulative"] == pytest.approx(np.sum(e["level_change"] + post * e["slope_change"]))


def test_controlled_its_and_parallel_pretrend_test():
    rng = np.random.default_rng(5)
    t = np.arange(1, 61)
    rows = []
    for control, shift in ((0, -4.0), (1, 0.0)):
        y = 30 + 0.2 * t + 3 * control + np.where(t >= 37, shift, 0) + rng.normal(0, 1, 60)
        rows.append(pd.DataFrame({"t": t, "y": y, "comparison": control}))
    d = pd.concat(rows, ignore_index=True)
    res = ek.its(d, outcome="y", time="t", start=37, control="comparison",
                 slope_change=False, autocorrelation="none")
    g = 1 - d["comparison"].to_numpy()
    tt = d["t"].to_numpy(float) - 1
    lv = (d["t"] >= 37).to_numpy(float)
    X = pd.DataFrame({"const": 1.0, "time": tt, "level": lv, "group": g, "gtime": g * tt,
                      "glevel": g * lv})
    ref = sm.OLS(d["y"], X).fit()
    rec = level(res)
    assert rec["estimate"] == pytest.approx(ref.params["glevel"], abs=1e-8)
    assert rec["se"] == pytest.approx(ref.bse["glevel"], rel=1e-8)
    assert res.diagnostics["pretrend_p"] == pytest.approx(ref.pvalues["gtime"], rel=1e-3)
    assert rec["evidence_level"] == 4


def test_autocorrelation_is_diagnosed_and_remedied():
    rng = np.random.default_rng(11)
    n = 84
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = 0.7 * e[i - 1] + rng.normal()
    d = pd.DataFrame({"t": np.arange(n), "y": 10 + e + np.where(np.arange(n) >= 48, 2, 0)})
    res = ek.its(d, outcome="y", time="t", start=48, slope_change=False)
    assert res.diagnostics["remedy"] == "ar"
    assert "Breusch-Godfrey" in res.diagnostics["remedy_reason"]
    assert res.diagnostics["durbin_watson"] < 1.5
    assert set(res.plot_data()["acf"].columns) == {"lag", "acf", "pacf"}


def test_multiple_interruptions_and_washout():
    d = _gaussian_series(n=96)
    res = ek.its(d, outcome="y", time="t", start=[49, 73], washout=2, autocorrelation="none")
    names = list(res.effects["estimand"])
    assert {"level_change", "slope_change", "level_change:2", "slope_change:2"} <= set(names)
    assert res.diagnostics["n_points"] == 96 - 4


@pytest.mark.parametrize("kwargs,match", [
    (dict(start=6), "only 5 point"),
    (dict(start=[49, 40]), "time order"),
    (dict(start=66, washout=8), "swallows the post-period"),
    (dict(family="poison"), "did you mean 'poisson'"),
    (dict(autocorrelation="arma"), "did you mean 'arima'"),
])
def test_bad_input_is_refused_clearly(kwargs, match):
    d = _gaussian_series()
    args = dict(outcome="y", time="t", start=49)
    args.update(kwargs)
    with pytest.raises(DesignError, match=match):
        ek.its(d, **args)


def test_few_points_warn_and_counts_must_be_whole_with_positive_offsets(sicily):
    res = ek.its(sicily[sicily["time"] <= 46], **SICILY)
    assert any("fragile below 12" in w for w in res.warnings)
    bad = sicily.assign(aces=sicily["aces"] + 0.5)
    with pytest.raises(DataError, match="whole numbers"):
        ek.its(bad, **SICILY)
    bad = sicily.copy()
    bad.loc[3, "stdpop"] = 0
    with pytest.raises(DataError, match="zero or negative denominator"):
        ek.its(bad, **SICILY)


def _batch_panel(units=25, months=60, seed=2):
    rng = np.random.default_rng(seed)
    size = rng.integers(2000, 20000, units)
    t = np.arange(months)
    mu = (size * 0.01)[:, None] * np.exp(0.08 * np.cos(2 * np.pi * t / 12) - 0.1 * (t >= 36))
    return pd.DataFrame({"practice": np.repeat([f"P{i:02d}" for i in range(units)], months),
                         "t": np.tile(t, units), "y": rng.poisson(mu).ravel(),
                         "size": np.repeat(size, months)})


def test_batch_its_matches_statsmodels_unit_by_unit():
    d = _batch_panel()
    d.loc[(d["practice"] == "P03") & (d["t"].isin([5, 6, 40])), "y"] = np.nan
    res = ek.its(d, outcome="y", time="t", start=36, family="quasipoisson",
                 denominator="size", seasonality={"fourier": 2, "period": 12},
                 unit="practice", autocorrelation="none")
    long = res.plot_data()["unit_effects_long"].set_index(["unit", "estimand"])
    for unit in ("P00", "P03", "P17"):
        g = d[(d["practice"] == unit) & d["y"].notna()]
        tt = g["t"].to_numpy(float)
        X = pd.DataFrame({"const": 1.0, "time": tt, "level": (tt >= 36) * 1.0,
                          "slope": np.where(tt >= 36, tt - 36, 0.0)})
        for k in (1, 2):
            X[f"s{k}"] = np.sin(2 * np.pi * k * (tt % 12) / 12)
            X[f"c{k}"] = np.cos(2 * np.pi * k * (tt % 12) / 12)
        ref = sm.GLM(g["y"].to_numpy(), X, family=sm.families.Poisson(),
                     offset=np.log(g["size"].to_numpy())).fit(scale="X2")
        ours = long.loc[(unit, "level_change")]
        assert np.log(ours["estimate"]) == pytest.approx(ref.params["level"], abs=1e-6)
        assert ours["se"] == pytest.approx(ref.bse["level"], abs=1e-6)
    assert set(res.effects.columns) == set(ek.results.EFFECT_FIELDS)


@pytest.mark.parametrize("family", ["quasipoisson", "gaussian"])
def test_batch_its_default_is_the_single_series_default_unit_by_unit(family):
    """With a unit column, each unit gets what ``ek.its`` gives that unit alone by default
    (AR(1) errors; for counts Zeger's latent AR(1) process): the same estimate, SE and
    t interval with Satterthwaite df, also for a unit with missing months, and a washout."""
    d = _batch_panel(units=12)
    if family == "gaussian":
        d["y"] = d["y"] / d["size"] * 1000
    d.loc[(d["practice"] == "P03") & (d["t"].isin([5, 6, 40])), "y"] = np.nan
    kw = dict(outcome="y", time="t", start=36, family=family, washout=2,
              denominator="size" if family == "quasipoisson" else None,
              seasonality={"fourier": 1, "period": 12}, horizons=(6,))
    res = ek.its(d, unit="practice", **kw)
    assert res.diagnostics["remedy"] == "ar"
    long = res.plot_data()["unit_effects_long"].set_index(["unit", "estimand"])
    for unit in ("P00", "P03", "P07"):
        one = ek.its(d[d["practice"] == unit], **kw).effects.set_index("estimand")
        for estimand in ("level_change", "slope_change", "effect_at_6"):
            ours, ref = long.loc[(unit, estimand)], one.loc[estimand]
            for col in ("estimate", "se", "ci_low", "ci_high"):
                assert ours[col] == pytest.approx(ref[col], rel=1e-6), (unit, estimand, col)


def test_batch_its_reports_units_it_cannot_fit():
    d = _batch_panel(units=5)
    d.loc[(d["practice"] == "P01") & (d["t"] < 30), "y"] = np.nan
    res = ek.its(d, outcome="y", time="t", start=36, family="quasipoisson",
                 denominator="size", unit="practice")
    assert res.diagnostics["units_fitted"] == 4
    assert any("P01" in w for w in res.warnings)


def test_placebo_dates_in_the_pre_period(sicily):
    table = ek.its_placebo(sicily, outcome="aces", time="time", start=37,
                           family="quasipoisson", denominator="stdpop", slope_change=False,
                           autocorrelation="none")
    assert list(table["placebo_start"]) == ["9", "15", "21", "27"]
    assert {"estimate", "ci_low", "ci_high", "p_value"} <= set(table.columns)


def test_sensitivity_grid(sicily):
    table = ek.its_sensitivity(sicily, harmonics=(0, 2), washouts=(0, 3), outcome="aces",
                               time="time", start=37, family="quasipoisson",
                               denominator="stdpop", slope_change=False,
                               autocorrelation="none")
    assert len(table) == 4
    row = table[(table["harmonics"] == 2) & (table["washout"] == 0)].iloc[0]
    assert round(row["estimate"], 3) == 0.885


def test_power_calculation_matches_simulated_spread():
    """The analytic SE of the log level change agrees with the spread of AR-GLS estimates
    over simulated series with the same dispersion and autocorrelation (within 15%)."""
    rng = np.random.default_rng(21)
    n_pre, n_post, rho, sd = 48, 24, 0.4, 0.06
    estimates = []
    for _ in range(200):
        e = np.zeros(n_pre + n_post)
        e[0] = rng.normal(0, sd)
        for i in range(1, e.size):
            e[i] = rho * e[i - 1] + rng.normal(0, sd * np.sqrt(1 - rho**2))
        y = rng.poisson(200 * np.exp(e))
        d = pd.DataFrame({"t": np.arange(e.size), "y": y, "pop": 1.0})
        res = ek.its(d, outcome="y", time="t", start=n_pre, family="quasipoisson",
                     denominator="pop", slope_change=False, autocorrelation="ar", horizons=())
        estimates.append(np.log(level(res)["estimate"]))
    # Latent noise adds variance 200 * sd^2 per Poisson unit: dispersion 1 + mu sd^2.
    out = ek.its_power(n_pre=n_pre, n_post=n_post, baseline_count=200,
                       dispersion=1 + 200 * sd**2, rho=rho * 200 * sd**2 / (1 + 200 * sd**2),
                       effect=0.9)
    assert np.std(estimates) == pytest.approx(out["se_log_level"], rel=0.15)
    assert 0 < out["power"] < 1 and out["mde_reduction"] < 1 < out["mde_increase"]


def test_binomial_its_matches_statsmodels_glm():
    rng = np.random.default_rng(8)
    t = np.arange(1, 61)
    n = rng.integers(40, 80, 60)
    p = 1 / (1 + np.exp(-(-1.2 + 0.005 * t + 0.4 * (t >= 37))))
    d = pd.DataFrame({"t": t, "home": rng.binomial(n, p), "deaths": n})
    res = ek.its(d, outcome="home", time="t", start=37, family="binomial",
                 denominator="deaths", autocorrelation="none")
    X = pd.DataFrame({"const": 1.0, "time": t - 1.0, "level": (t >= 37) * 1.0,
                      "slope": np.where(t >= 37, t - 37.0, 0.0)})
    ref = sm.GLM(np.column_stack([d["home"], n - d["home"]]), X,
                 family=sm.families.Binomial()).fit()
    rec = level(res)
    assert np.log(rec["estimate"]) == pytest.approx(ref.params["level"], abs=1e-6)
    assert rec["se"] == pytest.approx(ref.bse["level"], abs=1e-6)
    assert "absolute_difference" in res.effects.set_index("estimand").loc[
        "effect_at_12", "diagnostics"]


def test_arima_errors_remedy():
    rng = np.random.default_rng(12)
    e = np.zeros(84)
    for i in range(1, 84):
        e[i] = 0.6 * e[i - 1] + rng.normal()
    d = pd.DataFrame({"t": np.arange(84), "y": 20 + e + 3 * (np.arange(84) >= 48)})
    res = ek.its(d, outcome="y", time="t", start=48, slope_change=False,
                 autocorrelation="arima")
    rec = level(res)
    assert res.diagnostics["remedy"] == "arima" and "SARIMAX" in res.diagnostics["method"]
    assert 0.3 < res.diagnostics["ar_rho"] < 0.9
    assert rec["ci_low"] < 3 < rec["ci_high"]
    with pytest.raises(DesignError, match="gaussian outcomes only"):
        ek.its(d.assign(y=d["y"].round().astype(int), pop=1000), outcome="y", time="t",
               start=48, family="quasipoisson", denominator="pop", autocorrelation="arima")
