"""Propensity scores: a logistic regression of treatment on covariates, with checks.

Fitted by Newton-Raphson on standardised columns; equals ``statsmodels`` ``Logit``.
Perfect separation and collinear covariates are refused with a message naming them.
Used by :func:`evalkit.designs.matching.match`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from evalkit.designs._cohort import _rows
from evalkit.errors import DesignError

__all__ = ["PropensityModel", "propensity_model"]


@dataclass(frozen=True)
class PropensityModel:
    """A fitted logistic propensity model.

    Attributes
    ----------
    params
        Coefficients, intercept first, then one per design column (``names``).
    names
        ``"const"`` and the design columns (numeric covariates; ``"var=level"`` dummies).
    linear
        The linear predictor (log-odds) for every row.
    ps
        The propensity score ``1 / (1 + exp(-linear))`` for every row.
    iterations
        Newton iterations used.
    """

    params: np.ndarray
    names: list[str]
    linear: np.ndarray
    ps: np.ndarray
    iterations: int


def _check_rank(Z: np.ndarray, names: list[str]) -> None:
    """Refuse covariates that are linear combinations of others (and the intercept)."""
    if np.linalg.matrix_rank(Z) == Z.shape[1]:
        return
    keep: list[int] = [0]
    redundant = []
    for j in range(1, Z.shape[1]):
        if np.linalg.matrix_rank(Z[:, keep + [j]]) == len(keep) + 1:
            keep.append(j)
        else:
            redundant.append(names[j])
    raise DesignError("the covariates are collinear: " + ", ".join(redundant)
                      + " can be written exactly in terms of the others",
                      fix="drop " + ("it" if len(redundant) == 1 else "them")
                      + " from the covariates")


def _separation_error(X: np.ndarray, names: list[str], t: np.ndarray, ps: np.ndarray
                      ) -> DesignError:
    """Explain perfect separation: which covariates split treated from controls."""
    culprits = []
    for j, name in enumerate(names[1:], start=1):
        xt, xc = X[t, j], X[~t, j]
        if xt.min() > xc.max() or xt.max() < xc.min():
            culprits.append(f"'{name}' (treated {xt.min():g} to {xt.max():g}, controls "
                            f"{xc.min():g} to {xc.max():g})")
        elif set(np.unique(X[:, j])) <= {0.0, 1.0}:
            for cond, text in ((xc.max() == 0, "no comparison unit has it"),
                               (xc.min() == 1, "every comparison unit has it"),
                               (xt.max() == 0, "no treated unit has it"),
                               (xt.min() == 1, "every treated unit has it")):
                if cond:
                    culprits.append(f"'{name}' ({text})")
                    break
    extreme = (t & (ps > 1 - 1e-8)) | (~t & (ps < 1e-8))
    what = ("; it is predicted by " + ", ".join(culprits)) if culprits else \
        "; a combination of the covariates predicts it"
    return DesignError("perfect separation in the propensity model: treatment is predicted "
                       "exactly for some units" + what, rows=_rows(extreme)[:50],
                       fix="drop or coarsen the covariate(s) that determine treatment, match "
                           "exactly on them (exact=[...]) if both groups have each value, or "
                           "drop units no comparison unit can resemble")


def propensity_model(X: np.ndarray, t: np.ndarray, names: Sequence[str] | None = None, *,
                     max_iter: int = 100, tol: float = 1e-10) -> PropensityModel:
    """Logistic regression of ``t`` on an intercept and ``X`` by Newton-Raphson.

    Columns are centred and scaled internally (for conditioning) and the coefficients
    transformed back, so the fit equals an unscaled maximum-likelihood fit such as
    ``statsmodels.api.Logit(t, add_constant(X)).fit()``.

    Parameters
    ----------
    X
        n x k covariate matrix, without the intercept.
    t
        Boolean or 0/1 treatment indicator.
    names
        Column names (for messages); ``x1, x2, ...`` by default.
    max_iter, tol
        Iteration limit, and convergence tolerance on the largest change in the
        standardised coefficients.

    Raises
    ------
    DesignError
        Collinear covariates, or perfect separation (the maximum-likelihood estimate does
        not exist: Newton's method does not converge because the separating coefficients
        keep growing, or fitted probabilities are exactly 0 or 1 in floating point).
    """
    t = np.asarray(t).astype(bool)
    X = np.asarray(X, dtype=float)
    names = ["const"] + list(names if names is not None else
                             [f"x{j + 1}" for j in range(X.shape[1])])
    mu, sd = X.mean(0), X.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = np.column_stack([np.ones(len(t)), (X - mu) / sd])
    _check_rank(Z, names)
    y = t.astype(float)
    b = np.zeros(Z.shape[1])
    b[0] = np.log(y.mean() / (1 - y.mean()))

    def loglik(beta):
        eta = Z @ beta
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    ll = loglik(b)
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        p = expit(Z @ b)
        W = p * (1 - p)
        H = (Z * W[:, None]).T @ Z
        try:
            step = np.linalg.solve(H, Z.T @ (y - p))
        except np.linalg.LinAlgError:
            break
        s = 1.0
        while True:  # step-halving keeps the log-likelihood rising
            new = b + s * step
            ll_new = loglik(new)
            if ll_new >= ll - 1e-12 * abs(ll) or s < 1e-8:
                break
            s /= 2
        b, ll = new, ll_new
        if np.max(np.abs(s * step)) < tol * (1 + np.max(np.abs(b))):
            converged = True
            break
    eta = Z @ b
    ps = expit(eta)
    X1 = np.column_stack([np.ones(len(t)), X])
    if not converged or np.any((ps == 0.0) | (ps == 1.0)):  # numerically 0 or 1: the
        raise _separation_error(X1, names, t, ps)              # MLE runs off to infinity
    params = np.empty_like(b)
    params[1:] = b[1:] / sd
    params[0] = b[0] - np.sum(b[1:] * mu / sd)
    return PropensityModel(params, names, eta, ps, it)
