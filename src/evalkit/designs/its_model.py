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

__all__ = ["Interruption", "design_matrix", "seasonal_terms", "IMPACTS", "fit_ar1",
           "fit_ar1_batch", "satterthwaite_df", "corrected_rho", "breusch_godfrey",
           "newey_west_lags"]

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
    cov_drho: pd.DataFrame
    var_rho: float
    df_scale: float


@dataclass(frozen=True)
class ARBatch:
    """Many series fitted by GLS with AR(1) errors (first axis: series)."""

    params: np.ndarray
    cov: np.ndarray
    rho: np.ndarray
    rho_raw: np.ndarray
    scale: np.ndarray
    mu: np.ndarray
    df: float
    cov_drho: np.ndarray
    var_rho: np.ndarray
    df_scale: float


def satterthwaite_df(grad: np.ndarray, cov: np.ndarray, cov_drho: np.ndarray,
                     var_rho: float, df_scale: float) -> np.ndarray:
    """Degrees of freedom for ``grad' beta`` when its variance ``v = grad' V grad`` rests
    on an estimated scale (``df_scale`` df) and an estimated rho (variance ``var_rho``).

    Satterthwaite's approximation: ``df = 2 / Var(log v)`` with ``Var(log v) = (d log v /
    d rho)^2 var_rho + 2 / df_scale``. Rows of ``grad`` give one df each.
    """
    g = np.atleast_2d(np.asarray(grad, dtype=float))
    v = np.einsum("ij,jk,ik->i", g, cov, g)
    dv = np.einsum("ij,jk,ik->i", g, cov_drho, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(v > 0, dv / v, 0.0)
    return 2.0 / (slope**2 * var_rho + 2.0 / df_scale)


def _ar1_inverse(n: int, rho: float) -> np.ndarray:
    """Inverse of the AR(1) correlation matrix (tridiagonal)."""
    inv = np.zeros((n, n))
    idx = np.arange(n)
    inv[idx, idx] = 1 + rho**2
    inv[0, 0] = inv[-1, -1] = 1.0
    inv[idx[:-1], idx[1:]] = -rho
    inv[idx[1:], idx[:-1]] = -rho
    return inv / (1 - rho**2)


def _lag1(r: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each row of ``r``, pooled within segments."""
    num = np.sum((r[:, 1:] * r[:, :-1])[:, ~first[1:]], axis=1)
    return np.clip(num / np.sum(r**2, axis=1), -0.95, 0.95)


def _prais_winsten(Z: np.ndarray, rho: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The Prais-Winsten transform ``P Z`` of each series (rows of ``Z``; ``P'P = (1 - rho^2)
    R(rho)^-1``), restarting at every segment's first row."""
    r = rho.reshape((-1,) + (1,) * (Z.ndim - 1))
    lagged = np.concatenate([np.zeros_like(Z[:, :1]), Z[:, :-1]], axis=1)
    out = Z - r * lagged
    out[:, first] = np.sqrt(1 - r**2) * Z[:, first]
    return out


def corrected_rho(rho, n: int, p: float):
    """Small-sample bias correction of a lag-1 residual autocorrelation.

    The lag-1 autocorrelation of regression residuals is biased towards zero by about
    ``(1 + 3 rho) / n`` from estimating the mean (Marriott and Pope, 1954, Biometrika
    41:390-402) plus about ``p / n`` from the other regressors. Adding both back gives
    intervals with close to nominal coverage in short series (see docs/its-coverage.md).
    ``n`` and ``p`` are per series: for ``k`` series fitted together, the points in one
    series and the parameters divided by ``k``.
    """
    return np.clip(np.asarray(rho, float) + (1 + 3 * np.asarray(rho, float)) / n + p / n,
                   -0.95, 0.95)


def fit_ar1_batch(Y: np.ndarray, X: np.ndarray, offset: np.ndarray, *, family: str,
                  segments: np.ndarray | None = None, rho: float | None = None,
                  correct: bool = True, start: np.ndarray | None = None,
                  max_iter: int = 100, tol: float = 1e-9) -> ARBatch:
    """Regression with AR(1) errors by generalised least squares, for many series at once.

    ``family="gaussian"``: Prais-Winsten GLS (the first observation kept), ``V =
    sigma^2 R(rho)``. Otherwise (``poisson``, ``quasipoisson``): the quasi-likelihood
    GLS form of Zeger's (1988, Biometrika 75:621-629) parameter-driven model for counts,
    ``V = phi A^1/2 R(rho) A^1/2`` with ``A = diag(mu)`` and a log link, solved by
    iteratively reweighted GLS. ``rho`` is estimated from the (Pearson) residuals until
    it converges, then bias-corrected (:func:`corrected_rho`, unless ``correct`` is
    False) and the coefficients refitted at the corrected value; a given ``rho`` is used
    as it is (``rho=0`` gives OLS or the quasi-Poisson GLM). Standard errors are
    model-based; for intervals use t quantiles with :func:`satterthwaite_df` of the
    contrast (from ``cov``, ``cov_drho``, ``var_rho`` and ``df_scale``), which allows for
    the estimation of rho and of the scale.

    Parameters
    ----------
    Y
        Series x points outcomes; all series share the design ``X`` (points x p).
    offset
        Log offsets, points or series x points.
    segments
        Points x 1 labels of independent series fitted together (controlled ITS: the
        treated and the comparison series, each in time order and contiguous); the AR(1)
        process restarts at each. None: one series.
    """
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    Xv = np.asarray(X, dtype=float)
    R, n = Y.shape
    p = Xv.shape[1]
    off = np.broadcast_to(np.asarray(offset, dtype=float), (R, n))
    seg = np.zeros(n) if segments is None else np.asarray(segments)
    first = np.r_[True, seg[1:] != seg[:-1]]
    k = int(first.sum())
    gaussian = family == "gaussian"

    def step(rh, beta):
        if gaussian:
            Xt = _prais_winsten(np.broadcast_to(Xv, (R, n, p)).copy(), rh, first)
            yt = _prais_winsten(Y, rh, first)
            return np.linalg.solve(np.einsum("rni,rnj->rij", Xt, Xt),
                                   np.einsum("rni,rn->ri", Xt, yt)[..., None])[..., 0]
        mu = np.exp(beta @ Xv.T + off)
        sq = np.sqrt(mu)
        Dt = _prais_winsten(Xv[None] * sq[:, :, None], rh, first)
        zt = _prais_winsten((Y - mu) / sq, rh, first)
        return beta + np.linalg.solve(np.einsum("rni,rnj->rij", Dt, Dt),
                                      np.einsum("rni,rn->ri", Dt, zt)[..., None])[..., 0]

    def solve(rh, beta):
        for _ in range(1 if gaussian else max_iter):
            new = step(rh, beta)
            done = np.max(np.abs(new - beta)) < tol
            beta = new
            if done:
                break
        return beta

    def residuals(beta):
        if gaussian:
            fitted = beta @ Xv.T
            return Y - fitted, fitted
        mu = np.exp(beta @ Xv.T + off)
        return (Y - mu) / np.sqrt(mu), mu

    if start is not None:
        beta = np.broadcast_to(np.asarray(start, float), (R, p)).copy()
    else:
        beta = np.zeros((R, p))
        if not gaussian:
            beta[:, 0] = np.log(np.maximum(Y.mean(axis=1), 1e-8)) - off.mean(axis=1)
    if rho is not None:
        rh = np.broadcast_to(np.asarray(rho, dtype=float), (R,)).copy()
        beta = solve(rh, beta)
        raw = rh
    else:
        rh = np.zeros(R)
        for _ in range(max_iter):
            beta = solve(rh, beta)
            new = _lag1(residuals(beta)[0], first)
            done = np.max(np.abs(new - rh)) < 1e-7
            rh = new
            if done:
                break
        raw = rh
        if correct:
            rh = corrected_rho(raw, n / k, p / k)
        beta = solve(rh, beta)
    r, mu = residuals(beta)
    D = np.broadcast_to(Xv, (R, n, p)) if gaussian else Xv[None] * np.sqrt(mu)[:, :, None]

    def covariance(at):
        innovation = np.sum(_prais_winsten(r, at, first) ** 2, axis=1) / (n - p)
        Dt = _prais_winsten(D.copy(), at, first)
        cov = np.linalg.inv(np.einsum("rni,rnj->rij", Dt, Dt)) * innovation[:, None, None]
        return cov, innovation / (1 - at**2)  # the marginal variance or dispersion

    cov, scale = covariance(rh)
    # How the covariance moves with rho (at the fitted coefficients), for the df.
    hi, lo = np.minimum(rh + 0.01, 0.95), np.maximum(rh - 0.01, -0.95)
    cov_drho = (covariance(hi)[0] - covariance(lo)[0]) / (hi - lo)[:, None, None]
    # Var(rho-hat) of an AR(1), (1 - rho^2) / n; zero when rho is given.
    var_rho = (1 - rh**2) / n if rho is None else np.zeros(R)
    return ARBatch(beta, cov, rh, raw, scale, mu, float(n - p - (rho is None)), cov_drho,
                   var_rho, float(n - p))


def fit_ar1(y: np.ndarray, X: pd.DataFrame, offset: np.ndarray, *, family: str,
            segments: np.ndarray | None = None, start: np.ndarray | None = None,
            max_iter: int = 100, tol: float = 1e-9) -> ARFit:
    """Regression with AR(1) errors for one series (or one controlled pair of series).

    See :func:`fit_ar1_batch` for the model; ``segments`` marks the series of a
    controlled ITS.
    """
    fit = fit_ar1_batch(np.asarray(y, float)[None], X.to_numpy(dtype=float), offset,
                        family=family, segments=segments, start=start, max_iter=max_iter,
                        tol=tol)
    names = list(X.columns)
    return ARFit(pd.Series(fit.params[0], index=names),
                 pd.DataFrame(fit.cov[0], index=names, columns=names), float(fit.rho[0]),
                 float(fit.rho_raw[0]), float(fit.scale[0]), fit.mu[0], fit.df,
                 pd.DataFrame(fit.cov_drho[0], index=names, columns=names),
                 float(fit.var_rho[0]), fit.df_scale)
