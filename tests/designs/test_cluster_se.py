"""Cluster-robust standard errors with fixest's small-sample correction (issue 22).

Reference throughout: pyfixest (a Python port of R's fixest, tested against it), fitted to
the same simulated panels. ``feols("y ~ D | unit + t", vcov={"CRV1": cluster})`` with its
default ``ssc()`` (``k_adj=True, k_fixef="nonnested", G_adj=True``: fixed effects nested
in the clusters are not counted in ``(N-1)/(N-K)``) is fixest's default
``ssc(adj = TRUE, fixef.K = "nested", cluster.adj = TRUE)``. ``fixef_rm="none"`` keeps
singleton observations, as fixest's ``feols`` does by default (pyfixest drops them by
default); the panels here have none anyway. pyfixest's projections are run to 1e-12.
Agreement: 1e-8 relative for coefficients,
standard errors and interval ends (the interval uses t(G-1), as fixest's ``t.df="min"``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.designs.poisson_fe import poisson_fe

pf = pytest.importorskip("pyfixest", reason="pyfixest is the reference for these tests "
                         "(pip install pyfixest, in the 'test' extras)")

REL = 1e-8


def panel(units: int = 150, periods: int = 16, *, missing: float = 0.0, seed: int = 0,
          staggered: bool = False) -> pd.DataFrame:
    """A unit-period panel: 10 units a region, a third of the units treated, unit and
    region-by-period shocks, one time-varying covariate; outcomes missing at random."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(periods), units)
    region = unit // 10
    treated = np.arange(units) % 3 == 0
    if staggered:  # adoption at three dates among treated units, the rest never
        start = np.where(treated, periods // 2 + (np.arange(units) % 9) // 3 - 1, 0)
    else:
        start = np.where(treated, periods // 2, 0)
    D = ((start[unit] > 0) & (t >= start[unit])).astype(int)
    shock = rng.normal(0, 0.5, (region.max() + 1, periods))[region, t]
    x = rng.normal(size=unit.size) + 0.05 * t
    y = (rng.normal(size=units)[unit] + 0.1 * t + 0.4 * D + 0.3 * x + shock
         + rng.normal(size=unit.size))
    d = pd.DataFrame({"unit": unit, "t": t, "region": region, "D": D, "x": x, "y": y,
                      "cohort": start[unit]})
    if missing:
        d.loc[rng.random(len(d)) < missing, "y"] = np.nan
    return d


def two_by_two(units: int = 40, seed: int = 5) -> pd.DataFrame:
    """Two periods, half the units treated in the second: the classic 2x2."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), 2)
    t = np.tile([0, 1], units)
    D = ((np.arange(units) < units // 2)[unit] & (t == 1)).astype(int)
    y = rng.normal(size=units)[unit] + 0.2 * t + 0.5 * D + rng.normal(size=unit.size)
    return pd.DataFrame({"unit": unit, "t": t, "D": D, "y": y, "region": unit // 4})


def reference(d: pd.DataFrame, fml: str, cluster: str, **kw):
    """pyfixest's feols, its alternating projections run to 1e-12 (its default tolerance
    leaves errors of 1e-9 in unbalanced panels)."""
    return pf.feols(fml, data=d, vcov={"CRV1": cluster}, fixef_rm="none", fixef_tol=1e-12,
                    **kw)


CASES = {
    "clustered by unit": (dict(), "unit"),
    "clustered by region (units nested in regions)": (dict(), "region"),
    "6% of outcomes missing, by unit": (dict(missing=0.06, seed=2), "unit"),
    "6% of outcomes missing, by region": (dict(missing=0.06, seed=3), "region"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_did_matches_pyfixest_default(case):
    """ek.did's SE equals fixest's default (nested unit effects not counted in K); the old
    factor counted every unit effect and was 3% too large on these panels."""
    kw, cluster = CASES[case]
    d = panel(**kw)
    res = ek.did(d, outcome="y", unit="unit", time="t", treated="D", inference="cluster",
                 cluster=None if cluster == "unit" else cluster)
    rec = res.effects.iloc[0]
    ref = reference(d.dropna(subset=["y"]), "y ~ D | unit + t", cluster)
    assert rec["estimate"] == pytest.approx(ref.coef()["D"], rel=REL)
    assert rec["se"] == pytest.approx(ref.se()["D"], rel=REL)
    ci = ref.confint().loc["D"]
    assert rec["ci_low"] == pytest.approx(ci.iloc[0], rel=REL)
    assert rec["ci_high"] == pytest.approx(ci.iloc[1], rel=REL)
    assert rec["p_value"] == pytest.approx(ref.pvalue()["D"], rel=1e-6)


def test_did_with_a_covariate_matches_pyfixest():
    d = panel(seed=7)
    res = ek.did(d, outcome="y", unit="unit", time="t", treated="D", covariates=["x"],
                 inference="cluster", cluster="region")
    ref = reference(d, "y ~ D + x | unit + t", "region")
    rec = res.effects.iloc[0]
    assert rec["estimate"] == pytest.approx(ref.coef()["D"], rel=REL)
    assert rec["se"] == pytest.approx(ref.se()["D"], rel=REL)


def test_two_by_two_matches_pyfixest_and_pooled_ols():
    """Two periods: the old factor counted all 40 unit effects in K = 42 of N = 80, so
    (N-1)/(N-K) was about 2 and the SE 1.4 times fixest's. fixest's K is 3 (the
    treatment, the period and one for the nested unit effects)."""
    d = two_by_two()
    rec = ek.did(d, outcome="y", unit="unit", time="t", treated="D",
                 inference="cluster").effects.iloc[0]
    ref = reference(d, "y ~ D | unit + t", "unit")
    assert rec["estimate"] == pytest.approx(ref.coef()["D"], rel=REL)
    assert rec["se"] == pytest.approx(ref.se()["D"], rel=REL)
    # close to the pooled regression y ~ treated group * post, clustered by unit
    pooled = pf.feols("y ~ g * post", data=d.assign(g=(d["unit"] < 20).astype(int),
                                                     post=d["t"]), vcov={"CRV1": "unit"})
    assert rec["se"] == pytest.approx(pooled.se()["g:post"], rel=0.05)


@pytest.mark.parametrize("ssc,k_fixef", [("full", "full"), ("none", "none"),
                                         ("nested", "nonnested")])
@pytest.mark.parametrize("cluster", ["unit", "region"])
def test_did_ssc_conventions_match_pyfixest(ssc, k_fixef, cluster):
    """Every named convention equals pyfixest's of the same meaning."""
    d = panel(missing=0.06, seed=4)
    rec = ek.did(d, outcome="y", unit="unit", time="t", treated="D", inference="cluster",
                 cluster=cluster, ssc=ssc).effects.iloc[0]
    ref = reference(d.dropna(subset=["y"]), "y ~ D | unit + t", cluster,
                    ssc=pf.ssc(k_fixef=k_fixef))
    assert rec["se"] == pytest.approx(ref.se()["D"], rel=REL)


def test_unknown_ssc_is_refused_with_the_choices():
    d = two_by_two()
    with pytest.raises(ek.DesignError, match="unknown ssc 'fixest'.*nested, full, none"):
        ek.did(d, outcome="y", unit="unit", time="t", treated="D", ssc="fixest")


def test_wild_bootstrap_does_not_depend_on_the_small_sample_factor():
    """The factor scales the observed and the bootstrap t alike, so the wild cluster
    bootstrap's p-value and interval are the same under every convention."""
    d = panel(units=60, seed=8)
    out = [ek.did(d, outcome="y", unit="unit", time="t", treated="D", cluster="region",
                  inference="wild", n_boot=99, seed=1, ssc=s).effects.iloc[0]
           for s in ("nested", "full", "none")]
    for other in out[1:]:
        for col in ("ci_low", "ci_high", "p_value"):
            assert other[col] == pytest.approx(out[0][col], rel=1e-9)


def _event_dummies(d: pd.DataFrame, leads: int, lags: int) -> tuple[pd.DataFrame, list[str]]:
    """Binned event-time dummies, reference -1, for the reference regression."""
    e = np.where(d["cohort"] > 0, d["t"] - d["cohort"], 10**6)
    out, names = d.copy(), []
    for k in range(-leads, lags + 1):
        if k == -1:
            continue
        name = f"e_m{-k}" if k < 0 else f"e_p{k}"
        if k == -leads:
            on = e <= k
        elif k == lags:
            on = (e >= k) & (e < 10**6)
        else:
            on = e == k
        out[name] = on.astype(float)
        names.append(name)
    return out, names


@pytest.mark.parametrize("case", list(CASES))
def test_event_study_matches_pyfixest_default(case):
    kw, cluster = CASES[case]
    d = panel(staggered=True, **kw)
    res = ek.event_study(d, outcome="y", unit="unit", time="t", cohort="cohort", leads=3,
                         lags=3, cluster=None if cluster == "unit" else cluster, seed=1)
    dd, names = _event_dummies(d.dropna(subset=["y"]), 3, 3)
    ref = reference(dd, "y ~ " + " + ".join(names) + " | unit + t", cluster)
    ours = res.effects.set_index("estimand")
    for k in (-3, -2, 0, 1, 2, 3):
        name = f"e_m{-k}" if k < 0 else f"e_p{k}"
        assert ours.loc[f"event:{k}", "estimate"] == pytest.approx(ref.coef()[name], rel=REL)
        assert ours.loc[f"event:{k}", "se"] == pytest.approx(ref.se()[name], rel=REL)
    wald = ref.wald_test(R=np.eye(len(names))[:2], distribution="chi2")  # leads -3, -2
    assert res.diagnostics["pretrend_wald"] == pytest.approx(wald["statistic"], rel=1e-7)


def _counts(units: int = 80, periods: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(periods), units)
    size = rng.integers(2000, 9000, units)[unit].astype(float)
    D = ((np.arange(units) < units // 3)[unit] & (t >= periods // 2)).astype(float)
    x = rng.normal(size=unit.size)
    mu = size / 1000 * np.exp(0.3 * rng.normal(size=units)[unit] + 0.03 * t
                              + np.log(0.85) * D + 0.1 * x)
    return pd.DataFrame({"unit": unit, "t": t, "D": D, "x": x, "list": size,
                         "y": rng.poisson(mu).astype(float), "region": unit // 8,
                         "log_list": np.log(size)})


@pytest.mark.parametrize("cluster", ["unit", "region"])
def test_poisson_fe_matches_pyfixest_fepois(cluster):
    """poisson_fe's default equals pyfixest's fepois with its default small-sample
    correction (offset log list size). Coefficients agree to 1e-8; standard errors to
    1e-7 only, because pyfixest's own sandwich is that far from the exact one (with
    ``ssc="full"`` poisson_fe equals statsmodels' GLM with dummies to 1e-12,
    test_poisson_fe.py). The ratio of two conventions, which is the small-sample factor
    alone, agrees to 1e-10."""
    d = _counts()
    fit = poisson_fe(d["y"], d[["D", "x"]].to_numpy(), d["unit"], d["t"],
                     exposure=d["list"], clusters=d[cluster].to_numpy())
    ref = pf.fepois("y ~ D + x | unit + t", data=d, vcov={"CRV1": cluster},
                    offset="log_list", fixef_rm="none", iwls_tol=1e-12, fixef_tol=1e-12)
    np.testing.assert_allclose(fit.beta, ref.coef().to_numpy(), rtol=REL)
    np.testing.assert_allclose(fit.se, ref.se().to_numpy(), rtol=1e-7)
    full = poisson_fe(d["y"], d[["D", "x"]].to_numpy(), d["unit"], d["t"],
                      exposure=d["list"], clusters=d[cluster].to_numpy(), ssc="full")
    ref_full = pf.fepois("y ~ D + x | unit + t", data=d, vcov={"CRV1": cluster},
                         offset="log_list", fixef_rm="none", iwls_tol=1e-12, fixef_tol=1e-12,
                         ssc=pf.ssc(k_fixef="full"))
    np.testing.assert_allclose(full.se / fit.se,
                               ref_full.se().to_numpy() / ref.se().to_numpy(), rtol=1e-10)


def test_poisson_did_matches_pyfixest_fepois():
    d = _counts(seed=3)
    rec = ek.did(d, outcome="y", unit="unit", time="t", treated="D", denominator="list",
                 family="poisson", cluster="region").effects.iloc[0]
    ref = pf.fepois("y ~ D | unit + t", data=d, vcov={"CRV1": "region"},
                    offset="log_list", fixef_rm="none", iwls_tol=1e-12, fixef_tol=1e-12)
    assert np.log(rec["estimate"]) == pytest.approx(ref.coef()["D"], rel=REL)
    assert rec["se"] == pytest.approx(ref.se()["D"], rel=1e-7)  # see the test above
