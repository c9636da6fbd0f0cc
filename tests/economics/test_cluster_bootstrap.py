"""The cluster bootstrap of costs and effects (issue 22, point 5).

Where patients are nested in practices, :func:`bootstrap_ci`, :func:`ce_bootstrap`,
:func:`cost_compare` and the ``economic`` design resample whole practices, ``a - 1`` of
each kind of ``a`` (:mod:`evalkit.economics.bootstrap`). Checked here against formulas
and hand loops that do not use evalkit's code: the between-cluster variance of a mean,
replicates rebuilt practice by practice from the same multinomial draws, statsmodels'
cluster-robust OLS. The coverage study is ``benchmarks/cost_coverage.py --cluster``
(``docs/cost-coverage.md``); a smaller run of it is the slow test at the end.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.economics import bootstrap_ci, ce_bootstrap, cost_compare
from evalkit.economics.evaluation import economic
from evalkit.errors import DataError, DesignError

from conftest import ROOT, SYNTHETIC


def clustered(a: int = 30, m: int = 12, icc: float = 0.2, seed: int = 0, arms: bool = True
              ) -> pd.DataFrame:
    """``a`` practices of ``m`` patients per arm (arms in separate practices); cost and
    QALYs share a practice effect of intraclass correlation ``icc``."""
    rng = np.random.default_rng(seed)
    n_p = 2 * a if arms else a
    u = rng.normal(0, np.sqrt(icc), n_p)
    practice = np.repeat(np.arange(n_p), m)
    cost = 2000 + 400 * (u[practice] + rng.normal(0, np.sqrt(1 - icc), practice.size))
    qaly = 0.7 - 0.1 * (u[practice] + rng.normal(0, np.sqrt(1 - icc), practice.size))
    arm = (practice >= a).astype(int) if arms else rng.integers(0, 2, practice.size)
    return pd.DataFrame({"practice": [f"P{p:03d}" for p in practice], "arm": arm,
                         "cost": cost, "qaly": qaly})


# --------------------------------------------------------------------------- formulas


def test_cluster_bootstrap_variance_of_a_mean_equals_the_between_cluster_formula():
    """Equal practice sizes: drawing a - 1 of a practices gives the bootstrap variance of
    the mean s_b^2 / a exactly in expectation (s_b^2: sample variance of the practice
    means), the unbiased between-cluster estimate; patients resampled give far less."""
    d = clustered(a=25, m=8, icc=0.3, arms=False, seed=4)
    res = bootstrap_ci(d["cost"], cluster=d["practice"], n_resamples=40_000, seed=1,
                       method="percentile")
    practice_means = d.groupby("practice")["cost"].mean().to_numpy()
    expected = practice_means.var(ddof=1) / practice_means.size
    # Monte Carlo error of a variance from 40,000 replicates: about sqrt(2 / 40000) = 0.7%
    assert res.se**2 == pytest.approx(expected, rel=0.03)
    assert res.estimate == pytest.approx(d["cost"].mean())
    assert res.n_clusters == (25,)
    patients = bootstrap_ci(d["cost"], n_resamples=4000, seed=1, method="percentile")
    assert patients.se < 0.75 * res.se


def test_two_arm_variance_equals_the_linearised_ratio_formula_with_unequal_practices():
    """Unequal practice sizes: the pooled mean of an arm is a ratio, sum S_c / sum N_c,
    whose variance is sum (S_c - r N_c)^2 / (a (a - 1) Nbar^2) to first order; for the
    difference of two arms in separate practices the two add."""
    rng = np.random.default_rng(8)
    sizes = rng.integers(4, 30, 60)
    practice = np.repeat(np.arange(60), sizes)
    arm = (practice >= 30).astype(int)
    y = 500 + 200 * rng.normal(size=60)[practice] + rng.gamma(1.0, 600, practice.size)
    res = bootstrap_ci(y, groups=arm, cluster=practice, n_resamples=40_000, seed=3,
                       method="percentile")
    var = 0.0
    for g in (0, 1):
        S = np.bincount(practice[arm == g], weights=y[arm == g])[30 * g:]
        N = np.bincount(practice[arm == g])[30 * g:].astype(float)
        r, a = S.sum() / N.sum(), S.size
        var += np.sum((S - r * N) ** 2) / (a * (a - 1) * N.mean() ** 2)
    assert res.se**2 == pytest.approx(var, rel=0.05)
    assert res.n_clusters == (30, 30) and res.n == (int((arm == 0).sum()),
                                                   int((arm == 1).sum()))


def test_ce_bootstrap_replicates_equal_a_practice_by_practice_loop():
    """The same draws rebuilt by hand: per stratum (the arm-0 practices, then the arm-1
    ones), a - 1 multinomial draws of the a practices; each replicate's arm mean pools
    the drawn practices' patients; its deviation from the observed increment is then
    scaled by t_{10, 0.975} / z_{0.975} (12 practices, 2 strata)."""
    d = clustered(a=6, m=5, seed=2)
    d = d.iloc[np.random.default_rng(0).permutation(len(d))].reset_index(drop=True)
    d = d.sort_values("arm", kind="stable").reset_index(drop=True)
    B = 30
    out = ce_bootstrap(d, group="arm", cost="cost", effect="qaly", cluster="practice",
                       n_resamples=B, seed=5)
    gen = np.random.default_rng(5)
    factor = stats.t.ppf(0.975, 12 - 2) / stats.norm.ppf(0.975)
    observed = d[d["arm"] == 1][["cost", "qaly"]].mean() - d[d["arm"] == 0][["cost", "qaly"]].mean()
    arms = []
    for g in (0, 1):
        names = pd.unique(d.loc[d["arm"] == g, "practice"])
        counts = gen.multinomial(names.size - 1, np.full(names.size, 1 / names.size), size=B)
        arms.append((names, counts))
    for b in range(B):
        means = []
        for names, counts in arms:
            drawn = [d[d["practice"] == p] for p, k in zip(names, counts[b], strict=True)
                     for _ in range(k)]
            means.append(pd.concat(drawn)[["cost", "qaly"]].mean().to_numpy())
        for j, col in enumerate(("inc_cost", "inc_effect")):
            want = observed.iloc[j] + factor * (means[1][j] - means[0][j] - observed.iloc[j])
            assert out[col].iloc[b] == pytest.approx(want, rel=1e-10)
    assert out.attrs["n_clusters"] == [6, 6]
    assert out.attrs["df"] == 10 and out.attrs["t_factor"] == pytest.approx(factor)


# --------------------------------------------------------------------------- t factor


def test_cluster_t_factor_is_t_over_z_on_clusters_less_strata_and_tends_to_one():
    from evalkit.economics.bootstrap import cluster_t_factor

    for g, s, level in ((40, 2, 0.95), (60, 2, 0.95), (12, 1, 0.95), (40, 2, 0.90),
                        (3, 2, 0.99)):
        q = 1 - (1 - level) / 2
        want = stats.t.ppf(q, g - s) / stats.norm.ppf(q)
        assert cluster_t_factor(g, s, level) == pytest.approx(want, rel=1e-12), (g, s)
    assert cluster_t_factor(40, 2) == pytest.approx(2.024394 / 1.959964, rel=1e-6)
    many = [cluster_t_factor(g, 2) for g in (10, 100, 1_000, 1_000_000)]
    assert all(a > b > 1 for a, b in zip(many, many[1:], strict=False))
    assert many[-1] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(DesignError):
        cluster_t_factor(2, 2)  # no degrees of freedom left


def _hand_replicates(d: pd.DataFrame, B: int, seed: int) -> np.ndarray:
    """Cost difference of each cluster-bootstrap replicate, rebuilt practice by practice
    from the same multinomial draws (arms in separate practices)."""
    gen = np.random.default_rng(seed)
    sums = d.groupby("practice")["cost"].agg(["sum", "size"])
    out = np.zeros(B)
    for g, sign in ((0, -1), (1, 1)):
        names = pd.unique(d.loc[d["arm"] == g, "practice"])
        counts = gen.multinomial(names.size - 1, np.full(names.size, 1 / names.size), size=B)
        s, n = sums.loc[names, "sum"].to_numpy(), sums.loc[names, "size"].to_numpy()
        out += sign * (counts @ s) / (counts @ n)
    return out


def test_cluster_intervals_are_the_unscaled_ones_stretched_by_t_over_z():
    """bootstrap_ci and cost_compare (bootstrap and two-part) with cluster: the interval
    is the estimate plus t_{14}/z times the unscaled replicates' deviations (8 practices
    per arm, 2 strata), for percentile, basic and BCa alike; the p-value and the reported
    replicates use the scaled replicates, the SE the unscaled ones."""
    d = clustered(a=8, m=6, icc=0.2, seed=3)
    d = d.sort_values("arm", kind="stable").reset_index(drop=True)
    B = 4000
    raw = _hand_replicates(d, B, seed=8)
    theta = d.loc[d["arm"] == 1, "cost"].mean() - d.loc[d["arm"] == 0, "cost"].mean()
    f = stats.t.ppf(0.975, 14) / stats.norm.ppf(0.975)
    scaled = theta + f * (raw - theta)
    kw = dict(groups=d["arm"], cluster=d["practice"], n_resamples=B, seed=8)
    pct = bootstrap_ci(d["cost"], method="percentile", **kw)
    lo, hi = np.quantile(scaled, [0.025, 0.975])
    assert (pct.ci_low, pct.ci_high) == pytest.approx((lo, hi), rel=1e-9)
    assert pct.df == 14 and pct.t_factor == pytest.approx(f)
    assert pct.se == pytest.approx(raw.std(ddof=1), rel=1e-9)
    np.testing.assert_allclose(pct.distribution, scaled, rtol=1e-9)
    share = (np.sum(scaled < 0) + np.sum(scaled <= 0)) / (2 * B)
    assert pct.p_value == pytest.approx(max(2 * min(share, 1 - share), 1 / B))
    basic = bootstrap_ci(d["cost"], method="basic", **kw)
    assert (basic.ci_low, basic.ci_high) == pytest.approx((2 * theta - hi, 2 * theta - lo),
                                                          rel=1e-9)
    bca = bootstrap_ci(d["cost"], method="bca", **kw)
    # the stretch keeps each replicate's side of the estimate: z0 is the unscaled one
    below = (np.sum(raw < theta) + np.sum(raw <= theta)) / (2 * B)
    assert bca.z0 == pytest.approx(stats.norm.ppf(below), rel=1e-9)
    z = stats.norm.ppf([0.025, 0.975])
    levels = stats.norm.cdf(bca.z0 + (bca.z0 + z) / (1 - bca.acceleration * (bca.z0 + z)))
    q = np.quantile(raw, levels)
    assert (bca.ci_low, bca.ci_high) == pytest.approx(tuple(theta + f * (q - theta)),
                                                      rel=1e-9)
    for model in ("bootstrap", "two_part"):
        res = cost_compare(d, cost="cost", group="arm", cluster="practice", model=model,
                           method="percentile", n_resamples=B, seed=8)
        e = res.effects.set_index("estimand").loc["mean_difference"]
        assert (e["ci_low"], e["ci_high"]) == pytest.approx((lo, hi), rel=1e-6), model
        assert e["se"] == pytest.approx(raw.std(ddof=1), rel=1e-6), model
        np.testing.assert_allclose(res.replicates["mean_difference"], scaled, rtol=1e-6)


def test_patient_bootstrap_is_not_scaled():
    d = clustered(a=8, m=6, icc=0.2, seed=3)
    res = bootstrap_ci(d["cost"], groups=d["arm"], n_resamples=500, seed=1,
                       method="percentile")
    assert res.t_factor == 1.0 and np.isnan(res.df)
    lo, hi = np.quantile(res.distribution, [0.025, 0.975])
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi))
    ce = ce_bootstrap(d, group="arm", cost="cost", effect="qaly", n_resamples=500, seed=1)
    assert "t_factor" not in ce.attrs


def test_economic_inmb_intervals_ceac_and_se_use_the_same_scaled_replicates():
    """With practices resampled, every INMB interval is the percentile interval of the
    reported replicates, the CEAC and P(cost-effective) are shares of those same
    replicates (so the 95% interval excludes 0 exactly when the CEAC is beyond 2.5% or
    97.5%), and the SE is their SD over t/z; t/z is on practices less 2 strata."""
    d = practice_patients()
    r = economic(d, comparison="did", seed=4, **KW)
    diag = r.diagnostics
    n_practices = d["practice"].nunique()
    f = stats.t.ppf(0.975, n_practices - 2) / stats.norm.ppf(0.975)
    assert diag["cluster_df"] == n_practices - 2 and diag["t_factor"] == pytest.approx(f)
    draws = r.frames["ce_draws"]
    e = r.effects.set_index("estimand")
    ceac_ = r.frames["ceac"].set_index("wtp")
    for lam in (20000, 30000):
        inb = lam * draws["inc_effect"] - draws["inc_cost"]
        lo, hi = np.quantile(inb, [0.025, 0.975])
        row = e.loc[f"inc_nmb_{lam}"]
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
        assert row["se"] == pytest.approx(inb.std(ddof=1) / f)
        assert diag[f"prob_cost_effective_{lam}"] == pytest.approx(np.mean(inb > 0))
        p = ceac_.loc[float(lam), "probability"]
        assert p == pytest.approx(np.mean(inb > 0))
        assert (lo > 0 or hi < 0) == (p > 0.975 or p < 0.025)
    # the scaled replicates are the unscaled ones (patients' changes, practices
    # resampled by ce_bootstrap without its factor) stretched about the estimate
    c = e.loc["resource_cost_change"]
    dc = draws["inc_cost"] - e.loc["scheme_cost_per_patient", "estimate"]
    assert dc.std(ddof=1) == pytest.approx(f * c["se"])


# --------------------------------------------------------------------------- widths


@pytest.mark.parametrize("icc, low, high", [(0.3, 1.5, 3.0), (0.0, 0.7, 1.3)])
def test_cluster_option_widens_intervals_by_about_the_design_effect(icc, low, high):
    """12 patients per practice: the design effect 1 + 11 ICC is 4.3 at ICC 0.3 (SE
    ratio about 2.1) and 1 with no clustering (practices then cost nothing). The ratio
    is estimated from 60 practices, so to about +-10%."""
    d = clustered(a=30, m=12, icc=icc, seed=11)
    kw = dict(groups=d["arm"], n_resamples=2000, seed=2, method="percentile")
    with_c = bootstrap_ci(d["cost"], cluster=d["practice"], **kw)
    without = bootstrap_ci(d["cost"], **kw)
    assert low < with_c.se / without.se < high
    assert with_c.estimate == pytest.approx(without.estimate)
    ce_c = ce_bootstrap(d, group="arm", cost="cost", effect="qaly", cluster="practice",
                        n_resamples=2000, seed=2)
    ce_p = ce_bootstrap(d, group="arm", cost="cost", effect="qaly", n_resamples=2000, seed=2)
    for col in ("inc_cost", "inc_effect"):
        assert low < ce_c[col].std() / ce_p[col].std() < high


@pytest.mark.parametrize("model", ["bootstrap", "ols", "gamma", "two_part"])
def test_cost_compare_cluster_widens_every_model(model):
    d = clustered(a=20, m=12, icc=0.3, seed=6)
    kw = dict(cost="cost", group="arm", model=model, n_resamples=400, seed=1,
              method="percentile")
    e_c = cost_compare(d, cluster="practice", **kw).effects.set_index("estimand")
    e_p = cost_compare(d, **kw).effects.set_index("estimand")
    width = (e_c.loc["mean_difference", "ci_high"] - e_c.loc["mean_difference", "ci_low"]) / \
        (e_p.loc["mean_difference", "ci_high"] - e_p.loc["mean_difference", "ci_low"])
    assert 1.6 < width < 3.5, width
    assert e_c.loc["mean_difference", "estimate"] == pytest.approx(
        e_p.loc["mean_difference", "estimate"])


def test_cost_compare_ols_with_cluster_is_statsmodels_cr1_with_practices_less_one_df():
    import statsmodels.api as sm
    from scipy import stats

    d = clustered(a=15, m=10, icc=0.2, seed=9)
    e = cost_compare(d, cost="cost", group="arm", cluster="practice"
                     ).effects.set_index("estimand").loc["mean_difference"]
    groups = pd.factorize(d["practice"])[0]
    fit = sm.OLS(d["cost"].to_numpy(), sm.add_constant(d["arm"].to_numpy(float))).fit(
        cov_type="cluster", cov_kwds={"groups": groups})
    assert e["estimate"] == pytest.approx(fit.params[1], rel=1e-10)
    assert e["se"] == pytest.approx(fit.bse[1], rel=1e-10)
    q = stats.t.ppf(0.975, 29)
    assert e["ci_low"] == pytest.approx(fit.params[1] - q * fit.bse[1], rel=1e-10)
    assert e["diagnostics"]["df"] == 29


def test_paired_before_after_with_cluster_resamples_practices():
    rng = np.random.default_rng(3)
    n_p, m = 20, 10
    practice = np.repeat(np.arange(n_p), m)
    u = rng.normal(0, 300, (n_p, 2))
    before = 3000 + u[practice, 0] + rng.normal(0, 200, practice.size)
    after = 2900 + u[practice, 1] + rng.normal(0, 200, practice.size)
    d = pd.DataFrame({"patient": np.tile(np.arange(practice.size), 2),
                      "practice": np.tile(practice, 2), "period": np.repeat(["b", "a"],
                                                                            practice.size),
                      "cost": np.r_[before, after]})
    kw = dict(cost="cost", time="period", before="b", after="a", unit="patient",
              model="bootstrap", method="percentile", n_resamples=2000, seed=1)
    e_c = cost_compare(d, cluster="practice", **kw).effects.set_index("estimand")
    e_p = cost_compare(d, **kw).effects.set_index("estimand")
    change = (after - before).reshape(n_p, m).mean(axis=1)
    assert e_c.loc["mean_difference", "se"] == pytest.approx(
        np.sqrt(change.var(ddof=1) / n_p), rel=0.06)
    assert e_c.loc["mean_difference", "se"] > 1.5 * e_p.loc["mean_difference", "se"]


def test_bad_cluster_input_is_refused():
    d = clustered(a=5, m=4)
    with pytest.raises(DesignError, match="at least 2"):
        bootstrap_ci(d["cost"], cluster=np.repeat("only one", len(d)))
    with pytest.raises(DataError, match="missing"):
        bootstrap_ci(d["cost"], cluster=d["practice"].where(d.index != 3))
    with pytest.raises(DesignError, match="named statistics"):
        bootstrap_ci(d["cost"], statistic=np.mean, cluster=d["practice"])
    moved = pd.concat([d.assign(unit=np.arange(len(d)), t=1),
                       d.assign(unit=np.arange(len(d)), t=2,
                                practice=np.roll(d["practice"].to_numpy(), 1))])
    with pytest.raises(DataError, match="more than one cluster"):
        cost_compare(moved, cost="cost", time="t", before=1, after=2, unit="unit",
                     cluster="practice")


# --------------------------------------------------------------------------- economic


STAFF = pd.DataFrame({"role": ["nurse"], "band": ["6"], "wte": [2.0],
                      "annual_salary": [40000.0], "oncost_rate": [0.25],
                      "overhead_rate": [0.2], "cost_type": ["recurrent"]})
KW = dict(patient="patient_id", time="year", treated="enrolled", before=1, after=2,
          scheme_costs_table=STAFF, patients_served=500, effect="qaly", n_resamples=1000)


def practice_patients(icc: float = 0.3, seed: int = 0) -> pd.DataFrame:
    """Two years per patient in 40 practices (15 of them scheme practices, holding the
    enrolled patients and a few others); practice-year shocks in cost and QALYs. (Where
    scheme practices hold as many comparison patients as enrolled ones, their shared
    shocks cancel in the contrast and practices can give narrower intervals.)"""
    rng = np.random.default_rng(seed)
    n_p, m = 40, 15
    practice = np.repeat(np.arange(n_p), m)
    scheme = practice < 15
    enrolled = (scheme & (rng.random(practice.size) < 0.9)).astype(int)
    u = rng.normal(0, np.sqrt(icc), (n_p, 2))
    cost = 2000 + 400 * (u[practice] + rng.normal(0, np.sqrt(1 - icc), (practice.size, 2)))
    qaly = 0.7 - 0.08 * (u[practice] + rng.normal(0, np.sqrt(1 - icc), (practice.size, 2)))
    ids = [f"PT{i:04d}" for i in range(practice.size)]
    return pd.DataFrame({"patient_id": np.repeat(ids, 2), "year": np.tile([1, 2], len(ids)),
                         "practice": np.repeat([f"P{p:02d}" for p in practice], 2),
                         "enrolled": np.repeat(enrolled, 2), "cost": cost.ravel(),
                         "qaly": qaly.ravel()})


@pytest.mark.parametrize("comparison", ["did", "before_after"])
def test_economic_resamples_practices_by_default_when_patients_nest_in_them(comparison):
    d = practice_patients()
    default = economic(d, comparison=comparison, seed=4, **KW)
    named = economic(d, comparison=comparison, cluster="practice", seed=4, **KW)
    patients = economic(d, comparison=comparison, cluster=None, seed=4, **KW)
    pd.testing.assert_frame_equal(default.frames["ce_draws"], named.frames["ce_draws"])
    assert default.diagnostics["cluster"] == "practice"
    assert "practices resampled" in default.diagnostics["resampled"]
    assert patients.diagnostics["cluster"] is None
    e_d = default.effects.set_index("estimand")
    e_p = patients.effects.set_index("estimand")
    for est in ("resource_cost_change", "incremental_effect", "inc_nmb_20000"):
        assert e_d.loc[est, "estimate"] == pytest.approx(e_p.loc[est, "estimate"])
        assert e_d.loc[est, "se"] > 1.5 * e_p.loc[est, "se"], est
    # the PSA pairs its scheme-cost draws with the practice-resampled replicates
    psa, boot = default.frames["psa"], default.frames["ce_draws"]
    per = e_d.loc["scheme_cost_per_patient", "estimate"]
    np.testing.assert_allclose(psa["inc_cost"] - psa["scheme_cost"], boot["inc_cost"] - per)
    np.testing.assert_allclose(psa["inc_effect"], boot["inc_effect"])


def test_economic_did_cluster_draws_equal_ce_bootstrap_of_the_changes():
    """The DiD's draws are ce_bootstrap of each patient's change, practices resampled."""
    d = practice_patients(seed=2)
    r = economic(d, comparison="did", seed=7, **KW)
    w = d.pivot(index="patient_id", columns="year", values=["cost", "qaly"])
    first = d.groupby("patient_id")[["practice", "enrolled"]].first()
    changes = pd.DataFrame({"dc": w[("cost", 2)] - w[("cost", 1)],
                            "dq": w[("qaly", 2)] - w[("qaly", 1)]}).join(first)
    ce = ce_bootstrap(changes, group="enrolled", cost="dc", effect="dq", cluster="practice",
                      n_resamples=1000, seed=7)
    per = r.effects.set_index("estimand").loc["scheme_cost_per_patient", "estimate"]
    np.testing.assert_allclose(r.frames["ce_draws"]["inc_cost"], per + ce["inc_cost"])
    np.testing.assert_allclose(r.frames["ce_draws"]["inc_effect"], ce["inc_effect"])
    held = d.groupby("enrolled")["practice"].nunique()
    assert r.diagnostics["n_clusters"] == {"comparison": held[0], "enrolled": held[1]} \
        and held[1] == 15


def test_economic_falls_back_to_patients_when_they_move_practice():
    d = practice_patients()
    d.loc[d["year"] == 2, "practice"] = np.roll(d.loc[d["year"] == 2, "practice"], 7)
    r = economic(d, comparison="did", seed=4, **KW)
    assert r.diagnostics["cluster"] is None
    assert "move between practices" in r.diagnostics["resampled"]
    with pytest.raises(DataError, match="not nested"):
        economic(d, comparison="did", cluster="practice", seed=4, **KW)


def test_the_report_says_practices_were_resampled():
    from evalkit.report.design import _how_economic

    d = {"comparison": "did", "n_enrolled": 400, "patients_served": 1970,
         "n_resamples": 2000, "cluster": "practice"}
    assert "2,000 bootstrap replicates, practices resampled whole" in _how_economic(None, d)
    assert "resampled" not in _how_economic(None, {**d, "cluster": None})
    assert "clusters resampled whole" in _how_economic(None, {**d, "cluster": "<b>x</b>"})


# --------------------------------------------------------------------------- synthetic


def test_dementia_service_has_a_practice_icc_of_005_to_010():
    """The scheme's truth records the ICCs its generator builds in (by simulation of the
    same model), and its data show clustering of that order (one-way ANOVA estimate;
    95 practices of about 17 patients, so the estimate is loose)."""
    truth = json.loads((SYNTHETIC / "dementia-service" / "truth.json").read_text())
    icc = next(e for e in truth["effects"] if e["outcome"] == "cost")["practice_icc"]
    for key in ("cost", "qaly", "cost_change", "qaly_change"):
        assert 0.05 <= icc[key] <= 0.10, (key, icc[key])
    d = pd.read_csv(SYNTHETIC / "dementia-service" / "patient_costs.csv")
    w = d.pivot(index="patient_id", columns="year", values=["cost", "qaly"])
    practice = d.groupby("patient_id")["practice"].first().reindex(w.index).to_numpy()

    def anova_icc(x: np.ndarray) -> float:
        f = pd.DataFrame({"x": x, "g": practice})
        n = f.groupby("g").size().to_numpy()
        means = f.groupby("g")["x"].transform("mean")
        N, a = n.sum(), n.size
        msb = ((f.groupby("g")["x"].mean().to_numpy() - x.mean()) ** 2 * n).sum() / (a - 1)
        msw = ((x - means) ** 2).sum() / (N - a)
        n0 = (N - (n**2).sum() / N) / (a - 1)
        return (msb - msw) / (msb + (n0 - 1) * msw)

    for col in ("cost", "qaly"):
        assert 0.03 < anova_icc((w[(col, 3)] - w[(col, 2)]).to_numpy()) < 0.25, col


# --------------------------------------------------------------------------- coverage


@pytest.fixture(scope="module")
def coverage_module():
    spec = importlib.util.spec_from_file_location(
        "cost_coverage", ROOT / "benchmarks" / "cost_coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cluster_bootstrap_covers_and_the_patient_bootstrap_does_not(coverage_module):
    """30 practices per arm, ICC 0.10: over 1,000 replications the cluster bootstrap
    (with its small-sample factor, evalkit's default) covers the cost difference, QALYs
    gained and INMB in 93-97% of them, allowing two Monte Carlo SEs (0.7 points each)
    either side; resampling patients (200 replications) covers under 90%. The full table
    is docs/cost-coverage.md."""
    reps = 1000
    rows = coverage_module.cluster_coverage(30, 0.10, reps, n_boot=1000, seed=11,
                                            patient_reps=200)
    table = coverage_module.cluster_summary(rows).set_index(["estimand", "method"])
    mc_se = np.sqrt(0.95 * 0.05 / reps)
    for est in ("cost difference", "QALYs gained", "INMB at 20,000"):
        cluster = table.loc[(est, coverage_module.CLUSTER_METHODS[0]), "coverage"]
        patients = table.loc[(est, coverage_module.CLUSTER_METHODS[2]), "coverage"]
        assert 0.93 - 2 * mc_se <= cluster <= 0.97 + 2 * mc_se, (est, cluster)
        assert patients < 0.90 and patients < cluster - 0.05, (est, patients)
