"""Falsification, robustness and planning for interrupted time series.

- :func:`its_placebo` refits the ITS at placebo interruptions inside the
  pre-period (using pre-period data only). A credible design finds no 'effects'
  there.
- :func:`its_sensitivity` refits with other numbers of harmonics and washout
  lengths, to show how much the estimate depends on those choices.
- :func:`its_power` gives the standard error, power and minimum detectable
  effect (MDE) of a planned count ITS, from the GLS variance with quasi-Poisson
  dispersion and AR(1) autocorrelation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_period, parse_periods
from evalkit.designs.its import its
from evalkit.designs.its_model import Interruption, _ar1_inverse, design_matrix
from evalkit.errors import DesignError

__all__ = ["its_placebo", "its_sensitivity", "its_power"]


@takes_frame
def its_placebo(data: pd.DataFrame, *, every: int = 6, min_points: int = 8,
                **options: Any) -> pd.DataFrame:
    """Placebo interruptions in the pre-period.

    Parameters
    ----------
    data
        As for :func:`evalkit.its`.
    every
        Spacing of placebo dates, in periods.
    min_points
        Points each placebo needs on either side (within the pre-period).
    **options
        The options of the real analysis (``outcome``, ``time``, ``start`` and so on).

    Returns
    -------
    pandas.DataFrame
        One row per placebo date: the level change, its interval and p-value. Under a
        credible design about 5% of p-values fall below 0.05.
    """
    time = options["time"]
    codes, axis = parse_periods(data[time], column=time)
    real = options["start"]
    first_real = parse_period(real[0] if isinstance(real, (list, tuple)) else real, axis)
    pre = data.loc[codes < first_real]
    pre_codes = codes[codes < first_real]
    lo, hi = int(pre_codes.min()), first_real
    dates = list(range(lo + min_points, hi - min_points + 1, every))
    if not dates:
        raise DesignError(f"the pre-period is too short for placebo dates ({hi - lo} periods; "
                          f"each needs {min_points} on both sides)",
                          fix="use a smaller min_points or skip placebo tests")
    rows = []
    opts = {k: v for k, v in options.items() if k not in ("start", "washout", "horizons")}
    for d in dates:
        label = axis.label(d)
        start = label if axis.kind == "month" else d
        res = its(pre, start=start, horizons=(), **opts)
        e = res.effects.set_index("estimand").loc["level_change"]
        rows.append({"placebo_start": label, "estimate": e["estimate"], "ci_low": e["ci_low"],
                     "ci_high": e["ci_high"], "p_value": e["p_value"]})
    return pd.DataFrame(rows)


@takes_frame
def its_sensitivity(data: pd.DataFrame, *, harmonics=(0, 1, 2, 3), washouts=(0, 1, 2, 3),
                    estimand: str = "level_change", **options: Any) -> pd.DataFrame:
    """Refit with other numbers of harmonics and washout lengths.

    Returns
    -------
    pandas.DataFrame
        One row per (harmonics, washout): the estimate, its interval and the remedy used.
    """
    rows = []
    for k in harmonics:
        for w in washouts:
            season = None if k == 0 else {"fourier": k, "period": 12}
            opts = {**options, "seasonality": season, "washout": w}
            try:
                res = its(data, **opts)
            except DesignError as err:
                rows.append({"harmonics": k, "washout": w, "estimate": np.nan,
                             "ci_low": np.nan, "ci_high": np.nan, "note": err.message})
                continue
            e = res.effects.set_index("estimand").loc[estimand]
            rows.append({"harmonics": k, "washout": w, "estimate": e["estimate"],
                         "ci_low": e["ci_low"], "ci_high": e["ci_high"],
                         "note": res.diagnostics["remedy"]})
    return pd.DataFrame(rows)


def its_power(*, n_pre: int, n_post: int, baseline_count: float, effect: float | None = None,
              dispersion: float = 1.0, rho: float = 0.0, slope_change: bool = False,
              harmonics: int = 0, alpha: float = 0.05, power: float = 0.8) -> dict:
    """Standard error, power and minimum detectable effect of a planned count ITS.

    The variance of the log level change is taken from the GLS information
    ``phi (X' A^1/2 R^-1 A^1/2 X)^-1`` with ``A = diag(mu)`` (expected counts a period,
    held at ``baseline_count``), ``R`` the AR(1) correlation matrix and ``phi`` the
    quasi-Poisson dispersion: the model :func:`evalkit.its` fits with
    ``autocorrelation="ar"``.

    Parameters
    ----------
    n_pre, n_post
        Points before and after the interruption.
    baseline_count
        Expected events per period.
    effect
        A rate ratio to compute power for.
    dispersion, rho
        Quasi-Poisson dispersion and lag-1 autocorrelation.
    slope_change, harmonics
        Whether the model also has a slope change, and the number of harmonics.
    alpha, power
        Two-sided significance level and target power for the MDE.

    Returns
    -------
    dict
        ``se_log_level``, ``mde_reduction`` (the smallest rate ratio below 1 detectable
        with the target power), ``mde_increase``, and ``power`` when ``effect`` is given.

    Examples
    --------
    >>> out = its_power(n_pre=48, n_post=24, baseline_count=200, dispersion=2, rho=0.3)
    >>> 0.85 < out["mde_reduction"] < 1
    True
    """
    if n_pre < 8 or n_post < 8:
        raise DesignError("an ITS needs at least 8 points each side",
                          fix="plan a longer series")
    n = n_pre + n_post
    codes = np.arange(n)
    it = Interruption(n_pre, str(n_pre), "step+slope" if slope_change else "step")
    X = design_matrix(codes, [it], first=0,
                      seasonality={"fourier": harmonics, "period": 12} if harmonics else None,
                      monthly=False).to_numpy()
    mu = np.full(n, float(baseline_count))
    D = X * np.sqrt(mu)[:, None]
    cov = np.linalg.inv(D.T @ _ar1_inverse(n, rho) @ D) * dispersion
    se = float(np.sqrt(cov[2, 2]))
    z_a, z_b = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    out = {"se_log_level": se, "mde_reduction": float(np.exp(-(z_a + z_b) * se)),
           "mde_increase": float(np.exp((z_a + z_b) * se)), "alpha": alpha,
           "target_power": power}
    if effect is not None:
        shift = abs(np.log(effect)) / se
        out["power"] = float(stats.norm.cdf(shift - z_a) + stats.norm.cdf(-shift - z_a))
    return out
