"""Power and the minimum detectable effect of difference-in-differences (DiD) and
staggered DiD, from placebo start dates in the user's own pre-period.

For a placebo start ``s`` inside the pre-period (every cohort's placebo start moved back
by the same lag, so its windows end before its real start), each unit's change is the
mean over ``followup`` periods from ``s`` less the mean over the ``baseline`` periods
before it. The placebo estimate is the treated units' mean change less the comparison
units' (never treated), averaged over cohorts in proportion to their size: the 2x2 DiD
:func:`evalkit.did` fits on a balanced panel, and the simple aggregate of
:func:`evalkit.staggered_did` against never-treated units. There is no effect at a
placebo date, so the standard deviation of the placebo estimates is the standard error
under no effect, with whatever trends, seasonality, autocorrelation and clustering the panel
has; the MDE is ``(z_{1-alpha/2} + z_power)`` times it. The placebo estimates' mean
(``drift``: how the treated units move against the comparison units when nothing
happens) shifts ``mde_fall`` and ``mde_rise``, and the power for a named effect.

How the MDE changes with the number of units: random subsets of each cohort and of the
comparison units (a quarter to all of them) give the placebo variance at each size; a fit
of ``variance = a + b / multiple`` (``a`` the shocks all units share, ``b`` the rest)
carries it to more units than were observed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_period, parse_periods
from evalkit.errors import DataError, DesignError
from evalkit.power.mde import FOLLOWUPS, power_at
from evalkit.power.result import PowerResult, mde_columns

__all__ = ["did_mde", "placebo_estimates", "window_changes"]

MIN_PLACEBOS = 10
UNIT_MULTIPLES = (0.25, 0.5, 1.0, 2.0, 4.0)


def window_changes(Y: np.ndarray, *, baseline: int, followup: int) -> np.ndarray:
    """Units x periods: the mean of ``Y`` over ``followup`` periods from each period less
    the mean over the ``baseline`` periods before it (NaN where a window does not fit;
    missing values are left out of the means)."""
    U, T = Y.shape
    ok = np.isfinite(Y)
    csum = np.concatenate([np.zeros((U, 1)), np.cumsum(np.where(ok, Y, 0.0), axis=1)], axis=1)
    ccnt = np.concatenate([np.zeros((U, 1)), np.cumsum(ok, axis=1)], axis=1)
    out = np.full((U, T), np.nan)
    s = np.arange(baseline, T - followup + 1)
    if s.size == 0:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        post = (csum[:, s + followup] - csum[:, s]) / (ccnt[:, s + followup] - ccnt[:, s])
        pre = (csum[:, s] - csum[:, s - baseline]) / (ccnt[:, s] - ccnt[:, s - baseline])
    out[:, s] = post - pre
    return out


def placebo_estimates(change: np.ndarray, cohort_of: np.ndarray, starts: np.ndarray,
                      lags: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Placebo DiD estimates, one for each lag (and each row of ``weights``).

    Parameters
    ----------
    change
        Units x periods window changes (:func:`window_changes`).
    cohort_of
        Each unit's cohort index (``-1`` for the comparison units).
    starts
        Each cohort's real start (a period index).
    lags
        How far back each placebo moves every cohort's start.
    weights
        Subsets x units 0/1 weights (which units are drawn); all units when None.

    Returns
    -------
    numpy.ndarray
        Subsets x lags estimates (NaN where no cohort's window fits).
    """
    U, T = change.shape
    W = np.ones((1, U)) if weights is None else np.asarray(weights, float)
    comp = (cohort_of == -1).astype(float)
    num = np.zeros((W.shape[0], lags.size))
    den = np.zeros((W.shape[0], lags.size))
    for c, g in enumerate(starts):  # a handful of cohorts; units and lags are vectorised
        s = g - lags
        fits = (s >= 0) & (s < T)
        cols = np.clip(s, 0, T - 1)
        D = change[:, cols]
        D = np.where(np.isfinite(D), D, 0.0)
        valid = np.isfinite(change[:, cols])
        member = (cohort_of == c).astype(float)
        wt, wc = W * member, W * comp
        nt, nc = wt @ valid, wc @ valid
        with np.errstate(invalid="ignore", divide="ignore"):
            est = (wt @ D) / nt - (wc @ D) / nc
        ok = fits[None, :] & (nt > 0) & (nc > 0) & np.isfinite(est)
        size = wt.sum(axis=1, keepdims=True)
        num += np.where(ok, est * size, 0.0)
        den += np.where(ok, size, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


@takes_frame
def did_mde(data: pd.DataFrame, *, outcome: str, unit: str, time: str,
            start=None, treated: str | None = None, cohort: str | None = None,
            denominator: str | None = None, per: float = 1000.0, baseline: int = 12,
            followup: int = 12, followups: Sequence[int] = FOLLOWUPS,
            effect: float | None = None, alpha: float = 0.05, power: float = 0.8,
            unit_multiples: Sequence[float] = UNIT_MULTIPLES, n_subsets: int = 200,
            seed: int = 20260701) -> PowerResult:
    """MDE and power of a DiD or staggered DiD from placebo start dates.

    Parameters
    ----------
    data, outcome, unit, time
        The panel (one row per unit and period).
    start, treated
        One start for all treated units, and the 0/1 column marking them (DiD).
    cohort
        Instead, each unit's first treated period (0 or empty: never treated), for a
        staggered design.
    denominator, per
        Analyse the rate per ``per`` of the denominator.
    baseline, followup
        Periods in the before and after windows of each comparison.
    followups
        Follow-up lengths for the curve (3 to 36, every 3).
    effect
        A difference (on the outcome's or rate's scale) to give the power for.
    alpha, power
        Two-sided level and target power.
    unit_multiples, n_subsets, seed
        Multiples of the observed numbers of units for the MDE-by-units frame, random
        subsets drawn at each fraction, and the seed.

    Returns
    -------
    PowerResult
        ``n_draws`` in the curve is the number of placebo dates; ``units`` the MDE at the
        planned follow-up by the number of units.
    """
    file = data.attrs.get("source")
    if (cohort is None) == (treated is None):
        raise DesignError("give either treated (with start) or cohort", file=file,
                          fix="treated: the 0/1 column and start: the date, or cohort: "
                              "each unit's first treated period")
    for col in [outcome, unit, time] + [c for c in (treated, cohort, denominator) if c]:
        if col not in data.columns:
            raise DataError(f"no column {col!r}", file=file, column=col,
                            fix="name a column of the panel")
    codes, axis = parse_periods(data[time], file=file, column=time)
    y = pd.to_numeric(data[outcome], errors="coerce").to_numpy(float)
    if denominator:
        y = y / pd.to_numeric(data[denominator], errors="coerce").to_numpy(float) * per
    units, u_idx = np.unique(data[unit].astype(str).to_numpy(), return_inverse=True)
    first, last = int(codes.min()), int(codes.max())
    T = last - first + 1
    Y = np.full((units.size, T), np.nan)
    Y[u_idx, codes - first] = y
    if cohort is not None:
        raw = data[cohort]
        never = raw.isna() | raw.astype(str).isin(["0", "", "0.0", "never"])
        ccode = np.full(len(data), -1)
        if (~never).any():
            ccode[~never.to_numpy()] = parse_periods(raw[~never].astype(str), file=file,
                                                     column=cohort)[0]
        unit_start = pd.Series(ccode).groupby(u_idx).max().to_numpy()
    else:
        if start is None:
            raise DesignError("a DiD needs its start", file=file, fix="give start=...")
        s = parse_period(start, axis)
        flag = pd.to_numeric(data[treated], errors="coerce").fillna(0).to_numpy() > 0
        is_t = pd.Series(flag).groupby(u_idx).max().to_numpy()
        unit_start = np.where(is_t, s, -1)
    starts_code = np.unique(unit_start[unit_start >= 0])
    if starts_code.size == 0 or (unit_start < 0).sum() == 0:
        raise DesignError("the placebo DiD needs treated units and never-treated comparison "
                          "units", file=file, fix="check the treated or cohort column")
    starts = (starts_code - first).astype(int)
    cohort_of = np.where(unit_start >= 0, np.searchsorted(starts_code, unit_start), -1)
    treated_units = cohort_of >= 0
    base_level = float(np.nanmean(Y[treated_units][:, max(0, int(starts.min()) - 12):
                                                    int(starts.min())]))
    lags_all = np.arange(1, T + 1)
    followups = sorted({int(h) for h in followups} | {int(followup)})
    rows = []
    for h in followups:
        change = window_changes(Y, baseline=baseline, followup=h)
        lags = lags_all[lags_all >= h]  # the placebo window ends before the real start
        est = placebo_estimates(change, cohort_of, starts, lags)[0]
        est = est[np.isfinite(est)]
        se = float(np.std(est)) if est.size >= 3 else np.nan
        rows.append({"followup": h, "se": se, "n_draws": int(est.size),
                     "drift": float(est.mean()) if est.size >= 3 else np.nan})
    curve = pd.DataFrame(rows)
    cols = mde_columns(curve["se"].to_numpy(), scale="difference", baseline=base_level,
                       alpha=alpha, power=power)
    # A drift of the treated units against the comparison in the pre-period (the placebo
    # estimates' mean) would bias the estimate the same way if it went on: a fall then has
    # to be larger (drift up) or can be smaller (drift down) to be seen.
    cols["mde_fall"] = cols["mde_fall"] - curve["drift"].to_numpy()
    cols["mde_rise"] = cols["mde_rise"] - curve["drift"].to_numpy()
    curve = pd.concat([curve[["followup"]], pd.DataFrame(cols),
                       curve.drop(columns=["followup", "se"])], axis=1)
    planned = curve[curve["followup"] == followup].iloc[0]
    warnings = []
    if abs(planned["drift"]) > 0.25 * planned["se"]:
        warnings.append(f"In the pre-period the treated units drift against the comparison "
                        f"units by {planned['drift']:.3g} on average over {followup} periods "
                        "(the placebo estimates' mean): if that goes on it biases the DiD, and "
                        "mde_fall and mde_rise allow for it.")
    if planned["n_draws"] < MIN_PLACEBOS:
        warnings.append(f"Only {int(planned['n_draws'])} placebo dates fit in the pre-period "
                        f"at a follow-up of {followup}: the standard error is rough.")
    units_frame = _by_units(Y, cohort_of, starts, baseline=baseline, followup=followup,
                            multiples=unit_multiples, n_subsets=n_subsets, seed=seed,
                            alpha=alpha, power=power, base_level=base_level)
    staggered = starts.size > 1
    n_units = int(units.size)
    return PowerResult(
        design="staggered_did" if staggered else "did", outcome=outcome, scale="difference",
        curve=curve, followup=int(followup),
        method=(f"placebo start dates in the pre-period ({int(planned['n_draws'])} at the "
                f"planned follow-up; {baseline}-period baseline windows"
                + (f", {starts.size} cohorts" if staggered else "") + ")"),
        units=units_frame, effect=effect,
        power=None if effect is None else float(power_at(effect + planned["drift"],
                                                          planned["se"], alpha)),
        alpha=alpha, target_power=power, baseline=base_level,
        diagnostics={"n_units": n_units, "drift": float(planned["drift"]),
                     "n_treated": int(treated_units.sum()),
                     "n_comparison": int((~treated_units).sum()), "cohorts": starts.size,
                     "outcome_scale": f"per {per:g}" if denominator else "as given"},
        warnings=tuple(warnings))


def _by_units(Y, cohort_of, starts, *, baseline, followup, multiples, n_subsets, seed,
              alpha, power, base_level) -> pd.DataFrame:
    """The MDE at the planned follow-up for other numbers of units (see module doc)."""
    rng = np.random.default_rng(seed)
    change = window_changes(Y, baseline=baseline, followup=followup)
    lags = np.arange(followup, Y.shape[1] + 1)
    fractions = np.array([0.25, 0.5, 0.75, 1.0])
    variances = []
    groups = [np.flatnonzero(cohort_of == c) for c in range(-1, starts.size)]
    for f in fractions:
        W = np.zeros((n_subsets if f < 1 else 1, Y.shape[0]))
        for members in groups:  # draw the same fraction of every cohort and the comparison
            k = max(1, int(round(f * members.size)))
            pick = np.argsort(rng.random((W.shape[0], members.size)), axis=1)[:, :k]
            W[np.arange(W.shape[0])[:, None], members[pick]] = 1.0
        est = placebo_estimates(change, cohort_of, starts, lags, W)
        variances.append(float(np.nanmean(np.nanvar(est, axis=1))))
    A = np.column_stack([np.ones_like(fractions), 1 / fractions])
    (a, b), *_ = np.linalg.lstsq(A, np.asarray(variances), rcond=None)
    if a < 0:  # no common component: variance in proportion to 1 / units
        a, b = 0.0, float(np.sum(np.asarray(variances) / fractions) / np.sum(1 / fractions**2))
    m = np.asarray(multiples, float)
    se = np.sqrt(np.maximum(a + b / m, 0.0))
    cols = mde_columns(se, scale="difference", baseline=base_level, alpha=alpha, power=power)
    return pd.DataFrame({"multiple": m, "n_units": np.round(m * Y.shape[0]).astype(int),
                         **cols})
