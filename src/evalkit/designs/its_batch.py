"""Batch interrupted time series: one specification fitted to every unit at once.

For thousands of practices by outcome, a Python loop over statsmodels fits is
slow. All units share the design matrix (same periods), so the fits are
vectorised: ordinary least squares for gaussian outcomes, and iteratively
reweighted least squares for (quasi-)Poisson with each unit's log offset, run
for all units together with batched ``numpy.linalg.solve``. Missing unit-periods
get zero weight. Estimates equal statsmodels' GLM fits of each unit (tested to
1e-6; see ``benchmarks/its_batch.py``).

By default (``autocorrelation="auto"``) each unit gets the same remedy as
:func:`evalkit.its` gives one series: AR(1) errors with rho by REML for gaussian outcomes,
Zeger's latent AR(1) process for counts, Kenward-Roger(-type) standard errors, and t
intervals with Satterthwaite df
(:func:`evalkit.designs.its_model.fit_ar1_batch`, vectorised over the units that share a
pattern of observed periods; a unit's missing periods are dropped, as ``ek.its`` drops
them). ``autocorrelation="none"`` gives the plain fits of :func:`fit_batch`, with
model-based (quasi-Poisson: Pearson-scaled) standard errors. Per-unit effects feed
synthesis and funnel plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.contract import check_panel
from evalkit.data.periods import parse_period, parse_periods
from evalkit.designs.its_model import Interruption, design_matrix, fit_ar1_batch
from evalkit.designs.its_options import check_its_options, impact_kinds
from evalkit.errors import DesignError
from evalkit.results import EFFECT_FIELDS, DesignResult

__all__ = ["its_batch", "fit_batch"]

BATCH_FAMILIES = ("gaussian", "poisson", "quasipoisson")


def _xtwx(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``X' diag(w_u) X`` for every unit ``u`` (units x p x p), by batched matmul."""
    return np.matmul(X.T[None, :, :], W[:, :, None] * X[None, :, :])


def fit_batch(Y: np.ndarray, X: np.ndarray, offset: np.ndarray, mask: np.ndarray, *,
              family: str, max_iter: int = 50, tol: float = 1e-10):
    """Fit one design to many series.

    Parameters
    ----------
    Y, offset, mask
        Units x periods arrays: outcomes, log offsets (zeros for gaussian) and 1/0 for
        observed periods.
    X
        Periods x parameters design matrix.
    family
        ``gaussian``, ``poisson`` or ``quasipoisson``.

    Returns
    -------
    beta, cov, scale, converged
        Units x p estimates, units x p x p covariance, per-unit dispersion (residual
        variance for gaussian) and a convergence flag per unit.
    """
    U, T = Y.shape
    p = X.shape[1]
    Y = np.where(mask > 0, Y, 0.0)
    n_obs = mask.sum(1)
    if family == "gaussian":
        XtWX = _xtwx(X, mask)
        XtWy = (mask * Y) @ X
        beta = np.linalg.solve(XtWX, XtWy[..., None])[..., 0]
        resid = (Y - beta @ X.T) * mask
        scale = (resid**2).sum(1) / (n_obs - p)
        cov = np.linalg.inv(XtWX) * scale[:, None, None]
        return beta, cov, scale, np.ones(U, dtype=bool)
    rate = (Y * mask).sum(1) / (np.exp(offset) * mask).sum(1)
    beta = np.zeros((U, p))
    beta[:, 0] = np.log(np.maximum(rate, 1e-12))
    converged = np.zeros(U, dtype=bool)
    for _ in range(max_iter):
        eta = beta @ X.T + offset
        mu = np.exp(eta)
        W = mu * mask
        z = eta - offset + (Y - mu) / mu
        XtWX = _xtwx(X, W)
        XtWz = (W * z) @ X
        new = np.linalg.solve(XtWX, XtWz[..., None])[..., 0]
        step = np.abs(new - beta).max(1)
        beta = np.where(converged[:, None], beta, new)
        converged |= step < tol
        if converged.all():
            break
    mu = np.exp(beta @ X.T + offset)
    cov = np.linalg.inv(_xtwx(X, mu * mask))
    if family == "quasipoisson":
        scale = (((Y - mu) ** 2 / mu) * mask).sum(1) / (n_obs - p)
    else:
        scale = np.ones(U)
    return beta, cov * scale[:, None, None], scale, converged


def its_batch(data: pd.DataFrame, *, outcome: str, time: str, start: Any, unit: str,
              family: str = "quasipoisson", denominator: str | None = None,
              seasonality=None, slope_change: bool = True, impact=None, washout: int = 0,
              horizons: Sequence[int] = (6, 12, 24), per: float = 1000.0,
              conf_level: float = 0.95, scheme: str | None = None,
              domain: str = "outcome", autocorrelation: str = "auto") -> DesignResult:
    """Fit the same ITS to every unit of a panel (called by ``ek.its(..., unit=...)``).

    ``autocorrelation``: ``auto`` or ``ar`` (AR(1) errors, as :func:`evalkit.its` fits one
    series by default) or ``none``.

    Returns a :class:`DesignResult` whose effect records carry one row per unit and
    estimand (the unit is in ``diagnostics["unit"]``), and whose
    ``plot_data()["unit_effects"]`` is a wide table with one row per unit.
    """

    check_its_options(family=family, denominator=denominator, autocorrelation=autocorrelation,
              seasonality=seasonality, conf_level=conf_level, washout=washout)
    if autocorrelation not in ("auto", "ar", "none"):
        raise DesignError(f"batch ITS fits autocorrelation 'auto' (AR(1) errors) or 'none', "
                          f"not '{autocorrelation}'",
                          fix="use autocorrelation: auto, or fit units one at a time")
    if family not in BATCH_FAMILIES:
        raise DesignError(f"batch ITS supports {', '.join(BATCH_FAMILIES)}, not {family}",
                          fix="fit units one at a time, or use family 'quasipoisson'")
    file = data.attrs.get("source")
    check_panel(data, unit=unit, time=time, outcomes={outcome: family},
                denominator=denominator, file=file).raise_for_errors()
    codes, axis = parse_periods(data[time], file=file, column=time)
    starts = list(start) if isinstance(start, (list, tuple)) else [start]
    interruptions = [Interruption(parse_period(s, axis), axis.label(parse_period(s, axis)), i)
                     for s, i in zip(starts, impact_kinds(impact, slope_change, len(starts)),
                                     strict=True)]
    periods = np.arange(codes.min(), codes.max() + 1)
    uidx, units = pd.factorize(data[unit], sort=True)
    units = np.asarray(units.astype(str), dtype=object)
    tidx = codes - periods[0]
    U, T = len(units), len(periods)
    Y = np.zeros((U, T))
    D = np.ones((U, T))
    M = np.zeros((U, T))
    y = pd.to_numeric(data[outcome], errors="coerce").to_numpy(dtype=float)
    den = (pd.to_numeric(data[denominator], errors="coerce").to_numpy(dtype=float)
           if denominator else np.ones(len(data)))
    ok = np.isfinite(y) & np.isfinite(den)
    Y[uidx[ok], tidx[ok]] = y[ok]
    D[uidx[ok], tidx[ok]] = den[ok]
    M[uidx[ok], tidx[ok]] = 1.0
    for it in interruptions:
        M[:, (periods >= it.code) & (periods < it.code + washout)] = 0.0
    Xf = design_matrix(periods, interruptions, first=int(periods[0]), seasonality=seasonality,
                       monthly=axis.kind == "month")
    X = Xf.to_numpy()
    offset = np.log(D) if family != "gaussian" and denominator else np.zeros((U, T))

    # Units with too few points either side of the first interruption are reported, not fitted.
    s1 = interruptions[0].code
    n_pre = (M[:, periods < s1]).sum(1)
    n_post = (M[:, periods >= s1]).sum(1)
    fittable = (n_pre >= 8) & (n_post >= 8) & (M.sum(1) > X.shape[1] + 1)
    if family != "gaussian":
        fittable &= (Y * M).sum(1) > 0
    beta = np.full((U, X.shape[1]), np.nan)
    cov = np.full((U, X.shape[1], X.shape[1]), np.nan)
    scale = np.full(U, np.nan)
    conv = np.zeros(U, dtype=bool)
    rho = np.full(U, np.nan)
    # Covariance parameters behind the Satterthwaite df: (sigma^2, rho) for gaussian
    # outcomes, (a, b, rho) of the latent count model (its_model.latent_kenward_roger).
    m = 2 if family == "gaussian" else 3
    dcov = np.zeros((U, m, X.shape[1], X.shape[1]))
    wcov = np.zeros((U, m, m))
    cov_model = cov.copy()
    if fittable.any() and autocorrelation == "none":
        b, c, sc, cv = fit_batch(Y[fittable], X, offset[fittable], M[fittable], family=family)
        beta[fittable], cov[fittable], scale[fittable], conv[fittable] = b, c, sc, cv
        cov_model[fittable] = c
    elif fittable.any():
        # Units that share a pattern of observed periods share a design: one vectorised
        # AR(1) fit a pattern (missing periods dropped, as ek.its drops them).
        patterns, which = np.unique(M[fittable] > 0, axis=0, return_inverse=True)
        rows = np.flatnonzero(fittable)
        for k, seen in enumerate(patterns):
            idx = rows[np.ravel(which) == k]
            fit = fit_ar1_batch(Y[np.ix_(idx, seen)], X[seen], offset[np.ix_(idx, seen)],
                                family="gaussian" if family == "gaussian" else "quasipoisson")
            beta[idx], cov[idx], scale[idx], rho[idx] = fit.params, fit.cov, fit.scale, fit.rho
            cov_model[idx], dcov[idx], wcov[idx] = fit.cov_model, fit.dcov, fit.W
            conv[idx] = np.all(np.isfinite(fit.params), axis=1)
    warnings = []
    skipped = units[~fittable]
    if skipped.size:
        warnings.append(f"{skipped.size} unit(s) not fitted (fewer than 8 points on a side, "
                        f"or no events): {', '.join(skipped[:5])}"
                        + ("…" if skipped.size > 5 else ""))
    failed = units[fittable & ~conv]
    if failed.size:
        warnings.append(f"{failed.size} unit(s) did not converge: {', '.join(failed[:5])}")
        beta[fittable & ~conv] = np.nan

    # Contrasts: level/slope per interruption and the effect at each horizon.
    names = list(Xf.columns)
    contrasts: dict[str, np.ndarray] = {}
    for k in range(len(interruptions)):
        sfx = "" if k == 0 else f":{k + 1}"
        for kind in ("level_change", "slope_change"):
            if f"{kind}{sfx}" in names:
                c = np.zeros(len(names))
                c[names.index(f"{kind}{sfx}")] = 1.0
                contrasts[f"{kind}{sfx}"] = c
    cf_cols = [i for i, nme in enumerate(names) if nme.startswith(("level_", "slope_"))]
    for h in horizons:
        if s1 + h <= periods[-1]:
            row = X[np.flatnonzero(periods == s1 + h)[0]]
            c = np.zeros(len(names))
            c[cf_cols] = row[cf_cols]
            contrasts[f"effect_at_{h}"] = c
    q = stats.norm.ppf(1 - (1 - conf_level) / 2) if family != "gaussian" else None
    ratio = family != "gaussian"
    frames = []
    for estimand, c in contrasts.items():
        est = beta @ c
        se = np.sqrt(np.einsum("p,upq,q->u", c, cov, c))
        if autocorrelation != "none":
            # t with the Satterthwaite df of the contrast (satterthwaite_df, per unit)
            v = np.einsum("p,upq,q->u", c, cov_model, c)
            d = np.einsum("p,umpq,q->um", c, dcov, c)
            var = np.einsum("um,umn,un->u", d, wcov, d)
            with np.errstate(divide="ignore", invalid="ignore"):
                df = np.where(var > 0, 2 * v**2 / var, np.inf)
            df = np.maximum(df, 1.0)  # bounded below by 1, as ek.its bounds them
            qt = stats.t.ppf(1 - (1 - conf_level) / 2, df)
            lo, hi = est - qt * se, est + qt * se
            p = 2 * stats.t.sf(np.abs(est) / se, df)
            if ratio:
                est, lo, hi = np.exp(est), np.exp(lo), np.exp(hi)
        elif ratio:
            lo, hi = est - q * se, est + q * se
            p = 2 * stats.norm.sf(np.abs(est) / se)
            est, lo, hi = np.exp(est), np.exp(lo), np.exp(hi)
        else:
            df = M.sum(1) - X.shape[1]
            qt = stats.t.ppf(1 - (1 - conf_level) / 2, np.maximum(df, 1))
            lo, hi = est - qt * se, est + qt * se
            p = 2 * stats.t.sf(np.abs(est) / se, np.maximum(df, 1))
        frames.append(pd.DataFrame({"unit": units, "estimand": estimand, "estimate": est,
                                    "se": se, "ci_low": lo, "ci_high": hi, "p_value": p,
                                    "dispersion": scale, "pre_periods": n_pre.astype(int),
                                    "post_periods": n_post.astype(int)}))
    long = pd.concat(frames, ignore_index=True)
    per_unit = [{"unit": u, "dispersion": float(d), "batch": True,
                 "remedy": "none" if autocorrelation == "none" else "ar",
                 **({} if autocorrelation == "none" else {"ar_rho": float(r)})}
                for u, d, r in zip(units.tolist(), scale.tolist(), rho.tolist(), strict=True)]
    effects = pd.DataFrame({
        "scheme": scheme, "domain": domain, "outcome": outcome, "design": "its",
        "estimand": long["estimand"], "scale": "ratio" if ratio else "difference",
        "estimate": long["estimate"], "se": long["se"], "ci_low": long["ci_low"],
        "ci_high": long["ci_high"], "conf_level": float(conf_level),
        "p_value": long["p_value"], "n_units": 1, "pre_periods": long["pre_periods"],
        "post_periods": long["post_periods"], "evidence_level": 3,
        "diagnostics": per_unit * len(contrasts),
        "warnings": [()] * len(long),
    }, columns=list(EFFECT_FIELDS))
    wide = long.pivot(index="unit", columns="estimand", values="estimate").reset_index()
    options = dict(outcome=outcome, time=time, start=start, unit=unit, family=family,
                   denominator=denominator, seasonality=seasonality, slope_change=slope_change,
                   impact=impact, washout=washout, horizons=list(horizons), per=per,
                   conf_level=conf_level, autocorrelation=autocorrelation)
    return DesignResult(design="its", effects=effects,
                        diagnostics={"batch": True, "units": int(U),
                                     "remedy": "none" if autocorrelation == "none" else "ar",
                                     "units_fitted": int((fittable & conv).sum()),
                                     "family": family, "terms": names},
                        warnings=tuple(warnings), options=options,
                        frames={"unit_effects": wide, "unit_effects_long": long})
