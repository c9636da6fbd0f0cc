"""The random-effects model of a meta-analysis: tau-squared by REML, DerSimonian-Laird or
Paule-Mandel, the (Hartung-Knapp) fit, the Q-profile interval for tau-squared and the
prediction interval. References are listed in :mod:`evalkit.synthesis.meta_analysis`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from evalkit.data.contract import nearest
from evalkit.errors import DataError

__all__ = ["ModelFit", "fit_model", "estimate_tau2", "q_profile", "prediction_interval",
           "METHODS", "METHOD_NAMES"]

METHODS = ("reml", "dl", "pm", "fe")
INPUT_SCALES = ("difference", "ratio", "log_ratio", "percent")
METHOD_NAMES = {"reml": "random effects (REML)", "dl": "random effects (DerSimonian-Laird)",
                "pm": "random effects (Paule-Mandel)", "fe": "fixed effect (inverse variance)"}
_TOL = 1e-10
_MAXITER = 500
_FEW = 10          # below this, Wald intervals from a random-effects model are too narrow
_GRID = 60


# --------------------------------------------------------------------------- the estimators
def _wls(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float):
    """Weighted least squares at ``tau2``: weights, coefficients, (X'WX)^-1, residuals."""
    w = 1.0 / (v + tau2)
    Xw = X * w[:, None]
    vb = np.linalg.inv(X.T @ Xw)
    beta = vb @ (Xw.T @ y)
    return w, beta, vb, y - X @ beta


def _p_matrix(w: np.ndarray, X: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """``P = W - W X (X'WX)^-1 X'W``."""
    Xw = X * w[:, None]
    return np.diag(w) - Xw @ vb @ Xw.T


def _q_generalised(y, v, X, tau2: float) -> float:
    """``Q(tau2) = sum w_i(tau2) e_i(tau2)^2``: Cochran's Q at ``tau2 = 0``."""
    w, _, _, e = _wls(y, v, X, tau2)
    return float(w @ e**2)


def _upper_bracket(fun, start: float) -> float:
    """A ``tau2`` at which the decreasing ``fun`` is negative (doubling from ``start``)."""
    hi = max(start, 1e-8)
    for _ in range(200):
        if fun(hi) < 0:
            return hi
        hi *= 2.0
    raise RuntimeError("no upper bracket for tau2")  # pragma: no cover - Q(tau2) -> 0


def _tau2_dl(y, v, X) -> float:
    k, p = X.shape
    w, _, vb, e = _wls(y, v, X, 0.0)
    trace = float(np.trace(_p_matrix(w, X, vb)))
    return max(0.0, (float(w @ e**2) - (k - p)) / trace)


def _tau2_pm(y, v, X) -> float:
    k, p = X.shape

    def excess(t: float) -> float:
        return _q_generalised(y, v, X, t) - (k - p)

    if excess(0.0) <= 0:
        return 0.0
    hi = _upper_bracket(excess, max(float(np.var(y)), float(np.mean(v))))
    return float(optimize.brentq(excess, 0.0, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps,
                                 maxiter=1000))


def _reml_loglik(y, v, X, tau2: float) -> float:
    w, _, vb, e = _wls(y, v, X, tau2)
    _, logdet_inv = np.linalg.slogdet(vb)      # log det (X'WX)^-1
    return -0.5 * (float(np.sum(np.log(v + tau2))) - logdet_inv + float(w @ e**2))


def _tau2_reml(y, v, X) -> tuple[float, bool, int]:
    """REML by Fisher scoring with step halving; returns (tau2, converged, iterations)."""
    t = _tau2_dl(y, v, X)
    ll = _reml_loglik(y, v, X, t)
    for it in range(1, _MAXITER + 1):
        w, _, vb, _ = _wls(y, v, X, t)
        P = _p_matrix(w, X, vb)
        Py = P @ y
        step = (float(Py @ Py) - float(np.trace(P))) / float(np.sum(P * P))
        new = max(0.0, t + step)
        ll_new = _reml_loglik(y, v, X, new)
        halvings = 0
        while ll_new < ll - 1e-13 * max(1.0, abs(ll)) and halvings < 60:
            step /= 2.0
            new = max(0.0, t + step)
            ll_new = _reml_loglik(y, v, X, new)
            halvings += 1
        if abs(new - t) < _TOL:
            return new, True, it
        t, ll = new, ll_new
    # Fisher scoring failed (it should not): maximise the restricted likelihood directly
    # over [0, 100 * (spread of the effects + typical variance)].
    hi = 100.0 * (float(np.var(y)) + float(np.mean(v)))
    opt = optimize.minimize_scalar(lambda s: -_reml_loglik(y, v, X, s), bounds=(0.0, hi),
                                   method="bounded", options={"xatol": _TOL})
    return float(opt.x), False, _MAXITER


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray | None = None, *,
                  method: str = "reml") -> tuple[float, bool, int]:
    """``tau2`` by ``method``: returns ``(tau2, converged, iterations)``."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    X = np.ones((len(y), 1)) if X is None else np.asarray(X, float)
    if method == "fe":
        return 0.0, True, 0
    if method == "dl":
        return _tau2_dl(y, v, X), True, 0
    if method == "pm":
        return _tau2_pm(y, v, X), True, 0
    if method == "reml":
        return _tau2_reml(y, v, X)
    raise ValueError(f"unknown method {method!r}")


@dataclass(frozen=True)
class ModelFit:
    """One fitted (mixed-effects) model on the analysis scale.

    ``vb`` is the model-based covariance ``(X'WX)^-1``; ``vb_used`` the one the intervals
    use (``hksj_scale * vb`` with HKSJ). ``df`` is the t distribution's degrees of freedom
    (``None`` for normal intervals). ``s2`` is the typical sampling variance; ``i2`` is a
    percentage.
    """

    method: str
    hksj: bool
    tau2: float
    beta: np.ndarray
    vb: np.ndarray
    vb_used: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df: int | None
    crit: float
    weights: np.ndarray
    resid: np.ndarray
    q: float
    q_df: int
    q_p: float
    s2: float
    i2: float
    h2: float
    hksj_scale: float
    converged: bool
    iterations: int
    k: int
    p: int


def fit_model(y: np.ndarray, v: np.ndarray, X: np.ndarray | None = None, *,
              method: str = "reml", hksj: bool = False, hksj_floor: bool = False,
              conf_level: float = 0.95, tau2: float | None = None) -> ModelFit:
    """Fit the random- (or mixed-) effects model to effects ``y`` with variances ``v``.

    Parameters
    ----------
    y, v
        Effects and their sampling variances (analysis scale: log ratios for ratios).
    X
        Design matrix with an intercept column (default: intercept only).
    method
        ``"reml"``, ``"dl"``, ``"pm"`` or ``"fe"``.
    hksj, hksj_floor
        Hartung-Knapp-Sidik-Jonkman variance and t intervals; ``hksj_floor`` applies
        ``max(1, q)``.
    conf_level
        Level of the intervals.
    tau2
        A fixed ``tau2`` instead of estimating it.

    Returns
    -------
    ModelFit

    Examples
    --------
    >>> import numpy as np
    >>> fit = fit_model(np.array([0.1, 0.3, 0.2]), np.array([0.01, 0.02, 0.015]),
    ...                 method="dl")
    >>> round(float(fit.beta[0]), 4)
    0.1769
    """
    y, v = np.asarray(y, float), np.asarray(v, float)
    X = np.ones((len(y), 1)) if X is None else np.asarray(X, float)
    k, p = X.shape
    if k <= p:
        raise ValueError(f"{k} effects cannot fit {p} coefficients")
    if tau2 is None:
        tau2, converged, iterations = estimate_tau2(y, v, X, method=method)
    else:
        converged, iterations = True, 0
    w, beta, vb, e = _wls(y, v, X, tau2)
    w0, _, vb0, e0 = _wls(y, v, X, 0.0)
    df_resid = k - p
    q = float(w0 @ e0**2)
    q_p = float(stats.chi2.sf(q, df_resid))
    s2 = df_resid / float(np.trace(_p_matrix(w0, X, vb0)))
    if method == "fe":
        i2 = max(0.0, 100.0 * (q - df_resid) / q) if q > 0 else 0.0
        h2 = q / df_resid
    else:
        i2 = 100.0 * tau2 / (tau2 + s2)
        h2 = (tau2 + s2) / s2
    scale = float(w @ e**2) / df_resid
    if hksj_floor:
        scale = max(1.0, scale)
    vb_used = vb * scale if hksj else vb
    se = np.sqrt(np.diag(vb_used))
    alpha = 1 - conf_level
    if hksj:
        df: int | None = df_resid
        crit = float(stats.t.ppf(1 - alpha / 2, df_resid))
    else:
        df, crit = None, float(stats.norm.ppf(1 - alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    pval = 2 * (stats.t.sf(np.abs(stat), df_resid) if hksj else stats.norm.sf(np.abs(stat)))
    return ModelFit(method=method, hksj=hksj, tau2=float(tau2), beta=beta, vb=vb,
                    vb_used=vb_used, se=se, stat=stat, p_value=pval, ci_low=beta - crit * se,
                    ci_high=beta + crit * se, df=df, crit=crit, weights=w, resid=e, q=q,
                    q_df=df_resid, q_p=q_p, s2=s2, i2=i2, h2=h2, hksj_scale=scale,
                    converged=converged, iterations=iterations, k=k, p=p)


def q_profile(y: np.ndarray, v: np.ndarray, X: np.ndarray | None = None, *,
              conf_level: float = 0.95) -> tuple[float, float]:
    """The Q-profile confidence interval for ``tau2`` (Viechtbauer, 2007).

    The bounds solve ``Q(tau2) = chi2_{k-p}(1 - alpha/2)`` (lower) and
    ``chi2_{k-p}(alpha/2)`` (upper); a bound is 0 where ``Q(0)`` is already below its
    quantile.

    Examples
    --------
    >>> import numpy as np
    >>> lo, hi = q_profile(np.array([0.0, 1.0, -1.0, 0.5]), np.full(4, 0.05))
    >>> bool(0 < lo < hi)
    True
    """
    y, v = np.asarray(y, float), np.asarray(v, float)
    X = np.ones((len(y), 1)) if X is None else np.asarray(X, float)
    k, p = X.shape
    alpha = 1 - conf_level
    q0 = _q_generalised(y, v, X, 0.0)

    def solve(target: float) -> float:
        if q0 <= target:
            return 0.0

        def gap(t: float) -> float:
            return _q_generalised(y, v, X, t) - target

        hi = _upper_bracket(gap, max(float(np.var(y)), float(np.mean(v))))
        return float(optimize.brentq(gap, 0.0, hi, xtol=1e-14, maxiter=1000))

    return (solve(float(stats.chi2.ppf(1 - alpha / 2, k - p))),
            solve(float(stats.chi2.ppf(alpha / 2, k - p))))


def prediction_interval(mu: float, se: float, tau2: float, k: int, *,
                        conf_level: float = 0.95) -> tuple[float, float]:
    """Higgins, Thompson and Spiegelhalter's (2009) interval ``mu +/- t_{k-2} sqrt(tau2+se^2)``.

    NaN for fewer than three effects.

    Examples
    --------
    >>> lo, hi = prediction_interval(0.0, 0.1, 0.04, 12)
    >>> round(hi, 4)
    0.4982
    """
    if k < 3:
        return (math.nan, math.nan)
    half = float(stats.t.ppf(1 - (1 - conf_level) / 2, k - 2)) * math.sqrt(tau2 + se**2)
    return (mu - half, mu + half)


# --------------------------------------------------------------------------- formatting
def _num(x: float) -> str:
    return f"{x:.3g}" if np.isfinite(x) else "NA"


def _p(p: float) -> str:
    """``"p = 0.0123"`` or ``"p < 0.0001"``."""
    if not np.isfinite(p):
        return "p = NA"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.3g}"


# --------------------------------------------------------------------------- input checks
def _rows(mask: np.ndarray, limit: int = 20) -> list[int]:
    return [int(i) + 2 for i in np.flatnonzero(mask)[:limit]]


def _need(data: pd.DataFrame, column: str, what: str, file: str | None) -> None:
    if column not in data.columns:
        guess = nearest(str(column), map(str, data.columns))
        raise DataError(f"the {what} column '{column}' is missing", file=file,
                        column=str(column), fix=f"did you mean '{guess}'?" if guess else
                        f"name an existing column ({', '.join(map(str, data.columns))})")
