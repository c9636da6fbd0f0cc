"""Building blocks of interrupted time series: design matrices and fitting.

Kept apart from :mod:`evalkit.designs.its`, which validates input, runs the
design and assembles effect records, so the batch fitter can share the design
matrix.

Parametrisation (Lopez Bernal, Cummins and Gasparrini, 2017, Int J Epidemiol
46:348-355): ``time`` counts periods from the first one; for each interruption
``k`` at period ``s_k``, ``level_change`` is ``1`` from ``s_k`` on (the change in
level measured at the interruption) and ``slope_change`` is ``t - s_k`` from
``s_k`` on (zero at the interruption, so the slope change is counted from it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Interruption", "design_matrix", "seasonal_terms", "IMPACTS", "fit_ar1", "corrected_rho",
           "breusch_godfrey", "newey_west_lags"]

IMPACTS = ("step", "slope", "step+slope")


@dataclass(frozen=True)
class Interruption:
    """One interruption: its period code, label and impact shape."""

    code: int
    label: str
    impact: str = "step+slope"

    @property
    def has_step(self) -> bool:
        return self.impact in ("step", "step+slope")

    @property
    def has_slope(self) -> bool:
        return self.impact in ("slope", "step+slope")


def _suffix(k: int, n: int) -> str:
    """Names of later interruptions' terms get ':2', ':3', ...; the first none."""
    return "" if k == 0 else f":{k + 1}"


def seasonal_terms(codes: np.ndarray, seasonality, *, monthly: bool) -> pd.DataFrame:
    """Fourier harmonics or month indicators for the given period codes.

    ``seasonality`` is None, ``"month"``, or ``{"fourier": K, "period": P}``.
    For a monthly axis the calendar month is used (January = 1), as in
    ``harmonic(month, K, 12)`` of the R package tsModel; otherwise the period number.
    """
    if seasonality is None:
        return pd.DataFrame(index=range(len(codes)))
    position = (codes % 12 + 1) if monthly else codes
    if seasonality == "month":
        month = (codes % 12 + 1) if monthly else (codes - 1) % 12 + 1
        dummies = {f"month_{m:02d}": (month == m).astype(float) for m in range(2, 13)}
        return pd.DataFrame(dummies)
    k = int(seasonality["fourier"])
    period = float(seasonality.get("period", 12))
    cols = {}
    for j in range(1, k + 1):
        cols[f"sin{j}"] = np.sin(2 * np.pi * j * position / period)
        cols[f"cos{j}"] = np.cos(2 * np.pi * j * position / period)
    return pd.DataFrame(cols)


def design_matrix(codes: np.ndarray, interruptions: list[Interruption], *, first: int,
                  seasonality=None, monthly: bool = True, group: np.ndarray | None = None
                  ) -> pd.DataFrame:
    """The segmented-regression design matrix.

    Parameters
    ----------
    codes
        Period codes of the rows.
    interruptions
        In time order.
    first
        The first period code (time = 0 there).
    seasonality
        See :func:`seasonal_terms`.
    monthly
        Whether codes are calendar months.
    group
        For controlled ITS: 1 for the treated series, 0 for the comparison series.
        Adds ``group``, ``group_time`` and ``group_``-prefixed interruption terms; the
        intervention effects are then the group interactions.
    """
    t = (codes - first).astype(float)
    X = {"const": np.ones(len(codes)), "time": t}
    n = len(interruptions)
    for k, it in enumerate(interruptions):
        after = (codes >= it.code).astype(float)
        if it.has_step:
            X[f"level_change{_suffix(k, n)}"] = after
        if it.has_slope:
            X[f"slope_change{_suffix(k, n)}"] = after * (codes - it.code)
    frame = pd.DataFrame(X)
    if group is not None:
        g = np.asarray(group, dtype=float)
        extra = {"group": g, "group_time": g * t}
        for col in [c for c in frame.columns if c.startswith(("level_change", "slope_change"))]:
            extra[f"group_{col}"] = g * frame[col].to_numpy()
        frame = pd.concat([frame, pd.DataFrame(extra)], axis=1)
    season = seasonal_terms(codes, seasonality, monthly=monthly)
    if len(season.columns):
        frame = pd.concat([frame, season.set_index(frame.index)], axis=1)
    return frame


def newey_west_lags(n: int) -> int:
    """Newey and West's (1994) automatic lag rule: floor(4 (n / 100) ^ (2/9))."""
    return int(np.floor(4 * (n / 100.0) ** (2.0 / 9.0)))


def breusch_godfrey(resid: np.ndarray, X: np.ndarray, nlags: int) -> tuple[float, float]:
    """Breusch-Godfrey LM test of residual autocorrelation up to ``nlags``.

    Regresses the residuals on the regressors and their own lags (missing lags set to
    zero) and returns ``(n R^2, p-value)`` against chi-squared with ``nlags`` df, as
    ``statsmodels.stats.diagnostic.acorr_breusch_godfrey`` does for OLS.
    """
    from scipy import stats

    e = np.asarray(resid, dtype=float)
    n = e.size
    lags = np.column_stack([np.r_[np.zeros(j), e[:-j]] for j in range(1, nlags + 1)])
    Z = np.column_stack([X, lags])
    coef, *_ = np.linalg.lstsq(Z, e, rcond=None)
    fitted = Z @ coef
    r2 = 1 - np.sum((e - fitted) ** 2) / np.sum((e - e.mean()) ** 2)
    lm = n * r2
    return float(lm), float(stats.chi2.sf(lm, nlags))


@dataclass(frozen=True)
class ARFit:
    """A regression fitted by GLS with AR(1) errors."""

    params: pd.Series
    cov: pd.DataFrame
    rho: float
    rho_raw: float
    scale: float
    mu: np.ndarray
    df: float


def _ar1_inverse(n: int, rho: float) -> np.ndarray:
    """Inverse of the AR(1) correlation matrix (tridiagonal)."""
    inv = np.zeros((n, n))
    idx = np.arange(n)
    inv[idx, idx] = 1 + rho**2
    inv[0, 0] = inv[-1, -1] = 1.0
    inv[idx[:-1], idx[1:]] = -rho
    inv[idx[1:], idx[:-1]] = -rho
    return inv / (1 - rho**2)


def _lag1(r: np.ndarray) -> float:
    return float(np.clip(np.sum(r[1:] * r[:-1]) / np.sum(r**2), -0.95, 0.95))


def corrected_rho(rho: float, n: int, p: int) -> float:
    """Small-sample bias correction of a lag-1 residual autocorrelation.

    The lag-1 autocorrelation of regression residuals is biased towards zero by about
    ``(1 + 3 rho) / n`` from estimating the mean (Marriott and Pope, 1954, Biometrika
    41:390-402) plus about ``p / n`` from the other regressors. Adding both back gives
    intervals with close to nominal coverage in short series (see docs/its-coverage.md).
    """
    return float(np.clip(rho + (1 + 3 * rho) / n + p / n, -0.95, 0.95))


def fit_ar1(y: np.ndarray, X: pd.DataFrame, offset: np.ndarray, *, family: str,
            start: np.ndarray | None = None, max_iter: int = 100, tol: float = 1e-9) -> ARFit:
    """Regression with AR(1) errors by generalised least squares.

    ``family="gaussian"``: Prais-Winsten GLS (the first observation kept), ``V =
    sigma^2 R(rho)``. ``family="quasipoisson"``: the quasi-likelihood GLS form of
    Zeger's (1988, Biometrika 75:621-629) parameter-driven model for counts, ``V =
    phi A^1/2 R(rho) A^1/2`` with ``A = diag(mu)`` and a log link, solved by
    iteratively reweighted GLS. In both, ``rho`` is estimated from the (Pearson)
    residuals until it converges, then bias-corrected (:func:`corrected_rho`) and
    the coefficients refitted at the corrected value. Standard errors are
    model-based; use t quantiles with ``df = n - p - 1``.
    """
    Xv = X.to_numpy(dtype=float)
    n, p = Xv.shape
    gaussian = family == "gaussian"

    def solve(rho, beta):
        Rinv = _ar1_inverse(n, rho)
        for _ in range(max_iter):
            if gaussian:
                xtr = Xv.T @ Rinv
                new = np.linalg.solve(xtr @ Xv, xtr @ y)
            else:
                mu = np.exp(Xv @ beta + offset)
                sq = np.sqrt(mu)
                D = Xv * sq[:, None]  # A^-1/2 (A X)
                W = D.T @ Rinv
                new = beta + np.linalg.solve(W @ D, W @ ((y - mu) / sq))
            done = np.max(np.abs(new - beta)) < tol
            beta = new
            if done or gaussian:
                break
        return beta

    def residuals(beta):
        if gaussian:
            fitted = Xv @ beta
            return y - fitted, fitted
        mu = np.exp(Xv @ beta + offset)
        return (y - mu) / np.sqrt(mu), mu

    if start is not None:
        beta = np.asarray(start, float).copy()
    elif gaussian:
        beta = np.linalg.lstsq(Xv, y, rcond=None)[0]
    else:
        beta = np.zeros(p)
        beta[0] = np.log(max(y.mean(), 1e-8)) - offset.mean()
    rho = 0.0
    for _ in range(max_iter):
        beta = solve(rho, beta)
        new = _lag1(residuals(beta)[0])
        if abs(new - rho) < 1e-7:
            rho = new
            break
        rho = new
    rho_raw = rho
    rho = corrected_rho(rho_raw, n, p)
    beta = solve(rho, beta)
    r, mu = residuals(beta)
    Rinv = _ar1_inverse(n, rho)
    scale = float(r @ Rinv @ r / (n - p))
    D = Xv if gaussian else Xv * np.sqrt(mu)[:, None]
    cov = np.linalg.inv(D.T @ Rinv @ D) * scale
    names = list(X.columns)
    return ARFit(pd.Series(beta, index=names), pd.DataFrame(cov, index=names, columns=names),
                 rho, rho_raw, scale, mu, float(n - p - 1))
