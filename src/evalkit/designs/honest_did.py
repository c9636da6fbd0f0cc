"""Honest DiD: how far can parallel trends fail before an event-study conclusion does?

Rambachan and Roth (2023, *Review of Economic Studies* 90(5):2555-2591, "A More
Credible Approach to Parallel Trends") replace the assumption of exactly
parallel trends with a bound on how large the post-period violation ``delta_post``
can be, given what the pre-period coefficients reveal. The event-study
coefficients are ``betahat = (beta_pre, beta_post) = (delta_pre, tau_post + delta_post)``
with the reference period (``delta_0 = 0``) left out, and the target is
``theta = l' tau_post``.

Two restrictions are offered:

``RM`` (relative magnitudes, ``Delta^RM(Mbar)``)
    Every post-period change in the violation, ``|delta_{t+1} - delta_t|`` for
    ``t >= 0``, is at most ``Mbar`` times the largest pre-period change
    ``max_{s<0} |delta_{s+1} - delta_s|`` (consecutive-period first differences,
    including the step into the reference period). Inference is the paper's
    recommended conditional least-favourable hybrid test of Andrews, Roth and
    Pakes ("C-LF"), inverted over ``theta``. As in the authors' R package
    (``HonestDiD::computeConditionalCS_DeltaRM``), ``Delta^RM`` is written as the
    union over the location ``s`` and sign of the largest pre-period change of
    polyhedra, each polyhedron is tested using its post-period moments only, and
    the confidence set is the union of the per-polyhedron sets; the reported
    interval is its hull, ``[min, max]`` of the accepted values.
``SD`` (smoothness, ``Delta^SD(M)``)
    The slope of the differential trend changes by at most ``M`` between
    consecutive periods: ``|(delta_{t+1} - delta_t) - (delta_t - delta_{t-1})| <= M``.
    Inference is the optimal fixed-length confidence interval (FLCI) of section
    4.1 of the paper, also the R package's default for ``Delta^SD``.

Computation. The ARP test statistic for a polyhedron is the value of a linear
programme, ``eta = min_nu max_i (y_i - X_i nu) / sd_i``. For ``Delta^RM`` its dual
feasible set has closed-form vertices (the post-period moments come in +/- pairs,
so the dual weights on each pair differ by a multiple of one fixed vector), so
``eta`` (equal to the :func:`scipy.optimize.linprog` optimum; the tests check
this), the conditioning bounds ``v_lo``/``v_up`` and the least-favourable
critical value are computed exactly from those vertices, vectorised over a grid
of ``theta`` and over the simulation draws. The ``Delta^SD`` identified set is
solved with :func:`scipy.optimize.linprog`; the ``Delta^RM`` one has a closed form.
The FLCI's half-length is minimised along the exact Pareto frontier of (standard
deviation, worst-case bias), which is the piecewise-linear solution path of a
small lasso problem (computed by homotopy), with a one-dimensional search on each
piece; the R package instead searches a grid of standard deviations, so its
FLCI endpoints can differ from ours in the last digits. Confidence-set endpoints
are located by bisection to ``1e-9`` standard errors, where R reports the
outermost accepted point of a 1000-point grid on ``[-20 se, 20 se]``.

Differences from the R package, all deliberate: (1) exact endpoints, as above;
(2) the least-favourable critical value uses 10,000 normal draws by default
(R: 1,000), from numpy's generator, so it cannot match R's draw for draw;
(3) for a target ``l`` with negative net weight ``sum_t t l_t < 0`` the FLCI's
worst-case bias is the exact one, where R's closed form is conservative;
(4) the default target is the average of the post periods (R: the first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from evalkit.data.arguments import check_choice, check_conf_level, check_whole
from evalkit.errors import DesignError

__all__ = [
    "HonestDiDResult",
    "honest_did",
    "rm_confidence_set",
    "rm_accepts",
    "rm_identified_set",
    "sd_flci",
    "sd_identified_set",
    "breakdown_value",
    "robustness_sentence",
]

RESTRICTIONS = ("RM", "SD")
RM_METHODS = ("C-LF", "conditional")
_DEFAULT_MBAR = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EventStudy:
    """Checked inputs: coefficients, covariance, period counts and target weights."""

    beta: np.ndarray
    sigma: np.ndarray
    n_pre: int
    n_post: int
    l_vec: np.ndarray
    chol: np.ndarray = field(repr=False)

    @property
    def theta_hat(self) -> float:
        """The conventional estimate ``l' beta_post``."""
        return float(self.l_vec @ self.beta[self.n_pre:])

    @property
    def se(self) -> float:
        """Standard error of :attr:`theta_hat`."""
        s_post = self.sigma[self.n_pre:, self.n_pre:]
        return float(np.sqrt(self.l_vec @ s_post @ self.l_vec))


def _as_l_vec(l_vec, n_post: int) -> np.ndarray:
    """Turn ``None``/``'average'``/``'first'``/``'last'`` or weights into a weight vector."""
    if l_vec is None or (isinstance(l_vec, str) and l_vec == "average"):
        return np.full(n_post, 1.0 / n_post)
    if isinstance(l_vec, str):
        check_choice("l_vec", l_vec, ("average", "first", "last"))
        out = np.zeros(n_post)
        out[0 if l_vec == "first" else -1] = 1.0
        return out
    out = np.asarray(l_vec, dtype=float).ravel()
    if out.shape != (n_post,):
        raise DesignError(f"l_vec has {out.size} weights but there are {n_post} post periods",
                          fix=f"give one weight per post period ({n_post}), or 'average'/'first'")
    if not np.all(np.isfinite(out)) or not np.any(out != 0):
        raise DesignError("l_vec must be finite and not all zero",
                          fix="use e.g. l_vec='average' or l_vec='first'")
    return out


def _check_inputs(betahat, sigma, n_pre, n_post, l_vec) -> _EventStudy:
    """Validate shapes, finiteness and positive definiteness; raise DesignError if not."""
    check_whole("n_pre", n_pre, 1)
    check_whole("n_post", n_post, 1)
    beta = np.asarray(betahat, dtype=float).ravel()
    n = n_pre + n_post
    if beta.size != n:
        raise DesignError(f"betahat has {beta.size} coefficients but n_pre + n_post = {n}",
                          fix="give the pre-period coefficients (in time order, without the "
                              "reference period) followed by the post-period ones")
    if not np.all(np.isfinite(beta)):
        raise DesignError("betahat has missing or infinite values",
                          fix="drop event times whose coefficient could not be estimated")
    sig = np.asarray(sigma, dtype=float)
    if sig.shape != (n, n):
        raise DesignError(f"sigma has shape {sig.shape} but betahat has {n} coefficients",
                          fix=f"give the {n} x {n} covariance matrix of betahat")
    if not np.all(np.isfinite(sig)):
        raise DesignError("sigma has missing or infinite values", fix="check the covariance")
    if not np.allclose(sig, sig.T, rtol=1e-8, atol=1e-12 * np.max(np.abs(sig))):
        raise DesignError("sigma is not symmetric", fix="give a covariance matrix")
    sig = (sig + sig.T) / 2
    try:
        chol = np.linalg.cholesky(sig)
    except np.linalg.LinAlgError:
        chol = None
    if chol is None or np.min(np.linalg.eigvalsh(sig)) <= 1e-12 * np.max(np.diag(sig)):
        raise DesignError("sigma is not positive definite",
                          fix="check for duplicated or collinear event-time coefficients")
    return _EventStudy(beta, sig, n_pre, n_post, _as_l_vec(l_vec, n_post), chol)


def _check_grid(name: str, grid) -> np.ndarray:
    """A non-empty, finite, non-negative grid, returned sorted without duplicates."""
    arr = np.atleast_1d(np.asarray(grid, dtype=float)).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise DesignError(f"{name} must be a non-empty list of finite values >= 0, not {grid!r}",
                          fix=f"use e.g. {name}=[0, 0.5, 1, 1.5, 2]")
    return np.unique(arr)


def _check_m(name: str, value) -> float:
    """One finite, non-negative restriction parameter."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not np.isfinite(out) or out < 0:
        raise DesignError(f"{name} must be a finite number >= 0, not {value!r}",
                          fix=f"use e.g. {name}=1")
    return out


# --------------------------------------------------------------------------------------------
# Shared building blocks
# --------------------------------------------------------------------------------------------


def _first_differences(n_pre: int, n_post: int) -> np.ndarray:
    """Rows give ``delta_{r+1} - delta_r`` for r = -T..Tbar-1, with ``delta_0 = 0`` dropped."""
    n = n_pre + n_post
    full = np.zeros((n, n + 1))
    idx = np.arange(n)
    full[idx, idx] = -1.0
    full[idx, idx + 1] = 1.0
    return np.delete(full, n_pre, axis=1)


def _second_differences(n_pre: int, n_post: int) -> np.ndarray:
    """Rows give the T + Tbar - 1 second differences of ``delta`` (``delta_0 = 0`` dropped)."""
    fd = _first_differences(n_pre, n_post)
    return fd[1:] - fd[:-1]


def _z(conf_level: float) -> float:
    return float(stats.norm.ppf(0.5 + conf_level / 2))


# --------------------------------------------------------------------------------------------
# Relative magnitudes: identified set
# --------------------------------------------------------------------------------------------


def _rm_id_set(es: _EventStudy, mbar: float) -> tuple[float, float]:
    """Closed form: each post change is free in [-b, b], b = Mbar * max |pre change|."""
    fd = _first_differences(es.n_pre, es.n_post)
    b = mbar * np.max(np.abs(fd[: es.n_pre] @ es.beta))
    tail = np.cumsum(es.l_vec[::-1])[::-1]  # weight of the change into each post period
    half = b * np.sum(np.abs(tail))
    return es.theta_hat - half, es.theta_hat + half


def rm_identified_set(betahat, n_pre: int, n_post: int, mbar: float, *, l_vec=None,
                      ) -> tuple[float, float]:
    """Identified set for ``theta`` under ``Delta^RM(Mbar)`` treating ``betahat`` as known.

    Parameters
    ----------
    betahat
        Event-study coefficients, pre periods first (reference period left out).
    n_pre, n_post
        Number of pre- and post-period coefficients.
    mbar
        The relative-magnitudes bound ``Mbar >= 0``.
    l_vec
        Target weights over post periods (default: their average).

    Returns
    -------
    tuple of float
        Lower and upper end of the identified set (Lemma 2.2 of the paper: the union
        over the location of the largest pre-period change, which here reduces to
        the component with the largest one).
    """
    beta = np.asarray(betahat, dtype=float).ravel()
    es = _check_inputs(beta, np.eye(beta.size), n_pre, n_post, l_vec)
    return _rm_id_set(es, _check_m("mbar", mbar))


# --------------------------------------------------------------------------------------------
# Relative magnitudes: ARP conditional / hybrid test, via the vertices of the dual programme
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Polyhedron:
    """One polyhedron ``A delta <= 0`` of the union, in the form the ARP test needs."""

    y0: np.ndarray        # A betahat (moments at theta = 0)
    slope: np.ndarray     # d moments / d theta
    cov: np.ndarray       # A sigma A'
    vertices: np.ndarray  # vertices of the dual feasible set, one per row
    lf_cv: float          # least-favourable critical value (inf when not a hybrid)


def _rm_moment_matrix(n_pre: int, n_post: int, mbar: float, s: int, sign: float) -> np.ndarray:
    """Post-period moments of ``Delta^RM_{s,sign}``: ``+-fd_t - sign*Mbar*fd_s <= 0``."""
    fd = _first_differences(n_pre, n_post)
    cap = sign * mbar * fd[s]
    return np.vstack([fd[n_pre:] - cap, -fd[n_pre:] - cap])


def _rm_vertices(n_pre: int, sd: np.ndarray, l_vec: np.ndarray, fd_post: np.ndarray,
                 ) -> np.ndarray:
    """Vertices of ``{g >= 0 : g' X = 0, g' sd = 1}`` for the +/- paired RM moments.

    The nuisance directions span the post-period effects orthogonal to ``l``, so
    ``g_plus - g_minus = c * w`` with ``w = D_post^{-T} l``: two vertices with
    ``c != 0`` (one per sign of ``c``) and one per period with ``c = 0``.
    """
    k = l_vec.size
    w = np.linalg.solve(fd_post.T, l_vec)
    wp, wm = np.maximum(w, 0.0), np.maximum(-w, 0.0)
    sd_p, sd_m = sd[:k], sd[k:]
    up = np.concatenate([wp, wm]) / (wp @ sd_p + wm @ sd_m)
    down = np.concatenate([wm, wp]) / (wm @ sd_p + wp @ sd_m)
    pairs = np.hstack([np.eye(k), np.eye(k)]) / (sd_p + sd_m)[:, None]
    return np.vstack([up, down, pairs])


def _rm_polyhedra(es: _EventStudy, mbar: float, alpha: float, kappa: float | None,
                  draws: np.ndarray) -> list[_Polyhedron]:
    """Set up the 2 * n_pre polyhedra (location and sign of the largest pre change)."""
    fd = _first_differences(es.n_pre, es.n_post)
    fd_post = fd[es.n_pre:, es.n_pre:]
    u0 = es.l_vec / (es.l_vec @ es.l_vec)  # any u0 with l'u0 = 1: tau_post = theta * u0 + nuis
    out = []
    for s in range(es.n_pre):
        for sign in (1.0, -1.0):
            a = _rm_moment_matrix(es.n_pre, es.n_post, mbar, s, sign)
            cov = a @ es.sigma @ a.T
            verts = _rm_vertices(es.n_pre, np.sqrt(np.diag(cov)), es.l_vec, fd_post)
            lf_cv = np.inf
            if kappa is not None:
                eta_sim = np.max((draws @ a.T) @ verts.T, axis=1)
                lf_cv = float(np.quantile(eta_sim, 1 - kappa))
            out.append(_Polyhedron(a @ es.beta, a[:, es.n_pre:] @ u0, cov, verts, lf_cv))
    return out


def _arp_accepts(poly: _Polyhedron, theta: np.ndarray, alpha: float, kappa: float | None,
                 ) -> np.ndarray:
    """ARP conditional (``kappa=None``) or least-favourable hybrid test, for each theta.

    ``eta(theta) = max_v v'y(theta)`` over the dual vertices; conditioning on the
    maximising vertex ``v*`` staying optimal along ``y = z + c eta`` gives the
    truncation points ``v_lo``, ``v_up`` in closed form (Andrews, Roth and Pakes,
    2023, section 5; the R package finds the same points by bisection).
    """
    vy = poly.vertices @ poly.y0
    vslope = poly.vertices @ poly.slope
    vals = vy[:, None] - vslope[:, None] * theta[None, :]
    star = np.argmax(vals, axis=0)
    cols = np.arange(theta.size)
    eta = vals[star, cols]
    s_mat = poly.vertices @ poly.cov @ poly.vertices.T
    var_star = s_mat[star, star]
    scale = np.max(np.diag(s_mat))
    degenerate = var_star <= 1e-14 * scale
    var_safe = np.where(degenerate, 1.0, var_star)
    g = s_mat[:, star] / var_safe[None, :]
    den = 1.0 - g
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (vals - g * eta[None, :]) / den
    v_lo = np.max(np.where(den > 1e-9, ratio, -np.inf), axis=0)
    v_up = np.min(np.where(den < -1e-9, ratio, np.inf), axis=0)
    size = alpha if kappa is None else (alpha - kappa) / (1 - kappa)
    first_stage = eta > poly.lf_cv
    v_up = np.minimum(v_up, poly.lf_cv)
    sd_star = np.sqrt(var_safe)
    z_lo, z_up, stat = v_lo / sd_star, v_up / sd_star, eta / sd_star
    inside = (z_lo <= stat) & (stat <= z_up) & (z_lo < z_up)
    cval = np.zeros_like(stat)
    if np.any(inside):
        cval[inside] = np.maximum(0.0, _truncnorm_ppf(1 - size, z_lo[inside], z_up[inside]))
    reject = inside & (stat > cval)
    reject = np.where(degenerate, eta > 0, reject)
    return ~(reject | first_stage)


def _beta_draws(es: _EventStudy, n_sims: int, seed: int | None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_sims, es.beta.size)) @ es.chol.T


def _kappa(method: str, alpha: float, kappa: float | None) -> float | None:
    check_choice("method", method, RM_METHODS)
    if method == "conditional":
        return None
    kappa = alpha / 10 if kappa is None else float(kappa)
    if not 0 < kappa < alpha:
        raise DesignError(f"kappa must be between 0 and 1 - conf_level ({alpha:g}), not {kappa}",
                          fix="leave kappa unset (it defaults to a tenth of 1 - conf_level)")
    return kappa


def _union_accepts(polys: list[_Polyhedron], theta: np.ndarray, alpha: float,
                   kappa: float | None) -> np.ndarray:
    acc = np.zeros(theta.size, dtype=bool)
    for poly in polys:
        acc |= _arp_accepts(poly, theta, alpha, kappa)
    return acc


def _truncnorm_ppf(p: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Quantile ``p`` of the standard normal truncated to ``[a, b]``, vectorised.

    Works in the upper or lower tail (whichever the interval sits in) for accuracy;
    falls back to :data:`scipy.stats.truncnorm` far out in a tail.
    """
    out = np.empty_like(a)
    far = (a > 8) | (b < -8)
    right = ~far & (a > 0)
    left = ~far & ~right
    if left.any():
        lo, hi = special.ndtr(a[left]), special.ndtr(b[left])
        out[left] = special.ndtri(lo + p * (hi - lo))
    if right.any():
        lo, hi = special.ndtr(-b[right]), special.ndtr(-a[right])
        out[right] = -special.ndtri(lo + (1 - p) * (hi - lo))
    if far.any():
        out[far] = stats.truncnorm.ppf(p, a[far], b[far])
    return np.clip(out, a, b)


def _refine(accept, rejected: float, accepted: float, tol: float) -> float:
    """Narrow the bracket between a rejected and an accepted theta down to ``tol``.

    Each round tests 64 evenly spaced points at once and keeps the sub-bracket
    where acceptance first starts (seen from the rejected side).
    """
    while abs(accepted - rejected) > tol:
        pts = np.linspace(rejected, accepted, 66)[1:-1]
        acc = accept(pts)
        if acc.any():
            i = int(np.argmax(acc))
            accepted = pts[i]
            rejected = pts[i - 1] if i > 0 else rejected
        else:
            rejected = pts[-1]
    return accepted


def _hull_of_accepted(accept, centre: float, half: float, n_grid: int, tol: float,
                      ) -> tuple[float, float]:
    """``[min, max]`` of the accepted set: grid scan, widening if open, then bisection."""
    for _ in range(8):
        grid = np.linspace(centre - half, centre + half, n_grid)
        acc = accept(grid)
        if not acc.any():
            return float("nan"), float("nan")
        first, last = np.flatnonzero(acc)[[0, -1]]
        if first > 0 and last < n_grid - 1:
            low = _refine(accept, grid[first - 1], grid[first], tol)
            high = _refine(accept, grid[last + 1], grid[last], tol)
            return low, high
        half *= 4
    low = -np.inf if first == 0 else _refine(accept, grid[first - 1], grid[first], tol)
    high = np.inf if last == n_grid - 1 else _refine(accept, grid[last + 1], grid[last], tol)
    return low, high


class _RMSolver:
    """Robust RM confidence sets for one event study, reusing the simulation draws."""

    def __init__(self, es: _EventStudy, conf_level: float, method: str, kappa: float | None,
                 n_sims: int, seed: int | None) -> None:
        self.es = es
        self.alpha = 1 - conf_level
        self.kappa = _kappa(method, self.alpha, kappa)
        check_whole("n_sims", n_sims, 100)
        self.draws = _beta_draws(es, n_sims, seed) if self.kappa is not None else None
        self._cache: dict[float, tuple[float, float]] = {}

    def accepts(self, mbar: float, theta: np.ndarray) -> np.ndarray:
        polys = _rm_polyhedra(self.es, mbar, self.alpha, self.kappa, self.draws)
        return _union_accepts(polys, np.asarray(theta, dtype=float), self.alpha, self.kappa)

    def ci(self, mbar: float) -> tuple[float, float]:
        if mbar not in self._cache:
            self._cache[mbar] = self._ci(mbar)
        return self._cache[mbar]

    def _ci(self, mbar: float) -> tuple[float, float]:
        polys = _rm_polyhedra(self.es, mbar, self.alpha, self.kappa, self.draws)

        def accept(theta: np.ndarray) -> np.ndarray:
            return _union_accepts(polys, theta, self.alpha, self.kappa)

        lo, hi = _rm_id_set(self.es, mbar)
        se = self.es.se
        half = max(abs(lo - self.es.theta_hat), abs(hi - self.es.theta_hat)) + 20 * se
        return _hull_of_accepted(accept, self.es.theta_hat, half, 1001, 1e-9 * se)


def rm_accepts(theta, betahat, sigma, n_pre: int, n_post: int, mbar: float, *, l_vec=None,
               conf_level: float = 0.95, method: str = "C-LF", kappa: float | None = None,
               n_sims: int = 10_000, seed: int | None = 0) -> np.ndarray:
    """Whether each ``theta`` is in the robust confidence set under ``Delta^RM(Mbar)``.

    Parameters as for :func:`rm_confidence_set`; ``theta`` is an array of values to
    test. Useful to reproduce the R package's grid output (it reports the smallest
    and largest accepted point of ``linspace(-20 se, 20 se, 1000)``).

    Returns
    -------
    numpy.ndarray
        Boolean, True where the value is not rejected.
    """
    es = _check_inputs(betahat, sigma, n_pre, n_post, l_vec)
    check_conf_level(conf_level)
    solver = _RMSolver(es, conf_level, method, kappa, n_sims, seed)
    return solver.accepts(_check_m("mbar", mbar), np.atleast_1d(theta))


def rm_confidence_set(betahat, sigma, n_pre: int, n_post: int, mbar: float, *, l_vec=None,
                      conf_level: float = 0.95, method: str = "C-LF",
                      kappa: float | None = None, n_sims: int = 10_000, seed: int | None = 0,
                      ) -> tuple[float, float]:
    """Robust confidence interval for ``theta = l' tau_post`` under ``Delta^RM(Mbar)``.

    Parameters
    ----------
    betahat
        Event-study coefficients: pre periods first, in time order, without the
        reference period, then the post periods.
    sigma
        Covariance matrix of ``betahat``.
    n_pre, n_post
        Number of pre- and post-period coefficients (``n_pre >= 1``: the bound is
        relative to the pre-period changes, the last of which is the step from
        the final pre period into the reference period).
    mbar
        ``Mbar >= 0``; post-period changes in the violation are at most ``Mbar``
        times the largest pre-period change.
    l_vec
        Target weights over the post periods: ``None``/``'average'`` (default),
        ``'first'``, ``'last'`` or one weight per post period.
    conf_level
        Confidence level.
    method
        ``'C-LF'``: conditional least-favourable hybrid (the paper's and R's
        default); ``'conditional'``: the ARP conditional test alone.
    kappa
        Size of the hybrid's first stage; default ``(1 - conf_level) / 10``.
    n_sims, seed
        Normal draws for the least-favourable critical value, and their seed.

    Returns
    -------
    tuple of float
        The hull ``(low, high)`` of the union of the per-polyhedron confidence sets
        (an end is infinite if the set is unbounded in that direction; both are
        nan if every value is rejected).
    """
    es = _check_inputs(betahat, sigma, n_pre, n_post, l_vec)
    check_conf_level(conf_level)
    return _RMSolver(es, conf_level, method, kappa, n_sims, seed).ci(_check_m("mbar", mbar))


# --------------------------------------------------------------------------------------------
# Smoothness: identified set and optimal FLCI
# --------------------------------------------------------------------------------------------


def _sd_id_set(es: _EventStudy, m: float) -> tuple[float, float]:
    """Bounds on ``theta`` with ``delta_pre = beta_pre`` and ``|second differences| <= M``."""
    a = _second_differences(es.n_pre, es.n_post)
    a_ub = np.vstack([a, -a])
    b_ub = np.full(a_ub.shape[0], m)
    bounds = [(b, b) for b in es.beta[: es.n_pre]] + [(None, None)] * es.n_post
    cost = np.concatenate([np.zeros(es.n_pre), es.l_vec])
    ends = []
    for direction in (1.0, -1.0):
        res = optimize.linprog(direction * cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds,
                               method="highs")
        if res.status == 2:  # pre-trends already more curved than M allows
            return float("nan"), float("nan")
        ends.append(direction * res.fun if res.status == 0 else direction * -np.inf)
    low_bias, high_bias = ends  # min and max of l' delta_post
    return es.theta_hat - high_bias, es.theta_hat - low_bias


def sd_identified_set(betahat, n_pre: int, n_post: int, m: float, *, l_vec=None,
                      ) -> tuple[float, float]:
    """Identified set for ``theta`` under ``Delta^SD(M)`` treating ``betahat`` as known.

    Solved by linear programming (equations 5-6 of the paper). Returns ``(nan, nan)``
    when the pre-period coefficients are themselves inconsistent with ``M``.
    """
    beta = np.asarray(betahat, dtype=float).ravel()
    es = _check_inputs(beta, np.eye(beta.size), n_pre, n_post, l_vec)
    return _sd_id_set(es, _check_m("m", m))


def _folded_normal_cv(t: float, alpha: float) -> float:
    """The ``1 - alpha`` quantile of ``|N(t, 1)|`` (equation 18 of the paper)."""
    t = abs(t)

    def gap(c: float) -> float:
        return special.ndtr(c - t) - special.ndtr(-c - t) - (1 - alpha)

    lo = max(t + special.ndtri(1 - alpha), 0.0)
    hi = t + special.ndtri(1 - alpha / 2)
    if gap(lo) >= 0:
        return lo
    return optimize.brentq(gap, lo, hi, xtol=1e-14, rtol=1e-15)


@dataclass(frozen=True)
class _FLCIProblem:
    """Affine estimators ``theta_hat = v(u)' betahat`` indexed by the pre-slope sums ``u``.

    The estimator is ``l' beta_post - sum_s w_s (beta_{s+1} - beta_s)`` over the T
    pre-period slopes (the last one steps into ``beta_0 = 0``). Unbiasedness under
    linear trends requires ``sum(w) = sum_t t l_t``; ``u`` holds the first T - 1
    partial sums of ``w``. Then ``v_pre = B u + b0``, the variance is
    ``u'Qu + 2g'u + c0`` and the worst-case bias over ``Delta^SD(M)`` is
    ``M * (c_post + ||u||_1)``.
    """

    b_mat: np.ndarray
    b0: np.ndarray
    q: np.ndarray
    g: np.ndarray
    c0: float
    c_post: float


def _flci_problem(es: _EventStudy) -> _FLCIProblem:
    t, k, lv = es.n_pre, es.n_post, es.l_vec
    d = np.eye(t) - np.eye(t, k=-1)
    d2 = d @ d
    target = float(np.arange(1, k + 1) @ lv)
    b_mat, b0 = d2[:, : t - 1], d2[:, t - 1] * target
    s_pre, s_cross = es.sigma[:t, :t], es.sigma[:t, t:]
    c0 = float(b0 @ s_pre @ b0 + 2 * b0 @ s_cross @ lv + lv @ es.sigma[t:, t:] @ lv)
    # weight of the slope change at post period j on l' delta_post: sum_{t > j} (t - j) l_t
    lag = np.arange(1, k + 1)[None, :] - np.arange(k)[:, None]
    c_post = float(np.sum(np.abs(np.where(lag > 0, lag, 0) @ lv)))
    return _FLCIProblem(b_mat, b0, b_mat.T @ s_pre @ b_mat, b_mat.T @ (s_pre @ b0 + s_cross @ lv),
                        c0, c_post)


def _lasso_path(p: _FLCIProblem) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exact solution path of ``min_u u'Qu/2 + g'u + lam ||u||_1`` as lam falls to 0.

    The path is piecewise linear (homotopy / LARS with variable dropping); it
    traces the Pareto frontier of (estimator variance, worst-case bias). Returns
    the segments as pairs of end points, from ``u = 0`` to the minimum-variance ``u``.
    """
    n = p.g.size
    u = np.zeros(n)
    lam = float(np.max(np.abs(p.g)))
    active = np.zeros(n, dtype=bool)
    active[int(np.argmax(np.abs(p.g)))] = True
    segments = []
    for _ in range(20 * n + 20):
        if lam <= 0 or not active.any():
            break
        signs = -np.sign(p.q[active] @ u + p.g[active])
        d = np.zeros(n)
        d[active] = -np.linalg.solve(p.q[np.ix_(active, active)], signs)
        c, e = p.q @ u + p.g, p.q @ d
        steps = [lam]
        with np.errstate(divide="ignore", invalid="ignore"):
            join = np.concatenate([(lam - c) / (1 - e), (lam + c) / (1 + e)])
            leave = u / d
        join[np.tile(active, 2) | ~np.isfinite(join)] = np.inf
        leave[~active | ~np.isfinite(leave)] = np.inf
        join_ok, leave_ok = join[join > 1e-14 * lam], leave[leave > 1e-14 * lam]
        step = min(steps + list(join_ok) + list(leave_ok))
        new_u = u - step * d
        segments.append((u.copy(), new_u.copy()))
        u, lam = new_u, lam - step
        if join_ok.size and step == join_ok.min():
            active[int(np.argmin(np.where(join > 1e-14 * lam, join, np.inf))) % n] = True
        elif leave_ok.size and step == leave_ok.min():
            i = int(np.argmin(np.where(leave > 1e-14 * lam, leave, np.inf)))
            active[i] = False
            u[i] = 0.0
    u_minvar = np.linalg.solve(p.q, -p.g)
    if not segments or np.max(np.abs(segments[-1][1] - u_minvar)) > 1e-8 * (
            1 + np.max(np.abs(u_minvar))):
        segments.append((segments[-1][1] if segments else np.zeros(n), u_minvar))
    return segments


def _flci_halflength(p: _FLCIProblem, u: np.ndarray, m: float, alpha: float) -> float:
    var = float(u @ p.q @ u + 2 * p.g @ u + p.c0)
    h = math.sqrt(max(var, 0.0))
    bias = m * (p.c_post + float(np.sum(np.abs(u))))
    if h <= 0:
        return bias
    return h * _folded_normal_cv(bias / h, alpha)


def _flci_best_u(p: _FLCIProblem, m: float, alpha: float) -> np.ndarray:
    """Minimise the half-length over each linear piece of the Pareto frontier."""
    if p.g.size == 0:
        return np.zeros(0)
    if m == 0:
        return np.linalg.solve(p.q, -p.g)
    best_u, best = np.zeros(p.g.size), _flci_halflength(p, np.zeros(p.g.size), m, alpha)
    for start, stop in _lasso_path(p):
        def width(t: float, start=start, stop=stop) -> float:
            return _flci_halflength(p, start + t * (stop - start), m, alpha)

        res = optimize.minimize_scalar(width, bounds=(0.0, 1.0), method="bounded",
                                       options={"xatol": 1e-12})
        for t, val in ((float(res.x), float(res.fun)), (1.0, width(1.0))):
            if val < best:
                best, best_u = val, start + t * (stop - start)
    return best_u


def _sd_flci(es: _EventStudy, m: float, conf_level: float) -> tuple[float, float]:
    p = _flci_problem(es)
    alpha = 1 - conf_level
    u = _flci_best_u(p, m, alpha)
    v = np.concatenate([p.b_mat @ u + p.b0, es.l_vec])
    centre = float(v @ es.beta)
    half = _flci_halflength(p, u, m, alpha)
    return centre - half, centre + half


def sd_flci(betahat, sigma, n_pre: int, n_post: int, m: float, *, l_vec=None,
            conf_level: float = 0.95) -> tuple[float, float]:
    """Optimal fixed-length confidence interval for ``theta`` under ``Delta^SD(M)``.

    Parameters
    ----------
    betahat, sigma, n_pre, n_post, l_vec, conf_level
        As for :func:`rm_confidence_set` (``n_pre >= 1``: with no pre period there is
        no slope to extrapolate and the worst-case bias is unbounded).
    m
        ``M >= 0``, the largest change in the slope of the differential trend between
        consecutive periods, in the outcome's units per period squared.

    Returns
    -------
    tuple of float
        ``(low, high)``: the affine estimator ``v' betahat`` that is unbiased under
        linear trends and minimises the half-length ``sd * cv_alpha(worst bias / sd)``,
        plus or minus that half-length (section 4.1 of the paper).
    """
    es = _check_inputs(betahat, sigma, n_pre, n_post, l_vec)
    check_conf_level(conf_level)
    return _sd_flci(es, _check_m("m", m), conf_level)


# --------------------------------------------------------------------------------------------
# Breakdown values
# --------------------------------------------------------------------------------------------


def _covers_zero(ci: tuple[float, float]) -> bool:
    """True if the interval includes zero; an undefined (nan) interval counts as covering."""
    low, high = ci
    if np.isnan(low) or np.isnan(high):
        return True
    return bool(low <= 0 <= high)


def _breakdown(ci_at, grid: np.ndarray, conventional: tuple[float, float], rel_tol: float,
               ) -> float:
    """Smallest M on the grid's first crossing at which ``ci_at(M)`` includes zero.

    Scans ``grid`` (sorted), then bisects the first bracket. 0 if the conventional
    interval or the one at M = 0 already includes zero; the grid is extended by
    doubling (up to 2**10 times its top) before giving up with ``inf``.
    """
    if _covers_zero(conventional):
        return 0.0
    grid = np.unique(np.concatenate([[0.0], grid]))
    covers = [_covers_zero(ci_at(m)) for m in grid]
    if covers[0]:
        return 0.0
    top = grid[-1] if grid[-1] > 0 else 1.0
    lo, hi = grid[0], None
    for m, cov in zip(grid[1:], covers[1:], strict=True):
        if cov:
            hi = m
            break
        lo = m
    for _ in range(10):
        if hi is not None:
            break
        lo, top = top, 2 * top
        if _covers_zero(ci_at(top)):
            hi = top
    if hi is None:
        return float("inf")
    while hi - lo > rel_tol * hi:
        mid = 0.5 * (lo + hi)
        if _covers_zero(ci_at(mid)):
            hi = mid
        else:
            lo = mid
    return float(hi)


def _default_m_grid(es: _EventStudy, conf_level: float) -> np.ndarray:
    """Ten values of M from 0 to an upper confidence bound on the largest pre-period
    second difference (one standard error of ``beta_{-1}`` when there is one pre period)."""
    if es.n_pre == 1:
        top = math.sqrt(es.sigma[0, 0])
    else:
        a = _second_differences(es.n_pre, es.n_post)[: es.n_pre - 1, : es.n_pre]
        s_pre = es.sigma[: es.n_pre, : es.n_pre]
        est = np.abs(a @ es.beta[: es.n_pre])
        se = np.sqrt(np.diag(a @ s_pre @ a.T))
        top = float(np.max(est + _z(conf_level) * se))
    return np.linspace(0.0, top, 10)


def breakdown_value(betahat, sigma, n_pre: int, n_post: int, *, restriction: str = "RM",
                    l_vec=None, conf_level: float = 0.95, grid=None, rel_tol: float = 1e-5,
                    method: str = "C-LF", kappa: float | None = None, n_sims: int = 10_000,
                    seed: int | None = 0) -> float:
    """Smallest ``Mbar`` (RM) or ``M`` (SD) at which the robust interval includes zero.

    Parameters
    ----------
    betahat, sigma, n_pre, n_post, l_vec, conf_level, method, kappa, n_sims, seed
        As for :func:`rm_confidence_set` / :func:`sd_flci`.
    restriction
        ``'RM'`` or ``'SD'``.
    grid
        Values scanned for the first crossing before bisection (default: 0 to 2 by
        0.25 for RM; ten values from 0 to an upper confidence bound on the largest
        pre-period second difference for SD).
    rel_tol
        Bisection stops when the bracket is narrower than ``rel_tol`` times its top.

    Returns
    -------
    float
        ``0.0`` if the conventional interval, or the robust interval at 0, already
        includes zero (there is no conclusion to break); ``inf`` if no breakdown
        was found up to 1024 times the grid's top; otherwise the breakdown value,
        accurate to ``rel_tol`` and rounded up (the interval at the returned value
        includes zero). The scan finds the first crossing on the grid: if the
        interval is not monotone in the parameter a crossing between grid points
        could be missed.
    """
    es = _check_inputs(betahat, sigma, n_pre, n_post, l_vec)
    check_conf_level(conf_level)
    check_choice("restriction", restriction, RESTRICTIONS)
    z = _z(conf_level)
    conventional = (es.theta_hat - z * es.se, es.theta_hat + z * es.se)
    if restriction == "RM":
        solver = _RMSolver(es, conf_level, method, kappa, n_sims, seed)
        grid = _check_grid("grid", _DEFAULT_MBAR if grid is None else grid)
        return _breakdown(solver.ci, grid, conventional, rel_tol)
    grid = _default_m_grid(es, conf_level) if grid is None else _check_grid("grid", grid)
    return _breakdown(lambda m: _sd_flci(es, m, conf_level), grid, conventional, rel_tol)


# --------------------------------------------------------------------------------------------
# Plain English
# --------------------------------------------------------------------------------------------


def _floor_sig(x: float, digits: int) -> str:
    """``x`` rounded down to ``digits`` significant figures (never overstates robustness)."""
    if x == 0 or not np.isfinite(x):
        return f"{x:g}"
    exp = math.floor(math.log10(abs(x))) - digits + 1
    step = 10.0 ** exp
    val = math.floor(x / step + 1e-9) * step
    return f"{val:.{max(-exp, 0)}f}"


def robustness_sentence(breakdown: float, *, restriction: str = "RM",
                        claim: str = "the scheme changed the outcome", digits: int = 2,
                        searched_to: float | None = None) -> str:
    """One plain-English sentence on how robust a conclusion is to non-parallel trends.

    Parameters
    ----------
    breakdown
        The breakdown value from :func:`breakdown_value` (or a result's
        ``breakdown_rm`` / ``breakdown_sd``).
    restriction
        ``'RM'`` or ``'SD'``.
    claim
        The conclusion, as a clause: e.g. ``"the scheme reduced admissions"``.
    digits
        Significant figures; the value is rounded *down* so the sentence never
        claims more robustness than was found.
    searched_to
        Largest value examined, mentioned when no breakdown was found (``inf``).

    Returns
    -------
    str
        e.g. "The conclusion that the scheme reduced admissions survives post-scheme
        departures from parallel trends up to 1.4 times the largest pre-scheme
        departure (breakdown value Mbar = 1.4)."
    """
    check_choice("restriction", restriction, RESTRICTIONS)
    sym = "Mbar" if restriction == "RM" else "M"
    lead = f"The conclusion that {claim}"
    if np.isnan(breakdown):
        return f"{lead} could not be checked for robustness to non-parallel trends."
    if breakdown == 0:
        what = ("even exactly parallel post-scheme trends" if restriction == "RM"
                else "even a straight-line continuation of the pre-scheme trend")
        return (f"{lead} is not supported by the confidence interval under {what} "
                f"(breakdown value {sym} = 0).")
    if np.isinf(breakdown):
        upto = f" up to {sym} = {searched_to:g}" if searched_to else ""
        return f"{lead} survives every departure from parallel trends examined{upto}."
    val = _floor_sig(breakdown, digits)
    if restriction == "RM":
        return (f"{lead} survives post-scheme departures from parallel trends up to {val} "
                f"times the largest pre-scheme departure (breakdown value {sym} = {val}).")
    return (f"{lead} survives departures from a straight-line continuation of the pre-scheme "
            f"trend whose slope changes by up to {val} per period (breakdown value "
            f"{sym} = {val}).")


# --------------------------------------------------------------------------------------------
# Result object and the one-call entry point
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HonestDiDResult:
    """Robust confidence intervals over a grid of restriction values, and breakdown values.

    Attributes
    ----------
    theta_hat, se
        Conventional estimate of ``theta = l' tau_post`` and its standard error.
    conventional_ci
        ``theta_hat +- z se`` (assumes exactly parallel trends).
    conf_level
        Confidence level.
    l_vec
        Target weights over the post periods.
    table
        One row per restriction value: see :meth:`to_frame`.
    breakdown_rm, breakdown_sd
        Breakdown values (see :func:`breakdown_value`); nan if not computed.
    """

    theta_hat: float
    se: float
    conventional_ci: tuple[float, float]
    conf_level: float
    l_vec: np.ndarray
    table: pd.DataFrame
    breakdown_rm: float = float("nan")
    breakdown_sd: float = float("nan")
    rm_method: str = "C-LF"

    def to_frame(self) -> pd.DataFrame:
        """Rows of ``restriction, M, ci_low, ci_high, includes_zero, id_low, id_high, method``.

        ``M`` is ``Mbar`` for RM rows. ``id_low``/``id_high`` bound the identified
        set with ``betahat`` taken as the truth (nan when the pre-period
        coefficients already violate the SD restriction).
        """
        return self.table.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The frames a sensitivity plot draws (copies).

        Returns
        -------
        dict of DataFrame
            ``sensitivity``: the robust intervals by restriction value (the columns of
            :meth:`to_frame`); ``original``: one row, ``estimate``, ``se``, ``ci_low``,
            ``ci_high`` (the conventional interval, which assumes parallel trends).
        """
        low, high = self.conventional_ci
        original = pd.DataFrame({"estimate": [self.theta_hat], "se": [self.se],
                                 "ci_low": [low], "ci_high": [high]})
        return {"sensitivity": self.table.copy(), "original": original}

    def sentence(self, restriction: str = "RM", *, claim: str | None = None,
                 digits: int = 2) -> str:
        """Plain-English robustness sentence (see :func:`robustness_sentence`)."""
        check_choice("restriction", restriction, RESTRICTIONS)
        if claim is None:
            way = "reduced" if self.theta_hat < 0 else "increased"
            claim = f"the scheme {way} the outcome"
        value = self.breakdown_rm if restriction == "RM" else self.breakdown_sd
        rows = self.table[self.table["restriction"] == restriction]
        top = float(rows["M"].max()) if len(rows) else None
        return robustness_sentence(value, restriction=restriction, claim=claim, digits=digits,
                                   searched_to=top)

    def summary(self) -> str:
        """A short text report: estimate, robust intervals and breakdown values."""
        pct = f"{100 * self.conf_level:g}%"
        low, high = self.conventional_ci
        lines = ["Sensitivity to violations of parallel trends (Rambachan and Roth, 2023)",
                 f"Estimate {self.theta_hat:.4g} (SE {self.se:.4g}); conventional {pct} CI "
                 f"{low:.4g} to {high:.4g}", ""]
        names = {"RM": f"Relative magnitudes (Mbar), {self.rm_method}",
                 "SD": "Smoothness (M), FLCI"}
        for key, rows in self.table.groupby("restriction", sort=False):
            lines.append(f"{names[key]}: robust {pct} CI")
            for r in rows.itertuples():
                flag = "includes 0" if r.includes_zero else "excludes 0"
                lines.append(f"  {r.M:10.4g}  {r.ci_low:10.4g} to {r.ci_high:<10.4g} {flag}")
            lines.append("  " + self.sentence(key))
            lines.append("")
        return "\n".join(lines).rstrip()


def _rows(restriction: str, grid: np.ndarray, ci_at, id_at, method: str) -> list[dict]:
    rows = []
    for m in grid:
        low, high = ci_at(float(m))
        id_low, id_high = id_at(float(m))
        rows.append({"restriction": restriction, "M": float(m), "ci_low": low, "ci_high": high,
                     "includes_zero": _covers_zero((low, high)), "id_low": id_low,
                     "id_high": id_high, "method": method})
    return rows


def honest_did(betahat, sigma, n_pre: int, n_post: int, *, l_vec=None,
               conf_level: float = 0.95, restrictions: Sequence[str] = RESTRICTIONS,
               mbar_grid=None, m_grid=None, breakdown: bool = True, method: str = "C-LF",
               kappa: float | None = None, n_sims: int = 10_000, seed: int | None = 0,
               ) -> HonestDiDResult:
    """Robust confidence intervals for an event-study effect as parallel trends is relaxed.

    Parameters
    ----------
    betahat
        Event-study coefficients: the ``n_pre`` pre-period ones first, in time order,
        without the reference period, then the ``n_post`` post-period ones.
    sigma
        Their covariance matrix (positive definite).
    n_pre, n_post
        Numbers of pre- and post-period coefficients (both at least 1).
    l_vec
        Target ``theta = l' tau_post``: ``None``/``'average'`` (mean of the post
        periods, default), ``'first'``, ``'last'``, or one weight per post period.
    conf_level
        Confidence level.
    restrictions
        Any of ``'RM'`` (relative magnitudes) and ``'SD'`` (smoothness).
    mbar_grid
        Values of ``Mbar`` for RM (default 0, 0.25, ..., 2).
    m_grid
        Values of ``M`` for SD (default: ten values from 0 to an upper confidence
        bound on the largest pre-period second difference).
    breakdown
        Also compute breakdown values (smallest value whose interval includes 0).
    method, kappa, n_sims, seed
        RM inference options; see :func:`rm_confidence_set`.

    Returns
    -------
    HonestDiDResult
        With ``to_frame()``, ``summary()``, ``sentence()`` and the breakdown values.

    Raises
    ------
    DesignError
        For mismatched shapes, a covariance that is not positive definite, fewer
        than one pre or post period, bad grids or unknown options.
    """
    es = _check_inputs(betahat, sigma, n_pre, n_post, l_vec)
    check_conf_level(conf_level)
    restrictions = [restrictions] if isinstance(restrictions, str) else list(restrictions)
    if not restrictions:
        raise DesignError("no restriction requested", fix="use restrictions=('RM', 'SD')")
    for r in restrictions:
        check_choice("restriction", r, RESTRICTIONS)
    z = _z(conf_level)
    conventional = (es.theta_hat - z * es.se, es.theta_hat + z * es.se)
    rows: list[dict] = []
    bd = {"RM": float("nan"), "SD": float("nan")}
    if "RM" in restrictions:
        grid = _check_grid("mbar_grid", _DEFAULT_MBAR if mbar_grid is None else mbar_grid)
        solver = _RMSolver(es, conf_level, method, kappa, n_sims, seed)
        rows += _rows("RM", grid, solver.ci, lambda m: _rm_id_set(es, m), method)
        if breakdown:
            bd["RM"] = _breakdown(solver.ci, grid, conventional, 1e-5)
    if "SD" in restrictions:
        grid = (_default_m_grid(es, conf_level) if m_grid is None
                else _check_grid("m_grid", m_grid))

        cache: dict[float, tuple[float, float]] = {}

        def sd_at(m: float) -> tuple[float, float]:
            if m not in cache:
                cache[m] = _sd_flci(es, m, conf_level)
            return cache[m]

        rows += _rows("SD", grid, sd_at, lambda m: _sd_id_set(es, m), "FLCI")
        if breakdown:
            bd["SD"] = _breakdown(sd_at, grid, conventional, 1e-5)
    table = pd.DataFrame(rows, columns=["restriction", "M", "ci_low", "ci_high", "includes_zero",
                                        "id_low", "id_high", "method"])
    return HonestDiDResult(es.theta_hat, es.se, conventional, conf_level, es.l_vec, table,
                           bd["RM"], bd["SD"], method)


def event_time_sensitivity(estimates: pd.Series, vcov: pd.DataFrame, *, pre: int = 6,
                           post: int = 12, first_post: int = 0, conf_level: float = 0.95,
                           claim: str | None = None) -> dict:
    """Relative-magnitudes sensitivity of the average early post-adoption effect.

    Parameters
    ----------
    estimates
        Event-time estimates indexed by event time (reference period excluded), relative
        to a common reference period.
    vcov
        Their covariance, indexed the same way.
    pre, post
        How many event times before (closest to adoption) and from adoption to use.
    first_post
        The first event time after the reference period: ``-anticipation`` when units may
        respond before adoption (those periods are not pre-period evidence).
    conf_level
        Confidence level.
    claim
        What the effect's sign means, for the sentence.

    Returns
    -------
    dict
        ``honest_breakdown_mbar``, ``honest_sentence`` and ``honest_event_times`` for a
        result's diagnostics (empty if there is no pre-period estimate).
    """
    keys_pre = sorted((int(e) for e in estimates.index if e < first_post),
                      reverse=True)[:pre][::-1]
    keys_post = sorted(int(e) for e in estimates.index if e >= first_post)[:post]
    if not keys_pre or not keys_post:
        return {}
    keys = keys_pre + keys_post
    res = honest_did(estimates.loc[keys].to_numpy(float),
                     vcov.loc[keys, keys].to_numpy(float), len(keys_pre), len(keys_post),
                     conf_level=conf_level, restrictions=("RM",))
    kw = {"claim": claim} if claim else {}
    return {"honest_breakdown_mbar": float(res.breakdown_rm),
            "honest_sentence": res.sentence("RM", **kw),
            "honest_event_times": [keys[0], keys[-1]]}
