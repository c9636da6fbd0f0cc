"""CR1 cluster-robust covariance and its small-sample correction, shared by the linear,
Poisson and bootstrap code.

The CR1 covariance is ``c (X'X)^-1 M (X'X)^-1`` with ``M`` the sum over clusters of the
outer products of the cluster scores and the small-sample factor

    ``c = G/(G-1) * (N-1)/(N-K)``

(``G`` clusters, ``N`` observations). Conventions differ in ``K``, the number of
parameters, when fixed effects are absorbed. :func:`fixef_dof` counts the fixed-effect
parameters under three named conventions (``ssc``):

``"nested"`` (the default)
    Fixed effects nested in the clusters (every level inside one cluster, as unit effects
    are when clustering by unit or by a group of units) count one parameter each, not one
    per level; the others count their levels, less one per further fixed effect (the
    redundant reference level). This is fixest's default ``ssc(adj = TRUE, fixef.K =
    "nested", cluster.adj = TRUE)``, pyfixest's default (``k_fixef="nonnested"``), and
    what Stata's ``reghdfe`` and ``xtreg, fe vce(cluster)`` report. A nested effect is a
    within-cluster transformation: it uses up no between-cluster information, which is
    what the cluster-robust variance rests on.
``"full"``
    Every fixed-effect level counts, as if the effects were dummy columns: ``lm`` with
    ``sandwich::vcovCL(type = "HC1")``, statsmodels OLS/GLM with dummies and
    ``cov_type="cluster"``, Stata's ``areg, vce(cluster)``, and fixest's
    ``fixef.K = "full"``. With unit effects and few periods it inflates the SE (a
    two-period panel of U units has ``K`` above ``U``, so ``(N-1)/(N-K)`` is near 2).
``"none"``
    No fixed effect counts (``K`` is the number of regressors): fixest's
    ``fixef.K = "none"``.

The t reference distribution has ``G - 1`` degrees of freedom in every case (fixest's
``t.df = "min"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SSC", "cr1_factor", "cr1_sandwich", "cluster_vcov", "fixef_dof", "nested_in",
           "ssc_note"]

#: The names of the small-sample conventions (see the module notes).
SSC = ("nested", "full", "none")


def cr1_factor(n_clusters: int, n: int, dof: int) -> float:
    """The CR1 small-sample factor ``G/(G-1) (N-1)/(N-dof)``.

    ``dof`` is ``K``: the regressors plus the fixed-effect parameters counted by the chosen
    convention (:func:`fixef_dof`).
    """
    return n_clusters / (n_clusters - 1) * (n - 1) / (n - dof)


def cr1_sandwich(bread: np.ndarray, scores: np.ndarray, n: int, dof: int) -> np.ndarray:
    """CR1 covariance from the bread ``(X'WX)^-1`` and the G x k cluster scores."""
    return cr1_factor(scores.shape[0], n, dof) * bread @ (scores.T @ scores) @ bread


def cluster_vcov(X: np.ndarray, resid: np.ndarray, clusters: np.ndarray, *, dof: int
                 ) -> np.ndarray:
    """CR1 cluster-robust covariance of OLS: G/(G-1) (N-1)/(N-dof) (X'X)^-1 M (X'X)^-1."""
    g = int(clusters.max()) + 1
    scores = np.zeros((g, X.shape[1]))
    np.add.at(scores, clusters, X * resid[:, None])
    return cr1_sandwich(np.linalg.inv(X.T @ X), scores, X.shape[0], dof)


def nested_in(codes: np.ndarray, clusters: np.ndarray) -> bool:
    """Whether every level of ``codes`` lies inside a single cluster.

    Both are integer codes from 0, one per observation.
    """
    pairs = np.unique(codes.astype(np.int64) * (int(clusters.max()) + 1) + clusters)
    return pairs.size == np.unique(codes).size


def fixef_dof(levels: Sequence[int], nested: Sequence[bool], ssc: str = "nested", *,
              redundant: int | None = None) -> int:
    """The number of fixed-effect parameters that enter ``K`` under a convention.

    Parameters
    ----------
    levels
        The number of levels of each absorbed fixed effect (e.g. units, periods).
    nested
        For each fixed effect, whether it is nested in the clusters (:func:`nested_in`).
    ssc
        ``"nested"``, ``"full"`` or ``"none"`` (see the module notes).
    redundant
        Levels that are not identified across all fixed effects (references). By default
        one for each fixed effect after the first, as fixest and pyfixest count them; the
        exact number for unit and period effects is the number of connected components of
        the unit-period graph, 1 for any ordinary panel.

    Returns
    -------
    int
        ``sum(levels) - redundant`` for ``"full"``; the same with each nested effect's
        levels counted as one for ``"nested"``; 0 for ``"none"``.
    """
    if ssc not in SSC:
        raise ValueError(f"unknown ssc {ssc!r}; use one of {', '.join(SSC)}")
    if ssc == "none" or not levels:
        return 0
    extra = len(levels) - 1 if redundant is None else int(redundant)
    full = int(sum(levels)) - extra
    if ssc == "full":
        return full
    return full - sum(int(n) - 1 for n, inside in zip(levels, nested, strict=True) if inside)


def ssc_note(ssc: str) -> str:
    """Words to add to an inference description for a non-default convention ('' else)."""
    return {"nested": "", "full": "; every fixed effect counted in the small-sample factor",
            "none": "; no fixed effect counted in the small-sample factor"}[ssc]
