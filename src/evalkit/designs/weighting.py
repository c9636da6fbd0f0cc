"""Weights for a comparison group: inverse probability (ATT) and entropy balancing.

Entropy balancing (Hainmueller, 2012) solves the convex dual by Newton's method with a
backtracking line search; failure to converge is an error. Used by
:func:`evalkit.designs.matching.match`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import qr

from evalkit.designs._cohort import _Covariates
from evalkit.errors import DesignError


def _ipw_weights(ps: np.ndarray, t: np.ndarray, trim: float | None
                 ) -> tuple[np.ndarray, int]:
    """ATT odds weights, optionally truncated at their ``trim`` quantile, normalised."""
    w = np.where(t, 1.0, ps / (1 - ps))
    n_trimmed = 0
    if trim is not None:
        cap = np.quantile(w[~t], trim)
        n_trimmed = int(np.sum(w[~t] > cap))
        w[~t] = np.minimum(w[~t], cap)
    w[~t] *= (~t).sum() / w[~t].sum()
    return w, n_trimmed


@dataclass(frozen=True)
class _Entropy:
    weights: np.ndarray  # control weights summing to the number of controls
    iterations: int
    max_gap: float       # largest remaining |weighted mean - target| / SD
    constraints: list[str]
    dropped: list[str]


def _entropy_constraints(cov: _Covariates, moments: int) -> tuple[np.ndarray, list[str]]:
    """Constraint columns: the design columns and, with moments=2, squares of the
    non-binary ones."""
    cols, names = [cov.design], list(cov.design_names)
    if moments == 2:
        nb = [j for j, c in enumerate(cov.design.T) if np.unique(c).size > 2]
        cols.append(cov.design[:, nb] ** 2)
        names += [f"{cov.design_names[j]}^2" for j in nb]
    return np.column_stack(cols), names


def _check_affine(Cc: np.ndarray, target: np.ndarray, sd: np.ndarray, names: list[str]
                  ) -> None:
    """Refuse targets off the affine hull of the controls: if the comparison units'
    covariates obey an exact linear relation that the treated means break, no weights
    summing to one can balance them."""
    centre = Cc.mean(0)
    Zc = (Cc - centre) / sd
    z0 = (target - centre) / sd

    def gap(cols):
        if not cols:
            return False
        return (np.linalg.matrix_rank(np.vstack([Zc[:, cols], z0[cols]]))
                > np.linalg.matrix_rank(Zc[:, cols]))

    allc = list(range(len(names)))
    if not gap(allc):
        return
    culprits = [names[j] for j in allc if not gap([k for k in allc if k != j])]
    raise DesignError("entropy balancing cannot balance "
                      + ", ".join(f"'{c}'" for c in culprits or names)
                      + ": among the comparison units these covariates obey an exact linear "
                        "relation that the treated means do not",
                      fix="drop one of them, or use method='nearest'")


def _entropy_balance(C: np.ndarray, names: list[str], t: np.ndarray, *, tol: float = 1e-9,
                     max_iter: int = 200) -> _Entropy:
    """Entropy balancing for the ATT by Newton's method on the dual.

    Minimises ``log sum_i exp(Z_i' lam)`` over the controls, where ``Z`` are the
    constraint columns centred at the treated means and scaled by their SD; at the
    optimum the softmax weights give weighted control means equal to the treated means
    (Hainmueller, 2012, eq. 6-8). Redundant constraints (linearly dependent columns) are
    dropped first; a treated mean outside the controls' range, or a Newton iteration
    that does not reach ``tol`` (in SD units), is an error.
    """
    target = C[t].mean(0)
    Cc = C[~t]
    sd = C.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    lo, hi = Cc.min(0), Cc.max(0)
    outside = [j for j in range(C.shape[1]) if not lo[j] < target[j] < hi[j]
               and not (lo[j] == hi[j] == target[j])]
    if outside:
        desc = "; ".join(f"'{names[j]}' (treated mean {target[j]:.4g}, controls "
                         f"{lo[j]:.4g} to {hi[j]:.4g})" for j in outside[:5])
        raise DesignError("entropy balancing cannot converge: the treated mean lies outside "
                          f"(or on the edge of) the comparison units' range for {desc}",
                          fix="drop or coarsen those covariates, add comparison units, or "
                              "use method='nearest' with a caliper")
    _check_affine(Cc, target, sd, names)
    Z_all = (Cc - target) / sd
    varying = Z_all.std(0) > 0
    Z, kept = Z_all[:, varying], [n for n, v in zip(names, varying, strict=True) if v]
    _, r, piv = qr(Z, mode="economic", pivoting=True)
    rank = int(np.sum(np.abs(np.diag(r)) > 1e-9 * np.abs(r[0, 0])))
    keep_cols = np.sort(piv[:rank])
    dropped = [kept[j] for j in sorted(set(range(Z.shape[1])) - set(keep_cols.tolist()))]
    Z = Z[:, keep_cols]
    kept = [kept[j] for j in keep_cols]
    lam = np.zeros(Z.shape[1])

    def dual(lam_):
        a = Z @ lam_
        amax = a.max()
        e = np.exp(a - amax)
        return amax + np.log(e.sum()), e / e.sum()

    f, w = dual(lam)
    it, gap = 0, np.inf
    while it < max_iter:
        it += 1
        g = Z.T @ w
        gap = float(np.abs(g).max())
        if gap < tol:
            break
        H = (Z * w[:, None]).T @ Z - np.outer(g, g)
        try:
            step = -np.linalg.solve(H + 1e-12 * np.eye(len(g)), g)
        except np.linalg.LinAlgError:
            break
        s = 1.0
        while True:  # Armijo; near the optimum f is flat to rounding, so a step that
            f_new, w_new = dual(lam + s * step)  # shrinks the gradient is accepted too
            if (f_new <= f + 1e-4 * s * (g @ step) or s < 1e-10
                    or (f_new <= f + 1e-12 * (1 + abs(f))
                        and np.abs(Z.T @ w_new).max() < gap)):
                break
            s /= 2
        lam, f, w = lam + s * step, f_new, w_new
    g = Z.T @ w
    gap = float(np.abs(g).max())
    if not np.isfinite(gap) or gap >= tol:
        worst = kept[int(np.argmax(np.abs(g)))] if np.isfinite(gap) else "?"
        raise DesignError(f"entropy balancing did not converge after {it} iterations: the "
                          f"weighted comparison mean of '{worst}' still differs from the "
                          f"treated mean by {gap:.2g} SD",
                          fix="the treated means may be (nearly) outside what reweighting "
                              "the comparison units can reach: drop or coarsen covariates, "
                              "use moments=1, or use method='nearest' with a caliper")
    # constraints dropped as redundant among the controls must hold for the treated too
    g_all = np.abs(Z_all.T @ w)
    if g_all.max() >= 10 * tol:
        worst = names[int(np.argmax(g_all))]
        raise DesignError(f"entropy balancing cannot balance '{worst}': among the comparison "
                          "units it is determined by the other covariates, among the "
                          f"treated it is not (gap {g_all.max():.2g} SD)",
                          fix=f"drop '{worst}' or the covariates that determine it, or use "
                              "method='nearest'")
    return _Entropy(w * len(w), it, gap, kept, dropped)
