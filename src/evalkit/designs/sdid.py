"""Synthetic difference-in-differences (SDID) for a block design.

Arkhangelsky, Athey, Hirshberg, Imbens and Wager (2021) combine the unit weights of a
synthetic control with time weights and a two-way fixed-effects (double-difference)
contrast. With ``N0`` control rows first and ``N1`` treated rows last in a units x
periods matrix ``Y``, ``T0`` pre-periods first and ``T1`` post-periods last, the
estimate is the weighted double difference

``tau = (ybar_tr - omega' Y_co) . (-lambda, 1/T1, ..., 1/T1)``

where ``ybar_tr`` is the treated units' mean path, ``omega`` the unit weights and
``lambda`` the time weights (paper, Algorithm 1).

Weights (defaults of the R package ``synthdid``)
------------------------------------------------
``sigma``
    The standard deviation (``ddof=1``) of all first differences of the control units'
    pre-period outcomes.
Unit weights ``omega``
    ``min_{omega_0, omega} sum_t (omega_0 + omega' Y_co[:, t] - ybar_tr[t])^2
    + zeta^2 T0 ||omega||^2`` over the simplex, with ``zeta = (N1 T1)^(1/4) sigma``;
    the intercept ``omega_0`` is profiled out by centring each unit's pre-period path.
Time weights ``lambda``
    ``min_{lambda_0, lambda} sum_i (lambda_0 + Y_i,pre . lambda - mean_post Y_i)^2
    + zeta_lambda^2 N0 ||lambda||^2`` over the simplex (control units only), with the
    "infinitesimal" ``zeta_lambda = 1e-6 sigma``.
Solver
    Frank-Wolfe with exact line search (``synthdid``'s ``sc.weight.fw``), started from
    uniform weights, stopped when an iteration lowers the penalised mean squared error
    by less than ``min_decrease^2`` with ``min_decrease = 1e-5 sigma``. As in
    ``synthdid``, a first round of at most 100 iterations is followed by a sparsifying
    step (weights ``<= max/4`` set to zero, the rest renormalised) and a second round
    started there, of at most ``max_iter`` iterations.

Standard errors
---------------
``"placebo"`` (Algorithm 4)
    ``replications`` times, ``N1`` of the controls are drawn at random as
    pseudo-treated units, the weights are re-fitted on the remaining controls (with the
    same ``zeta``, started from the original weights, as ``synthdid`` does) and the
    estimate recomputed; ``se = sqrt((r - 1)/r) sd(estimates)``. The replications are
    solved together, vectorised over a leading axis.
``"jackknife"`` (Algorithm 3)
    Fixed-weight jackknife over all units (``omega`` renormalised when a control is
    left out, ``lambda`` kept); needs at least two treated units. ``nan`` when only one
    control has non-zero weight (as in ``synthdid``).

References
----------
Arkhangelsky D, Athey S, Hirshberg DA, Imbens GW, Wager S (2021). Synthetic difference-
in-differences. Am Econ Rev 111(12):4088-4118.
Hirshberg DA (2021). synthdid: Synthetic difference-in-differences estimation. R package,
https://github.com/synth-inference/synthdid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SDIDFit", "sdid_fit", "double_difference", "noise_level"]

_SE_METHODS = ("placebo", "jackknife", "none")
_PRE_SPARSIFY_ITER = 100


@dataclass(frozen=True)
class SDIDFit:
    """The result of :func:`sdid_fit`.

    Attributes
    ----------
    estimate
        The SDID estimate of the average effect on the treated units, ``tau``.
    unit_weights
        ``omega``: one weight per control unit, non-negative, summing to one.
    unit_intercept
        ``omega_0``: the mean pre-period gap between the treated mean and ``omega' Y_co``.
    time_weights
        ``lambda``: one weight per pre-period, non-negative, summing to one.
    time_intercept
        ``lambda_0``: the mean over controls of their post-period mean minus their
        ``lambda``-weighted pre-period outcome.
    zeta
        The regularisation ``zeta_omega`` used for the unit weights.
    se
        Standard error (``nan`` if not computed).
    se_method
        ``"placebo"``, ``"jackknife"`` or ``"none"``.
    converged
        Whether both weight problems met the stopping rule within ``max_iter``.
    """

    estimate: float
    unit_weights: np.ndarray
    unit_intercept: float
    time_weights: np.ndarray
    time_intercept: float
    zeta: float
    se: float
    se_method: str
    converged: bool


# --------------------------------------------------------------------------- checks


def _check_panel(Y: np.ndarray, n_treated: int, T0: int) -> np.ndarray:
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2:
        raise ValueError(f"Y must be a 2-D units x periods array; got {Y.ndim} dimension(s)")
    n_units, n_periods = Y.shape
    if isinstance(n_treated, bool) or int(n_treated) != n_treated or n_treated < 1:
        raise ValueError(f"n_treated must be a whole number >= 1; got {n_treated!r}")
    if isinstance(T0, bool) or int(T0) != T0:
        raise ValueError(f"T0 must be a whole number; got {T0!r}")
    if T0 < 2:
        raise ValueError(f"T0 must be at least 2 pre-treatment periods; got {T0}")
    if T0 >= n_periods:
        raise ValueError(f"no post-treatment periods: T0 = {T0} but Y has {n_periods} "
                         "period(s)")
    if n_units - n_treated < 2:
        raise ValueError(f"at least 2 control units are needed; Y has {n_units} unit(s) of "
                         f"which {n_treated} treated")
    if not np.all(np.isfinite(Y)):
        bad = int((~np.isfinite(Y)).sum())
        raise ValueError(f"Y contains {bad} missing or non-finite value(s); SDID needs a "
                         "balanced panel")
    return Y


def noise_level(Y_controls_pre: np.ndarray) -> float:
    """The noise scale ``sigma`` of ``synthdid``: sd of first differences over time.

    Parameters
    ----------
    Y_controls_pre
        Control units x pre-periods outcomes.

    Returns
    -------
    float
        The standard deviation (``ddof=1``) of all the units' period-to-period changes.

    Examples
    --------
    >>> noise_level(np.array([[0.0, 1.0, 3.0], [0.0, 1.0, 2.0]]))
    0.5
    """
    d = np.diff(np.asarray(Y_controls_pre, dtype=float), axis=1)
    return float(np.std(d, ddof=1)) if d.size > 1 else 0.0


# --------------------------------------------------------------------------- solver


def _frank_wolfe(A: np.ndarray, b: np.ndarray, x: np.ndarray, eta: float,
                 min_decrease: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Batched Frank-Wolfe for ``min (||A x - b||^2 + eta ||x||^2) / m`` on the simplex.

    ``A`` is ``(R, m, n)``, ``b`` ``(R, m)``, ``x`` a feasible start ``(R, n)``. Each
    problem takes exact line-search steps towards the vertex with the smallest gradient
    entry until an iteration lowers the objective by ``<= min_decrease**2`` (after at
    least two iterations) or ``max_iter`` iterations have run. Returns the solutions and
    a boolean per problem: stopped by the decrease rule.

    A step moves ``x`` towards a vertex, ``x + s (e_i - x)``, so the fitted values
    ``A x`` and the Gram product ``A'A x`` are convex combinations of their old values
    and a column of ``A`` (of ``A'A``): each iteration costs ``O(m + n)`` per problem.
    The objective is computed from the residuals ``A x - b`` themselves, not expanded.
    """
    R, m, _ = A.shape
    if R == 1:
        x1, ok = _frank_wolfe_single(A[0], b[0], x[0], eta, min_decrease, max_iter)
        return x1[None], np.array([ok])
    x = x.copy()
    converged = np.zeros(R, dtype=bool)
    threshold = min_decrease ** 2
    At = np.ascontiguousarray(np.swapaxes(A, 1, 2))     # (R, n, m): columns of A as rows
    G = At @ A                                            # (R, n, n), symmetric
    c = (At @ b[:, :, None])[:, :, 0]                     # A'b
    idx = np.arange(R)                                    # problems still iterating
    Ata, Ga, ba, ca, xa = At, G, b, c, x.copy()
    Ax = (A @ xa[:, :, None])[:, :, 0]
    Gx = (Ga @ xa[:, :, None])[:, :, 0]
    prev = np.full(R, np.nan)
    t = 0
    while idx.size and t < max_iter:
        t += 1
        rows = np.arange(idx.size)
        half_grad = Gx - ca
        half_grad += eta * xa
        i = np.argmin(half_grad, axis=1)
        x_i = xa[rows, i]
        xx = np.einsum("rn,rn->r", xa, xa)
        d_err = Ata[rows, i]
        d_err -= Ax
        # exact line search along e_i - x: |e_i - x|^2 = |x|^2 - 2 x_i + 1
        denom = np.einsum("rm,rm->r", d_err, d_err) + eta * (xx - 2.0 * x_i + 1.0)
        num = np.einsum("rn,rn->r", half_grad, xa) - half_grad[rows, i]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(denom > 0, num / denom, 0.0)
        np.clip(step, 0.0, 1.0, out=step)
        keep_share = (1.0 - step)[:, None]
        xa *= keep_share
        xa[rows, i] += step
        Ax += step[:, None] * d_err
        Gx *= keep_share
        Gx += step[:, None] * Ga[rows, i]
        res = Ax - ba
        val = (np.einsum("rm,rm->r", res, res) + eta * np.einsum("rn,rn->r", xa, xa)) / m
        done = (prev - val <= threshold) if t >= 2 else np.zeros(idx.size, dtype=bool)
        prev = val
        if t == max_iter:
            x[idx] = xa
            converged[idx] = done
            break
        if done.any():
            x[idx[done]] = xa[done]
            converged[idx[done]] = True
            keep = ~done
            idx, Ata, Ga, ba, ca = idx[keep], Ata[keep], Ga[keep], ba[keep], ca[keep]
            xa, Ax, Gx, prev = xa[keep], Ax[keep], Gx[keep], prev[keep]
    return x, converged


def _frank_wolfe_single(A: np.ndarray, b: np.ndarray, x: np.ndarray, eta: float,
                        min_decrease: float, max_iter: int) -> tuple[np.ndarray, bool]:
    """:func:`_frank_wolfe` for one problem, with scalar bookkeeping (about 4x faster)."""
    m = A.shape[0]
    x = x.astype(float, copy=True)
    At = np.ascontiguousarray(A.T)
    G = At @ A
    c = At @ b
    Ax = A @ x
    Gx = G @ x
    threshold = min_decrease ** 2
    prev = np.inf
    for t in range(1, max_iter + 1):
        half_grad = Gx - c + eta * x
        i = int(half_grad.argmin())
        d_err = At[i] - Ax
        xx = float(x @ x)
        denom = float(d_err @ d_err) + eta * (xx - 2.0 * x[i] + 1.0)   # |e_i - x|^2
        num = float(half_grad @ x) - float(half_grad[i])
        step = min(1.0, max(0.0, num / denom)) if denom > 0 else 0.0
        x *= 1.0 - step
        x[i] += step
        Ax += step * d_err
        Gx += step * (G[i] - Gx)
        res = Ax - b
        val = (float(res @ res) + eta * float(x @ x)) / m
        if t >= 2 and prev - val <= threshold:
            return x, True
        prev = val
    return x, False


def _sparsify(v: np.ndarray) -> np.ndarray:
    """``synthdid``'s sparsifier, row-wise: zero weights ``<= max/4``, renormalise."""
    v = np.where(v <= v.max(axis=1, keepdims=True) / 4, 0.0, v)
    return v / v.sum(axis=1, keepdims=True)


def _solve_weights(A: np.ndarray, b: np.ndarray, x0: np.ndarray, eta: float,
                   min_decrease: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Centre (intercept), then Frank-Wolfe, sparsify, Frank-Wolfe again (``synthdid``)."""
    A = A - A.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    x, _ = _frank_wolfe(A, b, x0, eta, min_decrease, min(_PRE_SPARSIFY_ITER, max_iter))
    return _frank_wolfe(A, b, _sparsify(x), eta, min_decrease, max_iter)


def _fit_weights(Y: np.ndarray, n_co: int, T0: int, zeta_omega: float, zeta_lambda: float,
                 min_decrease: float, max_iter: int, omega0: np.ndarray,
                 lambda0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit and time weights for a stack of panels ``Y`` of shape ``(R, N, T)``."""
    Y_co_pre = Y[:, :n_co, :T0]
    # time weights: regress each control's post mean on its pre-period outcomes
    post_mean = Y[:, :n_co, T0:].mean(axis=2)
    lam, ok_l = _solve_weights(Y_co_pre, post_mean, lambda0, n_co * zeta_lambda ** 2,
                               min_decrease, max_iter)
    # unit weights: regress the treated mean pre-period path on the controls' paths
    tr_pre = Y[:, n_co:, :T0].mean(axis=1)
    omega, ok_o = _solve_weights(np.swapaxes(Y_co_pre, 1, 2), tr_pre, omega0,
                                 T0 * zeta_omega ** 2, min_decrease, max_iter)
    return omega, lam, ok_l & ok_o


def _tau(Y: np.ndarray, n_co: int, T0: int, omega: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Weighted double differences for a stack ``(R, N, T)`` of panels."""
    gap = Y[:, n_co:, :].mean(axis=1) - np.einsum("ri,rit->rt", omega, Y[:, :n_co, :])
    return gap[:, T0:].mean(axis=1) - np.einsum("rt,rt->r", gap[:, :T0], lam)


def double_difference(Y: np.ndarray, n_treated: int, T0: int,
                      unit_weights: np.ndarray | None = None,
                      time_weights: np.ndarray | None = None) -> float:
    """The weighted double difference for given unit and time weights.

    With both weight vectors uniform (the default) this is the classic
    difference-in-differences estimate; with SDID's weights it is the SDID estimate.

    Parameters
    ----------
    Y
        Units x periods, control units first, the ``n_treated`` treated units last.
    n_treated
        Number of treated rows (at the bottom of ``Y``).
    T0
        Number of pre-treatment columns (at the left of ``Y``).
    unit_weights
        One weight per control unit, summing to one; uniform if omitted.
    time_weights
        One weight per pre-period, summing to one; uniform if omitted.

    Returns
    -------
    float
        ``(ybar_tr - omega' Y_co) . (-lambda, 1/T1, ..., 1/T1)``.

    Examples
    --------
    >>> Y = np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [1.0, 2.0, 8.0]])
    >>> double_difference(Y, n_treated=1, T0=2)  # (8 - 1.5) - (3.5 - 2)
    5.0
    """
    Y = _check_panel(Y, n_treated, T0)
    n_co = Y.shape[0] - n_treated
    omega = np.full(n_co, 1 / n_co) if unit_weights is None else np.asarray(unit_weights, float)
    lam = np.full(T0, 1 / T0) if time_weights is None else np.asarray(time_weights, float)
    if omega.shape != (n_co,):
        raise ValueError(f"unit_weights must have length {n_co} (the control units); got "
                         f"shape {omega.shape}")
    if lam.shape != (T0,):
        raise ValueError(f"time_weights must have length T0 = {T0}; got shape {lam.shape}")
    return float(_tau(Y[None], n_co, T0, omega[None], lam[None])[0])


# --------------------------------------------------------------------------- estimator


def sdid_fit(Y: np.ndarray, n_treated: int, T0: int, *, se: str = "placebo",
             replications: int = 200, seed: int = 0, max_iter: int = 10000,
             tol: float | None = None) -> SDIDFit:
    """Synthetic difference-in-differences for a block design (all treated start together).

    Parameters
    ----------
    Y
        Units x periods outcomes without missing values; control units first, the
        ``n_treated`` treated units in the last rows; the first ``T0`` columns are
        pre-treatment.
    n_treated
        Number of treated units (``N1``).
    T0
        Number of pre-treatment periods (at least 2; at least one period must follow).
    se
        ``"placebo"`` (paper Algorithm 4; needs more controls than treated units),
        ``"jackknife"`` (Algorithm 3, fixed weights; needs ``n_treated >= 2``) or
        ``"none"``.
    replications
        Placebo replications (at least 2).
    seed
        Seed for :func:`numpy.random.default_rng` (placebo draws).
    max_iter
        Iteration cap of the second (post-sparsify) Frank-Wolfe round; the first round
        is capped at ``min(100, max_iter)``, as in ``synthdid``.
    tol
        ``min_decrease``: stop once an iteration lowers the penalised mean squared error
        by less than ``tol**2``. Default ``1e-5 * sigma``.

    Returns
    -------
    SDIDFit
        Estimate, weights, intercepts, ``zeta`` and standard error.

    Raises
    ------
    ValueError
        For a malformed panel (``T0 < 2``, no post periods, ``n_treated < 1``, fewer than
        two controls, missing values) or an unusable standard-error request.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> Y = rng.normal(size=(12, 8)) + np.arange(8)
    >>> Y[-2:, 5:] += 3.0
    >>> fit = sdid_fit(Y, n_treated=2, T0=5, se="none")
    >>> bool(abs(fit.estimate - 3.0) < 1.5), round(float(fit.unit_weights.sum()), 12)
    (True, 1.0)
    """
    Y = _check_panel(Y, n_treated, T0)
    n_treated, T0 = int(n_treated), int(T0)
    if se not in _SE_METHODS:
        raise ValueError(f"se must be one of {_SE_METHODS}; got {se!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a whole number >= 1; got {max_iter!r}")
    max_iter = int(max_iter)
    n_units, n_periods = Y.shape
    n_co = n_units - n_treated
    T1 = n_periods - T0
    if se == "placebo":
        if n_co <= n_treated:
            raise ValueError(f"the placebo standard error needs more control units than "
                             f"treated units; got {n_co} controls and {n_treated} treated")
        if int(replications) != replications or replications < 2:
            raise ValueError(f"replications must be a whole number >= 2; got {replications!r}")
    if se == "jackknife" and n_treated < 2:
        raise ValueError("the jackknife standard error needs at least 2 treated units "
                         "(it is undefined for one); use se='placebo'")

    sigma = noise_level(Y[:n_co, :T0])
    zeta_omega = (n_treated * T1) ** 0.25 * sigma
    zeta_lambda = 1e-6 * sigma
    min_decrease = 1e-5 * sigma if tol is None else float(tol)
    if not np.isfinite(min_decrease) or min_decrease < 0:
        raise ValueError(f"tol must be a finite number >= 0; got {tol!r}")

    omega, lam, ok = _fit_weights(Y[None], n_co, T0, zeta_omega, zeta_lambda, min_decrease,
                                  max_iter, np.full((1, n_co), 1 / n_co),
                                  np.full((1, T0), 1 / T0))
    omega, lam = omega[0], lam[0]
    tau = float(_tau(Y[None], n_co, T0, omega[None], lam[None])[0])
    tr_mean = Y[n_co:].mean(axis=0)
    unit_intercept = float(np.mean(tr_mean[:T0] - omega @ Y[:n_co, :T0]))
    time_intercept = float(np.mean(Y[:n_co, T0:].mean(axis=1) - Y[:n_co, :T0] @ lam))

    if se == "placebo":
        se_value = _placebo_se(Y[:n_co], n_treated, T0, omega, lam, zeta_omega, zeta_lambda,
                               min_decrease, max_iter, int(replications), seed)
    elif se == "jackknife":
        se_value = _jackknife_se(Y, n_co, T0, omega, lam)
    else:
        se_value = float("nan")
    return SDIDFit(estimate=tau, unit_weights=omega, unit_intercept=unit_intercept,
                   time_weights=lam, time_intercept=time_intercept, zeta=float(zeta_omega),
                   se=se_value, se_method=se, converged=bool(ok[0]))


def _placebo_se(Y_co: np.ndarray, n_treated: int, T0: int, omega: np.ndarray,
                lam: np.ndarray, zeta_omega: float, zeta_lambda: float, min_decrease: float,
                max_iter: int, replications: int, seed: int) -> float:
    """Algorithm 4: controls only, ``n_treated`` of them drawn as pseudo-treated."""
    rng = np.random.default_rng(seed)
    n_co = Y_co.shape[0]
    n_placebo_co = n_co - n_treated
    perms = rng.permuted(np.tile(np.arange(n_co), (replications, 1)), axis=1)
    Yp = Y_co[perms]                                     # (R, n_co, T)
    omega0 = omega[perms[:, :n_placebo_co]]
    sums = omega0.sum(axis=1, keepdims=True)
    omega0 = np.where(sums > 0, omega0 / np.where(sums > 0, sums, 1.0), 1 / n_placebo_co)
    lambda0 = np.tile(lam, (replications, 1))
    om, la, _ = _fit_weights(Yp, n_placebo_co, T0, zeta_omega, zeta_lambda, min_decrease,
                             max_iter, omega0, lambda0)
    taus = _tau(Yp, n_placebo_co, T0, om, la)
    return float(np.sqrt((replications - 1) / replications) * np.std(taus, ddof=1))


def _jackknife_se(Y: np.ndarray, n_co: int, T0: int, omega: np.ndarray,
                  lam: np.ndarray) -> float:
    """Algorithm 3 with the weights held fixed (``omega`` renormalised), closed form."""
    if np.count_nonzero(omega) <= 1:
        return float("nan")
    n_tr = Y.shape[0] - n_co
    # each unit's own weighted double difference: Y_i . (-lambda, 1/T1, ...)
    d = Y[:, T0:].mean(axis=1) - Y[:, :T0] @ lam
    d_co, d_tr = d[:n_co], d[n_co:]
    synth = omega @ d_co
    leave_co = d_tr.mean() - (synth - omega * d_co) / (1 - omega)
    leave_tr = (d_tr.sum() - d_tr) / (n_tr - 1) - synth
    u = np.concatenate([leave_co, leave_tr])
    n = u.size
    return float(np.sqrt((n - 1) / n * ((u - u.mean()) ** 2).sum()))
