"""Two-way fixed-effects regression on a set of indicators, without building dummies.

An event study regresses the outcome on event-time indicators with unit and period
fixed effects. With thousands of units, a hundred periods and a hundred event times,
the dense design is gigabytes. Each row has at most one indicator switched on, so the
regression needs only its category (which indicator, or none):

- in a **balanced** panel the two-way within transformation of an indicator is
  ``1[cat = k] - n_ik / T - m_tk / U + c_k / (U T)`` (``n_ik`` the unit's count of
  category ``k``, ``m_tk`` the period's, ``c_k`` the total), so ``X'X``, ``X'y`` and the
  cluster scores come from U x k and T x k count tables in O(N) time and memory;
- otherwise the indicators are within-transformed a block of columns at a time
  (alternating projections), so memory stays at a few N x block arrays.

Both give the OLS coefficients and the CR1 cluster-robust covariance (clusters must
contain whole units), equal to a regression with unit and period dummies; the small-sample
factor counts the fixed effects as ``ssc`` says (:mod:`evalkit.designs.cluster_se`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from evalkit.designs.cluster_se import cr1_sandwich, fixef_dof, nested_in

__all__ = ["indicator_twfe", "IndicatorFit"]

_BLOCK_CELLS = 8_000_000  # rows x columns transformed at once on the general path


@dataclass(frozen=True)
class IndicatorFit:
    """Coefficients, CR1 covariance and residuals of an indicator TWFE regression
    (``dof``: the ``K`` of the small-sample factor)."""

    beta: np.ndarray
    vcov: np.ndarray
    resid: np.ndarray
    dof: int
    clusters: int
    balanced: bool


def indicator_twfe(y: np.ndarray, cat: np.ndarray, k: int, unit: np.ndarray,
                   time: np.ndarray, clusters: np.ndarray, *, ssc: str = "nested"
                   ) -> IndicatorFit:
    """OLS of ``y`` on indicators of ``cat`` (0..k-1; -1 for none) with unit and period
    fixed effects, and its CR1 cluster-robust covariance.

    Parameters
    ----------
    y
        Outcome (finite).
    cat
        Each row's indicator, ``-1`` where none is on.
    k
        Number of indicators.
    unit, time, clusters
        Integer codes from 0; clusters must contain whole units.
    ssc
        Small-sample convention: ``"nested"``, ``"full"`` or ``"none"``.

    Returns
    -------
    IndicatorFit
    """
    n_u, n_t = int(unit.max()) + 1, int(time.max()) + 1
    n_g = int(clusters.max()) + 1
    balanced = len(y) == n_u * n_t and np.bincount(unit * n_t + time,
                                                   minlength=n_u * n_t).max() == 1
    on = cat >= 0
    E = sparse.csr_matrix((np.ones(int(on.sum())), (cat[on], np.flatnonzero(on))),
                          shape=(k, len(y)))
    if balanced:
        beta, resid, xtx, scores = _balanced(y, cat, k, unit, time, clusters, n_u, n_t, n_g, E)
    else:
        beta, resid, xtx, scores = _general(y, cat, k, unit, time, clusters, n_g, E)
    dof = k + fixef_dof([np.unique(unit).size, np.unique(time).size],
                        [nested_in(unit, clusters), nested_in(time, clusters)], ssc)
    vcov = cr1_sandwich(np.linalg.inv(xtx), scores, len(y), dof)
    return IndicatorFit(beta, vcov, resid, dof, n_g, bool(balanced))


def _count_table(rows: np.ndarray, cat: np.ndarray, n_rows: int, k: int,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """n_rows x k table of (weighted) counts of each category by ``rows``."""
    on = cat >= 0
    w = None if weights is None else weights[on]
    return np.bincount(rows[on] * k + cat[on], weights=w, minlength=n_rows * k
                       ).reshape(n_rows, k).astype(float)


def _balanced(y, cat, k, unit, time, clusters, n_u, n_t, n_g, E):
    def demean(v):
        return (v - (np.bincount(unit, weights=v, minlength=n_u) / n_t)[unit]
                - (np.bincount(time, weights=v, minlength=n_t) / n_u)[time] + v.mean())

    Ru = _count_table(unit, cat, n_u, k)  # n_ik
    Rt = _count_table(time, cat, n_t, k)  # m_tk
    c = Ru.sum(0)
    yt = demean(y)
    xtx = np.diag(c) - Ru.T @ Ru / n_t - Rt.T @ Rt / n_u + np.outer(c, c) / (n_u * n_t)
    beta = np.linalg.solve(xtx, E @ yt)
    fitted = np.where(cat >= 0, beta[np.maximum(cat, 0)], 0.0)
    resid = yt - demean(fitted)
    # Cluster scores sum_i X~_i u_i: the unit term vanishes (residuals sum to zero within
    # units, and clusters hold whole units), as does the constant term.
    by_time = np.bincount(clusters * n_t + time, weights=resid, minlength=n_g * n_t
                          ).reshape(n_g, n_t)
    scores = _count_table(clusters, cat, n_g, k, resid) - by_time @ Rt / n_u
    return beta, resid, xtx, scores


def _general(y, cat, k, unit, time, clusters, n_g, E):
    from evalkit.designs.did import within

    yt = within(y, unit, time)[:, 0]
    block = max(1, _BLOCK_CELLS // max(len(y), 1))
    xtx = np.empty((k, k))
    for lo in range(0, k, block):
        Xb = _within_block(cat, lo, min(k, lo + block), unit, time, within)
        xtx[:, lo:lo + Xb.shape[1]] = E @ Xb  # X~'X~ = E' M E = E' X~
    xtx = (xtx + xtx.T) / 2
    beta = np.linalg.solve(xtx, E @ yt)
    fitted = np.where(cat >= 0, beta[np.maximum(cat, 0)], 0.0)
    resid = yt - within(fitted, unit, time)[:, 0]
    C = sparse.csr_matrix((resid, (clusters, np.arange(len(y)))), shape=(n_g, len(y)))
    scores = np.empty((n_g, k))
    for lo in range(0, k, block):
        Xb = _within_block(cat, lo, min(k, lo + block), unit, time, within)
        scores[:, lo:lo + Xb.shape[1]] = C @ Xb
    return beta, resid, xtx, scores


def _within_block(cat, lo, hi, unit, time, within):
    X = np.zeros((len(cat), hi - lo))
    rows = np.flatnonzero((cat >= lo) & (cat < hi))
    X[rows, cat[rows] - lo] = 1.0
    return within(X, unit, time)
