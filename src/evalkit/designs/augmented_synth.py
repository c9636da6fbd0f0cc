"""Ridge-augmented synthetic control (Ben-Michael, Feller and Rothstein, 2021).

The classic synthetic control (SCM) weights ``w`` rarely reproduce the treated unit's
pre-period path exactly. Ridge ASCM corrects the remaining imbalance with a ridge
regression of outcomes on the pre-period outcomes, which amounts to adjusting the
weights themselves (paper, section 4; the R package ``augsynth`` with
``progfunc = "Ridge"``, ``scm = TRUE`` and no covariates):

``w_aug = w + X_c (X_c' X_c + lam I)^-1 (x_1 - X_c' w)``

with ``X_c`` the donors' pre-period outcomes (donors x ``T0``) centred at the donor mean
of each period and ``x_1`` the treated unit's pre-period outcomes centred the same way.
Because every column of ``X_c`` sums to zero over donors, the correction sums to zero:
**the augmented weights sum to one**, as the SCM weights do, but may be negative. The
augmented synthetic path is ``Y_donors' w_aug`` in every period, so the estimate equals
the SCM estimate plus the ridge model's prediction of the SCM's bias.

Choosing ``lam`` (``augsynth``'s defaults, used when ``lam=None``)
------------------------------------------------------------------
* Candidates: ``lam_max * r^k`` for ``k = 0, ..., 20`` with ``r = (1e-8)^(1/20)`` and
  ``lam_max`` the largest squared singular value of ``X_c``.
* Cross-validation over pre-periods: for each pre-period ``i = 1, ..., T0 - 1`` (one at
  a time; as in ``augsynth`` the last pre-period is never held out), the SCM weights are
  re-fitted on the other pre-period outcomes alone (non-negative, summing to one, equal
  weight per period, solved exactly by
  :func:`evalkit.designs.synth_solver.simplex_least_squares`), augmented with each
  candidate ``lam``, and the squared error of the held-out period recorded.
* Rule: the largest ``lam`` whose mean CV error is within one standard error (sd of the
  fold errors over sqrt(number of folds)) of the minimum (``augsynth``'s default
  ``min_1se = TRUE``); ``min_1se=False`` takes the minimiser ("lambda.min").

The SCM weights passed in are used for the final augmentation whatever produced them
(for example predictor-based ADH weights); inside the cross-validation folds they are
refitted on outcomes, as ``augsynth`` does, since an external fitting procedure cannot
be rerun here.

References
----------
Ben-Michael E, Feller A, Rothstein J (2021). The augmented synthetic control method.
J Am Stat Assoc 116(536):1789-1803.
Ben-Michael E (2023). augsynth: Augmented synthetic control method. R package,
https://github.com/ebenmichael/augsynth (``R/ridge.R``, ``R/ridge_lambda.R``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evalkit.designs.synth_solver import simplex_least_squares

__all__ = ["AugmentedFit", "ridge_augment", "ridge_correction", "lambda_grid"]


@dataclass(frozen=True)
class AugmentedFit:
    """The result of :func:`ridge_augment`.

    Attributes
    ----------
    weights
        Augmented donor weights (sum to one; may be negative), one per donor.
    lam
        The ridge penalty used.
    synthetic
        The augmented synthetic path ``Y_donors' weights``, every period (length ``T``).
    correction
        ``synthetic`` minus the SCM synthetic path ``Y_donors' scm_weights``, every period.
    lam_path
        When ``lam`` was chosen by cross-validation: one row per candidate with columns
        ``lam``, ``cv_error`` (mean held-out squared error) and ``cv_se`` (its standard
        error); ``None`` when ``lam`` was given.
    """

    weights: np.ndarray
    lam: float
    synthetic: np.ndarray
    correction: np.ndarray
    lam_path: pd.DataFrame | None


def _check_inputs(y_treated: np.ndarray, Y_donors: np.ndarray, T0: int,
                  scm_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    y = np.asarray(y_treated, dtype=float)
    Y = np.asarray(Y_donors, dtype=float)
    w = np.asarray(scm_weights, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"y_treated must be 1-D (one value per period); got shape {y.shape}")
    if Y.ndim != 2:
        raise ValueError(f"Y_donors must be 2-D (donors x periods); got shape {Y.shape}")
    if Y.shape[1] != y.size:
        raise ValueError(f"Y_donors has {Y.shape[1]} period(s) but y_treated has {y.size}")
    if Y.shape[0] < 2:
        raise ValueError(f"at least 2 donors are needed; got {Y.shape[0]}")
    if w.shape != (Y.shape[0],):
        raise ValueError(f"scm_weights must have one weight per donor ({Y.shape[0]}); got "
                         f"shape {w.shape}")
    if isinstance(T0, bool) or int(T0) != T0 or not 1 <= T0 <= y.size:
        raise ValueError(f"T0 must be a whole number between 1 and the number of periods "
                         f"({y.size}); got {T0!r}")
    for name, arr in (("y_treated", y), ("Y_donors", Y), ("scm_weights", w)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains {int((~np.isfinite(arr)).sum())} missing or "
                             "non-finite value(s)")
    if w.min() < -1e-8 or abs(w.sum() - 1.0) > 1e-6:
        raise ValueError("scm_weights must be non-negative and sum to one (classic SCM "
                         f"weights); got min {w.min():.3g}, sum {w.sum():.9g}")
    return y, Y, int(T0), w


def lambda_grid(X_c: np.ndarray, n_lambda: int = 20,
                lambda_min_ratio: float = 1e-8) -> np.ndarray:
    """``augsynth``'s candidate ridge penalties, largest first.

    Parameters
    ----------
    X_c
        Centred donor pre-period outcomes (donors x ``T0``).
    n_lambda
        The grid has ``n_lambda + 1`` values.
    lambda_min_ratio
        Ratio of the smallest to the largest value.

    Returns
    -------
    numpy.ndarray
        ``s_max^2 * lambda_min_ratio^(k / n_lambda)`` for ``k = 0, ..., n_lambda``.

    Examples
    --------
    >>> lambda_grid(np.array([[1.0, 0.0], [-1.0, 0.0]]), n_lambda=2, lambda_min_ratio=1e-2)
    array([2.  , 0.2 , 0.02])
    """
    s_max = np.linalg.svd(np.asarray(X_c, dtype=float), compute_uv=False)[0]
    return s_max ** 2 * lambda_min_ratio ** (np.arange(n_lambda + 1) / n_lambda)


def ridge_correction(X_c: np.ndarray, residual: np.ndarray, lams: np.ndarray) -> np.ndarray:
    """``X_c (X_c' X_c + lam I)^-1 residual`` for each ``lam``, by one SVD.

    Parameters
    ----------
    X_c
        Centred donor pre-period outcomes (donors x ``T0``).
    residual
        The pre-period imbalance ``x_1 - X_c' w`` (length ``T0``).
    lams
        Ridge penalties (``>= 0``; ``0`` gives the minimum-norm least-squares fit).

    Returns
    -------
    numpy.ndarray
        One row of weight adjustments per ``lam`` (``len(lams) x donors``).

    Examples
    --------
    >>> X_c = np.array([[1.0], [-1.0]])
    >>> ridge_correction(X_c, np.array([1.0]), np.array([0.0, 2.0]))
    array([[ 0.5 , -0.5 ],
           [ 0.25, -0.25]])
    """
    U, s, Vt = np.linalg.svd(np.asarray(X_c, dtype=float), full_matrices=False)
    lams = np.atleast_1d(np.asarray(lams, dtype=float))
    proj = Vt @ np.asarray(residual, dtype=float)                  # (k,)
    tiny = s.max(initial=0.0) * max(X_c.shape) * np.finfo(float).eps
    denom = s[None, :] ** 2 + lams[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where((s[None, :] > tiny) & (denom > 0), s[None, :] / denom, 0.0)
    return (gain * proj[None, :]) @ U.T


def _cv_errors(X_c: np.ndarray, x1_c: np.ndarray, lams: np.ndarray,
               holdout_length: int) -> tuple[np.ndarray, np.ndarray]:
    """``augsynth``'s leave-a-block-of-pre-periods-out errors for every candidate."""
    T0 = X_c.shape[1]
    errors = []
    for i in range(T0 - holdout_length):
        out = np.arange(i, i + holdout_length)
        keep = np.setdiff1d(np.arange(T0), out)
        X_fit, x_fit = X_c[:, keep], x1_c[keep]
        w_fold, _ = simplex_least_squares(X_fit.T, x_fit)
        adj = ridge_correction(X_fit, x_fit - X_fit.T @ w_fold, lams)   # (L, donors)
        w_aug = w_fold[None, :] + adj
        err = x1_c[out][None, :] - w_aug @ X_c[:, out]                   # (L, holdout)
        errors.append((err ** 2).sum(axis=1))
    errors = np.array(errors)                                            # (folds, L)
    return errors.mean(axis=0), errors.std(axis=0, ddof=1) / np.sqrt(errors.shape[0])


def ridge_augment(y_treated: np.ndarray, Y_donors: np.ndarray, T0: int,
                  scm_weights: np.ndarray, *, lam: float | None = None,
                  min_1se: bool = True, n_lambda: int = 20,
                  lambda_min_ratio: float = 1e-8, holdout_length: int = 1) -> AugmentedFit:
    """Augment classic SCM weights with a ridge correction on the pre-period outcomes.

    Parameters
    ----------
    y_treated
        The treated unit's outcome in every period (length ``T``).
    Y_donors
        Donor outcomes, donors x periods (``n_donors x T``); the first ``T0`` columns
        are the pre-period.
    T0
        Number of pre-treatment periods.
    scm_weights
        Classic SCM donor weights (non-negative, summing to one), fitted elsewhere.
    lam
        Ridge penalty (``>= 0``). ``None``: chosen by ``augsynth``'s cross-validation
        (see the module docstring); large values give back the SCM weights.
    min_1se
        With cross-validation, take the largest ``lam`` within one standard error of the
        minimum CV error (``augsynth``'s default) rather than the minimiser.
    n_lambda, lambda_min_ratio
        The candidate grid: ``n_lambda + 1`` values from ``lam_max`` down to
        ``lam_max * lambda_min_ratio``.
    holdout_length
        Consecutive pre-periods held out in each fold.

    Returns
    -------
    AugmentedFit
        Augmented weights, the penalty, the augmented synthetic path, its difference
        from the SCM path, and the CV path if ``lam`` was chosen.

    Raises
    ------
    ValueError
        On mismatched shapes, missing values, weights that are not SCM weights, a
        negative ``lam``, or too few pre-periods to cross-validate.

    Examples
    --------
    >>> Y_donors = np.array([[1.0, 2.0, 3.0, 4.0], [3.0, 3.0, 3.0, 3.0], [2.0, 4.0, 2.0, 4.0]])
    >>> y = np.array([2.0, 2.5, 3.5, 3.0])
    >>> fit = ridge_augment(y, Y_donors, T0=3, scm_weights=np.array([0.5, 0.5, 0.0]), lam=1.0)
    >>> round(float(fit.weights.sum()), 12), fit.synthetic.shape
    (1.0, (4,))
    """
    y, Y, T0, w_scm = _check_inputs(y_treated, Y_donors, T0, scm_weights)
    X = Y[:, :T0]
    centre = X.mean(axis=0)
    X_c = X - centre
    x1_c = y[:T0] - centre
    residual = x1_c - X_c.T @ w_scm

    lam_path = None
    if lam is None:
        if isinstance(holdout_length, bool) or int(holdout_length) != holdout_length \
                or holdout_length < 1:
            raise ValueError(f"holdout_length must be a whole number >= 1; got "
                             f"{holdout_length!r}")
        if T0 - holdout_length < 2:
            raise ValueError(f"choosing lam by cross-validation needs at least "
                             f"{holdout_length + 2} pre-periods; got T0 = {T0} (pass lam)")
        if int(n_lambda) != n_lambda or n_lambda < 1 or not 0 < lambda_min_ratio < 1:
            raise ValueError("n_lambda must be >= 1 and lambda_min_ratio in (0, 1)")
        lams = lambda_grid(X_c, int(n_lambda), lambda_min_ratio)
        cv_error, cv_se = _cv_errors(X_c, x1_c, lams, int(holdout_length))
        best = int(np.argmin(cv_error))
        if min_1se:
            lam = float(lams[cv_error <= cv_error[best] + cv_se[best]].max())
        else:
            lam = float(lams[best])
        lam_path = pd.DataFrame({"lam": lams, "cv_error": cv_error, "cv_se": cv_se})
    else:
        lam = float(lam)
        if not np.isfinite(lam) or lam < 0:
            raise ValueError(f"lam must be a finite number >= 0; got {lam!r}")

    adjustment = ridge_correction(X_c, residual, np.array([lam]))[0]
    weights = w_scm + adjustment
    synthetic = Y.T @ weights
    correction = Y.T @ adjustment
    return AugmentedFit(weights=weights, lam=lam, synthetic=synthetic, correction=correction,
                        lam_path=lam_path)
