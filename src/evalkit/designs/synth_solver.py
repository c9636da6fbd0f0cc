"""The numerical core of the classic synthetic control: donor weights and predictor weights.

Abadie, Diamond and Hainmueller (2010) choose donor weights ``w`` (non-negative, summing
to one) to make the synthetic unit's predictors ``X0 w`` close to the treated unit's
``X1`` in the norm weighted by a diagonal matrix ``V``, and choose ``V`` so that the
resulting synthetic unit tracks the treated unit's pre-period outcomes (``Z1``, ``Z0``).

Inner problem (W given V)
    ``min_w (X1 - X0 w)' V (X1 - X0 w)`` subject to ``w >= 0``, ``sum(w) = 1``. It is a
    least-squares problem over the simplex. It is solved exactly: a non-negative least
    squares solve (Lawson-Hanson, ``scipy.optimize.nnls``) of the problem with the
    sum-to-one constraint appended as a heavily weighted row finds the active set; the
    equality-constrained least-squares problem on that set is then solved exactly from
    its KKT system and checked (non-negativity and the sign of every multiplier). A point
    that fails the check is reported as not converged, never returned silently.
Outer problem (V)
    ``min_V (Z1 - Z0 w(V))'(Z1 - Z0 w(V)) / T0`` over diagonal ``V`` with non-negative
    entries summing to one, by Nelder-Mead on ``|x| / sum|x|`` from two starting points,
    as the R package Synth does: equal weights and the "regression" start (the squared
    coefficients of a regression of every unit's pre-period outcomes on its predictors).
    The better of the two is kept.

Cross-validated V (Abadie, Diamond and Hainmueller, 2015)
    The pre-period is split into a training and a validation window. ``V`` is searched
    with the predictors measured in the training window, to minimise the outcome's mean
    squared prediction error over the validation window; that ``V`` is then held fixed
    and the donor weights are fitted to the predictors measured in the main window
    (:func:`fit_synth_cv`). ``V`` then rewards predictors that forecast the outcome out of
    sample, not those that happen to fit the pre-period best.

Predictors are divided by their standard deviation across all units (treated and donors)
before either problem, as Synth and pysyncon do, so ``V`` is on a common scale (the
training and the main predictors each by their own).

References
----------
Abadie A, Diamond A, Hainmueller J (2010). Synthetic control methods for comparative case
studies. J Am Stat Assoc 105:493-505.
Abadie A, Diamond A, Hainmueller J (2015). Comparative politics and the synthetic control
method. Am J Polit Sci 59:495-510.
Abadie A, Diamond A, Hainmueller J (2011). Synth: an R package for synthetic control
methods in comparative case studies. J Stat Softw 42(13).
Lawson CL, Hanson RJ (1974). Solving Least Squares Problems. Prentice-Hall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack
from scipy.optimize import minimize

__all__ = ["simplex_least_squares", "scale_predictors", "synth_weights",
           "SynthFit", "fit_synth", "fit_synth_cv", "SEARCHES"]

#: The searches over ``V`` that :func:`fit_synth` runs itself.
SEARCHES = ("multistart", "nelder-mead")

_gesv = lapack.dgesv


def simplex_least_squares(A: np.ndarray, b: np.ndarray, w0: np.ndarray | None = None,
                          *, max_iter: int | None = None) -> tuple[np.ndarray, bool]:
    """Solve ``min ||A w - b||^2`` subject to ``w >= 0`` and ``sum(w) = 1``.

    A primal active-set method (Nocedal and Wright, 2006, Algorithm 16.3). It starts
    from any feasible ``w0`` (typically the previous solution, since the outer search
    moves ``V`` a little at a time) and keeps the support small, so each step solves a
    KKT system of the support's size; ``A'A`` is never formed.

    Parameters
    ----------
    A
        ``m x n`` matrix.
    b
        Length-``m`` target.
    w0
        A feasible starting point (non-negative, summing to one); by default the best
        single vertex.
    max_iter
        Active-set changes allowed (default ``10 n + 50``).

    Returns
    -------
    w, ok
        The weights, and whether the optimality (KKT) conditions hold at them.

    Examples
    --------
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> w, ok = simplex_least_squares(A, np.array([0.3, 0.7]))
    >>> np.round(w, 6).tolist(), ok
    ([0.3, 0.7], True)
    """
    n = A.shape[1]
    if n == 1:
        return np.ones(1), True
    w, ok, _, _ = _active_set(A, b, w0, max_iter or 10 * n + 50)
    return w, ok


def _active_set(A: np.ndarray, b: np.ndarray, w0: np.ndarray | None, max_iter: int
                ) -> tuple[np.ndarray, bool, np.ndarray, np.ndarray]:
    """The active-set iterations; also returns the support and its KKT matrix."""
    n = A.shape[1]
    c = A.T @ b
    if w0 is None:
        w = np.zeros(n)
        w[int(np.argmin(0.5 * np.einsum("ij,ij->j", A, A) - c))] = 1.0
    else:
        w = w0.copy()
    S = np.flatnonzero(w > 0)
    tol = 1e-10 * (float(np.abs(c).max()) + float(np.abs(A).max()) ** 2 + 1e-300)
    K = np.empty((1, 1))
    for _ in range(max_iter):
        k = S.size
        AS = A[:, S]
        K = np.zeros((k + 1, k + 1))
        K[:k, :k] = AS.T @ AS
        K[:k, k] = 1.0
        K[k, :k] = 1.0
        rhs = np.append(c[S], 1.0)
        sol, info = _gesv(K, rhs)[2:]
        if info != 0:
            sol = np.linalg.lstsq(K, rhs, rcond=None)[0]
        target = sol[:k]
        if target.min() < 0:
            # Move from w towards the subproblem's answer until a weight reaches zero.
            cur = w[S]
            neg = np.flatnonzero(target < 0)
            steps = cur[neg] / (cur[neg] - target[neg])
            i = int(np.argmin(steps))
            w[S] = np.maximum(cur + steps[i] * (target - cur), 0.0)
            w[S[neg[i]]] = 0.0
            w /= w.sum()
            S = np.flatnonzero(w > 0)
            continue
        w = np.zeros(n)
        w[S] = target
        lam = A.T @ (AS @ target) - c + sol[k]   # multipliers of w >= 0 (0 on S)
        lam[S] = 0.0
        j = int(np.argmin(lam))
        if lam[j] >= -tol:
            return w, True, S, K
        S = np.sort(np.append(S, j))
    return w, False, S, K


def scale_predictors(X1: np.ndarray, X0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide each predictor by its standard deviation across all units (Synth's scaling).

    A predictor that takes one value for every unit is left unscaled (it cannot
    discriminate between donors and gets no weight in practice).
    """
    allx = np.column_stack([X0, X1])
    sd = allx.std(axis=1, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    return X1 / sd, X0 / sd[:, None]


def synth_weights(X1: np.ndarray, X0: np.ndarray, v: np.ndarray,
                  w0: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Donor weights for a given diagonal ``v`` (the inner problem), on scaled predictors."""
    root = np.sqrt(np.abs(v))
    return simplex_least_squares(root[:, None] * X0, root * X1, w0)


@dataclass(frozen=True)
class SynthFit:
    """A fitted classic synthetic control (on scaled predictors).

    Attributes
    ----------
    weights
        Donor weights, non-negative, summing to one.
    v
        Predictor weights (diagonal of ``V``), non-negative, summing to one.
    loss_v
        Pre-period mean squared prediction error of the outcome.
    loss_w
        ``(X1 - X0 w)' V (X1 - X0 w)`` on the scaled predictors.
    converged
        Whether the donor weights passed their optimality check at the chosen ``v``.
    outer_converged
        Whether the search over ``v`` ended normally from the chosen start (always true
        for a fixed ``v``). When false the weights are still optimal for the ``v``
        returned, which may not be the best ``v``.
    start
        The starting point that gave the chosen ``v``: ``"equal"``, ``"regression"``,
        ``"random <i>"`` or ``"fixed"``.
    evaluations
        Inner problems solved.
    """

    weights: np.ndarray
    v: np.ndarray
    loss_v: float
    loss_w: float
    converged: bool
    outer_converged: bool
    start: str
    evaluations: int


def _regression_start(X1: np.ndarray, X0: np.ndarray, Z1: np.ndarray, Z0: np.ndarray
                      ) -> np.ndarray | None:
    """Synth's regression-based starting ``v``: squared coefficients of Z on [1, X]."""
    Xall = np.column_stack([np.ones(X0.shape[1] + 1), np.column_stack([X1, X0]).T])
    if np.linalg.matrix_rank(Xall) < Xall.shape[1]:
        return None
    Zall = np.column_stack([Z1, Z0]).T
    beta = np.linalg.lstsq(Xall, Zall, rcond=None)[0]
    d = (beta[1:] ** 2).sum(axis=1)
    return d / d.sum() if d.sum() > 0 else None


class _Problem:
    """The nested problem on scaled predictors, with warm starts and the gradient in v."""

    def __init__(self, X1s, X0s, Z1, Z0):
        self.X1s, self.X0s, self.Z1, self.Z0 = X1s, X0s, Z1, Z0
        self.w = None
        self.count = 0
        self.max_iter = 10 * X0s.shape[1] + 50
        # The best (loss, v, w) seen. At a v with tiny entries the inner problem can have
        # (nearly) tied solutions, and which one the active set reaches depends on where
        # it starts; so the pair that achieved the loss is kept, not re-solved later.
        self.best: tuple[float, np.ndarray | None, np.ndarray | None] = (np.inf, None, None)

    def _keep(self, loss: float, v: np.ndarray, w: np.ndarray, ok: bool) -> None:
        if ok and loss < self.best[0]:
            self.best = (loss, v.copy(), w.copy())

    def solve(self, v: np.ndarray) -> tuple[np.ndarray, bool, np.ndarray, np.ndarray]:
        """Donor weights at ``v`` (warm-started), their support and KKT matrix."""
        self.count += 1
        root = np.sqrt(v)
        A = root[:, None] * self.X0s
        b = root * self.X1s
        out = _active_set(A, b, self.w, self.max_iter)
        if not out[1]:  # a warm start can stall on a degenerate step: retry cold
            out = _active_set(A, b, None, self.max_iter)
        self.w = out[0]
        return out

    def weights(self, v: np.ndarray) -> tuple[np.ndarray, bool]:
        w, ok, _, _ = self.solve(v)
        return w, ok

    def loss(self, w: np.ndarray) -> float:
        r = self.Z1 - self.Z0 @ w
        return float(r @ r) / self.Z1.size

    def loss_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss at ``v = theta^2 / sum(theta^2)`` and its gradient in ``theta``.

        On the support S of ``w(v)`` the KKT system ``K [w_S; mu] = [c_S; 1]`` holds,
        with ``K = [[G_SS, 1], [1', 0]]``, ``G = X0' V X0`` and ``c = X0' V X1``. Hence
        ``dw_S/dv_k = P X0[k, S]' r_k``, where ``P`` is the top-left block of ``K^-1``
        and ``r = X1 - X0 w`` (implicit differentiation; exact while S is unchanged).
        """
        sq = theta * theta
        total = sq.sum()
        if total <= 0:
            return np.inf, np.zeros_like(theta)
        v = sq / total
        w, ok, S, K = self.solve(v)
        wS = w[S]
        ZS = self.Z0[:, S]
        e = self.Z1 - ZS @ wS
        m = self.Z1.size
        self._keep(float(e @ e) / m, v, w, ok)
        rhs = np.append(-2.0 / m * (ZS.T @ e), 0.0)               # [dL/dw_S; 0]
        q, info = _gesv(K, rhs)[2:]
        if info != 0:
            q = np.linalg.lstsq(K, rhs, rcond=None)[0]
        XS = self.X0s[:, S]
        r = self.X1s - XS @ wS
        g_v = r * (XS @ q[:-1])
        return float(e @ e) / m, 2.0 * theta / total * (g_v - v @ g_v)


def _nm_objective(prob: _Problem):
    """The loss as a function of unnormalised ``|x|`` (Synth's parametrisation)."""
    def objective(x: np.ndarray) -> float:
        a = np.abs(x)
        s = a.sum()
        if s <= 0:
            return np.inf
        v = a / s
        w, ok = prob.weights(v)
        loss = prob.loss(w)
        prob._keep(loss, v, w, ok)
        return loss
    return objective


def fit_synth(X1: np.ndarray, X0: np.ndarray, Z1: np.ndarray, Z0: np.ndarray, *,
              v: np.ndarray | None = None, search: str = "multistart",
              random_starts: int = 4, seed: int = 0, maxiter: int = 1000,
              polish: int = 600) -> SynthFit:
    """Fit a classic synthetic control by the nested optimisation of ``V`` and ``W``.

    Parameters
    ----------
    X1, X0
        Predictors of the treated unit (length ``k``) and of the donors (``k x J``),
        unscaled; they are scaled here (:func:`scale_predictors`).
    Z1, Z0
        Pre-period outcomes of the treated unit (length ``T0``) and donors (``T0 x J``).
    v
        Fixed predictor weights (length ``k``); skips the search over ``V``.
    search
        ``"multistart"`` (default): a quasi-Newton search (L-BFGS-B, with the exact
        gradient from implicit differentiation of the inner problem) from the equal
        and regression starts and ``random_starts`` random ones; the best is polished
        by up to ``polish`` Nelder-Mead evaluations (the loss has kinks where the
        set of donors with weight changes, at which gradient steps stall).
        ``"nelder-mead"``: Synth's and pysyncon's search, Nelder-Mead from the equal
        and regression starts (slower, and more often stuck at a worse ``V``).
    random_starts, seed
        Random starting points (Dirichlet(1) draws) for ``"multistart"``, and their seed.
    maxiter
        Iterations allowed from each start.
    polish
        Nelder-Mead evaluations after the multistart search.

    Returns
    -------
    SynthFit

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X0 = rng.normal(size=(3, 10)); w = np.r_[0.5, 0.5, np.zeros(8)]
    >>> Z0 = rng.normal(size=(8, 10))
    >>> fit = fit_synth(X0 @ w, X0, Z0 @ w, Z0)
    >>> np.round(fit.weights[:2], 3).tolist()
    [0.5, 0.5]
    """
    X1s, X0s = scale_predictors(np.asarray(X1, float), np.asarray(X0, float))
    prob = _Problem(X1s, X0s, np.asarray(Z1, float), np.asarray(Z0, float))
    k = X0s.shape[0]

    def finish(vv: np.ndarray, start: str, outer_ok: bool) -> SynthFit:
        if prob.best[1] is not None:
            _, vv, w = prob.best
            ok = True
        else:
            prob.w = None
            w, ok = prob.weights(vv)
        d = X1s - X0s @ w
        return SynthFit(weights=w, v=vv, loss_v=prob.loss(w), loss_w=float(d @ (vv * d)),
                        converged=bool(ok), outer_converged=outer_ok, start=start,
                        evaluations=prob.count)

    if v is not None:
        vv = np.abs(np.asarray(v, float))
        return finish(vv / vv.sum(), "fixed", True)
    if k == 1:
        return finish(np.ones(1), "fixed", True)
    starts: list[tuple[str, np.ndarray]] = [("equal", np.full(k, 1 / k))]
    reg = _regression_start(X1s, X0s, prob.Z1, prob.Z0)
    if reg is not None:
        starts.append(("regression", reg))
    best: tuple[float, np.ndarray, str, bool] | None = None
    if search == "nelder-mead":
        for name, x0 in starts:
            res = minimize(_nm_objective(prob), x0, method="Nelder-Mead",
                           options={"maxiter": maxiter * k, "xatol": 1e-6, "fatol": 1e-10})
            a = np.abs(res.x)
            if best is None or res.fun < best[0]:
                best = (float(res.fun), a / a.sum(), name, bool(res.success))
    elif search == "multistart":
        rng = np.random.default_rng(seed)
        starts += [(f"random {i + 1}", rng.dirichlet(np.ones(k)))
                   for i in range(random_starts)]
        found = []
        for name, x0 in starts:
            prob.w = None
            res = minimize(prob.loss_and_grad, np.sqrt(x0), jac=True, method="L-BFGS-B",
                           options={"maxiter": maxiter})
            sq = res.x ** 2
            found.append((float(res.fun), sq / sq.sum(), name))
        fun, x, name = min(found, key=lambda f: f[0])
        # The loss has kinks where the donor support changes, where a quasi-Newton step
        # can stall; a short Nelder-Mead from the best point gets past them.
        prob.w = None
        res = minimize(_nm_objective(prob), x, method="Nelder-Mead",
                       options={"maxfev": polish, "xatol": 1e-7, "fatol": 1e-11,
                                "adaptive": True})
        a = np.abs(res.x)
        if res.fun < fun:
            fun, x = float(res.fun), a / a.sum()
        best = (fun, x, name, True)
    else:
        raise ValueError(f"unknown search '{search}': use 'multistart' or 'nelder-mead'")
    assert best is not None
    return finish(best[1], best[2], best[3])


def fit_synth_cv(X1_train: np.ndarray, X0_train: np.ndarray, Z1_val: np.ndarray,
                 Z0_val: np.ndarray, X1: np.ndarray, X0: np.ndarray, Z1: np.ndarray,
                 Z0: np.ndarray, *, search: str = "multistart", random_starts: int = 4,
                 seed: int = 0) -> tuple[SynthFit, SynthFit]:
    """Cross-validated ``V`` (Abadie, Diamond and Hainmueller, 2015, section "Results").

    ``V`` is chosen with the *training* predictors to minimise the outcome's mean squared
    prediction error over the *validation* window; the donor weights are then those
    that match the *main* predictors under that ``V``.

    Parameters
    ----------
    X1_train, X0_train
        Predictors measured in the training window: treated (length ``k``) and donors
        (``k x J``).
    Z1_val, Z0_val
        Outcomes in the validation window, treated and donors (``T_val x J``).
    X1, X0
        The same predictors measured in the main window.
    Z1, Z0
        Pre-period outcomes (the main fit's ``loss_v`` is reported on them).
    search, random_starts, seed
        The search over ``V`` in the training step (see :func:`fit_synth`).

    Returns
    -------
    main, training
        The main fit (its ``v`` is the training fit's, its ``start`` says
        ``"cross-validation"``) and the training fit (its ``loss_v`` is the validation
        mean squared prediction error).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X0 = rng.normal(size=(3, 10)); w = np.r_[0.5, 0.5, np.zeros(8)]
    >>> Z0 = rng.normal(size=(8, 10))
    >>> main, train = fit_synth_cv(X0 @ w, X0, Z0[4:] @ w, Z0[4:], X0 @ w, X0, Z0 @ w, Z0)
    >>> np.round(main.weights[:2], 3).tolist()
    [0.5, 0.5]
    """
    train = fit_synth(X1_train, X0_train, Z1_val, Z0_val, search=search,
                      random_starts=random_starts, seed=seed)
    main = fit_synth(X1, X0, Z1, Z0, v=train.v)
    main = SynthFit(weights=main.weights, v=main.v, loss_v=main.loss_v, loss_w=main.loss_w,
                    converged=main.converged and train.converged,
                    outer_converged=train.outer_converged,
                    start=f"cross-validation ({train.start})",
                    evaluations=main.evaluations + train.evaluations)
    return main, train
