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
           "newey_west_lags", "reml_rho", "reml_objective", "kenward_roger"]

IMPACTS = ("step", "slope", "step+slope")
# Bounds on log tau^2 in the latent count model's REML fit (fit_latent_ar1_batch).
LOG_TAU2_BOUNDS = (-18.42, 2.3)


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
    cov_model: pd.DataFrame
    dcov: np.ndarray
    W: np.ndarray
    tau2: float | None = None


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
    cov_model: np.ndarray
    dcov: np.ndarray
    W: np.ndarray
    tau2: np.ndarray | None = None


def satterthwaite_df(grad: np.ndarray, cov: np.ndarray, dcov: np.ndarray,
                     W: np.ndarray) -> np.ndarray:
    """Satterthwaite degrees of freedom for ``grad' beta`` when its variance ``v = grad' V
    grad`` rests on estimated covariance parameters ``theta = (sigma^2, rho)``.

    ``df = 2 v^2 / (g' W g)`` with ``g_i = grad' (dV / d theta_i) grad`` (``dcov``: 2 x p x
    p) and ``W`` the covariance of ``theta``-hat (2 x 2). Rows of ``grad`` give one df each.
    """
    g = np.atleast_2d(np.asarray(grad, dtype=float))
    v = np.einsum("ij,jk,ik->i", g, cov, g)
    d = np.einsum("ij,mjk,ik->im", g, dcov, g)
    var = np.einsum("im,mn,in->i", d, W, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, 2.0 * v**2 / var, np.inf)


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


def _segment_masks(first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows at either end of a segment, and neighbours ``(i, i + 1)`` in the same one."""
    last = np.r_[first[1:], True]
    return first | last, ~first[1:]


def _tridiagonals(rho: np.ndarray, first: np.ndarray):
    """Diagonals of ``R(rho)^-1`` of an AR(1) (per segment) and of its first and second
    derivatives in rho: three ``(diag, off)`` pairs, each ``series x points`` and
    ``series x (points - 1)`` (zero across segments)."""
    edge, link = _segment_masks(first)
    r = rho[:, None]
    c = 1.0 / (1.0 - r**2)
    inv = (np.where(edge, 1.0, 1.0 + r**2) * c, -r * c * link)
    d1 = (np.where(edge, 2.0, 4.0) * r * c**2, -(1 + r**2) * c**2 * link)
    d2 = (np.where(edge, 2 + 6 * r**2, 4 + 12 * r**2) * c**3, -(6 * r + 2 * r**3) * c**3 * link)
    return inv, d1, d2


def _quad(tri, D: np.ndarray) -> np.ndarray:
    """``D' M D`` for a tridiagonal ``M`` given as ``(diag, off)`` (series x p x p)."""
    diag, off = tri
    out = np.einsum("rn,rni,rnj->rij", diag, D, D)
    cross = np.einsum("rn,rni,rnj->rij", off, D[:, :-1], D[:, 1:])
    return out + cross + np.swapaxes(cross, 1, 2)


def _tri_times(tri, D: np.ndarray) -> np.ndarray:
    """``M D`` for a tridiagonal ``M`` given as ``(diag, off)``."""
    diag, off = tri
    out = diag[:, :, None] * D
    out[:, 1:] += off[:, :, None] * D[:, :-1]
    out[:, :-1] += off[:, :, None] * D[:, 1:]
    return out


def _ar1_times(W: np.ndarray, rho: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``R(rho) W`` for an AR(1) correlation matrix, per segment, by one forward and one
    backward recursion (``R = (1 - rho^2) P^-1 P^-T`` with ``P`` the Prais-Winsten
    transform), without forming ``R``."""
    r = rho.reshape((-1,) + (1,) * (W.ndim - 2))
    n = W.shape[1]
    u = np.empty_like(W)
    # u = P^-T W: (P' u)_i = d_i u_i - rho u_{i+1} (within a segment), d = sqrt(1 - rho^2)
    # on a segment's first row and 1 elsewhere.
    for i in range(n - 1, -1, -1):
        nxt = u[:, i + 1] * r if i + 1 < n and not first[i + 1] else 0.0
        u[:, i] = (W[:, i] + nxt) / (np.sqrt(1 - r**2) if first[i] else 1.0)
    v = np.empty_like(W)
    # v = P^-1 u: (P v)_i = d_i v_i - rho v_{i-1}.
    for i in range(n):
        prev = v[:, i - 1] * r if not first[i] else 0.0
        v[:, i] = (u[:, i] + prev) / (np.sqrt(1 - r**2) if first[i] else 1.0)
    return (1 - r**2)[:, None] * v


def reml_objective(rho: np.ndarray, Z: np.ndarray, D: np.ndarray, first: np.ndarray
                   ) -> np.ndarray:
    """The restricted (REML) log-likelihood of an AR(1) regression, profiled over the
    scale, up to a constant: ``-(1/2) [(n - p) log(e' R^-1 e) + log|R| + log|D' R^-1 D|]``
    with ``e`` the GLS residuals at ``rho``, for each series (rows of ``Z``, design ``D``)."""
    n, p = D.shape[1], D.shape[2]
    k = int(first.sum())
    Dt = _prais_winsten(D.copy(), rho, first)
    zt = _prais_winsten(Z.copy(), rho, first)
    G = np.einsum("rni,rnj->rij", Dt, Dt)
    beta = np.linalg.solve(G, np.einsum("rni,rn->ri", Dt, zt)[..., None])[..., 0]
    rss = np.sum((zt - np.einsum("rni,ri->rn", Dt, beta)) ** 2, axis=1)
    logdet = np.linalg.slogdet(G)[1]
    return -0.5 * ((n - p) * np.log(rss) - k * np.log(1 - rho**2) + logdet)


def reml_rho(Z: np.ndarray, D: np.ndarray, first: np.ndarray, *, lower: float = -0.9,
             upper: float = 0.98, around: np.ndarray | None = None) -> np.ndarray:
    """The REML estimate of the AR(1) parameter of each series: the best point of a grid
    of step 0.02 on ``[lower, upper]``, refined by golden-section search between its
    neighbours (to about 1e-6); with ``around``, only ``around +- 0.03`` is searched.

    REML removes most of the small-sample bias of rho that comes from estimating the
    regression (Cheang and Reinsel, 2000, J Time Ser Anal 21:593-617)."""
    if around is not None:
        return _golden(lambda x: reml_objective(x, Z, D, first),
                       np.maximum(around - 0.03, lower), np.minimum(around + 0.03, upper))
    grid = np.arange(lower, upper + 1e-9, 0.02)
    R = Z.shape[0]
    values = np.stack([reml_objective(np.full(R, g), Z, D, first) for g in grid], axis=1)
    best = np.argmax(values, axis=1)
    a = grid[np.maximum(best - 1, 0)]
    b = grid[np.minimum(best + 1, len(grid) - 1)]
    return _golden(lambda x: reml_objective(x, Z, D, first), a, b)


def _golden(f, a: np.ndarray, b: np.ndarray, steps: int = 30) -> np.ndarray:
    """Golden-section search for the maximum of ``f`` on ``[a, b]``, elementwise."""
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(steps):
        left = fc > fd
        a, b = np.where(left, a, c), np.where(left, d, b)
        new = np.where(left, b - g * (b - a), a + g * (b - a))
        fnew = f(new)
        c, d = np.where(left, new, d), np.where(left, c, new)
        fc, fd = np.where(left, fnew, fd), np.where(left, fc, fnew)
    return (a + b) / 2


def kenward_roger(D: np.ndarray, rho: np.ndarray, sigma2: np.ndarray, first: np.ndarray):
    """Kenward and Roger's (1997, Biometrics 53:983-997) small-sample adjustment of the
    covariance of GLS estimates with AR(1) errors, ``V = sigma^2 R(rho)``, estimated by
    REML.

    Returns ``(cov, cov_adjusted, dcov, W)``: the model-based covariance ``Phi = sigma^2
    (D' R^-1 D)^-1``, the adjusted ``Phi + 2 Lambda``, the derivatives of ``Phi`` in
    ``(sigma^2, rho)`` (series x 2 x p x p) and ``W``, the inverse of the expected REML
    information for ``(sigma^2, rho)`` (series x 2 x 2). The pieces of ``Lambda`` use
    that ``R^-1`` and its derivatives are tridiagonal; ``R`` itself is applied by
    recursion (:func:`_ar1_times`).
    """
    n, p = D.shape[1], D.shape[2]
    k = int(first.sum())
    inv, d1, d2 = _tridiagonals(rho, first)
    G = _quad(inv, D)
    Phi_t = np.linalg.inv(G)
    XSX = _quad(d1, D)
    XTX = _quad(d2, D)
    SD = _tri_times(d1, D)
    Q = np.einsum("rni,rnj->rij", SD, _ar1_times(SD, rho, first))
    s2 = sigma2[:, None, None]
    r = rho
    tr_a = -2 * r * (n - k) / (1 - r**2)
    tr_aa = 2 * (n - k) * (1 + r**2) / (1 - r**2) ** 2
    PS = Phi_t @ XSX
    info = np.empty((len(r), 2, 2))
    info[:, 0, 0] = (n - p) / (2 * sigma2**2)
    info[:, 0, 1] = info[:, 1, 0] = 0.5 * (tr_a + np.trace(PS, axis1=1, axis2=2)) / sigma2
    info[:, 1, 1] = 0.5 * (tr_aa - 2 * np.einsum("rij,rji->r", Phi_t, Q)
                           + np.einsum("rij,rji->r", PS, PS))
    W = np.linalg.inv(info)
    inner = (W[:, 1, 1, None, None] * (0.5 * Q + 0.25 * XTX - XSX @ Phi_t @ XSX) / s2
             + W[:, 0, 1, None, None] * XSX / (2 * s2**2))
    Phi = s2 * Phi_t
    adjusted = Phi + 2 * Phi @ inner @ Phi
    dcov = np.stack([Phi_t, -s2 * Phi_t @ XSX @ Phi_t], axis=1)
    return Phi, adjusted, dcov, W


def _thomas(diag: np.ndarray, off: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``K U = F`` for symmetric tridiagonal ``K`` (``diag``: series x points, ``off``:
    series x (points - 1)) by the Thomas algorithm, vectorised over series; also returns
    ``log|K|``."""
    n = diag.shape[1]
    a = np.ascontiguousarray(diag.T)
    b = np.ascontiguousarray(off.T)
    f = np.moveaxis(F, 1, 0).copy()  # a copy: F is not overwritten
    m = np.empty_like(a)
    c = np.zeros_like(a)
    m[0] = a[0]
    for i in range(1, n):
        c[i - 1] = b[i - 1] / m[i - 1]
        m[i] = a[i] - b[i - 1] * c[i - 1]
        f[i] -= c[i - 1][:, None] * f[i - 1]
    f[n - 1] /= m[n - 1][:, None]
    for i in range(n - 2, -1, -1):
        f[i] = f[i] / m[i][:, None] - c[i][:, None] * f[i + 1]
    return np.moveaxis(f, 0, 1), np.sum(np.log(m), axis=0)


def latent_solve(rho: np.ndarray, tau2: np.ndarray, mu: np.ndarray, Z: np.ndarray,
                 first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``V^-1 Z`` for ``V = diag(1 / mu) + tau^2 R(rho)`` (see :func:`latent_gram`), and
    ``log|K|`` of Woodbury's tridiagonal ``K = R^-1 / tau^2 + diag(mu)``."""
    edge, link = _segment_masks(first)
    r = rho[:, None]
    c = 1.0 / ((1.0 - r**2) * tau2[:, None])
    F = mu[:, :, None] * Z
    U, logdet_k = _thomas(np.where(edge, 1.0, 1.0 + r**2) * c + mu, -r * c * link, F)
    return F - mu[:, :, None] * U, logdet_k


def latent_gram(rho: np.ndarray, tau2: np.ndarray, mu: np.ndarray, Z: np.ndarray,
                first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Z' V^-1 Z`` and ``log|V|`` for ``V = diag(1 / mu) + tau^2 R(rho)``, the covariance
    of link-scale residuals ``(y - mu) / mu`` of counts whose log mean carries a latent
    AR(1) process of variance ``tau^2`` (Zeger 1988), by Woodbury's identity: ``V^-1 =
    M - M K^-1 M`` with ``M = diag(mu)`` and ``K = R^-1 / tau^2 + M`` tridiagonal."""
    n = mu.shape[1]
    k = int(first.sum())
    VZ, logdet_k = latent_solve(rho, tau2, mu, Z, first)
    gram = np.matmul(np.swapaxes(Z, 1, 2), VZ)
    seen = mu > 0
    logdet = (-np.sum(np.log(np.where(seen, mu, 1.0)), axis=1)
              + (n - k) * np.log(1 - rho**2) + n * np.log(tau2) + logdet_k)
    return gram, logdet


def latent_reml_objective(rho, tau2, mu, w, X, first) -> np.ndarray:
    """The REML log-likelihood (profiled over a common scale ``s^2``, up to a constant) of
    link-scale residuals ``w`` with covariance ``s^2 (diag(1 / mu) + tau^2 R(rho))`` and
    design ``X``."""
    p = X.shape[-1]
    n = w.shape[1]
    Z = np.concatenate([np.broadcast_to(X, (w.shape[0],) + X.shape[-2:]), w[:, :, None]],
                       axis=2)
    gram, logdet = latent_gram(rho, tau2, mu, Z, first)
    G, b, c = gram[:, :p, :p], gram[:, :p, p], gram[:, p, p]
    rss = c - np.einsum("ri,ri->r", b, np.linalg.solve(G, b[..., None])[..., 0])
    return -0.5 * ((n - p) * np.log(rss) + logdet + np.linalg.slogdet(G)[1])


def latent_reml_full(a, b, rho, mu, w, X, first) -> np.ndarray:
    """The REML log-likelihood (up to a constant) of link-scale residuals ``w`` with
    covariance ``Sigma = a diag(1 / mu) + b R(rho)`` and design ``X``, not profiled: ``-(1/2)
    [(n - p) log a + log|V| + log|X' V^-1 X| + r' V^-1 r / a]`` with ``V = Sigma / a``."""
    p = X.shape[-1]
    n = w.shape[1]
    Z = np.concatenate([np.broadcast_to(X, (w.shape[0],) + X.shape[-2:]), w[:, :, None]],
                       axis=2)
    gram, logdet = latent_gram(rho, b / a, mu, Z, first)
    G, g, c = gram[:, :p, :p], gram[:, :p, p], gram[:, p, p]
    rss = c - np.einsum("ri,ri->r", g, np.linalg.solve(G, g[..., None])[..., 0])
    return -0.5 * ((n - p) * np.log(a) + logdet + np.linalg.slogdet(G)[1] + rss / a)


def latent_reml_information(a, b, rho, mu, w, X, first, h: float = 2e-3) -> np.ndarray:
    """The observed REML information for ``theta = (a, b, rho)`` of
    :func:`latent_reml_full` (series x 3 x 3): central differences of the log-likelihood
    in ``(log a, log b, rho)``, mapped to ``theta`` by the chain rule (the gradient is
    zero at the estimate)."""
    x0 = np.stack([np.log(a), np.log(b), rho], axis=1)

    def f(x):
        return latent_reml_full(np.exp(x[:, 0]), np.exp(x[:, 1]), x[:, 2], mu, w, X, first)

    f0 = f(x0)
    H = np.empty((len(a), 3, 3))
    E = np.eye(3) * h
    for i in range(3):
        H[:, i, i] = (f(x0 + E[i]) - 2 * f0 + f(x0 - E[i])) / h**2
        for j in range(i):
            H[:, i, j] = H[:, j, i] = (f(x0 + E[i] + E[j]) - f(x0 + E[i] - E[j])
                                       - f(x0 - E[i] + E[j]) + f(x0 - E[i] - E[j])) / (4 * h**2)
    J = np.stack([1 / a, 1 / b, np.ones_like(a)], axis=1)  # d phi / d theta
    return -H * J[:, :, None] * J[:, None, :]


def latent_kenward_roger(X: np.ndarray, mu: np.ndarray, rho: np.ndarray, tau2: np.ndarray,
                         s2: np.ndarray, w: np.ndarray, first: np.ndarray):
    """Kenward and Roger's (1997, Biometrics 53:983-997) small-sample adjustment of the
    covariance of the latent AR(1) count model's coefficients (Zeger, 1988, Biometrika
    75:621-629), with the Satterthwaite (1946) df pieces.

    The working model of the link-scale residuals ``w = (y - mu) / mu`` is a linear model
    with covariance ``Sigma(theta) = a diag(1 / mu) + b R(rho)``, ``theta = (a, b, rho)``,
    ``a = s^2`` and ``b = s^2 tau^2`` (two variance components and a correlation), estimated
    by REML. With ``Phi = (X' Sigma^-1 X)^-1``, ``Sigma_i = d Sigma / d theta_i``, ``P_i =
    -X' Sigma^-1 Sigma_i Sigma^-1 X`` and ``Q_ij = X' Sigma^-1 Sigma_i Sigma^-1 Sigma_j
    Sigma^-1 X``, the adjusted covariance is

        ``Phi_A = Phi + 2 Phi [sum_ij W_ij (Q_ij - P_i Phi P_j)] Phi``,

    that is ``Phi + 2 Lambda``: Kackar and Harville's (1984, JASA 79:853-862) ``Lambda``,
    the variance that estimating theta adds to the coefficients, counted once for itself
    and once for the downward bias of the plug-in ``Phi`` (as in Kenward and Roger's
    derivation of their ``Phi_A``). Kenward and Roger's further term ``-Phi [sum_ij
    W_ij R_ij / 2] Phi``, with ``R_ij = X' Sigma^-1 (d^2 Sigma / d theta_i d theta_j)
    Sigma^-1 X``, is zero for covariances linear in their parameters (here ``a`` and
    ``b``) and is left out for ``rho``: in short series it made ``Phi_A`` indefinite (a
    negative variance) in about one fit in ten, where the information for rho is small
    (docs/its-coverage.md); without it ``Phi_A >= Phi``.

    ``W`` is the inverse of the observed REML information for ``theta``
    (:func:`latent_reml_information`), a pseudo-inverse on the directions of positive
    curvature: near a boundary of the parameter space (no latent variance, or no Poisson
    share) the flat directions are taken as known.

    Returns ``(Phi, Phi_A, dPhi, W)`` with ``dPhi = d Phi / d theta_i = -Phi P_i Phi``
    (series x 3 x p x p), from which :func:`satterthwaite_df` gives the df of a contrast.
    ``Sigma`` is applied by Woodbury's identity and the AR(1) recursions
    (:func:`latent_solve`, :func:`_ar1_times`), so the cost is O(n) a series.
    """
    R, n = mu.shape
    p = X.shape[-1]
    a, b = s2, s2 * tau2
    Xb = np.broadcast_to(X, (R, n, p))
    d1 = _tridiagonals(rho, first)[1]
    Y = latent_solve(rho, tau2, mu, Xb, first)[0] / a[:, None, None]  # Sigma^-1 X
    RY = _ar1_times(Y, rho, first)
    T = _tri_times(d1, RY)
    RT = _ar1_times(T, rho, first)
    # C_i = Sigma_i Sigma^-1 X: Sigma_a = diag(1 / mu), Sigma_b = R, Sigma_rho = b dR/drho,
    # with dR/drho = -R (dR^-1/drho) R.
    C = [Y / mu[:, :, None], RY, -b[:, None, None] * RT]
    Cs = np.concatenate(C, axis=2)
    SC = latent_solve(rho, tau2, mu, Cs, first)[0] / a[:, None, None]
    Qall = np.matmul(np.swapaxes(Cs, 1, 2), SC)
    G = np.einsum("ni,rnj->rij", X, Y)
    Phi = np.linalg.inv(G)
    Phi = 0.5 * (Phi + np.swapaxes(Phi, 1, 2))
    P = [-np.matmul(np.swapaxes(Y, 1, 2), Ci) for Ci in C]
    P = [0.5 * (Pi + np.swapaxes(Pi, 1, 2)) for Pi in P]
    info = latent_reml_information(a, b, rho, mu, w, X, first)
    # W: the inverse of the observed information on the directions where it is positive
    # (a pseudo-inverse): near a boundary of the parameter space (no latent variance, or no
    # Poisson share) the flat directions are taken as known.
    lam, vec = np.linalg.eigh(info)
    keep = lam > 1e-8 * np.maximum(lam[:, -1:], 1e-300)
    W = np.einsum("rik,rk,rjk->rij", vec, np.where(keep, 1 / np.where(keep, lam, 1.0), 0.0),
                  vec)
    inner = np.zeros((R, p, p))
    for i in range(3):
        for j in range(3):
            Qij = Qall[:, i * p:(i + 1) * p, j * p:(j + 1) * p]
            inner += W[:, i, j, None, None] * (Qij - P[i] @ Phi @ P[j])
    adjusted = Phi + 2 * Phi @ inner @ Phi
    adjusted = 0.5 * (adjusted + np.swapaxes(adjusted, 1, 2))
    dcov = np.stack([-Phi @ Pi @ Phi for Pi in P], axis=1)
    return Phi, adjusted, dcov, W


def _newton_step(f, x: np.ndarray, y: np.ndarray, h: float = 1e-3,
                 bounds=((-0.9, 0.98), LOG_TAU2_BOUNDS)):
    """One safeguarded Newton step for the maximum of ``f(x, y)``, elementwise: the
    gradient and Hessian from central differences; a step that does not increase ``f``
    (or a Hessian that is not negative definite) is replaced by a short gradient step,
    halved until it does, or no step."""
    f0 = f(x, y)
    fxp, fxm, fyp, fym = f(x + h, y), f(x - h, y), f(x, y + h), f(x, y - h)
    fxy = f(x + h, y + h)
    gx, gy = (fxp - fxm) / (2 * h), (fyp - fym) / (2 * h)
    hxx, hyy = (fxp - 2 * f0 + fxm) / h**2, (fyp - 2 * f0 + fym) / h**2
    hxy = (fxy - fxp - fyp + f0) / h**2
    det = hxx * hyy - hxy**2
    concave = (hxx < 0) & (det > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = np.where(concave, -(hyy * gx - hxy * gy) / det, 1e-3 * gx)
        dy = np.where(concave, -(hxx * gy - hxy * gx) / det, 1e-3 * gy)
    dx, dy = np.clip(np.nan_to_num(dx), -0.1, 0.1), np.clip(np.nan_to_num(dy), -1.0, 1.0)
    best_x, best_y, best_f = x.copy(), y.copy(), f0
    for _ in range(4):
        nx = np.clip(x + dx, *bounds[0])
        ny = np.clip(y + dy, *bounds[1])
        fn = f(nx, ny)
        better = fn > best_f
        best_x, best_y = np.where(better, nx, best_x), np.where(better, ny, best_y)
        best_f = np.where(better, fn, best_f)
        dx, dy = np.where(better, 0.0, dx / 2), np.where(better, 0.0, dy / 2)
    return best_x, best_y


def fit_latent_ar1_batch(Y: np.ndarray, X: np.ndarray, offset: np.ndarray, *,
                         segments: np.ndarray | None = None, start: np.ndarray | None = None,
                         outer: int = 8, max_iter: int = 50, tol: float = 1e-8) -> ARBatch:
    """Counts with a latent AR(1) process on the log scale (Zeger, 1988, Biometrika
    75:621-629): ``E y = mu = exp(X beta + offset)``, ``Var y = s^2 (mu + tau^2 mu^2)``,
    ``Cov(y_t, y_u) = s^2 tau^2 mu_t mu_u rho^|t - u|``, for many series at once.

    ``beta`` solves the quasi-likelihood (GEE) equations with that covariance by Fisher
    scoring; ``tau^2`` is Zeger's moment estimate ``sum((y - mu)^2 - mu) / sum(mu^2)``
    (times ``n / (n - p)``) to start, ``rho`` and ``tau^2`` maximise the restricted
    likelihood of the link-scale residuals ``(y - mu) / mu`` (a common scale ``s^2``
    profiled out), and the three are iterated to convergence. Where the counts show no
    extra-Poisson variance (``tau^2 = 0``) the fit is the quasi-Poisson GLM.

    ``cov_model`` is the plug-in covariance ``s^2 (X' V^-1 X)^-1``; ``cov`` is Kenward and
    Roger's (1997) small-sample adjustment of it for the three estimated covariance
    parameters (:func:`latent_kenward_roger`); the Satterthwaite (1946) df of a contrast
    (:func:`satterthwaite_df`) use ``cov_model``, its derivatives ``dcov`` and ``W``, the
    inverse observed REML information for ``(s^2, s^2 tau^2, rho)``, as for gaussian
    outcomes.
    """
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    Xv = np.asarray(X, dtype=float)
    R, n = Y.shape
    p = Xv.shape[1]
    off = np.broadcast_to(np.asarray(offset, dtype=float), (R, n))
    seg = np.zeros(n) if segments is None else np.asarray(segments)
    first = np.r_[True, seg[1:] != seg[:-1]]
    if start is not None:
        beta = np.broadcast_to(np.asarray(start, float), (R, p)).copy()
    else:
        beta = np.zeros((R, p))
        beta[:, 0] = np.log(np.maximum(Y.mean(axis=1), 1e-8)) - off.mean(axis=1)
    Xb = np.broadcast_to(Xv, (R, n, p))
    rho = np.zeros(R)
    tau2 = np.full(R, 1e-8)

    def score_steps(beta, rho, tau2, steps):
        for _ in range(steps):
            mu = np.exp(beta @ Xv.T + off)
            Z = np.concatenate([Xb, ((Y - mu) / mu)[:, :, None]], axis=2)
            gram, _ = latent_gram(rho, tau2, mu, Z, first)
            step = np.linalg.solve(gram[:, :p, :p], gram[:, :p, p][..., None])[..., 0]
            beta = beta + step
            if np.max(np.abs(step)) < tol:
                break
        return beta

    beta = score_steps(beta, rho, tau2, max_iter)
    mu = np.exp(beta @ Xv.T + off)
    # Start from moment estimates: Zeger's tau^2, and rho the lag-1 autocorrelation of the
    # Pearson residuals over the latent share of their variance; then REML for (rho,
    # log tau^2) by coordinate ascent (golden-section search in a window around the current
    # values), interleaved with scoring steps for beta; a fixed number of rounds, so that a
    # series gets the same fit alone as in a batch.
    extra = np.sum((Y - mu) ** 2 - mu, axis=1) * n / (n - p)
    tau2 = np.maximum(extra / np.sum(mu**2, axis=1), 1e-8)
    pearson = (Y - mu) / np.sqrt(mu)
    share = np.clip(tau2 * mu.mean(axis=1) / (1 + tau2 * mu.mean(axis=1)), 0.05, 1.0)
    rho = np.clip(_lag1(pearson, first) / share, -0.9, 0.95)
    for it in range(2):
        mu = np.exp(beta @ Xv.T + off)
        w = (Y - mu) / mu

        def in_rho(r, tau2=tau2, mu=mu, w=w):
            return latent_reml_objective(r, tau2, mu, w, Xv, first)

        width = 0.2 if it == 0 else 0.1
        rho = _golden(in_rho, np.maximum(rho - width, -0.9), np.minimum(rho + width, 0.98),
                      steps=14)

        def in_tau(log_t, rho=rho, mu=mu, w=w):
            return latent_reml_objective(rho, np.exp(log_t), mu, w, Xv, first)

        width = 1.5 if it == 0 else 0.75
        tau2 = np.exp(_golden(in_tau, np.maximum(np.log(tau2) - width, np.log(1e-8)),
                              np.log(tau2) + width, steps=14))
        beta = score_steps(beta, rho, tau2, 2)
    # rho and tau^2 trade off along a ridge of the likelihood, so finish with safeguarded
    # Newton steps in (rho, log tau^2) from finite differences.
    for _ in range(outer):
        mu = np.exp(beta @ Xv.T + off)
        w = (Y - mu) / mu
        rho, tau2 = _newton_step(lambda r, lt, mu=mu, w=w: latent_reml_objective(
            r, np.exp(lt), mu, w, Xv, first), rho, np.log(tau2))
        tau2 = np.exp(tau2)
        beta = score_steps(beta, rho, tau2, 2)
    beta = score_steps(beta, rho, tau2, max_iter)
    mu = np.exp(beta @ Xv.T + off)
    w = (Y - mu) / mu
    # The common scale s^2 (REML, given rho and tau^2), then Kenward and Roger's adjusted
    # covariance and the pieces of the Satterthwaite df (latent_kenward_roger).
    gram, _ = latent_gram(rho, tau2, mu, np.concatenate([Xb, w[:, :, None]], axis=2), first)
    G, g, c = gram[:, :p, :p], gram[:, :p, p], gram[:, p, p]
    s2 = (c - np.einsum("ri,ri->r", g, np.linalg.solve(G, g[..., None])[..., 0])) / (n - p)
    cov_model, cov, dcov, W = latent_kenward_roger(Xv, mu, rho, tau2, s2, w, first)
    return ARBatch(beta, cov, rho, rho, s2 * (1 + tau2 * mu.mean(axis=1)), mu,
                   float(n - p - 1), cov_model, dcov, W, tau2)


def fit_ar1_batch(Y: np.ndarray, X: np.ndarray, offset: np.ndarray, *, family: str,
                  segments: np.ndarray | None = None, rho: float | None = None,
                  method: str = "reml", adjust: bool | None = None,
                  start: np.ndarray | None = None, max_iter: int = 100,
                  tol: float = 1e-9) -> ARBatch:
    """Regression with AR(1) errors by generalised least squares, for many series at once.

    ``family="gaussian"``: Prais-Winsten GLS (the first observation kept), ``V =
    sigma^2 R(rho)``. Counts (``poisson``, ``quasipoisson``) with ``method="reml"``: the
    latent AR(1) model of :func:`fit_latent_ar1_batch` (the default). Counts otherwise: a
    simpler working model, ``V = phi A^1/2 R(rho) A^1/2`` with ``A = diag(mu)`` and a log
    link (AR(1) Pearson residuals), solved by iteratively reweighted GLS, rho and phi
    estimated from the linearised model of the Pearson residuals; it understates the
    variance when the counts carry Poisson noise on top of a latent AR(1) process
    (docs/its-coverage.md).

    ``method="reml"`` (the default): rho by restricted maximum likelihood
    (:func:`reml_rho`); ``cov`` is Kenward and Roger's adjusted covariance
    (:func:`kenward_roger`; for the latent count model :func:`latent_kenward_roger`) when
    ``adjust`` is True (the default for gaussian outcomes), the model-based covariance
    ``cov_model`` otherwise; intervals then use t quantiles with the
    Satterthwaite df of the contrast (:func:`satterthwaite_df` with ``cov_model``, ``dcov``
    and ``W``, the inverse of the expected REML information for the scale and rho). For
    counts ``adjust=None`` or False gives the latent model, True the Pearson-residual AR(1)
    model with Kenward and Roger's covariance (studied, not the default:
    docs/its-coverage.md).
    ``method="moment"``: the earlier default, rho the lag-1 autocorrelation of the GLS
    residuals, iterated, then bias-corrected (:func:`corrected_rho`; ``"moment_raw"``
    without the correction), no adjustment of the covariance, and a Satterthwaite df that
    takes Var(rho) as ``(1 - rho^2) / n``. A given ``rho`` is used as it is (``rho=0``
    gives OLS or the quasi-Poisson GLM, with model-based standard errors).

    Parameters
    ----------
    Y
        Series x points outcomes; all series share the design ``X`` (points x p).
    offset
        Log offsets, points or series x points.
    segments
        Points x 1 labels of independent series fitted together (controlled ITS: the
        treated and the comparison series, each in time order and contiguous); the AR(1)
        process restarts at each, with a common rho. None: one series.
    """
    if method not in ("reml", "moment", "moment_raw"):
        raise ValueError(f"method must be reml, moment or moment_raw, not {method!r}")
    if adjust is None:  # the default: Kenward-Roger for gaussian, the latent model for counts
        adjust = family == "gaussian"
    if family != "gaussian" and method == "reml" and rho is None and not adjust:
        return fit_latent_ar1_batch(Y, X, offset, segments=segments, start=start)
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

    def design(mu):
        return (np.broadcast_to(Xv, (R, n, p)) if gaussian
                else Xv[None] * np.sqrt(mu)[:, :, None])

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
    elif method == "reml":
        rh = np.zeros(R)
        beta = solve(rh, beta)
        for it in range(1 if gaussian else 6):
            r, mu = residuals(beta)
            # The linearised model of the (Pearson) residuals: r = D (b - beta) + e.
            new = reml_rho(r, design(mu), first, around=None if it == 0 else rh)
            done = np.max(np.abs(new - rh)) < 1e-6
            rh = new
            beta = solve(rh, beta)
            if done:
                break
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
        if method == "moment":
            rh = corrected_rho(raw, n / k, p / k)
        beta = solve(rh, beta)
    r, mu = residuals(beta)
    D = design(mu)
    innovation = np.sum(_prais_winsten(r.copy(), rh, first) ** 2, axis=1) / (n - p)
    sigma2 = innovation / (1 - rh**2)  # the marginal variance or dispersion
    if method == "reml" and rho is None:
        cov_model, cov, dcov, W = kenward_roger(D, rh, sigma2, first)
        cov = cov if adjust else cov_model
    else:
        Dt = _prais_winsten(D.copy(), rh, first)
        cov_model = np.linalg.inv(np.einsum("rni,rnj->rij", Dt, Dt)) * innovation[:, None, None]
        cov = cov_model
        W = np.zeros((R, 2, 2))
        W[:, 0, 0] = 2 * sigma2**2 / (n - p)
        if rho is None:
            # How the covariance moves with rho (at the fitted coefficients), and Var(rho)
            # of an AR(1), (1 - rho^2) / n.
            def at(value):
                Dv = _prais_winsten(D.copy(), value, first)
                inn = np.sum(_prais_winsten(r.copy(), value, first) ** 2, axis=1) / (n - p)
                return np.linalg.inv(np.einsum("rni,rnj->rij", Dv, Dv)) * inn[:, None, None]

            hi, lo = np.minimum(rh + 0.01, 0.95), np.maximum(rh - 0.01, -0.95)
            drho = (at(hi) - at(lo)) / (hi - lo)[:, None, None]
            W[:, 1, 1] = (1 - rh**2) / n
        else:
            drho = np.zeros_like(cov)
        dcov = np.stack([cov_model / sigma2[:, None, None], drho], axis=1)
    return ARBatch(beta, cov, rh, raw, sigma2, mu, float(n - p - (rho is None)), cov_model,
                   dcov, W)


def fit_ar1(y: np.ndarray, X: pd.DataFrame, offset: np.ndarray, *, family: str,
            segments: np.ndarray | None = None, method: str = "reml",
            start: np.ndarray | None = None, max_iter: int = 100, tol: float = 1e-9) -> ARFit:
    """Regression with AR(1) errors for one series (or one controlled pair of series).

    See :func:`fit_ar1_batch` for the model; ``segments`` marks the series of a
    controlled ITS.
    """
    fit = fit_ar1_batch(np.asarray(y, float)[None], X.to_numpy(dtype=float), offset,
                        family=family, segments=segments, method=method, start=start,
                        max_iter=max_iter, tol=tol)
    names = list(X.columns)

    def frame(m):
        return pd.DataFrame(m, index=names, columns=names)

    return ARFit(pd.Series(fit.params[0], index=names), frame(fit.cov[0]), float(fit.rho[0]),
                 float(fit.rho_raw[0]), float(fit.scale[0]), fit.mu[0], fit.df,
                 frame(fit.cov_model[0]), fit.dcov[0], fit.W[0],
                 None if fit.tau2 is None else float(fit.tau2[0]))
