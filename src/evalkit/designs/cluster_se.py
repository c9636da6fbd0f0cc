"""CR1 cluster-robust covariance, shared by the linear, Poisson and bootstrap code."""

from __future__ import annotations

import numpy as np

__all__ = ["cr1_factor", "cr1_sandwich", "cluster_vcov"]


def cr1_factor(n_clusters: int, n: int, dof: int) -> float:
    """The CR1 small-sample factor ``G/(G-1) (N-1)/(N-dof)`` (statsmodels' default).

    ``dof`` counts every parameter, absorbed fixed effects included.
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
