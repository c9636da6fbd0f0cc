"""Coverage of the default ITS intervals (issue 22) and the AR(1) GLS fit against
statsmodels' GLS at the same rho.

The default (``autocorrelation="auto"``) fits AR(1) errors with rho by REML whatever the
pre-tests say, with or without a comparison series (for counts a latent AR(1) process on
the log scale, Zeger 1988). The full grid is
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
from scipy.linalg import block_diag

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


def _dense_ar1(n_by_segment, rho):
    """The AR(1) correlation matrix of stacked independent series, and its derivatives."""
    blocks, d1, d2 = [], [], []
    for n in n_by_segment:
        k = np.abs(np.subtract.outer(np.arange(n), np.arange(n))).astype(float)
        blocks.append(rho**k)
        d1.append(np.where(k > 0, k * rho ** np.maximum(k - 1, 0), 0.0))
        d2.append(np.where(k > 1, k * (k - 1) * rho ** np.maximum(k - 2, 0), 0.0))
    return block_diag(*blocks), block_diag(*d1), block_diag(*d2)


def _dense_reml(y, X, n_by_segment, rho):
    """The REML log-likelihood profiled over the scale, from dense matrices."""
    R = _dense_ar1(n_by_segment, rho)[0]
    Ri = np.linalg.inv(R)
    G = X.T @ Ri @ X
    beta = np.linalg.solve(G, X.T @ Ri @ y)
    e = y - X @ beta
    n, p = X.shape
    return -0.5 * ((n - p) * np.log(e @ Ri @ e) + np.linalg.slogdet(R)[1]
                   + np.linalg.slogdet(G)[1])


def _dense_kenward_roger(X, seg, rho, s2):
    """Kenward and Roger's (1997) adjusted covariance for GLS with AR(1) errors, Sigma =
    s2 R(rho), and W, the inverse expected REML information for (s2, rho), from dense
    matrices: Phi_A = Phi + 2 Phi {sum W_ij (Q_ij - P_i Phi P_j - R_ij / 4)} Phi."""
    R, dR, d2R = _dense_ar1(seg, rho)
    S = s2 * R
    Si = np.linalg.inv(S)
    Phi = np.linalg.inv(X.T @ Si @ X)
    dS = [R, s2 * dR]
    d2S = [[np.zeros_like(R), dR], [dR, s2 * d2R]]
    dSi = [-Si @ a @ Si for a in dS]
    Pm = Si - Si @ X @ Phi @ X.T @ Si
    info = np.array([[0.5 * np.trace(Pm @ a @ Pm @ b) for b in dS] for a in dS])
    W = np.linalg.inv(info)
    Pi = [X.T @ a @ X for a in dSi]
    total = np.zeros_like(Phi)
    for i in range(2):
        for j in range(2):
            Q = X.T @ dSi[i] @ S @ dSi[j] @ X
            Rij = X.T @ Si @ d2S[i][j] @ Si @ X
            total += W[i, j] * (Q - Pi[i] @ Phi @ Pi[j] - 0.25 * Rij)
    return Phi, Phi + 2 * Phi @ total @ Phi, W, -Phi @ Pi[1] @ Phi


def _controlled_design(t, comp, n_pre):
    group = 1.0 - comp
    tt = t.astype(float)
    after = (t >= n_pre).astype(float)
    return np.column_stack([np.ones(len(t)), tt, after, after * (t - n_pre), group,
                            group * tt, group * after, group * after * (t - n_pre),
                            np.sin(2 * np.pi * t / 12), np.cos(2 * np.pi * t / 12)])


def test_controlled_ar1_default_is_reml_gls_with_kenward_roger_and_satterthwaite_df():
    """The default fit of a controlled gaussian ITS: rho maximises the restricted
    likelihood (computed here from dense matrices and maximised by scipy); the coefficients
    are statsmodels' GLS with that block-diagonal AR(1) correlation; the SEs are Kenward and
    Roger's (dense formulas); the interval uses t quantiles with df = 2 v^2 / (g' W g), v
    the model-based variance and W the inverse expected REML information for (s2, rho)."""
    from scipy.optimize import minimize_scalar

    Y, pop, comp, t, _ = simulate(7, 1, n_pre=48, n_post=36, rho=0.5, family="gaussian",
                                  change="level", controlled=True)
    y = Y[0]
    data = pd.DataFrame({"month": t, "y": y, "comparison": comp})
    res = ek.its(data, outcome="y", time="month", start=48, control="comparison",
                 seasonality={"fourier": 1, "period": 12}, horizons=())
    d = res.diagnostics
    assert d["remedy"] == "ar" and d["controlled"] and "REML" in d["method"]
    X = _controlled_design(t, comp, 48)
    seg = (84, 84)
    best = minimize_scalar(lambda r: -_dense_reml(y, X, seg, r), bounds=(-0.9, 0.98),
                           method="bounded", options={"xatol": 1e-9})
    assert d["ar_rho"] == pytest.approx(best.x, abs=1e-5)
    rho = d["ar_rho"]
    ref = sm.GLS(y, X, sigma=_dense_ar1(seg, rho)[0]).fit()
    Phi, adjusted, W, dPhi = _dense_kenward_roger(X, seg, rho, ref.scale)
    coef = res.plot_data()["coefficients"].set_index("term")
    assert coef.loc["group_level_change", "estimate"] == pytest.approx(ref.params[6], abs=1e-8)
    assert coef.loc["group_level_change", "se"] == pytest.approx(np.sqrt(adjusted[6, 6]),
                                                                 rel=1e-7)
    assert coef.loc["group_slope_change", "se"] == pytest.approx(np.sqrt(adjusted[7, 7]),
                                                                 rel=1e-7)
    assert adjusted[6, 6] > Phi[6, 6] == pytest.approx(ref.bse[6] ** 2, rel=1e-8)
    g = np.array([Phi[6, 6] / ref.scale, dPhi[6, 6]])
    df = 2 * Phi[6, 6] ** 2 / (g @ W @ g)
    rec = res.effects.set_index("estimand").loc["level_change"]
    q = stats.t.ppf(0.975, df)
    assert (rec["ci_high"] - rec["ci_low"]) / (2 * rec["se"]) == pytest.approx(q, rel=1e-5)
    assert rec["ci_low"] == pytest.approx(ref.params[6] - q * np.sqrt(adjusted[6, 6]),
                                          abs=1e-5)


def test_kenward_roger_pieces_match_dense_formulas():
    """``kenward_roger`` (tridiagonal algebra, R applied by recursion) against Kenward and
    Roger's (1997) formulas evaluated with dense matrices: Phi_A = Phi + 2 Phi {sum W_ij
    (Q_ij - P_i Phi P_j - R_ij / 4)} Phi, and W the inverse REML information."""
    from evalkit.designs.its_model import kenward_roger

    rng = np.random.default_rng(3)
    seg = (30, 22)
    n = sum(seg)
    X = np.column_stack([np.ones(n), np.arange(n) / 10, rng.normal(size=n),
                         np.r_[np.zeros(seg[0]), np.ones(seg[1])]])
    rho, s2 = 0.45, 2.3
    first = np.zeros(n, dtype=bool)
    first[[0, seg[0]]] = True
    Phi, adjusted, dcov, W = kenward_roger(X[None], np.array([rho]), np.array([s2]), first)
    Phi_ref, adjusted_ref, W_ref, dPhi_ref = _dense_kenward_roger(X, seg, rho, s2)
    np.testing.assert_allclose(Phi[0], Phi_ref, rtol=1e-9)
    np.testing.assert_allclose(W[0], W_ref, rtol=1e-8)
    np.testing.assert_allclose(adjusted[0], adjusted_ref, rtol=1e-8)
    np.testing.assert_allclose(dcov[0, 1], dPhi_ref, rtol=1e-8)


def test_counts_default_is_zeger_latent_ar1_fitted_by_reml():
    """Counts: the default is Zeger's (1988) model, Var y = s2 (mu + tau2 mu^2), Cov(y_t,
    y_u) = s2 tau2 mu_t mu_u rho^|t-u|. Checked with dense matrices: the coefficients solve
    the quasi-likelihood equations X' V^-1 (y - mu) / mu = 0 for the link-scale covariance V
    = diag(1/mu) + tau2 R(rho); the SEs are s2 (X' V^-1 X)^-1 with s2 = w' V^-1 w / (n - p);
    and (rho, tau2) maximise the restricted likelihood (scipy, from each coordinate)."""
    from scipy.optimize import minimize_scalar

    Y, pop, comp, t, _ = simulate(11, 1, n_pre=48, n_post=36, rho=0.6,
                                  family="quasipoisson", change="level", controlled=True)
    y = Y[0]
    data = pd.DataFrame({"month": t, "y": y, "pop": pop, "comparison": comp})
    res = ek.its(data, outcome="y", time="month", start=48, family="quasipoisson",
                 denominator="pop", control="comparison",
                 seasonality={"fourier": 1, "period": 12}, horizons=())
    d = res.diagnostics
    assert d["remedy"] == "ar" and "Zeger" in d["method"]
    rho, tau2 = d["ar_rho"], d["ar_latent_variance"]
    X = _controlled_design(t, comp, 48)
    coef = res.plot_data()["coefficients"].set_index("term")
    beta = coef["estimate"].to_numpy()
    mu = np.exp(X @ beta + np.log(pop))
    w = (y - mu) / mu
    seg = (84, 84)

    def dense(r, t2):
        V = np.diag(1 / mu) + t2 * _dense_ar1(seg, r)[0]
        Vi = np.linalg.inv(V)
        G = X.T @ Vi @ X
        b = np.linalg.solve(G, X.T @ Vi @ w)
        e = w - X @ b
        n, p = X.shape
        ll = -0.5 * ((n - p) * np.log(e @ Vi @ e) + np.linalg.slogdet(V)[1]
                     + np.linalg.slogdet(G)[1])
        return Vi, G, ll

    Vi, G, _ = dense(rho, tau2)
    score = X.T @ Vi @ w
    assert np.max(np.abs(np.linalg.solve(G, score))) < 1e-6
    s2 = w @ Vi @ w / (X.shape[0] - X.shape[1])
    # The reported SEs are Kenward-Roger-type adjusted (checked against dense formulas in
    # test_latent_kenward_roger_matches_dense_formulas): never below the plug-in SEs.
    plug_in = np.sqrt(np.diag(s2 * np.linalg.inv(G)))
    assert np.all(coef["se"].to_numpy() >= plug_in * (1 - 1e-9))
    best_rho = minimize_scalar(lambda r: -dense(r, tau2)[2], bounds=(-0.9, 0.98),
                               method="bounded", options={"xatol": 1e-8}).x
    best_tau = np.exp(minimize_scalar(lambda lt: -dense(rho, np.exp(lt))[2],
                                      bounds=(np.log(tau2) - 2, np.log(tau2) + 2),
                                      method="bounded", options={"xatol": 1e-8}).x)
    assert rho == pytest.approx(best_rho, abs=2e-3)
    assert tau2 == pytest.approx(best_tau, rel=2e-2)


def test_latent_kenward_roger_matches_dense_formulas():
    """The latent count model's small-sample covariance (Kenward and Roger 1997 for
    Sigma = a diag(1/mu) + b R(rho), theta = (a, b, rho)) against dense matrices: W is the
    inverse of the observed REML information (here a numerical Hessian of the dense REML
    log-likelihood in theta itself), Phi_A = Phi + 2 Phi {sum W_ij (Q_ij - P_i Phi P_j)}
    Phi, and dcov_i = -Phi P_i Phi; ek.its reports sqrt(diag Phi_A)."""
    from evalkit.designs.its_model import fit_ar1_batch

    Y, pop, comp, t, _ = simulate(12, 1, n_pre=24, n_post=12, rho=0.6,
                                  family="quasipoisson", change="level", controlled=True)
    y = Y[0]
    X = _controlled_design(t, comp, 24)
    fit = fit_ar1_batch(y[None], X, np.log(pop), family="quasipoisson", segments=comp)
    data = pd.DataFrame({"month": t, "y": y, "pop": pop, "comparison": comp})
    res = ek.its(data, outcome="y", time="month", start=24, family="quasipoisson",
                 denominator="pop", control="comparison",
                 seasonality={"fourier": 1, "period": 12}, horizons=())
    coef = res.plot_data()["coefficients"].set_index("term")
    # The same model (the harmonic in another phase spans the same columns), fitted
    # iteratively from other starting values: equal to the fit's tolerance.
    np.testing.assert_allclose(coef["se"].to_numpy(), np.sqrt(np.diag(fit.cov[0])), rtol=1e-4)
    mu = fit.mu[0]
    w = (y - mu) / mu
    tau2, rho = fit.tau2[0], fit.rho[0]
    seg = (36, 36)
    n, p = X.shape
    Vi = np.linalg.inv(np.diag(1 / mu) + tau2 * _dense_ar1(seg, rho)[0])
    G = X.T @ Vi @ X
    a = w @ (Vi - Vi @ X @ np.linalg.solve(G, X.T @ Vi)) @ w / (n - p)
    b = a * tau2

    def sigma(th):
        return th[0] * np.diag(1 / mu) + th[1] * _dense_ar1(seg, th[2])[0]

    def reml(th):
        S = sigma(th)
        Si = np.linalg.inv(S)
        Gs = X.T @ Si @ X
        e = w - X @ np.linalg.solve(Gs, X.T @ Si @ w)
        return -0.5 * (np.linalg.slogdet(S)[1] + np.linalg.slogdet(Gs)[1] + e @ Si @ e)

    th = np.array([a, b, rho])
    h = 1e-4 * np.abs(th)
    H = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            ei, ej = np.eye(3)[i] * h[i], np.eye(3)[j] * h[j]
            H[i, j] = (reml(th + ei + ej) - reml(th + ei - ej) - reml(th - ei + ej)
                       + reml(th - ei - ej)) / (4 * h[i] * h[j])
    # The information, not its inverse: a and b trade off along a ridge (the smallest
    # eigenvalue is about 1e-6 of the largest), so W itself is sensitive to the
    # differencing; the curvature (taken in logs in evalkit, in theta here) agrees to 2%.
    np.testing.assert_allclose(np.linalg.inv(fit.W[0]), -H, rtol=2e-2)
    S = sigma(th)
    Si = np.linalg.inv(S)
    Phi = np.linalg.inv(X.T @ Si @ X)
    R, dR, _ = _dense_ar1(seg, rho)
    dS = [np.diag(1 / mu), R, b * dR]
    P = [-X.T @ Si @ D @ Si @ X for D in dS]
    total = sum(fit.W[0][i, j] * (X.T @ Si @ dS[i] @ Si @ dS[j] @ Si @ X - P[i] @ Phi @ P[j])
                for i in range(3) for j in range(3))
    np.testing.assert_allclose(fit.cov_model[0], Phi, rtol=1e-8)
    np.testing.assert_allclose(fit.cov[0], Phi + 2 * Phi @ total @ Phi, rtol=1e-7)
    for i in range(3):
        np.testing.assert_allclose(fit.dcov[0, i], -Phi @ P[i] @ Phi, rtol=1e-7,
                                   atol=1e-12 * np.abs(fit.dcov[0, i]).max())


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


def _benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "its_coverage.py"
    spec = importlib.util.spec_from_file_location("its_coverage_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stored_coverage_table_default_cells():
    """docs/its-coverage.md (benchmarks/its_coverage.py, 1000 or more replications a cell):
    at the grid's seeds the default covers 93-97% in every cell, short count series
    (24/12) included since the latent count model's covariance has a small-sample
    adjustment (before it, four of them covered 92.3% to 92.9%). The doc also reports the
    short count cells with rho 0.6 at other seeds, where those without a comparison
    series cover about 91% (see the slow test below). The previous default had gaussian
    24/12 cells at 89.9% and count cells at rho 0.6 at 90.9% in longer series."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "its-coverage.md").read_text()
    section = text.split("## Coverage of 95% intervals")[1].split("\n## ")[0]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines()
            if line.startswith("| ") and "/" in line and "before/after" not in line]
    assert len(rows) == 72
    for size, rho, family, change, comparison, default, *_ in rows:
        v = float(default.split("%")[0])
        assert 93.0 <= v <= 97.0, (size, rho, family, change, comparison, v)
    reps = int(text.split("the default on ")[1].split(" replications")[0])
    assert reps >= 1000
    assert "## Beyond the grid's draws: short count series" in text


@pytest.mark.slow
@pytest.mark.parametrize("cell", [
    (24, 12, 0.6, "gaussian", "slope", False),
    (24, 12, 0.3, "gaussian", "level", True),
    (72, 48, 0.6, "quasipoisson", "level", True),
    (72, 48, 0.6, "quasipoisson", "slope", False),
    pytest.param((24, 12, 0.6, "quasipoisson", "level", False), marks=pytest.mark.xfail(
        strict=True, reason="short count series without a comparison series: about 91% "
        "at seeds other than the grid's even with the small-sample adjustment "
        "(docs/its-coverage.md, 'Beyond the grid's draws'; open in issue 22.2)")),
    pytest.param((24, 12, 0.6, "quasipoisson", "slope", False), marks=pytest.mark.xfail(
        strict=True, reason="as the level change: about 91% at other seeds")),
    (24, 12, 0.6, "quasipoisson", "level", True),
])
def test_default_covers_in_the_hardest_cells(cell):
    """The cells where the previous default fell short (short series with autocorrelation,
    counts with rho = 0.6), with new seeds: the default is within 2.9 Monte Carlo SEs of 95%
    at 600 replications (the previous default covered 90.0%, 92.9%, 91.7% and 91.3%; the
    latent count model without its small-sample adjustment 92.3% and 92.7% in the two
    short count cells, at the grid's seeds)."""
    n_pre, n_post, rho, family, change, controlled = cell
    reps = 600
    rows, check = _benchmark().run_cell(reps, 99 + n_pre + int(10 * rho), others=20,
                                        n_pre=n_pre, n_post=n_post, rho=rho, family=family,
                                        change=change, controlled=controlled)
    cov = next(r["coverage"] for r in rows if r["remedy"] == "default")
    assert abs(cov - 0.95) <= 2.9 * np.sqrt(0.95 * 0.05 / reps), cov
    assert check["max_abs_difference"] < 1e-5


def test_arima_errors_are_refused_with_a_comparison_series():
    """SARIMAX would read the stacked treated and comparison series as one series."""
    Y, pop, comp, t, _ = simulate(5, 1, n_pre=48, n_post=36, rho=0.3, family="gaussian",
                                  change="level", controlled=True)
    data = pd.DataFrame({"month": t, "y": Y[0], "comparison": comp})
    with pytest.raises(ek.errors.DesignError, match="one series"):
        ek.its(data, outcome="y", time="month", start=48, control="comparison",
               autocorrelation="arima")
