"""Engagement with a scheme, described from its own records.

Limited GP engagement is the most repeated finding about care-coordination
schemes. These summaries measure it from the scheme's referral, MDT and staff
survey tables (schemas in ``docs/data-contract.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["EngagementSummary", "describe_engagement", "wilson_interval"]


def wilson_interval(successes, n, conf_level: float = 0.95):
    """Wilson score interval for a proportion (vectorised)."""
    successes, n = np.asarray(successes, float), np.asarray(n, float)
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


@dataclass(frozen=True)
class EngagementSummary:
    """Engagement measures of one scheme.

    Attributes
    ----------
    referring
        Share of scheme units referring at least once in the first 12 months.
    referral_rates
        Referrals per 1,000 registered patients per unit over the first 12 months.
    mdt
        MDT attendance by profession: invited, attended, rate and Wilson interval.
    survey
        Share agreeing (4 or 5 on the 1-5 scale) by item and wave, with intervals.
    """

    referring: float
    n_units: int
    referral_rates: pd.DataFrame
    mdt: pd.DataFrame
    survey: pd.DataFrame

    def headline(self) -> str:
        """One plain-English sentence on engagement."""
        med = self.referral_rates["per_1000"].median()
        low = self.mdt.sort_values("rate").iloc[0]
        return (f"{self.referring:.0%} of the {self.n_units} scheme units referred at least "
                f"once in the first year (median {med:.1f} referrals per 1,000 patients); "
                f"MDT attendance was lowest for {low['profession']}s "
                f"({low['rate']:.0%}).")


def describe_engagement(referrals: pd.DataFrame, mdt: pd.DataFrame, survey: pd.DataFrame,
                        sizes: pd.DataFrame, *, unit: str, time: str = "month",
                        start=None, size_column: str = "list_size") -> EngagementSummary:
    """Summarise engagement from a scheme's referral, MDT and survey tables.

    Parameters
    ----------
    referrals
        Columns ``unit``, ``time``, ``referrals``.
    mdt
        Columns ``unit``, ``time``, ``profession``, ``invited``, ``attended``.
    survey
        Columns ``respondent``, ``unit``, ``wave`` (before/after), ``item``, ``response``.
    sizes
        A panel with ``unit``, ``time`` and ``size_column`` for rates per 1,000.
    unit, time
        Column names.
    start
        The scheme start; referrals in the 12 months from it are summarised (default:
        each unit's first 12 months of records).
    size_column
        The list-size or population column of ``sizes``.
    """
    from .periods import parse_period, parse_periods

    codes, axis = parse_periods(referrals[time], column=time)
    ref = referrals.assign(_t=codes)
    first = ref.groupby(unit)["_t"].transform("min") if start is None \
        else parse_period(start, axis)
    year1 = ref[(ref["_t"] >= first) & (ref["_t"] < first + 12)]
    per_unit = year1.groupby(unit)["referrals"].sum()
    size = sizes.groupby(unit)[size_column].mean().reindex(per_unit.index)
    rates = pd.DataFrame({"referrals": per_unit, "list_size": size,
                          "per_1000": per_unit / size * 1000}).reset_index()
    referring = float((per_unit > 0).mean())

    m = mdt.groupby("profession")[["invited", "attended"]].sum()
    lo, hi = wilson_interval(m["attended"], m["invited"])
    m = m.assign(rate=m["attended"] / m["invited"], ci_low=lo, ci_high=hi).reset_index()

    s = survey.assign(agree=(survey["response"] >= 4).astype(int))
    g = s.groupby(["item", "wave"])["agree"].agg(["sum", "count"])
    lo, hi = wilson_interval(g["sum"], g["count"])
    sv = g.assign(share=g["sum"] / g["count"], ci_low=lo, ci_high=hi).reset_index()
    sv = sv.rename(columns={"sum": "agree", "count": "respondents"})
    return EngagementSummary(referring=referring, n_units=int(per_unit.size),
                             referral_rates=rates, mdt=m, survey=sv)
