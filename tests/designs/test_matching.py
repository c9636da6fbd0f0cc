"""Matched and weighted comparison groups (evalkit.designs.matching).

Sources and tolerances
----------------------
- Lalonde (Dehejia-Wahba NSW treated + PSID controls, ../shared/validation/lalonde.csv):
  pre-matching SMDs published in the validation README (MatchIt's ``summary()``,
  ``s.d.denom = "treated"``), to 1e-3.
- MatchIt's documented 1:1 nearest-neighbour propensity matching of the same data
  (``matchit(treat ~ age + educ + race + married + nodegree + re74 + re75, data =
  lalonde)``: logistic propensity score, no replacement, ``m.order = "largest"``), in
  the vignette "MatchIt: Getting Started" (N. Greifer; kosukeimai.github.io/MatchIt,
  ``summary(m.out1, un = FALSE)``, also the ``matchit()`` reference examples): matched
  control means, SMDs and variance ratios printed to 4 decimals, checked to 5e-5. MatchIt
  does not document the re78 effect for this specification (its vignettes estimate
  effects after full matching instead), so the ATT is checked against an independent
  implementation only (below).
- An independent greedy matcher written here (a plain loop over treated units in
  descending propensity order, each taking the nearest available control, ties to the
  first in the data) on statsmodels ``Logit`` propensity scores: identical pairs, ATT to
  1e-10.
- statsmodels ``Logit`` (propensity model, 1e-8 relative), ``WLS`` with
  ``cov_type="cluster"`` (estimates 1e-10, CR1 standard errors 1e-8 relative).
- Entropy balancing (Hainmueller 2012): |SMD| < 1e-6 on every balanced moment, and the
  weights of a direct ``scipy.optimize`` (SLSQP) solution of the primal problem to 1e-5
  relative (SLSQP's own accuracy is about 1e-7 here).
- IPW: ``ps/(1-ps)`` normalised, and weighted SMDs/variance ratios by hand with numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from evalkit.designs.matching import (
    BALANCE_THRESHOLD,
    MatchResult,
    balance_table,
    match,
    matched,
    propensity_model,
)
from evalkit.errors import DataError, DesignError
from evalkit.evidence.maryland import maryland_level
from evalkit.synthetic.selection import simulate_selection

COVS = ["age", "educ", "black", "hispanic", "married", "nodegree", "re74", "re75"]
PUBLISHED_SMD = {"age": -0.309, "educ": 0.055, "black": 1.762, "hispanic": -0.350,
                 "married": -0.826, "nodegree": 0.245, "re74": -0.721, "re75": -0.290}
# MatchIt "Getting Started", summary(m.out1, un = FALSE): Means Control, Std. Mean Diff.,
# Var. Ratio after 1:1 nearest-neighbour propensity score matching (race as a factor:
# raceblack, racehispan, racewhite).
MATCHIT_AFTER = {
    "age": (25.3027, 0.0718, 0.4568), "educ": (10.6054, -0.1290, 0.5721),
    "black": (0.4703, 1.0259, None), "hispanic": (0.2162, -0.6629, None),
    "married": (0.2108, -0.0552, None), "nodegree": (0.6378, 0.1546, None),
    "re74": (2342.1076, -0.0505, 1.3289), "re75": (1614.7451, -0.0257, 1.4956),
}


@pytest.fixture(scope="module")
def lalonde(validation_dir) -> pd.DataFrame:
    d = pd.read_csv(validation_dir / "lalonde.csv")
    d["black"] = (d["race"] == "black").astype(int)
    d["hispanic"] = (d["race"] == "hispan").astype(int)
    return d


def sm_pscore(d: pd.DataFrame, covs: list[str], treated: str = "treat"):
    X = sm.add_constant(d[covs].to_numpy(dtype=float))
    fit = sm.Logit(d[treated].to_numpy(), X).fit(disp=0, tol=1e-12, maxiter=200)
    return fit, fit.predict(X), X @ fit.params


def greedy_loop(score: np.ndarray, order_ps: np.ndarray, t: np.ndarray, ratio: int = 1,
                width: float = np.inf, strata: np.ndarray | None = None):
    """Independent MatchIt-style greedy matching: descending propensity order, nearest
    available control (ties to the first in the data), ``ratio`` rounds."""
    strata = np.zeros(len(t), int) if strata is None else strata
    treated = sorted(np.flatnonzero(t), key=lambda i: (-order_ps[i], i))
    avail = ~t.astype(bool)
    active = {i: True for i in treated}
    pairs = []
    for _ in range(ratio):
        for i in treated:
            if not active[i]:
                continue
            cand = np.flatnonzero(avail & (strata == strata[i]))
            if cand.size == 0:
                active[i] = False
                continue
            dist = np.abs(score[cand] - score[i])
            k = int(np.argmin(dist))
            if dist[k] > width:
                active[i] = False
                continue
            avail[cand[k]] = False
            pairs.append((i, cand[k]))
    return pairs


# --------------------------------------------------------------------------- Lalonde


def test_lalonde_smd_before_reproduce_published(lalonde):
    bal = balance_table(lalonde, treated="treat", covariates=COVS)
    for cov, smd in PUBLISHED_SMD.items():
        assert bal.loc[cov, "smd_before"] == pytest.approx(smd, abs=1e-3), cov
    m = match(lalonde, treated="treat", covariates=COVS)
    assert np.allclose(m.balance["smd_before"], bal["smd_before"], atol=1e-14)


def test_lalonde_nearest_reproduces_matchit_documented_balance(lalonde):
    m = match(lalonde, treated="treat", covariates=COVS, distance="ps")
    bal = m.balance
    assert m.diagnostics["n_matched_treated"] == 185
    assert m.diagnostics["n_controls_used"] == 185
    for cov, (mean_c, smd, vr) in MATCHIT_AFTER.items():
        assert bal.loc[cov, "mean_control_after"] == pytest.approx(mean_c, abs=5e-5), cov
        assert bal.loc[cov, "smd_after"] == pytest.approx(smd, abs=5e-5), cov
        if vr is not None:
            assert bal.loc[cov, "variance_ratio"] == pytest.approx(vr, abs=5e-5), cov
    # every SMD is reported, and the documented imbalance is flagged
    assert set(bal.index) == set(COVS)
    assert not m.diagnostics["balance_ok"]
    assert m.diagnostics["max_abs_smd_after"] == pytest.approx(1.0259, abs=5e-5)
    assert any("black" in w and "Balance not achieved" in w for w in m.warnings)
    # race as a text factor gives the same matches (white is the reference level)
    m2 = match(lalonde, treated="treat", covariates=["age", "educ", "race", "married",
                                                      "nodegree", "re74", "re75"],
               distance="ps")
    cols = ["treated", "control", "subclass"]
    assert m2.matched_pairs[cols].equals(m.matched_pairs[cols])
    assert m2.balance.loc["race=white", "smd_after"] == pytest.approx(-0.7296, abs=5e-5)


@pytest.mark.parametrize("distance", ["ps", "logit"])
def test_lalonde_nearest_equals_independent_loop(lalonde, distance):
    t = lalonde["treat"].to_numpy().astype(bool)
    _, ps, lin = sm_pscore(lalonde, COVS)
    score = ps if distance == "ps" else lin
    expected = greedy_loop(score, ps, t)
    m = match(lalonde, treated="treat", covariates=COVS, distance=distance)
    got = list(zip(m.matched_pairs["treated"], m.matched_pairs["control"], strict=True))
    assert got == [(int(i), int(j)) for i, j in expected]
    y = lalonde["re78"].to_numpy()
    ti = np.array([i for i, _ in expected])
    ci = np.array([j for _, j in expected])
    att = y[ti].mean() - y[ci].mean()
    res = m.outcome("re78").effects.set_index("estimand")
    assert res.loc["difference_in_means", "estimate"] == pytest.approx(att, abs=1e-10)


def test_propensity_model_equals_statsmodels_logit(lalonde):
    fit, ps, lin = sm_pscore(lalonde, COVS)
    t = lalonde["treat"].to_numpy()
    pm = propensity_model(lalonde[COVS].to_numpy(float), t, COVS)
    assert np.allclose(pm.params, fit.params, rtol=1e-8, atol=0)
    assert np.allclose(pm.ps, ps, rtol=0, atol=1e-10)
    assert np.allclose(pm.linear, lin, rtol=0, atol=1e-8)
    m = match(lalonde, treated="treat", covariates=COVS)
    assert np.allclose(m.pscore.to_numpy(), ps, atol=1e-10)
    assert m.pscore.index.equals(lalonde.index)


def test_propensity_model_categorical_dummies(lalonde):
    """Text covariates enter as dummies for every level but the first (sorted)."""
    covs = ["age", "race", "re74"]
    m = match(lalonde, treated="treat", covariates=covs)
    X = pd.get_dummies(lalonde[covs], columns=["race"], drop_first=True, dtype=float)
    assert list(X.columns) == ["age", "re74", "race_hispan", "race_white"]
    X = X[["age", "race_hispan", "race_white", "re74"]]
    fit = sm.Logit(lalonde["treat"], sm.add_constant(X)).fit(disp=0, tol=1e-12)
    assert np.allclose(m.pscore, fit.predict(sm.add_constant(X)), atol=1e-10)
    assert "race=hispan" in m.diagnostics["propensity_model"]
    assert {"race=black", "race=hispan", "race=white"} <= set(m.balance.index)


# --------------------------------------------------------------------------- weighting


def _entropy_data(seed=3, nc=60, nt=30):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(0, 1, (nc, 2)), rng.normal(0.4, 1, (nt, 2))]
    b = np.r_[rng.random(nc) < 0.4, rng.random(nt) < 0.55].astype(float)
    return pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "b": b,
                         "t": np.r_[np.zeros(nc), np.ones(nt)].astype(int)})


@pytest.mark.parametrize("moments", [1, 2])
def test_entropy_balancing_balances_moments_exactly(lalonde, moments):
    m = match(lalonde, treated="treat", covariates=COVS, method="entropy", moments=moments)
    w = m.weights.to_numpy()
    t = lalonde["treat"].to_numpy() == 1
    assert (w[t] == 1).all() and (w[~t] > 0).all()
    assert w[~t].sum() == pytest.approx((~t).sum(), rel=1e-12)  # documented: sum = n_control
    assert m.balance["smd_after"].abs().max() < 1e-6
    assert m.diagnostics["balance_ok"]
    X = lalonde[COVS].to_numpy(float)
    cols = [X] + ([X[:, [0, 1, 6, 7]] ** 2] if moments == 2 else [])
    for Y in cols:  # hand SMDs of the balanced moments (treated SD denominators)
        mt = Y[t].mean(0)
        mc = np.average(Y[~t], axis=0, weights=w[~t])
        assert np.all(np.abs(mt - mc) / Y[t].std(0, ddof=1) < 1e-6)


def test_entropy_balancing_equals_direct_primal_solution():
    """Minimise sum w log(w n) subject to sum w = 1 and the treated means, with SLSQP."""
    from scipy.optimize import minimize

    d = _entropy_data()
    covs = ["x1", "x2", "b"]
    m = match(d, treated="t", covariates=covs, method="entropy")
    c = d["t"].to_numpy() == 0
    nc = int(c.sum())
    w = m.weights.to_numpy()[c] / nc
    C = d.loc[c, covs].to_numpy()
    target = d.loc[~c, covs].mean().to_numpy()

    def kl(v):
        return float(np.sum(v * np.log(v * nc)))

    cons = [{"type": "eq", "fun": lambda v: np.r_[v.sum() - 1, C.T @ v - target],
             "jac": lambda v: np.vstack([np.ones(nc), C.T])}]
    r = minimize(kl, np.full(nc, 1 / nc), jac=lambda v: np.log(v * nc) + 1,
                 constraints=cons, bounds=[(1e-12, 1)] * nc, method="SLSQP",
                 options={"ftol": 1e-15, "maxiter": 1000})
    assert r.success
    assert np.allclose(r.x, w, rtol=1e-5, atol=0)
    assert kl(w) <= kl(r.x) + 1e-9  # ours is at least as good
    assert np.abs(C.T @ w - target).max() < 1e-9


def test_ipw_weights_and_weighted_balance_by_hand(lalonde):
    m = match(lalonde, treated="treat", covariates=COVS, method="ipw")
    _, ps, _ = sm_pscore(lalonde, COVS)
    t = lalonde["treat"].to_numpy() == 1
    odds = ps / (1 - ps)
    expected = np.where(t, 1.0, odds * (~t).sum() / odds[~t].sum())
    assert np.allclose(m.weights.to_numpy(), expected, rtol=1e-8)
    w = m.weights.to_numpy()
    for cov in COVS:
        x = lalonde[cov].to_numpy(float)
        binary = np.unique(x).size == 2
        sd = x[t].std(ddof=0 if binary else 1)
        mc = np.sum(w[~t] * x[~t]) / np.sum(w[~t])
        assert m.balance.loc[cov, "mean_control_after"] == pytest.approx(mc, rel=1e-10)
        assert m.balance.loc[cov, "smd_after"] == pytest.approx((x[t].mean() - mc) / sd,
                                                                rel=1e-9, abs=1e-12)
        if not binary:  # reliability-weights variance, treated over control
            wc = w[~t]
            vc = np.sum(wc * (x[~t] - mc) ** 2) / (wc.sum() - np.sum(wc**2) / wc.sum())
            assert m.balance.loc[cov, "variance_ratio"] == pytest.approx(
                x[t].var(ddof=1) / vc, rel=1e-9)
    assert m.ess["control"] == pytest.approx(w[~t].sum() ** 2 / np.sum(w[~t] ** 2))
    assert m.matched_pairs is None


def test_ipw_trimming_caps_weights(lalonde):
    m = match(lalonde, treated="treat", covariates=COVS, method="ipw", trim=0.9)
    _, ps, _ = sm_pscore(lalonde, COVS)
    t = lalonde["treat"].to_numpy() == 1
    odds = (ps / (1 - ps))[~t]
    capped = np.minimum(odds, np.quantile(odds, 0.9))
    assert np.allclose(m.weights[~t], capped * (~t).sum() / capped.sum(), rtol=1e-8)
    assert m.diagnostics["n_trimmed"] == int(np.sum(odds > np.quantile(odds, 0.9)))


# --------------------------------------------------------------------------- options


def _toy(seed=0, n_t=40, n_c=200, shift=1.0):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(shift, 1, n_t), rng.normal(0, 1, n_c)]
    z = np.r_[rng.normal(0.5, 1, n_t), rng.normal(0, 1, n_c)]
    g = rng.choice(["a", "b", "c"], n_t + n_c)
    y0 = rng.normal(0, 1, n_t + n_c) + x
    t = np.r_[np.ones(n_t), np.zeros(n_c)].astype(int)
    return pd.DataFrame({"x": x, "z": z, "g": g, "t": t, "pre": y0,
                         "post": y0 + 0.5 * x + 2 * t + rng.normal(0, 1, n_t + n_c)})


def test_with_replacement_reuses_controls_with_matchit_weights():
    d = _toy(n_t=60, n_c=40, shift=1.5)
    m = match(d, treated="t", covariates=["x", "z"], replace=True)
    pairs = m.matched_pairs
    counts = pairs["control"].value_counts()
    assert counts.max() > 1  # a control is reused
    # each treated unit gets its nearest control overall (brute force)
    lin = np.log(m.pscore / (1 - m.pscore)).to_numpy()
    c = np.flatnonzero(d["t"] == 0)
    for ti, ci in zip(pairs["treated"], pairs["control"], strict=True):
        dist = np.abs(lin[c] - lin[ti])
        assert ci == c[np.argmin(dist)]
    # MatchIt: a control matched k times weighs k, scaled to sum to the distinct controls
    w = m.weights
    expected = counts * len(counts) / counts.sum()
    assert np.allclose(w[counts.index], expected)
    assert (w[d["t"] == 1] == 1).all()
    assert w[d["t"] == 0].sum() == pytest.approx(len(counts))
    assert m.subclass is None
    # the outcome SE then clusters on units
    r = m.outcome("post")
    assert "by unit" in r.diagnostics["se"] and "Abadie-Imbens" in r.diagnostics["se"]


def test_with_replacement_ratio_takes_k_nearest():
    d = _toy(n_t=30, n_c=80)
    m = match(d, treated="t", covariates=["x"], replace=True, ratio=3, distance="ps")
    ps = m.pscore.to_numpy()
    c = np.flatnonzero(d["t"] == 0)
    for ti, grp in m.matched_pairs.groupby("treated"):
        dist = np.abs(ps[c] - ps[ti])
        expected = c[np.lexsort((c, dist))[:3]]
        assert sorted(grp["control"]) == sorted(expected)


def test_exact_matching_never_crosses_strata_and_equals_loop():
    d = _toy(n_t=40, n_c=300)
    m = match(d, treated="t", covariates=["x", "z"], exact=["g"])
    p = m.matched_pairs
    assert (d.loc[p["treated"], "g"].to_numpy() == d.loc[p["control"], "g"].to_numpy()).all()
    lin = np.log(m.pscore / (1 - m.pscore)).to_numpy()
    strata = pd.factorize(d["g"])[0]
    expected = greedy_loop(lin, m.pscore.to_numpy(), d["t"].to_numpy().astype(bool),
                           strata=strata)
    assert sorted(zip(p["treated"], p["control"], strict=True)) == sorted(expected)
    assert m.diagnostics["exact"] == ["g"]


def test_caliper_drops_far_treated_and_warns():
    d = _toy(n_t=40, n_c=200, shift=2.5)
    m = match(d, treated="t", covariates=["x"], caliper=0.05)
    lin = np.log(m.pscore / (1 - m.pscore)).to_numpy()
    width = 0.05 * np.std(lin, ddof=1)
    assert m.diagnostics["caliper_width"] == pytest.approx(width)
    assert (m.matched_pairs["distance"] <= width).all()
    n_un = m.diagnostics["n_unmatched_treated"]
    assert n_un > 0 and n_un == len(m.unmatched)
    assert m.diagnostics["estimand"] == "ATT on the matched treated"
    assert (m.weights[m.unmatched] == 0).all()
    warn = [w for w in m.warnings if "within the caliper" in w]
    assert warn and f"{n_un} of 40" in warn[0] and "ATT on the matched treated" in warn[0]
    expected = greedy_loop(lin, m.pscore.to_numpy(), d["t"].to_numpy().astype(bool),
                           width=width)
    assert sorted(zip(m.matched_pairs["treated"], m.matched_pairs["control"],
                      strict=True)) == sorted(expected)
    # the unmatched are, on average, further from the controls than the matched
    matched_t = m.matched_pairs["treated"].to_numpy()
    assert lin[m.unmatched].mean() > lin[matched_t].mean()


def test_ratio_without_replacement_matches_in_rounds():
    d = _toy(n_t=30, n_c=200)
    m = match(d, treated="t", covariates=["x", "z"], ratio=2)
    p = m.matched_pairs
    assert p["control"].is_unique
    assert (p.groupby("treated").size() == 2).all()
    lin = np.log(m.pscore / (1 - m.pscore)).to_numpy()
    expected = greedy_loop(lin, m.pscore.to_numpy(), d["t"].to_numpy().astype(bool),
                           ratio=2)
    assert sorted(zip(p["treated"], p["control"], strict=True)) == sorted(expected)
    assert np.allclose(m.weights[p["control"]], 1.0)  # 1/2 each, scaled to 200 distinct
    sub = m.subclass
    for _, grp in p.groupby("subclass"):
        assert sub[grp["treated"].iloc[0]] == sub[grp["control"]].iloc[0]


def test_many_ties_large_sample_equals_loop():
    """A discrete score (many exact ties) on 3,000 controls: the union-find search and the
    plain loop agree, including which of several tied controls is taken."""
    rng = np.random.default_rng(7)
    n_t, n_c = 300, 3000
    x = np.r_[rng.integers(0, 8, n_t) + 1, rng.integers(0, 8, n_c)].astype(float)
    d = pd.DataFrame({"x": x, "t": np.r_[np.ones(n_t), np.zeros(n_c)].astype(int)})
    d = d.sample(frac=1, random_state=1).reset_index(drop=True)
    t = d["t"].to_numpy().astype(bool)
    for ratio in (1, 3):
        m = match(d, treated="t", covariates=["x"], ratio=ratio, distance="ps")
        ps = m.pscore.to_numpy()
        expected = greedy_loop(ps, ps, t, ratio=ratio)
        got = sorted(zip(m.matched_pairs["treated"], m.matched_pairs["control"],
                         strict=True))
        assert got == sorted((int(i), int(j)) for i, j in expected)


def test_random_order_is_seeded():
    d = _toy()
    a = match(d, treated="t", covariates=["x", "z"], m_order="random", seed=5)
    b = match(d, treated="t", covariates=["x", "z"], m_order="random", seed=5)
    assert a.matched_pairs.equals(b.matched_pairs)
    assert a.balance.equals(b.balance)


def test_large_problem_runs(capsys):
    """100,000 controls x 5,000 treated: the sorted-array search completes (no timing
    assertion); matching without replacement uses distinct controls."""
    rng = np.random.default_rng(0)
    n = 105_000
    X = rng.normal(size=(n, 3))
    t = np.zeros(n, int)
    t[np.argsort(-(X @ [0.5, -0.3, 0.2] + rng.logistic(size=n)))[:5000]] = 1
    d = pd.DataFrame(X, columns=["a", "b", "c"]).assign(t=t)
    m = match(d, treated="t", covariates=["a", "b", "c"], caliper=0.2)
    assert m.matched_pairs["control"].is_unique
    assert m.diagnostics["n_matched_treated"] + m.diagnostics["n_unmatched_treated"] == 5000


# --------------------------------------------------------------------------- outcomes


def _wls(y, t, w, groups):
    X = sm.add_constant(t.astype(float))
    return sm.WLS(y, X, weights=w).fit(cov_type="cluster", cov_kwds={"groups": groups})


@pytest.mark.parametrize("kw", [{}, {"replace": True}, {"method": "ipw"},
                                {"method": "entropy"}, {"ratio": 2}])
def test_outcome_equals_statsmodels_wls_cluster(kw):
    d = _toy(n_t=50, n_c=250)
    m = match(d, treated="t", covariates=["x", "z"], **kw)
    use = m.weights.to_numpy() > 0
    w = m.weights.to_numpy()[use]
    t = d["t"].to_numpy()[use]
    if m.subclass is not None:
        groups = pd.factorize(m.subclass.to_numpy()[use])[0]
    else:
        groups = np.arange(use.sum())
    res = m.outcome("post", pre="pre").effects.set_index("estimand")
    for est, y in (("att_did", (d["post"] - d["pre"]).to_numpy()[use]),
                   ("difference_in_means", d["post"].to_numpy()[use])):
        fit = _wls(y, t, w, groups)
        assert res.loc[est, "estimate"] == pytest.approx(fit.params[1], abs=1e-10)
        assert res.loc[est, "se"] == pytest.approx(fit.bse[1], rel=1e-8)
        # and the estimate is the weighted difference in means
        diff = np.average(y[t == 1], weights=w[t == 1]) - np.average(y[t == 0],
                                                                     weights=w[t == 0])
        assert res.loc[est, "estimate"] == pytest.approx(diff, abs=1e-10)
    assert res.loc["att_did", "pre_periods"] == 1 and res.loc["att_did", "post_periods"] == 1
    assert res.loc["difference_in_means", "pre_periods"] == 0


def test_outcome_cluster_column_and_pre_list():
    d = _toy(n_t=50, n_c=250)
    d["practice"] = np.arange(len(d)) % 23
    d["pre2"] = d["pre"] + 1.0
    m = match(d, treated="t", covariates=["x", "z"])
    use = m.weights.to_numpy() > 0
    r = m.outcome("post", pre=["pre", "pre2"], cluster="practice")
    base = d[["pre", "pre2"]].mean(axis=1).to_numpy()
    fit = _wls((d["post"].to_numpy() - base)[use], d["t"].to_numpy()[use],
               m.weights.to_numpy()[use], d["practice"].to_numpy()[use])
    e = r.effects.set_index("estimand").loc["att_did"]
    assert e["estimate"] == pytest.approx(fit.params[1], abs=1e-10)
    assert e["se"] == pytest.approx(fit.bse[1], rel=1e-8)
    assert r.diagnostics["clusters"] == 23 and "practice" in r.diagnostics["se"]
    pre_fit = _wls(base[use], d["t"].to_numpy()[use], m.weights.to_numpy()[use],
                   d["practice"].to_numpy()[use])
    assert r.diagnostics["pre_difference"] == pytest.approx(pre_fit.params[1], abs=1e-10)


def test_outcome_evidence_levels_and_binary_outcome():
    d = _toy(n_t=50, n_c=400, shift=0.3)
    d["event"] = (d["post"] > d["post"].median()).astype(int)
    m = match(d, treated="t", covariates=["x", "z"])
    r = m.outcome("event", pre="pre").effects.set_index("estimand")
    assert "difference_in_proportions" in r.index
    ok = m.diagnostics["balance_ok"]
    assert r.loc["att_did", "evidence_level"] == (4 if ok else 3)
    assert r.loc["difference_in_proportions", "evidence_level"] == 2
    assert r.loc["att_did", "evidence_level"] == maryland_level(
        "matched", "att_did", {"balance_ok": ok})
    e = r.loc["att_did"]
    assert e["ci_low"] < e["estimate"] < e["ci_high"]
    assert e["n_units"] == int((m.weights > 0).sum())


def test_matched_one_call_design():
    sim = simulate_selection(n=3000, seed=2)
    d = sim.data
    r = matched(d, outcome=sim.post, treated="enrolled", covariates=list(sim.covariates),
                pre=list(sim.pre), caliper=0.2, scheme="virtual ward")
    assert r.design == "matched"
    assert r.diagnostics["matched_on_pre_outcomes"] == list(sim.pre)
    bal = r.frames["balance"]
    assert "covariate" in bal.columns and set(sim.pre) <= set(bal["covariate"])
    love = r.frames["love"]
    assert list(love.columns) == ["covariate", "stage", "smd"]
    assert set(love["stage"]) == {"before", "after"}
    assert len(love) == 2 * len(bal)
    eff = r.effects.set_index("estimand")
    assert list(eff.index) == ["att_did", "difference_in_means"]
    for key in ("balance_ok", "max_abs_smd_after", "method", "ess_control",
                "pre_difference", "n_matched_treated"):
        assert key in eff.loc["att_did", "diagnostics"]
    assert eff.loc["att_did", "scheme"] == "virtual ward"
    # turning the pre-outcome matching off leaves the covariates as given
    r2 = matched(d, outcome=sim.post, treated="enrolled", covariates=list(sim.covariates),
                 pre=list(sim.pre), caliper=0.2, match_on_pre=False)
    assert r2.diagnostics["matched_on_pre_outcomes"] == []
    assert not set(sim.pre) & set(r2.frames["balance"]["covariate"])
    # pre columns already among the covariates are not duplicated
    r3 = matched(d, outcome=sim.post, treated="enrolled",
                 covariates=list(sim.covariates) + ["admissions_pre3"], pre=list(sim.pre))
    assert r3.diagnostics["matched_on_pre_outcomes"] == list(sim.pre)
    assert (r3.frames["balance"]["covariate"] == "admissions_pre3").sum() == 1


def test_same_seed_same_output():
    sim = simulate_selection(n=2000, seed=4)
    kw = dict(outcome=sim.post, treated="enrolled", covariates=list(sim.covariates),
              pre=list(sim.pre), seed=11)
    a, b = matched(sim.data, **kw), matched(sim.data, **kw)
    assert a.to_json() == b.to_json()


def test_love_frame_and_plot_accept_result(lalonde):
    from evalkit.plots import love_plot

    m = match(lalonde, treated="treat", covariates=COVS)
    assert isinstance(m, MatchResult)
    fig, alt = love_plot(m)
    assert "covariates" in alt
    before = m.love[m.love["stage"] == "before"].set_index("covariate")["smd"]
    assert np.allclose(before[COVS], m.balance.loc[COVS, "smd_before"])
    assert BALANCE_THRESHOLD == 0.1


# --------------------------------------------------------------------------- refusals


def _err(exc, fn, *args, **kw):
    with pytest.raises(exc) as info:
        fn(*args, **kw)
    return info.value


def test_refuses_treatment_not_zero_one():
    d = _toy()
    d["t"] = d["t"].astype(object)
    d.loc[3, "t"] = "yes"
    d.loc[7, "t"] = 2
    e = _err(DataError, match, d, treated="t", covariates=["x"])
    assert "'yes'" in str(e) and "2" in str(e) and e.column == "t"
    assert list(e.rows) == [5, 9]
    d2 = _toy()
    d2["t"] = d2["t"].astype(float)
    d2.loc[4, "t"] = np.nan
    e = _err(DataError, match, d2, treated="t", covariates=["x"])
    assert "missing" in str(e) and list(e.rows) == [6]


def test_refuses_missing_covariate_column_with_suggestion():
    e = _err(DataError, match, _toy(), treated="t", covariates=["x", "zz"])
    assert "'zz'" in str(e) and "did you mean 'z'" in str(e)
    e = _err(DataError, match, _toy(), treated="T", covariates=["x"])
    assert "did you mean 't'" in str(e)


def test_refuses_missing_covariate_values():
    d = _toy()
    d.loc[[2, 10], "z"] = np.nan
    e = _err(DataError, match, d, treated="t", covariates=["x", "z"], file="cohort.csv")
    assert e.column == "z" and list(e.rows) == [4, 12] and "cohort.csv" in str(e)
    assert e.fix


def test_refuses_no_treated_or_no_controls():
    d = _toy()
    e = _err(DesignError, match, d.assign(t=0), treated="t", covariates=["x"])
    assert "no treated" in str(e)
    e = _err(DesignError, match, d.assign(t=1), treated="t", covariates=["x"])
    assert "no comparison" in str(e)


def test_common_support_some_warn_all_refuse():
    d = _toy(n_t=40, n_c=200, shift=2.5)
    m = match(d, treated="t", covariates=["x"])
    n_out = m.diagnostics["n_outside_support"]
    assert n_out > 0 and any(f"{n_out} treated unit(s)" in w for w in m.warnings)
    # no treated unit within the caliper of any control -> error
    rng = np.random.default_rng(1)
    far = pd.DataFrame({"x": np.r_[rng.normal(0, 1, 50), rng.normal(2.4, 0.3, 10)],
                        "t": np.r_[np.zeros(50), np.ones(10)].astype(int)})
    far.loc[0, "x"] = 5.0  # one control overlaps, so the logistic model is estimable
    e = _err(DesignError, match, far, treated="t", covariates=["x"], caliper=0.0001)
    assert "within the caliper" in str(e)


def test_refuses_all_treated_outside_support():
    """Treated units at both extremes of x: the logistic model is estimable (no
    separation), but every treated propensity lies outside the controls' range."""
    rng = np.random.default_rng(2)
    x = np.r_[rng.uniform(-1, 1, 100), [2.0, 2.5, 3.1, -2.0, -2.4]]
    d = pd.DataFrame({"x": x, "t": np.r_[np.zeros(100), np.ones(5)].astype(int)})
    for method in ("nearest", "ipw"):
        e = _err(DesignError, match, d, treated="t", covariates=["x"], method=method)
        assert "no common support" in str(e) and list(e.rows) == list(range(102, 107))


def test_refuses_perfect_separation_naming_covariate():
    d = _toy()
    d["flag"] = d["t"]
    e = _err(DesignError, match, d, treated="t", covariates=["x", "flag"])
    assert "perfect separation" in str(e) and "'flag'" in str(e)
    d = _toy()
    d["grp"] = np.where(d["t"] == 1, np.where(np.arange(len(d)) % 2, "new", "old"), "old")
    e = _err(DesignError, match, d, treated="t", covariates=["x", "grp"])
    assert "perfect separation" in str(e)
    assert "'grp=old' (every comparison unit has it)" in str(e)


def test_refuses_collinear_and_constant_covariates():
    d = _toy().assign(x2=lambda f: 2 * f["x"] + 1, k=1.0)
    e = _err(DesignError, match, d, treated="t", covariates=["x", "x2"])
    assert "collinear" in str(e) and "x2" in str(e)
    e = _err(DesignError, match, d, treated="t", covariates=["x", "k"])
    assert "'k'" in str(e) and "one value" in str(e)


def test_refuses_entropy_that_cannot_converge():
    d = _toy()
    d.loc[d["t"] == 1, "z"] = d["z"].max() + 5  # treated mean beyond every control
    e = _err(DesignError, match, d, treated="t", covariates=["x", "z"], method="entropy")
    assert "entropy balancing" in str(e) and "'z'" in str(e)


def test_refuses_exact_strata_without_controls():
    d = _toy()
    d.loc[d.index[:3], "g"] = "only-treated"
    e = _err(DesignError, match, d, treated="t", covariates=["x"], exact=["g"])
    assert "g=only-treated" in str(e) and list(e.rows) == [2, 3, 4]


@pytest.mark.parametrize("kw, text", [
    ({"method": "nearset"}, "did you mean 'nearest'"),
    ({"estimand": "ATE"}, "estimand 'ATE'"),
    ({"caliper": -1}, "caliper"),
    ({"ratio": 0}, "ratio"),
    ({"distance": "mahalanobis"}, "distance"),
    ({"method": "ipw", "caliper": 0.2}, "only to method='nearest'"),
    ({"method": "entropy", "exact": ["g"]}, "only to method='nearest'"),
    ({"method": "ipw", "trim": 1.5}, "trim"),
    ({"moments": 3, "method": "entropy"}, "moments"),
])
def test_refuses_bad_options(kw, text):
    e = _err(DesignError, match, _toy(), treated="t", covariates=["x"], **kw)
    assert text in str(e) and e.fix


def test_refuses_bad_outcome_columns():
    d = _toy()
    m = match(d, treated="t", covariates=["x"])
    e = _err(DataError, m.outcome, "psot")
    assert "did you mean 'post'" in str(e)
    used = m.weights[m.weights > 0].index[:2]
    d.loc[used, "post"] = np.nan
    e = _err(DataError, m.outcome, "post")
    assert list(e.rows) == [int(i) + 2 for i in used]
    e = _err(DataError, m.outcome, "pre", family="binomial")
    assert "0/1" in str(e)
    e = _err(DataError, matched, _toy(), outcome="post", treated="t", covariates=["x"],
             pre=["pre", "prr"])
    assert "'prr'" in str(e) and "did you mean 'pre'" in str(e)


def test_unit_column_names_units():
    d = _toy(n_t=40, n_c=200, shift=2.5)
    d["pid"] = [f"PT{i:04d}" for i in range(len(d))]
    m = match(d, treated="t", covariates=["x"], caliper=0.05, unit="pid")
    p = m.matched_pairs
    assert (p["treated_id"] == d.loc[p["treated"], "pid"].to_numpy()).all()
    assert (p["control_id"] == d.loc[p["control"], "pid"].to_numpy()).all()
    ids = m.diagnostics["unmatched_treated_ids"]
    assert ids == d.loc[m.unmatched[:20], "pid"].tolist()
    assert any(ids[0] in w for w in m.warnings)
    d.loc[5, "pid"] = d.loc[6, "pid"]
    e = _err(DataError, match, d, treated="t", covariates=["x"], unit="pid")
    assert list(e.rows) == [7, 8] and "one row per unit" in str(e)


def test_refuses_entropy_constraint_redundant_only_among_controls():
    """x3 = x1 + x2 exactly among the controls but not among the treated: dropping it as
    redundant would leave it unbalanced, so it is refused."""
    rng = np.random.default_rng(4)
    n_c, n_t = 120, 30
    x1, x2 = rng.normal(0, 1, n_c + n_t), rng.normal(0, 1, n_c + n_t)
    x3 = x1 + x2 + np.r_[np.zeros(n_c), rng.normal(0.3, 0.5, n_t)]
    d = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3,
                      "t": np.r_[np.zeros(n_c), np.ones(n_t)].astype(int)})
    e = _err(DesignError, match, d, treated="t", covariates=["x1", "x2", "x3"],
             method="entropy")
    assert "cannot balance" in str(e)


def test_balance_table_with_weights_equals_match_balance(lalonde):
    m = match(lalonde, treated="treat", covariates=COVS, replace=True)
    bal = balance_table(lalonde, treated="treat", covariates=COVS, weights=m.weights)
    pd.testing.assert_frame_equal(bal, m.balance)
    with pytest.raises(DesignError):
        balance_table(lalonde, treated="treat", covariates=COVS, weights=np.ones(3))


def test_baseline_difference_is_reported_and_warned():
    """Not matching on the pre-period outcomes leaves the enrolled's high-use year
    unmatched: the pre-period difference is reported and warned about."""
    sim = simulate_selection(n=3000, seed=5)
    r = matched(sim.data, outcome=sim.post, treated="enrolled",
                covariates=list(sim.covariates), pre=list(sim.pre), match_on_pre=False)
    assert r.diagnostics["pre_difference"] > 3 * r.diagnostics["pre_difference_se"]
    assert any("differ at baseline" in w for w in r.warnings)
