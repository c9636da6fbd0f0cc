"""An empirical check of a DiD MDE on the user's own panel.

Effects of the size of the MDE are planted, in a copy held in memory, at every placebo
start date in the pre-period (the windows :func:`~evalkit.power.did_mde` used), and the
real estimator (:func:`evalkit.did`, two-way fixed effects on the window) is run on each.
An MDE that is right is detected in about the target share (80%) of the dates, by a test
with the placebo standard error; the share the DiD's own cluster-robust test detects is
given beside it (that test ignores shocks common to the treated units, so it detects more,
and rejects more often when there is no effect too).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_period, parse_periods
from evalkit.power.did import did_mde

__all__ = ["planted_detection"]


@takes_frame
def planted_detection(data: pd.DataFrame, *, outcome: str, unit: str, time: str, start,
                      treated: str, denominator: str | None = None, per: float = 1000.0,
                      baseline: int = 12, followup: int = 12, alpha: float = 0.05,
                      power: float = 0.8, direction: int = -1) -> pd.DataFrame:
    """Plant the MDE at each placebo date before ``start`` and run :func:`evalkit.did`.

    Returns
    -------
    pandas.DataFrame
        One row a placebo date: ``placebo_start``, ``estimate``, ``planted`` (the MDE with
        its sign and the pre-period drift allowed for), ``detected`` (|estimate| over the
        placebo SE beyond the two-sided critical value, in the planted direction),
        ``detected_did`` (the DiD's own p-value below ``alpha``, same direction), ``mde``
        and ``se``.
    """
    from evalkit.designs.did import did

    res = did_mde(data, outcome=outcome, unit=unit, time=time, start=start, treated=treated,
                  denominator=denominator, per=per, baseline=baseline, followup=followup,
                  followups=(followup,), alpha=alpha, power=power, unit_multiples=(1.0,),
                  n_subsets=2)
    codes, axis = parse_periods(data[time], column=time)
    s_real = parse_period(start, axis)
    copy = data.loc[codes < s_real].copy()
    codes = codes[codes < s_real]
    rate = pd.to_numeric(copy[outcome], errors="coerce").to_numpy(float)
    if denominator:
        rate = rate / pd.to_numeric(copy[denominator], errors="coerce").to_numpy(float) * per
    flag = pd.to_numeric(copy[treated], errors="coerce").fillna(0).to_numpy() > 0
    row = res.planned()
    planted = float(row["mde_fall"] if direction < 0 else row["mde_rise"])
    crit = stats.norm.ppf(1 - alpha / 2)
    first = int(codes.min())
    rows = []
    for s in range(first + baseline, s_real - followup + 1):
        keep = (codes >= s - baseline) & (codes < s + followup)
        window = copy.loc[keep, [unit, time, treated]].copy()
        window["_rate"] = rate[keep] + planted * (flag[keep] & (codes[keep] >= s))
        fit = did(window, outcome="_rate", unit=unit, time=time, treated=treated,
                  start=axis.label(s) if axis.kind == "month" else s, inference="cluster")
        e = fit.effects.set_index("estimand").loc["att_twfe"]
        est = float(e["estimate"])
        rows.append({"placebo_start": axis.label(s), "estimate": est, "planted": planted,
                     "detected": bool(abs(est) > crit * res.se and np.sign(est) == direction),
                     "detected_did": bool(e["p_value"] < alpha
                                          and np.sign(est) == direction),
                     "mde": abs(planted), "se": res.se})
    return pd.DataFrame(rows)
