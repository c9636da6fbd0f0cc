"""Wild cluster bootstrap for one coefficient of a linear regression.

Made for difference-in-differences with few (treated) clusters, where cluster-robust
t-tests over-reject. Fixed effects are absorbed beforehand by within-transformation,
so the function receives the transformed regressors and outcome, plus ``dof``, the
number of parameters ``K`` counted in the CR1 factor ``G/(G-1) (N-1)/(N-dof)`` (the
absorbed fixed effects as the chosen convention counts them:
:mod:`evalkit.designs.cluster_se`). The factor scales the observed and every bootstrap
t-statistic alike, so it changes the reported SE but not the p-value or interval.

Two variants:

* **WCR** (restricted, the default): the null ``beta[coef] = r`` is imposed on the
  bootstrap data-generating process, ``y* = X beta_r + w_g u_r``. The p-value is the
  share of bootstrap ``|t*|`` at least as large as the observed ``|t|`` (symmetric),
  and the confidence interval is the set of ``r`` not rejected, found by test inversion
  with the same weight draws for every ``r`` (Cameron, Gelbach and Miller, 2008;
  MacKinnon and Webb, 2017; Roodman, Nielsen, MacKinnon and Webb, 2019, "Fast and
  wild", Stata Journal 19(1):4-60).
* **WCU** (unrestricted): ``y* = X b + w_g u``; symmetric percentile-t interval
  ``b +/- c se`` with ``c`` the ``conf_level`` quantile of ``|t*|``, and the p-value
  from the same ``|t*|``, so that the interval excludes ``null`` exactly when
  ``p < 1 - conf_level``.

How it is computed (following "Fast and wild"): no draw is refitted. With ``A = X'X``,
``a = A^-1 e_j`` for coefficient ``j``, cluster scores ``s_g = X_g'u_g`` and
``q_g = X_g'X_g a``, a draw ``w`` gives

* numerator ``b*_j - r = sum_g w_g a's_g``,
* bootstrap cluster scores ``w_g s_g - X_g'X_g A^-1 S'w``, whose projection on ``a``
  is ``z_g = w_g a's_g - q_g'A^-1 S'w``, and CR1 variance ``factor * sum_g z_g^2``.

The restricted residuals are affine in ``r``: ``u_r = u + X a (b_j - r)/a_j``, so the
scores are ``s_g(r) = s_g + (b_j - r) q_g / a_j``. Hence ``z(r) = z0 + (b_j - r) z1``
and each draw's t-statistic at any ``r`` follows from five numbers per draw (the two
numerator coefficients and the three coefficients of the quadratic ``sum_g z_g^2``).
Preparing these costs ``O(G k)`` per draw; each ``r`` then costs ``O(1)`` per draw,
which makes test inversion cheap.

Absorbed fixed effects: the bootstrap here is that of the regression it is given.
Absorbing effects that are nested within clusters (unit effects, when clusters are
units or groups of units) is exact: it commutes with multiplying each cluster's
residuals by its weight, so the result equals refitting the full dummy regression in
every draw. Effects that cut across clusters (period effects) do not commute: absorbing
them leaves ``b*`` and the observed ``t`` unchanged but changes the bootstrap residuals,
hence ``t*``. To reproduce the full-refit bootstrap (as wildboottest does when given all
dummies), absorb only the nested effects and keep the period dummies as columns of
``X``; ``dof`` then counts the slopes, the period dummies and the absorbed effects
(as the small-sample convention counts them).

Ties: a draw whose ``|t*|`` equals the observed ``|t|`` up to rounding (relative
``1e-10``) counts as at least as extreme. Under the null-imposed bootstrap the draw
``w = 1`` reproduces the data exactly (and ``w = -1`` its mirror image), so with full
enumeration these two draws are always ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from evalkit.data.arguments import check_choice, check_conf_level, check_whole
from evalkit.designs.cluster_se import cluster_vcov, cr1_factor
from evalkit.errors import DesignError

__all__ = ["WildBootstrapResult", "wild_cluster_bootstrap"]

WEIGHTS = ("rademacher", "webb")
_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
_TIE = 1e-10  # relative: |t*| within this of |t| counts as a tie (at least as extreme)
_XTOL = 1e-9  # root-finding tolerance for the interval ends, as a multiple of the SE
_MAX_STEPS = 40  # bracket search: estimate +/- se * 2**k, k = 1..40, else infinite
_CHUNK = 2**21  # draws x clusters handled at once (bounds memory to a few 10s of MB)


@dataclass(frozen=True)
class WildBootstrapResult:
    """The wild cluster bootstrap test and interval for one coefficient.

    Attributes
    ----------
    estimate
        The OLS coefficient.
    se
        Its cluster-robust standard error (CR1).
    t_stat
        ``(estimate - null) / se``.
    p_value
        Bootstrap p-value of ``coefficient = null`` (symmetric, two-sided).
    ci_low, ci_high
        The ``conf_level`` confidence interval; an end may be infinite when no value on
        that side can be rejected (possible with very few clusters).
    conf_level
        Confidence level.
    weights
        ``"rademacher"`` or ``"webb"``.
    n_boot
        Draws actually used (``2**G`` under full enumeration).
    restricted
        True for WCR (null imposed), False for WCU.
    full_enumeration
        True when every Rademacher sign vector was used (deterministic).
    clusters
        Number of clusters.
    """

    estimate: float
    se: float
    t_stat: float
    p_value: float
    ci_low: float
    ci_high: float
    conf_level: float
    weights: str
    n_boot: int
    restricted: bool
    full_enumeration: bool
    clusters: int

    def describe(self) -> str:
        """One line describing the method, e.g. for a results table's footnote."""
        kind = "WCR" if self.restricted else "WCU"
        name = "Rademacher" if self.weights == "rademacher" else "Webb"
        draws = (f"all {self.n_boot} sign vectors (full enumeration)" if self.full_enumeration
                 else f"{self.n_boot} draws")
        how = ("p-value and CI by test inversion" if self.restricted
               else "symmetric percentile-t")
        return (f"wild cluster bootstrap ({kind}, {name} weights, {draws}, {how}), "
                f"{self.clusters} clusters")


def wild_cluster_bootstrap(
    X: np.ndarray,
    y: np.ndarray,
    clusters: np.ndarray,
    *,
    coef: int = 0,
    null: float = 0.0,
    weights: str = "rademacher",
    n_boot: int = 999,
    seed: int | None = None,
    conf_level: float = 0.95,
    dof: int | None = None,
    restricted: bool = True,
) -> WildBootstrapResult:
    """Wild cluster bootstrap-t test and confidence interval for one OLS coefficient.

    Parameters
    ----------
    X
        Regressors, ``N x k`` (after absorbing fixed effects by within-transformation).
    y
        Outcome, length ``N`` (transformed likewise).
    clusters
        Cluster labels, length ``N`` (any hashable values).
    coef
        Column of ``X`` whose coefficient is tested.
    null
        The hypothesised value for the p-value.
    weights
        ``"rademacher"`` (+/-1) or ``"webb"`` (six points, +/-sqrt(1/2), +/-1,
        +/-sqrt(3/2)). With Rademacher weights and ``2**G <= n_boot`` all ``2**G``
        sign vectors are used instead of random draws.
    n_boot
        Number of draws.
    seed
        Seed for the draws (same seed, same result).
    conf_level
        Confidence level of the interval.
    dof
        Parameters in the model including absorbed fixed effects, for the CR1 factor
        ``G/(G-1) (N-1)/(N-dof)``; the number of columns of ``X`` by default.
    restricted
        Impose the null on the bootstrap (WCR, recommended; interval by test inversion)
        or not (WCU; percentile-t interval).

    Returns
    -------
    WildBootstrapResult

    Raises
    ------
    DesignError
        Fewer than 2 clusters, mismatched lengths, non-finite values, collinear
        regressors, an unknown weights name or a confidence level outside (0, 1).
    """
    check_conf_level(conf_level)
    if not isinstance(restricted, (bool, np.bool_)):
        raise DesignError(f"restricted must be True or False, not {restricted!r}",
                          fix="use restricted=True (WCR) or restricted=False (WCU)")
    if not np.isfinite(float(null)):
        raise DesignError(f"the null value must be a finite number, not {null!r}",
                          fix="give e.g. null=0")
    boot = _bootstrap(X, y, clusters, coef=coef, weights=weights, n_boot=n_boot, seed=seed,
                      dof=dof)
    alpha = 1 - float(conf_level)
    b, se = boot.estimate, boot.se
    if restricted:
        p = boot.p_value(null)
        low, high = boot.invert(alpha)
    else:
        p = boot.p_value(null, restricted=False)
        t_abs = np.abs(boot.t_star(b))  # at r = b the restricted bootstrap is WCU
        c = float(np.quantile(t_abs, 1 - alpha, method="inverted_cdf"))
        low, high = b - c * se, b + c * se
    return WildBootstrapResult(
        estimate=b, se=se, t_stat=float((b - null) / se), p_value=float(p),
        ci_low=float(low), ci_high=float(high), conf_level=float(conf_level),
        weights=weights, n_boot=int(boot.w.shape[0]), restricted=bool(restricted),
        full_enumeration=boot.full, clusters=int(boot.w.shape[1]))


@dataclass(frozen=True)
class _Draws:
    """Everything needed for the bootstrap t-statistics at any hypothesised value.

    For draw ``i`` and ``d = estimate - r``, the restricted bootstrap t-statistic is
    ``(n0 + d n1) / sqrt(factor (v0 + 2 d v1 + d^2 v2))``.
    """

    estimate: float
    se: float
    factor: float
    w: np.ndarray  # draws x clusters
    full: bool
    n0: np.ndarray
    n1: np.ndarray
    v0: np.ndarray
    v1: np.ndarray
    v2: np.ndarray

    def t_obs(self, r: float) -> float:
        """Observed t-statistic for ``coefficient = r``."""
        return (self.estimate - r) / self.se

    def t_star(self, r: float) -> np.ndarray:
        """Restricted (null ``r`` imposed) bootstrap t-statistics, one per draw."""
        d = self.estimate - r
        var = self.factor * np.maximum(self.v0 + d * (2 * self.v1 + d * self.v2), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.n0 + d * self.n1) / np.sqrt(var)

    def p_value(self, r: float, *, restricted: bool = True) -> float:
        """Symmetric bootstrap p-value of ``coefficient = r`` (ties count as extreme)."""
        ts = self.t_star(r if restricted else self.estimate)
        return float(np.mean(np.abs(ts) >= abs(self.t_obs(r)) * (1 - _TIE)))

    def p_limit(self) -> float:
        """The restricted p-value as ``r`` goes to either infinity.

        ``|t(r)|`` grows like ``|b - r|`` while ``|t*|`` stays bounded, except for draws
        whose quadratic has no ``r`` terms (such as ``w = 1`` and ``w = -1``), for which
        ``t*(r) / t(r)`` is the constant ``n1 se / sqrt(factor v0)``.
        """
        flat = self.v2 == 0
        ratio = np.abs(self.n1[flat]) * self.se / np.sqrt(self.factor * self.v0[flat])
        return float(np.sum(ratio >= 1 - _TIE) / len(self.v2))

    def invert(self, alpha: float) -> tuple[float, float]:
        """Ends of the set of ``r`` with ``p(r) >= alpha``, nearest the estimate.

        When ``p`` stays at or above ``alpha`` far from the estimate the set is
        unbounded and both ends are infinite (the interval is then the convex hull of
        the confidence set, which can in principle have gaps).
        """
        b, se = self.estimate, self.se
        if self.p_limit() >= alpha:
            return -np.inf, np.inf

        def excess(r: float) -> float:
            return self.p_value(r) - alpha

        ends = []
        for side in (-1.0, 1.0):
            inner = b  # p(b) = 1 >= alpha
            end = side * np.inf
            for k in range(1, _MAX_STEPS + 1):
                outer = b + side * se * 2.0**k
                if excess(outer) < 0:
                    end = optimize.brentq(excess, min(inner, outer), max(inner, outer),
                                          xtol=_XTOL * se, maxiter=500)
                    break
                inner = outer
            ends.append(float(end))
        return ends[0], ends[1]


def _bootstrap(X, y, clusters, *, coef: int, weights: str, n_boot: int, seed: int | None,
               dof: int | None) -> _Draws:
    """Check inputs, fit OLS, draw the weights and prepare the per-draw quantities."""
    X, y, codes, g = _checked(X, y, clusters)
    n, k = X.shape
    if isinstance(coef, bool) or not isinstance(coef, (int, np.integer)) or not 0 <= coef < k:
        raise DesignError(f"coef must be a column number from 0 to {k - 1}, not {coef!r}",
                          fix="give the position of the tested coefficient in X")
    check_choice("bootstrap weights", weights, WEIGHTS)
    check_whole("n_boot", n_boot, 1)
    dof = k if dof is None else dof
    check_whole("dof", dof, k)
    if n - dof <= 0:
        raise DesignError(f"{n} observations cannot support {dof} parameters",
                          fix="use more data or fewer fixed effects and regressors")
    if np.linalg.matrix_rank(X) < k:
        raise DesignError("the regressors are collinear (X'X is singular)",
                          fix="drop redundant columns, e.g. ones absorbed by the fixed "
                          "effects")

    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    resid = y - X @ beta
    se = float(np.sqrt(cluster_vcov(X, resid, codes, dof=dof)[coef, coef]))
    if not se > 0:
        raise DesignError("the coefficient's cluster-robust standard error is zero",
                          fix="check that the outcome varies once fixed effects are removed")
    factor = cr1_factor(g, n, dof)

    Ainv = np.linalg.inv(X.T @ X)
    a = Ainv[:, coef]
    s0 = _group_sum(X * resid[:, None], codes, g)  # G x k cluster scores
    q = _group_sum(X * (X @ a)[:, None], codes, g)  # G x k, rows X_g'X_g a
    s1 = q / a[coef]  # d s_g(r) / d(b_j - r)
    c0, c1 = s0 @ a, s1 @ a
    Q = q @ Ainv  # rows (A^-1 q_g)'

    w, full = _weights(weights, g, n_boot, np.random.default_rng(seed))
    B = w.shape[0]
    n0, n1, v0, v1, v2 = (np.empty(B) for _ in range(5))
    step = max(1, _CHUNK // g)
    for lo in range(0, B, step):  # blocks of draws, only to bound memory
        wb = w[lo:lo + step]
        z0 = wb * c0 - (wb @ s0) @ Q.T
        z1 = wb * c1 - (wb @ s1) @ Q.T
        sl = slice(lo, lo + wb.shape[0])
        n0[sl], n1[sl] = wb @ c0, wb @ c1
        v0[sl] = np.einsum("ij,ij->i", z0, z0)
        v1[sl] = np.einsum("ij,ij->i", z0, z1)
        v2[sl] = np.einsum("ij,ij->i", z1, z1)
    # Draws with z1 = 0 (w = 1, w = -1, ...) have t* exactly proportional to t(r); clear
    # the rounding error in their r terms, which would otherwise dominate far from b.
    flat = v2 <= 1e-20 * (c1 @ c1)
    v1[flat], v2[flat] = 0.0, 0.0
    return _Draws(estimate=float(beta[coef]), se=se, factor=factor, w=w, full=full,
                  n0=n0, n1=n1, v0=v0, v1=v1, v2=v2)


def _checked(X, y, clusters) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Arrays of the right shapes, finite, with clusters coded 0..G-1."""
    try:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DesignError(f"X and y must be numeric ({exc})",
                          fix="pass numeric arrays") from None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or y.ndim != 1:
        raise DesignError(f"X must be a matrix and y a vector, not {X.ndim}-d and {y.ndim}-d",
                          fix="pass X as N x k and y as length N")
    labels = np.asarray(clusters)
    if labels.ndim != 1:
        raise DesignError("clusters must be one label per observation",
                          fix="pass a 1-d array of cluster labels")
    if not X.shape[0] == len(y) == len(labels):
        raise DesignError(f"X has {X.shape[0]} rows, y {len(y)} values and clusters "
                          f"{len(labels)} labels", fix="pass one row, value and label per "
                          "observation")
    if X.shape[1] == 0:
        raise DesignError("X has no columns", fix="include the regressor to be tested")
    for name, arr in (("X", X), ("y", y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(len(y), -1).any(1))
            raise DesignError(f"{name} has {len(rows)} non-finite value(s) (first at "
                              f"observation {rows[0]})", fix="drop or impute missing and "
                              "infinite values first")
    codes, uniques = pd.factorize(pd.Series(labels), sort=True)
    if (codes < 0).any():
        raise DesignError(f"{int((codes < 0).sum())} cluster label(s) are missing",
                          fix="give every observation a cluster")
    g = len(uniques)
    if g < 2:
        raise DesignError(f"the wild cluster bootstrap needs at least 2 clusters, not {g}",
                          fix="cluster at a level with more groups")
    return X, y, codes.astype(np.intp), g


def _group_sum(M: np.ndarray, codes: np.ndarray, g: int) -> np.ndarray:
    """Column sums of ``M`` within each cluster (G x columns)."""
    return np.stack([np.bincount(codes, weights=M[:, j], minlength=g)
                     for j in range(M.shape[1])], axis=1)


def _weights(kind: str, g: int, n_boot: int, rng: np.random.Generator
             ) -> tuple[np.ndarray, bool]:
    """The ``draws x clusters`` weight matrix, and whether it is the full enumeration.

    Full enumeration lists the ``2**g`` sign vectors in the order of
    ``itertools.product([-1, 1], repeat=g)`` (first cluster varies slowest).
    """
    if kind == "rademacher" and g < 63 and 2**g <= n_boot:
        bits = (np.arange(2**g)[:, None] >> np.arange(g - 1, -1, -1)) & 1
        return 2.0 * bits - 1.0, True
    if kind == "rademacher":
        return 2.0 * rng.integers(0, 2, size=(n_boot, g)) - 1.0, False
    return rng.choice(_WEBB, size=(n_boot, g)), False
