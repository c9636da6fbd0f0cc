"""Wild cluster bootstrap (WCR/WCU): brute-force refits, the peer package, test inversion.

References: Cameron, Gelbach and Miller (2008, REStat 90(3)); MacKinnon and Webb (2017,
J. Appl. Econometrics 32(2), "Wild bootstrap inference for wildly different cluster
sizes"; 2018, Econometrics J. 21(2), "The wild bootstrap for few (treated) clusters");
Roodman, Nielsen, MacKinnon and Webb (2019), "Fast and wild", Stata Journal 19(1):4-60.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.designs import wild_bootstrap as wb
from evalkit.designs.wild_bootstrap import WildBootstrapResult, wild_cluster_bootstrap
from evalkit.errors import DesignError


def _panel(seed, *, clusters=12, treated=4, units=2, periods=6, effect=0.5, hetero=2.0):
    """A small DiD panel: units nested in clusters, cluster-by-period shocks, treated
    clusters noisier. Returns the raw pieces."""
    rng = np.random.default_rng(seed)
    n_units = clusters * units
    unit = np.repeat(np.arange(n_units), periods)
    t = np.tile(np.arange(periods), n_units)
    cl = unit // units
    sd = np.where(np.arange(clusters) < treated, hetero, 1.0)
    D = ((cl < treated) & (t >= periods // 2)).astype(float)
    x = rng.normal(size=len(t))  # a time-varying covariate
    y = (effect * D + 0.3 * x + rng.normal(size=n_units)[unit]
         + rng.normal(size=(clusters, periods))[cl, t] * sd[cl]
         + rng.normal(size=len(t)) * sd[cl])
    return y, D, x, unit, t, cl


def _demean(v, unit, t, *, periods=True):
    """Within-transform columns of ``v`` by unit (and period) in a balanced panel."""
    v = np.asarray(v, dtype=float).reshape(len(unit), -1)
    out = v - pd.DataFrame(v).groupby(unit).transform("mean").to_numpy()
    if periods:
        out = out - pd.DataFrame(out).groupby(t).transform("mean").to_numpy()
    return out


def _twfe(seed, **kw):
    """Two-way demeaned X = [D, x], y, clusters and dof (slopes + unit + period effects)."""
    y, D, x, unit, t, cl = _panel(seed, **kw)
    Z = _demean(np.column_stack([y, D, x]), unit, t)
    dof = 2 + (unit.max() + 1) + (t.max() + 1) - 1
    return Z[:, 1:], Z[:, 0], cl, dof


def _brute_force_t(X, y, cl, w, *, r, coef, dof, restricted=True):
    """Reference: for each weight vector, build y*, refit OLS by lstsq and compute the
    CR1 t-statistic directly (Cameron, Gelbach and Miller 2008, sec. 3; no shortcuts)."""
    n, k = X.shape
    g = cl.max() + 1
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    if restricted:  # least squares subject to beta[coef] = r: drop the column, refit
        keep = np.arange(k) != coef
        rest = np.linalg.lstsq(X[:, keep], y - r * X[:, coef], rcond=None)[0]
        beta_dgp = np.insert(rest, coef, r)
        target = r
    else:
        beta_dgp, target = beta, beta[coef]
    u_dgp = y - X @ beta_dgp
    factor = g / (g - 1) * (n - 1) / (n - dof)
    bread = np.linalg.inv(X.T @ X)
    out = np.empty(len(w))
    for i, wi in enumerate(w):
        ys = X @ beta_dgp + wi[cl] * u_dgp
        bs = np.linalg.lstsq(X, ys, rcond=None)[0]
        us = ys - X @ bs
        scores = np.array([X[cl == c].T @ us[cl == c] for c in range(g)])
        V = factor * bread @ scores.T @ scores @ bread
        out[i] = (bs[coef] - target) / np.sqrt(V[coef, coef])
    return out


def _p(t_star, t_obs):
    """Symmetric bootstrap p-value, ties (to rounding) counted as at least as extreme."""
    return float(np.mean(np.abs(t_star) >= abs(t_obs) * (1 - 1e-10)))


# 1. Brute force. Reference: CGM (2008) bootstrap-t by explicit refits; the module's
# closed forms follow Roodman et al. (2019), so they must agree to rounding error.
@pytest.mark.parametrize("weights,restricted", [("webb", True), ("rademacher", True),
                                                ("webb", False)])
def test_matches_brute_force_refits(weights, restricted):
    X, y, cl, dof = _twfe(1)
    boot = wb._bootstrap(X, y, cl, coef=0, weights=weights, n_boot=199, seed=7, dof=dof)
    res = wild_cluster_bootstrap(X, y, cl, weights=weights, n_boot=199, seed=7, dof=dof,
                                 null=0.2, restricted=restricted)
    assert not boot.full and boot.w.shape == (199, 12)
    ref = _brute_force_t(X, y, cl, boot.w, r=0.2, coef=0, dof=dof, restricted=restricted)
    ours = boot.t_star(0.2 if restricted else boot.estimate)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)
    assert res.p_value == pytest.approx(_p(ref, res.t_stat), abs=1e-10)
    # the observed SE is CR1 computed directly: G/(G-1) (N-1)/(N-dof) sandwich
    n, g = len(y), cl.max() + 1
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    u = y - X @ b
    scores = np.array([X[cl == c].T @ u[cl == c] for c in range(g)])
    bread = np.linalg.inv(X.T @ X)
    V = g / (g - 1) * (n - 1) / (n - dof) * bread @ scores.T @ scores @ bread
    assert res.se == pytest.approx(np.sqrt(V[0, 0]), rel=1e-10)
    assert res.t_stat == pytest.approx((b[0] - 0.2) / np.sqrt(V[0, 0]), rel=1e-10)


def test_restricted_draws_are_affine_in_the_null_value():
    """The one-pass formulas hold at any r (Roodman et al. 2019, sec. 3.3): check the
    bootstrap t* against brute-force refits at several hypothesised values."""
    X, y, cl, dof = _twfe(2)
    boot = wb._bootstrap(X, y, cl, coef=1, weights="webb", n_boot=99, seed=3, dof=dof)
    for r in (-1.0, 0.3, 2.5):
        ref = _brute_force_t(X, y, cl, boot.w, r=r, coef=1, dof=dof)
        np.testing.assert_allclose(boot.t_star(r), ref, rtol=0, atol=1e-10)
        assert boot.p_value(r) == pytest.approx(_p(ref, boot.t_obs(r)), abs=1e-12)


# 2. The peer package wildboottest (Fischer et al., PyPI; a Python port of the fast
# algorithm of Roodman et al. 2019 / fwildclusterboot).
def _peer(X, y, cl, B):
    mod = pytest.importorskip("wildboottest.wildboottest",
                              reason="the peer package wildboottest is not installed")
    peer = mod.WildboottestCL(X=X, Y=y, cluster=cl, R=np.eye(X.shape[1])[0], B=B, seed=1,
                              parallel=False)
    peer.get_scores(bootstrap_type="11", impose_null=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, full = peer.get_weights(weights_type="rademacher")
    peer.get_numer()
    peer.get_denom()
    peer.get_tboot()
    peer.get_vcov()
    peer.get_tstat()
    peer.get_pvalue(pval_type="two-tailed")
    return peer, full


def _check_against_peer(ours, boot, peer, ssc_ratio):
    """Conventions that differ, and what must then hold exactly:

    * wildboottest tests only beta = 0 and enumerates all 2**G sign vectors when
      2**G < B (strict; ours: <=), in the same order (itertools.product).
    * Its CR1 factor uses k = the number of columns of the X it is given, ours the
      ``dof`` passed. The factor multiplies t and every t* alike, so p-values do not
      depend on it; t and t* differ by the constant sqrt(ssc_ratio), the ratio
      of our factor to its factor.
    * Ties: its p-value is mean(|t| < |t*|) with a strict inequality in floating point;
      ours counts |t*| >= |t| (to relative 1e-10) as extreme. Under WCR the draws
      w = +1 and w = -1 reproduce |t| exactly, so its p-value can be up to
      (number of tied draws)/2**G lower, depending on rounding.
    Tolerances: t and t* to 1e-8 (two different floating-point routes); p-values exact
    once ties are counted our way; raw p-values within ties/2**G.
    """
    B = boot.w.shape[0]
    assert ours.full_enumeration and peer.B == B == ours.n_boot
    np.testing.assert_array_equal(peer.v.T, boot.w)
    t_peer = float(np.squeeze(peer.t_stat))
    assert ours.t_stat * np.sqrt(ssc_ratio) == pytest.approx(t_peer, rel=1e-8)
    np.testing.assert_allclose(boot.t_star(0.0) * np.sqrt(ssc_ratio), peer.t_boot,
                               rtol=1e-8, atol=1e-10)
    ties = np.isclose(np.abs(peer.t_boot), abs(t_peer), rtol=1e-9, atol=0)
    assert ties.sum() >= 2  # w = 1 and w = -1
    assert ours.p_value == _p(peer.t_boot, t_peer)
    assert ours.p_value - ties.sum() / B - 1e-12 <= peer.pvalue <= ours.p_value + 1e-12


@pytest.mark.parametrize("seed", [0, 3])
def test_agrees_with_wildboottest_on_the_same_regression(seed):
    """Same (two-way demeaned) regression given to both: G = 8, 256 sign vectors."""
    X, y, cl, dof = _twfe(seed, clusters=8, treated=3)
    ours = wild_cluster_bootstrap(X, y, cl, dof=dof, n_boot=999)
    boot = wb._bootstrap(X, y, cl, coef=0, weights="rademacher", n_boot=999, seed=None,
                         dof=dof)
    peer, full = _peer(X, y, cl, B=999)
    assert full
    n, k = X.shape
    _check_against_peer(ours, boot, peer, ssc_ratio=(n - k) / (n - dof))


@pytest.mark.parametrize("seed", [0, 3])
def test_agrees_with_wildboottest_refitting_all_dummies(seed):
    """The peer refits the full dummy regression (intercept, unit and period dummies)
    in every draw. Ours matches it exactly when only the unit effects, which are nested
    within clusters, are absorbed and the period dummies stay in X: absorbing nested
    effects commutes with multiplying residuals by a cluster's weight (Roodman et al.
    2019, sec. 3.4). Absorbing the period effects too (not nested) changes the bootstrap
    residuals and so t*, though not b* or the observed t: see the module docstring."""
    y, D, x, unit, t, cl = _panel(seed, clusters=8, treated=3)
    dummies = pd.get_dummies(pd.DataFrame({"u": unit.astype(str), "t": t.astype(str)}),
                             drop_first=True).astype(float).to_numpy()
    full_X = np.column_stack([D, x, np.ones(len(y)), dummies])
    period = pd.get_dummies(t, drop_first=True).astype(float).to_numpy()
    Z = _demean(np.column_stack([y, D, x, period]), unit, t, periods=False)
    X, yt = Z[:, 1:], Z[:, 0]
    dof = full_X.shape[1]
    assert dof == X.shape[1] + unit.max() + 1
    ours = wild_cluster_bootstrap(X, yt, cl, dof=dof, n_boot=999)
    boot = wb._bootstrap(X, yt, cl, coef=0, weights="rademacher", n_boot=999, seed=None,
                         dof=dof)
    peer, _ = _peer(full_X, y, cl, B=999)
    assert ours.estimate == pytest.approx(float(peer.beta_hat[0]), abs=1e-10)
    _check_against_peer(ours, boot, peer, ssc_ratio=1.0)  # same N - k: same factor


# 3. Test inversion (Roodman et al. 2019, sec. 3.5; MacKinnon 2015): the interval ends are
# where p(r) crosses 1 - conf_level, computed with the same draws for every r.
@pytest.mark.parametrize("weights,conf", [("webb", 0.95), ("rademacher", 0.9)])
def test_interval_ends_are_where_the_p_value_crosses_alpha(weights, conf):
    X, y, cl, dof = _twfe(4, clusters=20, treated=5)
    res = wild_cluster_bootstrap(X, y, cl, dof=dof, weights=weights, seed=11, conf_level=conf)
    boot = wb._bootstrap(X, y, cl, coef=0, weights=weights, n_boot=999, seed=11, dof=dof)
    alpha = 1 - conf
    assert res.ci_low < res.estimate < res.ci_high
    assert np.isfinite([res.ci_low, res.ci_high]).all()
    # p(r) is a step function (multiples of 1/B), so "p = alpha" means a jump across
    # alpha within the root-finding tolerance (1e-9 SE): check just inside and outside.
    eps = 1e-7 * res.se
    for end, inward in ((res.ci_low, 1.0), (res.ci_high, -1.0)):
        assert boot.p_value(end + inward * eps) >= alpha
        assert boot.p_value(end - inward * eps) < alpha
        assert abs(boot.p_value(end) - alpha) <= 1 / 999 + 1e-12
    # and the p-value at the null agrees with the interval
    assert (res.p_value < alpha) == (not res.ci_low <= 0 <= res.ci_high)


def test_unrestricted_interval_is_symmetric_percentile_t():
    X, y, cl, dof = _twfe(5, clusters=20, treated=5)
    res = wild_cluster_bootstrap(X, y, cl, dof=dof, seed=2, restricted=False)
    boot = wb._bootstrap(X, y, cl, coef=0, weights="rademacher", n_boot=999, seed=2, dof=dof)
    t_abs = np.abs(boot.t_star(boot.estimate))
    c = np.sort(t_abs)[int(np.ceil(0.95 * 999)) - 1]
    assert res.ci_high - res.estimate == pytest.approx(c * res.se, rel=1e-12)
    assert res.estimate - res.ci_low == pytest.approx(c * res.se, rel=1e-12)
    assert res.p_value == _p(t_abs, res.t_stat)
    assert not res.restricted and "WCU" in res.describe()


# 4. Reproducibility, weights, full enumeration.
def test_seeded_runs_are_identical_and_webb_weights_run():
    X, y, cl, dof = _twfe(6, clusters=15)
    a = wild_cluster_bootstrap(X, y, cl, dof=dof, weights="webb", seed=42)
    b = wild_cluster_bootstrap(X, y, cl, dof=dof, weights="webb", seed=42)
    c = wild_cluster_bootstrap(X, y, cl, dof=dof, weights="webb", seed=43)
    assert a == b
    assert a.p_value != c.p_value or a.ci_low != c.ci_low
    assert isinstance(a, WildBootstrapResult) and a.n_boot == 999 and not a.full_enumeration
    assert a.describe() == ("wild cluster bootstrap (WCR, Webb weights, 999 draws, p-value "
                            "and CI by test inversion), 15 clusters")
    w = wb._weights("webb", 15, 5000, np.random.default_rng(0))[0]
    assert set(np.round(np.unique(w) ** 2, 12)) == {0.5, 1.0, 1.5}
    assert abs(w.mean()) < 0.03 and w.var() == pytest.approx(1.0, abs=0.03)


def test_full_enumeration_with_few_clusters():
    X, y, cl, dof = _twfe(7, clusters=9, treated=3)
    a = wild_cluster_bootstrap(X, y, cl, dof=dof, n_boot=999, seed=1)
    b = wild_cluster_bootstrap(X, y, cl, dof=dof, n_boot=999, seed=2)
    assert a.full_enumeration and a.n_boot == 512 and a == b  # deterministic: seed unused
    assert "all 512 sign vectors (full enumeration)" in a.describe()
    boot = wb._bootstrap(X, y, cl, coef=0, weights="rademacher", n_boot=999, seed=None,
                         dof=dof)
    assert len({tuple(r) for r in boot.w}) == 512
    # 2**G > n_boot: random draws; Webb weights are never enumerated
    assert not wild_cluster_bootstrap(X, y, cl, dof=dof, n_boot=511, seed=1).full_enumeration
    assert not wild_cluster_bootstrap(X, y, cl, dof=dof, weights="webb").full_enumeration


def test_very_few_clusters_give_an_unbounded_interval():
    """With G = 4 Rademacher draws the smallest attainable p-value is 2/16 > 0.05, so no
    value can be rejected and the WCR interval is the whole line."""
    X, y, cl, dof = _twfe(8, clusters=4, treated=2)
    res = wild_cluster_bootstrap(X, y, cl, dof=dof)
    assert res.n_boot == 16 and res.p_value >= 2 / 16
    assert res.ci_low == -np.inf and res.ci_high == np.inf


def test_bad_input_is_refused_with_a_fix():
    X, y, cl, dof = _twfe(9)
    cases = [
        (dict(clusters=np.zeros(len(y))), "at least 2 clusters"),
        (dict(y=y[:-1]), "rows"),
        (dict(y=np.where(np.arange(len(y)) == 3, np.nan, y)), "non-finite"),
        (dict(X=np.where(np.arange(len(y))[:, None] == 0, np.inf, X)), "non-finite"),
        (dict(weights="mammen"), "unknown bootstrap weights"),
        (dict(weights="web"), "did you mean 'webb'"),
        (dict(conf_level=1.0), "conf_level"),
        (dict(conf_level=0), "conf_level"),
        (dict(coef=2), "coef"),
        (dict(n_boot=0), "n_boot"),
        (dict(X=np.column_stack([X, X[:, 0]])), "collinear"),
        (dict(clusters=np.where(np.arange(len(y)) == 0, None, cl.astype(object))), "missing"),
    ]
    for change, match in cases:
        args = dict(X=X, y=y, clusters=cl, dof=dof) | change
        with pytest.raises(DesignError, match=match) as err:
            wild_cluster_bootstrap(args.pop("X"), args.pop("y"), args.pop("clusters"), **args)
        assert err.value.fix


# 5. Coverage (MacKinnon and Webb 2017, 2018: with few treated clusters, and treated
# clusters whose errors differ, CR1 t-intervals under-cover and WCR is close to nominal).
@pytest.mark.slow
def test_wcr_covers_where_cr1_under_covers():
    G, treated, units, T, effect, reps = 40, 8, 3, 8, 1.0, 300
    n_units = G * units
    unit = np.repeat(np.arange(n_units), T)
    t = np.tile(np.arange(T), n_units)
    cl = unit // units
    D = ((cl < treated) & (t >= T // 2)).astype(float)
    sd = np.where(np.arange(G) < treated, 6.0, 1.0)  # treated clusters far noisier
    Xt = _demean(D, unit, t)
    dof = 1 + n_units + T - 1
    q = stats.t.ppf(0.975, G - 1)
    wcr = cr1 = 0
    for rep in range(reps):
        rng = np.random.default_rng(rep)
        y = (effect * D + rng.normal(size=n_units)[unit]
             + rng.normal(size=(G, T))[cl, t] * sd[cl] + rng.normal(size=len(t)) * sd[cl])
        res = wild_cluster_bootstrap(Xt, _demean(y, unit, t)[:, 0], cl, dof=dof,
                                     weights="webb", n_boot=399, seed=rep)
        wcr += res.ci_low <= effect <= res.ci_high
        cr1 += abs(res.estimate - effect) <= q * res.se
    wcr, cr1 = wcr / reps, cr1 / reps
    assert 0.90 <= wcr <= 0.99
    assert cr1 < 0.94 and cr1 < wcr
