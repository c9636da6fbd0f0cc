"""Poisson pseudo-maximum-likelihood regression with two-way fixed effects absorbed.

``poisson_fe`` fits ``E[y_it] = exposure_it exp(a_i + l_t + X_it b)`` for counts (or any
non-negative outcome: PPML needs only the mean to be right), the usual model for a
difference-in-differences on counts such as emergency admissions per practice-month with
list size as exposure. ``exp(b)`` for the 0/1 treatment column is the rate ratio.

Method: iteratively reweighted least squares (Newton's method for the Poisson likelihood).
In each iteration the unit and period effects are partialled out of the working variable
and of ``X`` by *weighted* alternating projections (weights: the current fitted means), as
ppmlhdfe (Correia, Guimaraes and Zylkin, 2020, Stata Journal 20(1):95-115) and pyfixest's
``fepois`` do, so no dummy matrices are built. The projections iterate on the period
effects (unit effects follow in closed form), with Irons-Tuck extrapolation and warm starts
from the previous iteration, and the inner tolerance tightens as IRLS converges.

Units (or periods) whose outcomes are all zero carry no information and their effect
diverges to minus infinity; they are dropped before fitting (repeatedly, since dropping
units can leave a period all zero) and counted. Separation caused by the regressors
themselves (a combination of ``X`` and effects predicting zero exactly) is not detected;
it shows up as non-convergence, which raises :class:`~evalkit.errors.DesignError`.

Covariance: cluster-robust sandwich ``V = c (X~'WX~)^-1 M (X~'WX~)^-1`` with ``X~`` the
regressors with the effects partialled out under the converged weights ``W = diag(mu)``,
``M = sum_g s_g s_g'`` and ``s_g = sum_{i in g} X~_i (y_i - mu_i)``. The small-sample factor
is ``c = G/(G-1) * (N-1)/(N-K)`` with ``G`` clusters, ``N`` rows used and ``K`` the
regressors plus the fixed-effect parameters counted by ``ssc``
(:mod:`evalkit.designs.cluster_se`). By default (``"nested"``) unit effects nested in the
clusters count as one parameter, as in fixest's and pyfixest's ``fepois`` (tested against
pyfixest). ``ssc="full"`` counts every identified
effect (``k + U + T - C``, ``C`` the number of connected components of the unit-period
graph, 1 for any ordinary panel), which is exactly statsmodels'
``GLM(...).fit(cov_type="cluster")`` default on the model with explicit unit and period
dummies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse, stats
from scipy.sparse.csgraph import connected_components

from evalkit.designs.cluster_se import SSC, cr1_sandwich, fixef_dof, nested_in
from evalkit.errors import DataError, DesignError

__all__ = ["PoissonFEFit", "poisson_fe"]

#: A zero outcome whose fitted mean is below this fraction of its unit's mean outcome is
#: taken as separated (its linear predictor is heading to minus infinity).
SEPARATION_RATIO = 1e-7


@dataclass(frozen=True)
class PoissonFEFit:
    """Result of :func:`poisson_fe`.

    Attributes
    ----------
    beta
        Coefficients on the columns of ``X`` (log rate ratios).
    vcov
        Cluster-robust covariance of ``beta`` (small-sample factor as in the module notes).
    mu
        Fitted means for the rows used (in their input order).
    used
        Boolean mask over the input rows: ``True`` for rows used in the fit.
    dropped_units, dropped_periods
        Units and periods dropped because all their outcomes were zero.
    iterations
        IRLS iterations.
    converged
        Always ``True``: a fit that does not converge raises ``DesignError``.
    deviance
        Poisson deviance of the fit over the rows used.
    clusters
        Number of clusters used for the covariance.
    """

    beta: np.ndarray
    vcov: np.ndarray
    mu: np.ndarray
    used: np.ndarray
    dropped_units: int
    dropped_periods: int
    iterations: int
    converged: bool
    deviance: float
    clusters: int

    @property
    def se(self) -> np.ndarray:
        """Cluster-robust standard errors of ``beta``."""
        return np.sqrt(np.diag(self.vcov))

    def rate_ratio(self, index: int = 0, conf_level: float = 0.95) -> tuple[float, float, float]:
        """Rate ratio ``exp(beta[index])`` with its confidence interval.

        Parameters
        ----------
        index
            Which column of ``X`` (0: the first, usually the treatment indicator).
        conf_level
            Confidence level; the interval uses t with ``clusters - 1`` degrees of freedom,
            as :func:`evalkit.designs.did.did` does for cluster-robust inference.

        Returns
        -------
        tuple of float
            ``(rate_ratio, lower, upper)``.
        """
        if not 0 < float(conf_level) < 1:
            raise DesignError(f"conf_level must be between 0 and 1, not {conf_level}",
                              fix="use e.g. 0.95")
        b, se = float(self.beta[index]), float(self.se[index])
        q = stats.t.ppf(0.5 + conf_level / 2, self.clusters - 1)
        return float(np.exp(b)), float(np.exp(b - q * se)), float(np.exp(b + q * se))


def _codes(name: str, values, n: int) -> np.ndarray:
    """Check integer codes (0, 1, 2, ...) of length ``n`` and return them as int64."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(f"{name} has {arr.size} values but y has {n}",
                        fix=f"give one {name} code per row of y")
    if arr.dtype.kind not in "iub":
        ok = arr.dtype.kind == "f" and bool(np.all(np.isfinite(arr))) and bool(
            np.all(arr == np.round(arr)))
        if not ok:
            raise DataError(f"{name} must hold integer codes 0, 1, 2, ...",
                            fix=f"code {name} with pandas.factorize first")
    arr = arr.astype(np.int64)
    if n and arr.min() < 0:
        raise DataError(f"{name} has negative codes (first at index {int(np.argmax(arr < 0))})",
                        fix=f"code {name} with pandas.factorize first (codes 0, 1, 2, ...)")
    return arr


def _recode(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Renumber codes to 0..m-1 keeping their order; return new codes and m."""
    present = np.zeros(int(codes.max()) + 1 if codes.size else 0, dtype=bool)
    present[codes] = True
    new = np.cumsum(present) - 1
    return new[codes], int(present.sum())


def _drop_all_zero(y: np.ndarray, unit: np.ndarray, time: np.ndarray
                   ) -> tuple[np.ndarray, int, int]:
    """Mask of rows kept after repeatedly dropping units and periods with all-zero outcomes."""
    keep = np.ones(y.shape[0], dtype=bool)
    dropped_u = np.zeros(int(unit.max()) + 1, dtype=bool)
    dropped_t = np.zeros(int(time.max()) + 1, dtype=bool)
    positive = y > 0
    while True:
        rows_u = np.bincount(unit[keep], minlength=dropped_u.size)
        pos_u = np.bincount(unit[keep], weights=positive[keep], minlength=dropped_u.size)
        bad_u = (rows_u > 0) & (pos_u == 0)
        rows_t = np.bincount(time[keep], minlength=dropped_t.size)
        pos_t = np.bincount(time[keep], weights=positive[keep], minlength=dropped_t.size)
        bad_t = (rows_t > 0) & (pos_t == 0)
        if not (bad_u.any() or bad_t.any()):
            break
        dropped_u |= bad_u
        dropped_t |= bad_t
        keep &= ~(bad_u[unit] | bad_t[time])
    return keep, int(dropped_u.sum()), int(dropped_t.sum())


class _Absorber:
    """Weighted two-way demeaning (unit and period effects) by alternating projections.

    For a column ``v`` and weights ``w`` it finds effects ``a`` (units) and ``l`` (periods)
    minimising ``sum w (v - a[u] - l[t])^2`` and returns the residual. It iterates on ``l``
    only: given ``l``, ``a`` is the weighted unit mean of ``v - l[t]``; given ``a``, ``l`` is
    the weighted period mean of ``v - a[u]`` (one sweep of alternating projections). Each
    sweep costs a few ``numpy.bincount`` passes over the rows, per column. Sweeps are
    accelerated by Irons-Tuck extrapolation and warm-started from ``l`` of an earlier call.
    """

    def __init__(self, unit: np.ndarray, time: np.ndarray, n_units: int, n_periods: int,
                 max_sweeps: int = 10_000) -> None:
        self.unit, self.time = unit, time
        self.nu, self.nt = n_units, n_periods
        self.max_sweeps = max_sweeps

    def _sums(self, idx: np.ndarray, n: int, weights: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=weights, minlength=n)

    def _alpha(self, sv_u: np.ndarray, lam: np.ndarray, w: np.ndarray, wu: np.ndarray
               ) -> np.ndarray:
        return (sv_u - self._sums(self.unit, self.nu, w * lam[self.time])) / wu

    def _sweep(self, sv_u: np.ndarray, sv_t: np.ndarray, lam: np.ndarray, w: np.ndarray,
               wu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        alpha = self._alpha(sv_u, lam, w, wu)
        return (sv_t - self._sums(self.time, self.nt, w * alpha[self.unit])) / wt

    def residual(self, V: np.ndarray, w: np.ndarray, lam0: np.ndarray | None, tol: float
                 ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Partial the effects out of the columns of ``V`` with weights ``w``.

        Returns the residuals, the period effects (for warm starts) and whether every column
        converged: the largest change in a period effect over a sweep fell below ``tol``
        times the column's largest absolute value.
        """
        n, m = V.shape
        wu = self._sums(self.unit, self.nu, w)
        wt = self._sums(self.time, self.nt, w)
        lam_all = np.zeros((self.nt, m)) if lam0 is None else lam0.copy()
        R = np.empty_like(V)
        all_ok = True
        for j in range(m):
            v = V[:, j]
            wv = w * v
            sv_u = self._sums(self.unit, self.nu, wv)
            sv_t = self._sums(self.time, self.nt, wv)
            scale = float(np.abs(v).max()) or 1.0
            lam = lam_all[:, j]
            ok = False
            sweeps = 0
            while sweeps < self.max_sweeps:
                x1 = self._sweep(sv_u, sv_t, lam, w, wu, wt)
                x2 = self._sweep(sv_u, sv_t, x1, w, wu, wt)
                sweeps += 2
                d1 = x2 - x1
                if np.abs(d1).max() <= tol * scale:
                    lam, ok = x2, True
                    break
                d2 = d1 - (x1 - lam)
                den = float(d2 @ d2)
                lam = x2 - (float(d1 @ d2) / den) * d1 if den > 0 else x2
            all_ok &= ok
            lam_all[:, j] = lam
            alpha = self._alpha(sv_u, lam, w, wu)
            R[:, j] = v - alpha[self.unit] - lam[self.time]
        return R, lam_all, all_ok


def _deviance(y: np.ndarray, mu: np.ndarray) -> float:
    pos = y > 0
    dev = 2 * (np.sum(y[pos] * np.log(y[pos] / mu[pos])) - np.sum(y - mu))
    return float(dev)


def poisson_fe(y, X, unit, time, *, exposure=None, clusters=None, tol: float = 1e-10,
               max_iter: int = 100, ssc: str = "nested") -> PoissonFEFit:
    """Poisson PML regression with unit and period fixed effects absorbed.

    Fits ``E[y] = exposure * exp(a[unit] + l[time] + X @ beta)`` by IRLS, partialling the
    effects out by weighted alternating projections in each iteration (no dummies), so it
    scales to hundreds of thousands of rows.

    Parameters
    ----------
    y
        Non-negative outcomes (counts; non-integer values are allowed), length ``n``.
    X
        ``n x k`` regressors (e.g. the 0/1 treatment indicator and time-varying
        covariates), ``k >= 1``; a 1-d array is one regressor. No intercept: the effects
        absorb it.
    unit, time
        Integer codes ``0..U-1`` and ``0..T-1`` (gaps allowed), length ``n``.
    exposure
        Positive exposure (e.g. list size); ``log(exposure)`` enters as an offset. ``None``
        for no offset.
    clusters
        Integer cluster codes for the covariance; by default the units.
    tol
        Convergence tolerance on the relative change in deviance between IRLS iterations
        (also the final relative tolerance of the inner projections).
    max_iter
        Maximum IRLS iterations.
    ssc
        Small-sample correction: ``"nested"`` (fixest's default), ``"full"`` (every
        fixed effect counted, as statsmodels with dummies) or ``"none"``; see
        :mod:`evalkit.designs.cluster_se`.

    Returns
    -------
    PoissonFEFit
        Coefficients, cluster-robust covariance, fitted means and bookkeeping;
        ``fit.rate_ratio(0)`` gives ``exp(beta[0])`` with its confidence interval.

    Raises
    ------
    DataError
        Negative or non-finite outcomes, non-finite regressors, non-positive exposure,
        lengths that do not match, codes that are not integers 0, 1, 2, ...
    DesignError
        A regressor with no variation left once the effects are absorbed (or collinear
        with the others), fewer than two clusters, no positive outcomes, or IRLS that does
        not converge within ``max_iter`` iterations.
    """
    if ssc not in SSC:
        raise DesignError(f"unknown ssc '{ssc}'", fix=f"use one of {', '.join(SSC)}")
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise DataError(f"y must be one-dimensional, not of shape {y.shape}",
                        fix="pass one outcome column")
    n = y.shape[0]
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] != n:
        raise DataError(f"X has {X.shape[0] if X.ndim else 0} rows but y has {n}",
                        fix="give one row of X per value of y")
    if X.shape[1] == 0:
        raise DesignError("X has no columns", fix="include the treatment indicator in X")
    if n == 0:
        raise DataError("y is empty", fix="pass a panel with at least one row")
    bad = ~np.isfinite(y)
    if bad.any():
        raise DataError(f"y has {int(bad.sum())} missing or infinite values "
                        f"(first at index {int(np.argmax(bad))})",
                        fix="drop those rows before fitting")
    if (y < 0).any():
        raise DataError(f"y has {int((y < 0).sum())} negative values (first at index "
                        f"{int(np.argmax(y < 0))}); a Poisson model needs counts >= 0",
                        fix="check the outcome column")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise DataError(f"X has missing or infinite values in {int(bad.sum())} rows "
                        f"(first at index {int(np.argmax(bad))})",
                        fix="drop those rows before fitting")
    unit = _codes("unit", unit, n)
    time = _codes("time", time, n)
    if exposure is None:
        offset = np.zeros(n)
    else:
        exposure = np.asarray(exposure, dtype=float)
        if exposure.ndim != 1 or exposure.shape[0] != n:
            raise DataError(f"exposure has {exposure.size} values but y has {n}",
                            fix="give one exposure per row of y")
        bad = ~(np.isfinite(exposure) & (exposure > 0))
        if bad.any():
            raise DataError(f"exposure has {int(bad.sum())} values that are not positive and "
                            f"finite (first at index {int(np.argmax(bad))})",
                            fix="drop rows with zero or missing exposure (e.g. list size)")
        offset = np.log(exposure)
    clusters = unit if clusters is None else _codes("clusters", clusters, n)
    if not (y > 0).any():
        raise DesignError("every outcome is zero, so no rate can be estimated",
                          fix="check the outcome column")

    used, dropped_u, dropped_t = _drop_all_zero(y, unit, time)
    y, X, offset = y[used], X[used], offset[used]
    u, nu = _recode(unit[used])
    t, nt = _recode(time[used])
    g, n_clusters = _recode(clusters[used])
    if n_clusters < 2:
        raise DesignError(f"cluster-robust errors need at least 2 clusters, not {n_clusters}",
                          fix="cluster at a level with more groups")
    n, k = X.shape

    absorber = _Absorber(u, t, nu, nt)
    inner_target = min(tol, 1e-10) * 1e-2
    # Start from the midpoint of y and the overall rate (as glm and ppmlhdfe do).
    rate = y.sum() / np.exp(offset).sum()
    mu = 0.5 * (y + rate * np.exp(offset))
    eta = np.log(mu)
    lam_z = lam_x = None
    Xt = X
    dev_old = np.inf
    beta = np.zeros(k)
    converged = False
    crit = np.inf
    it = 0
    for it in range(1, max_iter + 1):
        inner = inner_target if it == 1 else max(inner_target, min(1e-4, 1e-3 * crit))
        z = eta - offset + (y - mu) / mu
        Zt, lam_z, ok_z = absorber.residual(z[:, None], mu, lam_z, inner)
        Xt, lam_x, ok_x = absorber.residual(X, mu, lam_x, inner)
        if it == 1:
            _check_rank(X, Xt, mu)
        sw = np.sqrt(mu)
        beta_new = np.linalg.lstsq(Xt * sw[:, None], Zt[:, 0] * sw, rcond=None)[0]
        eta_new = offset + z - (Zt[:, 0] - Xt @ beta_new)
        step = 1.0
        while True:
            eta_try = eta_new if step == 1.0 else eta + step * (eta_new - eta)
            with np.errstate(over="ignore"):
                mu_try = np.exp(eta_try)
            dev = _deviance(y, mu_try) if np.isfinite(mu_try).all() else np.inf
            # Step-halving guards against overshooting (never needed on the first step,
            # whose starting values are not a fit of the model).
            if it == 1 or dev <= dev_old * (1 + 1e-6) + 1e-10 or step < 1e-3:
                break
            step /= 2
        if not np.isfinite(dev):
            break
        beta = beta_new if step == 1.0 else beta + step * (beta_new - beta)
        eta, mu = eta_try, mu_try
        crit = abs(dev - dev_old) / max(abs(dev), 0.1)
        dev_old = dev
        if crit < tol and inner == inner_target and ok_z and ok_x:
            converged = True
            break
    if not converged:
        raise DesignError(f"the Poisson fit did not converge in {it} iterations (relative "
                          f"change in deviance {crit:.2g}, tolerance {tol:g})",
                          fix="raise max_iter, rescale covariates, or look for a regressor "
                              "that predicts zero counts exactly (separation)")

    # Separation by the regressors: zero outcomes whose fitted mean has collapsed towards 0.
    unit_mean = np.bincount(u, weights=y, minlength=nu) / np.bincount(u, minlength=nu)
    sep = (y == 0) & (mu < SEPARATION_RATIO * unit_mean[u])
    if sep.any():
        rows = np.flatnonzero(used)[sep]
        raise DesignError(f"{rows.size} zero outcomes are predicted exactly by the regressors "
                          f"(separation; first at index {int(rows[0])}), so some coefficients "
                          "diverge", fix="drop the regressor that is non-zero only where the "
                                         "outcome is zero, or drop those rows")

    # Sandwich at the converged means: demean X again under the final weights.
    Xt, _, _ = absorber.residual(X, mu, lam_x, inner_target)
    bread = np.linalg.inv(Xt.T @ (Xt * mu[:, None]))
    resid = y - mu
    scores = np.column_stack([np.bincount(g, weights=Xt[:, j] * resid, minlength=n_clusters)
                              for j in range(k)])
    graph = sparse.coo_matrix((np.ones(n), (u, t)), shape=(nu, nt))
    n_comp = connected_components(sparse.bmat([[None, graph], [graph.T, None]]),
                                  directed=False)[0]
    n_params = k + fixef_dof([nu, nt], [nested_in(u, g), nested_in(t, g)], ssc,
                             redundant=n_comp)
    if n <= n_params:
        raise DesignError(f"{n} rows cannot support {n_params} parameters (regressors plus "
                          "unit and period effects)", fix="use a longer or larger panel")
    vcov = cr1_sandwich(bread, scores, n, n_params)
    vcov = (vcov + vcov.T) / 2
    return PoissonFEFit(beta=beta, vcov=vcov, mu=mu, used=used, dropped_units=dropped_u,
                        dropped_periods=dropped_t, iterations=it, converged=True,
                        deviance=float(dev_old), clusters=n_clusters)


def _check_rank(X: np.ndarray, Xt: np.ndarray, w: np.ndarray) -> None:
    """Refuse regressors with no variation left after absorbing the effects."""
    wsum = w.sum()
    centred = X - (w @ X) / wsum
    total = w @ centred**2
    left = w @ Xt**2
    for j in np.flatnonzero(left <= 1e-10 * np.maximum(total, 1e-300)):
        raise DesignError(f"column {j} of X has no variation once unit and period effects "
                          "are absorbed (it is constant within units or within periods, "
                          "e.g. a treated-group flag or a calendar variable)",
                          fix="drop it: the fixed effects already account for it")
    sw = np.sqrt(w)[:, None]
    A = Xt * sw
    A = A / np.linalg.norm(A, axis=0)
    r = np.abs(np.diag(np.linalg.qr(A, mode="r")))
    for j in np.flatnonzero(r < 1e-7):
        raise DesignError(f"column {j} of X is collinear with the other columns once unit "
                          "and period effects are absorbed",
                          fix="drop it or one of the columns it duplicates")
