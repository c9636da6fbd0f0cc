"""Two-way fixed-effects DiD: statsmodels equivalence, Bacon decomposition, inference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import evalkit as ek


@pytest.fixture(scope="module")
def mpdta(validation_dir):
    d = pd.read_csv(validation_dir / "mpdta.csv")
    d["D"] = ((d["first.treat"] > 0) & (d["year"] >= d["first.treat"])).astype(int)
    return d


OPTS = dict(outcome="lemp", unit="countyreal", time="year", treated="D")


def test_twfe_matches_ols_with_dummies_and_cr1(mpdta):
    """ssc='full' counts every fixed effect, as statsmodels OLS with dummies does; the
    default (fixest's) is tested against pyfixest in test_cluster_se.py."""
    res = ek.did(mpdta, inference="cluster", ssc="full", **OPTS)
    X = pd.get_dummies(mpdta[["countyreal", "year"]].astype(str), drop_first=True).astype(float)
    X.insert(0, "D", mpdta["D"])
    ref = sm.OLS(mpdta["lemp"], sm.add_constant(X)).fit(
        cov_type="cluster", cov_kwds={"groups": mpdta["countyreal"]})
    rec = res.effects.iloc[0]
    assert rec["estimate"] == pytest.approx(ref.params["D"], abs=1e-10)
    assert rec["se"] == pytest.approx(ref.bse["D"], rel=1e-8)


def test_bacon_decomposition_reproduces_twfe(mpdta):
    res = ek.did(mpdta, inference="cluster", **OPTS)
    bacon = res.plot_data()["bacon"]
    assert bacon["weight"].sum() == pytest.approx(1.0, abs=1e-10)
    assert (bacon["weight"] * bacon["estimate"]).sum() == pytest.approx(
        res.effects.iloc[0]["estimate"], abs=1e-10)
    assert "later vs earlier treated" in set(bacon["type"])
    assert any("staggered_did" in w for w in res.warnings)


def _few_clusters(seed, n_clusters=16, treated=8, units=10, periods=10, effect=1.0):
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(n_clusters), units)
    unit = np.arange(n_clusters * units)
    rows = []
    shock = rng.normal(0, 1, (n_clusters, periods))  # cluster-by-period shocks
    for u_, c in zip(unit, cl, strict=True):
        tr = c < treated
        y = rng.normal(0, 1) + shock[c] + rng.normal(0, 1, periods)
        post = np.arange(periods) >= periods // 2
        y = y + effect * (tr & post)
        rows.append(pd.DataFrame({"unit": u_, "cluster": c, "t": np.arange(periods), "y": y,
                                  "D": (tr & post).astype(int)}))
    return pd.concat(rows, ignore_index=True)


def test_auto_inference_uses_wild_bootstrap_with_few_treated_clusters():
    res = ek.did(_few_clusters(1), outcome="y", unit="unit", time="t", treated="D",
                 cluster="cluster", seed=1)
    assert "wild cluster bootstrap" in res.diagnostics["inference"]


def test_wild_bootstrap_equals_wildboottest_refitting_every_dummy():
    """did's WCR is the bootstrap of the full two-way dummy regression, as in boottest and
    the peer package wildboottest, which refits unit and period dummies in every draw.
    With 8 clusters both enumerate all 256 sign vectors, so the p-values agree exactly
    once ties (the draws w = 1 and w = -1 reproduce |t|) are counted our way."""
    wbt = pytest.importorskip("wildboottest.wildboottest",
                              reason="the peer package wildboottest is not installed")
    d = _few_clusters(4, n_clusters=8, treated=3, units=4, periods=6, effect=0.0)
    res = ek.did(d, outcome="y", unit="unit", time="t", treated="D", cluster="cluster",
                 inference="wild", weights="rademacher", n_boot=999)
    X = pd.get_dummies(d[["unit", "t"]].astype(str), drop_first=True).astype(float)
    X.insert(0, "const", 1.0)
    X.insert(0, "D", d["D"].astype(float))
    peer = wbt.WildboottestCL(X=X.to_numpy(), Y=d["y"].to_numpy(), cluster=d["cluster"].to_numpy(),
                              R=np.eye(X.shape[1])[0], B=999, seed=1, parallel=False)
    peer.get_scores(bootstrap_type="11", impose_null=True)
    peer.get_weights(weights_type="rademacher")
    for step in (peer.get_numer, peer.get_denom, peer.get_tboot, peer.get_vcov,
                 peer.get_tstat):
        step()
    t_obs = float(np.squeeze(peer.t_stat))
    assert len(peer.t_boot) == 256
    p_ours_convention = float(np.mean(np.abs(peer.t_boot) >= abs(t_obs) * (1 - 1e-10)))
    assert res.effects["p_value"].iloc[0] == p_ours_convention
    assert "period effects as dummies" in res.diagnostics["inference"]


def test_randomization_inference_runs_and_is_seeded():
    d = _few_clusters(2, n_clusters=12, treated=4)
    a = ek.did(d, outcome="y", unit="unit", time="t", treated="D", inference="randomization",
               n_boot=99, seed=3)
    b = ek.did(d, outcome="y", unit="unit", time="t", treated="D", inference="randomization",
               n_boot=99, seed=3)
    assert a.effects["p_value"].iloc[0] == b.effects["p_value"].iloc[0]
    assert "randomisation" in a.diagnostics["inference"]


def test_no_comparison_units_is_refused(mpdta):
    with pytest.raises(ek.DataError, match="no_comparison|comparison units"):
        ek.did(mpdta.assign(D=1), **{**OPTS})


def test_event_study_matches_ols_with_dummies(mpdta):
    res = ek.event_study(mpdta, outcome="lemp", unit="countyreal", time="year",
                         cohort="first.treat", leads=3, lags=3, seed=1, ssc="full")
    e = np.where(mpdta["first.treat"] > 0, mpdta["year"] - mpdta["first.treat"], 99)
    X = pd.get_dummies(mpdta[["countyreal", "year"]].astype(str), drop_first=True).astype(float)
    names = []
    for k in (-3, -2, 0, 1, 2, 3):
        col = f"e{k}"
        X[col] = ((e <= k) & (e != 99) if k == -3 else (e >= k) & (e != 99) if k == 3
                  else e == k).astype(float)
        names.append(col)
    ref = sm.OLS(mpdta["lemp"], sm.add_constant(X)).fit(
        cov_type="cluster", cov_kwds={"groups": mpdta["countyreal"]})
    ours = res.effects.set_index("estimand")
    for k, col in zip((-3, -2, 0, 1, 2, 3), names, strict=True):
        assert ours.loc[f"event:{k}", "estimate"] == pytest.approx(ref.params[col], abs=1e-10)
        assert ours.loc[f"event:{k}", "se"] == pytest.approx(ref.bse[col], rel=1e-8)
    wald = ref.wald_test(" = 0, ".join(["e-3", "e-2"]) + " = 0", use_f=False, scalar=True)
    assert res.diagnostics["pretrend_wald"] == pytest.approx(float(wald.statistic), rel=1e-6)
    band = res.plot_data()["event_study"]
    assert (band["band_high"] >= band["ci_high"]).all()


@pytest.mark.parametrize("balanced", [True, False])
@pytest.mark.parametrize("bin_endpoints,cluster", [(False, None), (True, "state")])
def test_event_study_paths_match_ols_with_dummies(mpdta, balanced, bin_endpoints, cluster):
    """Both fitting paths (closed form for balanced panels, blockwise alternating
    projections otherwise) equal statsmodels OLS with unit and year dummies and CR1
    clustered standard errors (statsmodels' default small-sample correction, which counts
    every dummy: ssc='full')."""
    d = mpdta.assign(state=mpdta["countyreal"] // 1000)
    if not balanced:  # some counties enter late or leave early: unbalanced, no gaps
        rng = np.random.default_rng(3)
        drop = rng.choice(d["countyreal"].unique(), 120, replace=False)
        edge = np.where(d["countyreal"] % 2 == 0, 2003, 2007)
        d = d[~(d["countyreal"].isin(drop) & (d["year"] == edge))].reset_index(drop=True)
    res = ek.event_study(d, outcome="lemp", unit="countyreal", time="year",
                         cohort="first.treat", leads=2, lags=2, bin_endpoints=bin_endpoints,
                         cluster=cluster, seed=1, ssc="full")
    e = np.where(d["first.treat"] > 0, d["year"] - d["first.treat"], 99)
    X = pd.get_dummies(d[["countyreal", "year"]].astype(str), drop_first=True).astype(float)
    window = (-2, 0, 1, 2)
    for k in window:
        if bin_endpoints and k == -2:
            X[f"e{k}"] = ((e <= k) & (e != 99)).astype(float)
        elif bin_endpoints and k == 2:
            X[f"e{k}"] = ((e >= k) & (e != 99)).astype(float)
        else:
            X[f"e{k}"] = (e == k).astype(float)
    groups = d[cluster or "countyreal"]
    ref = sm.OLS(d["lemp"], sm.add_constant(X)).fit(cov_type="cluster",
                                                    cov_kwds={"groups": groups})
    ours = res.effects.set_index("estimand")
    for k in window:
        assert ours.loc[f"event:{k}", "estimate"] == pytest.approx(ref.params[f"e{k}"],
                                                                    abs=1e-10)
        assert ours.loc[f"event:{k}", "se"] == pytest.approx(ref.bse[f"e{k}"], rel=1e-8)


def test_twfe_warns_when_the_heterogeneity_robust_estimate_disagrees():
    """With effects that grow and differ by cohort (a simulated truth), TWFE is biased and
    did() says so, quoting Callaway-Sant'Anna's overall ATT on the same data."""
    from evalkit.synthetic.staggered import simulate_staggered

    truth = simulate_staggered(units=400, seed=1)
    res = ek.did(truth.panel, outcome="y", unit="unit", time="period", treated="treated",
                 inference="cluster")
    cs = ek.staggered_did(truth.panel, outcome="y", unit="unit", time="period",
                          cohort="cohort", n_boot=0).effects.set_index("estimand")
    assert res.diagnostics["cs_att_simple"] == pytest.approx(cs.loc["att_simple", "estimate"],
                                                             abs=1e-10)
    assert res.diagnostics["cs_att_simple_se"] == pytest.approx(cs.loc["att_simple", "se"],
                                                                rel=1e-10)
    assert any("disagree" in w for w in res.warnings)
    # the robust estimate is close to the truth, TWFE is not
    assert abs(res.diagnostics["cs_att_simple"] - truth.att_simple) < 3 * cs.loc[
        "att_simple", "se"]
    assert abs(res.effects["estimate"].iloc[0] - truth.att_simple) > 5 * res.effects[
        "se"].iloc[0]


@pytest.mark.parametrize("diag,level", [
    ({}, 3),
    ({"pretrend_p": 0.4}, 3),  # pre-trends pass, but no sensitivity analysis
    ({"pretrend_p": 0.4, "honest_breakdown_mbar": 0.5}, 3),  # overturned by small departures
    ({"pretrend_p": 0.01, "honest_breakdown_mbar": 2.0}, 3),  # pre-trends fail
    ({"pretrend_p": 0.4, "honest_breakdown_mbar": 1.0}, 4),
    ({"matched": True}, 4),
])
def test_maryland_level_of_did_designs(diag, level):
    from evalkit.evidence.maryland import maryland_level

    for design in ("did", "event_study", "staggered_did"):
        assert maryland_level(design, "att_simple", diag) == level


def test_poisson_did_matches_statsmodels_glm_with_dummies():
    """family='poisson': the rate ratio equals exp(coefficient) of statsmodels' Poisson GLM
    with unit and period dummies and a log(list size) offset; SE equals its cluster-robust
    SE (statsmodels' default correction G/(G-1) (N-1)/(N-K), K counting every dummy:
    ssc='full')."""
    rng = np.random.default_rng(4)
    units, periods = 40, 10
    u = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(1, periods + 1), units)
    size = np.repeat(rng.integers(2000, 9000, units), periods)
    treated_unit = np.repeat(np.arange(units) < 15, periods)
    D = (treated_unit & (t >= 6)).astype(int)
    mu = size / 1000 * np.exp(0.3 * rng.normal(size=units)[u] + 0.05 * t + np.log(0.85) * D)
    d = pd.DataFrame({"practice": u, "month": t, "admissions": rng.poisson(mu), "list": size,
                      "D": D, "pcn": u // 4})
    res = ek.did(d, outcome="admissions", unit="practice", time="month", treated="D",
                 denominator="list", family="poisson", cluster="pcn", ssc="full")
    rec = res.effects.iloc[0]
    assert rec["estimand"] == "rate_ratio" and rec["scale"] == "ratio"
    X = pd.get_dummies(d[["practice", "month"]].astype(str), drop_first=True).astype(float)
    X.insert(0, "D", d["D"].astype(float))
    ref = sm.GLM(d["admissions"], sm.add_constant(X), family=sm.families.Poisson(),
                 offset=np.log(d["list"])).fit(cov_type="cluster",
                                               cov_kwds={"groups": d["pcn"]}, tol=1e-13)
    assert rec["estimate"] == pytest.approx(np.exp(ref.params["D"]), rel=1e-8)
    assert rec["se"] == pytest.approx(ref.bse["D"], rel=1e-6)
    assert rec["ci_low"] < rec["estimate"] < rec["ci_high"]
    assert "cluster-robust" in res.diagnostics["inference"]
    with pytest.raises(ek.DesignError, match="not available with family='poisson'"):
        ek.did(d, outcome="admissions", unit="practice", time="month", treated="D",
               denominator="list", family="poisson", inference="wild")


@pytest.mark.parametrize("design", ["event_study", "staggered_did"])
def test_cluster_column_must_exist_and_hold_whole_units(mpdta, design):
    fn = getattr(ek, design)
    opts = dict(outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                seed=1)
    with pytest.raises(ek.DataError, match="cluster column 'stat' is missing.*'state'"):
        fn(mpdta.assign(state=1), cluster="stat", **opts)
    split = mpdta.assign(state=np.where(mpdta["year"] == 2004, 1, 2))
    with pytest.raises(ek.DataError, match="changes within a unit") as err:
        fn(split, cluster="state", **opts)
    assert err.value.rows and err.value.column == "state"


def test_always_treated_units_keep_the_estimate_and_explain_the_missing_diagnostics():
    """TWFE with always-treated units is a valid regression; only the diagnostics that
    need a pre-period for every cohort (Bacon, Callaway-Sant'Anna) are left out, each
    with a warning that says why, and TWFE still equals OLS with dummies."""
    from evalkit.synthetic.staggered import simulate_staggered

    d = simulate_staggered(units=200, cohorts=(1, 5, 9), seed=1).panel
    res = ek.did(d, outcome="y", unit="unit", time="period", treated="treated",
                 inference="cluster")
    X = pd.get_dummies(d[["unit", "period"]].astype(str), drop_first=True).astype(float)
    X.insert(0, "treated", d["treated"].astype(float))
    ref = sm.OLS(d["y"], sm.add_constant(X)).fit()
    assert res.effects["estimate"].iloc[0] == pytest.approx(ref.params["treated"], abs=1e-10)
    assert "bacon" not in res.frames
    assert any("Goodman-Bacon decomposition was not computed" in w for w in res.warnings)
    assert any("could not be made" in w and "first period" in w for w in res.warnings)
    assert "first period" in res.diagnostics["cs_att_simple_error"]
