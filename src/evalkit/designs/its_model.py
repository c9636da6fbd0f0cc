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

__all__ = ["Interruption", "design_matrix", "seasonal_terms", "IMPACTS", "fit_ar_glm",
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
    return "" if n == 1 else f":{k + 1}"


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
    """A quasi-likelihood GLM fitted with AR(1) working correlation."""

    params: pd.Series
    cov: pd.DataFrame
    rho: float
    scale: float
    mu: np.ndarray
    iterations: int


def _ar1_inverse(n: int, rho: float) -> np.ndarray:
    """Inverse of the AR(1) correlation matrix (tridiagonal)."""
    inv = np.zeros((n, n))
    idx = np.arange(n)
    inv[idx, idx] = 1 + rho**2
    inv[0, 0] = inv[-1, -1] = 1.0
    inv[idx[:-1], idx[1:]] = -rho
    inv[idx[1:], idx[:-1]] = -rho
    return inv / (1 - rho**2)


def fit_ar_glm(y: np.ndarray, X: pd.DataFrame, offset: np.ndarray, *, link: str = "log",
               start: np.ndarray | None = None, max_iter: int = 50, tol: float = 1e-8) -> ARFit:
    """Quasi-Poisson (log link) regression with AR(1) errors, after Zeger (1988).

    The parameter-driven model of Zeger (1988, "A regression model for time series of
    counts", Biometrika 75:621-629) in its GLS form: ``Var(y) = phi * mu`` and the
    Pearson residuals follow an AR(1) process. Iteratively reweighted generalised
    least squares: ``beta`` solves ``D' V^-1 (y - mu) = 0`` with
    ``V = phi A^1/2 R(rho) A^1/2``, ``A = diag(mu)``, ``D = A X``; ``rho`` and ``phi``
    are re-estimated from Pearson residuals at each step. Standard errors are
    model-based: ``phi (D' V^-1 D)^-1`` with ``phi`` absorbed in ``V``.
    """
    Xv = X.to_numpy(dtype=float)
    n, p = Xv.shape
    beta = np.zeros(p) if start is None else np.asarray(start, float).copy()
    if start is None:
        beta[0] = np.log(max(y.mean(), 1e-8)) - offset.mean()
    rho, phi = 0.0, 1.0
    it = 0
    for it in range(1, max_iter + 1):
        eta = Xv @ beta + offset
        mu = np.exp(eta)
        r = (y - mu) / np.sqrt(mu)
        phi = float(np.sum(r**2) / (n - p))
        rho = float(np.clip(np.sum(r[1:] * r[:-1]) / np.sum(r**2), -0.95, 0.95))
        sq = np.sqrt(mu)
        Rinv = _ar1_inverse(n, rho)
        # D' V^-1 with D = diag(mu) X and V = A^1/2 R A^1/2 (phi cancels in the update).
        D = Xv * mu[:, None]
        W = (D / sq[:, None]).T @ Rinv  # p x n : D' A^-1/2 R^-1
        info = W @ (D / sq[:, None])
        score = W @ ((y - mu) / sq)
        step = np.linalg.solve(info, score)
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    eta = Xv @ beta + offset
    mu = np.exp(eta)
    sq = np.sqrt(mu)
    r = (y - mu) / sq
    phi = float(np.sum(r**2) / (n - p))
    rho = float(np.clip(np.sum(r[1:] * r[:-1]) / np.sum(r**2), -0.95, 0.95))
    D = Xv * mu[:, None] / sq[:, None]
    info = D.T @ _ar1_inverse(n, rho) @ D
    cov = np.linalg.inv(info) * phi
    names = list(X.columns)
    return ARFit(pd.Series(beta, index=names), pd.DataFrame(cov, index=names, columns=names),
                 rho, phi, mu, it)
