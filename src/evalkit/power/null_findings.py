"""Null findings that say what they could have found.

:func:`null_finding_text` gives the sentence an evidence summary can put beside an
effect whose interval includes no effect: "No fall was detected; the evaluation could
have detected a fall of 7% or more." It returns plain text (no markup) and None when
the interval excludes no effect. It is self-contained so the report can call it where
it words each finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from evalkit.power.result import PowerResult

__all__ = ["null_finding_text", "detectable_amount", "mde_from_se", "MDE_Z"]

#: z(0.975) + z(0.80): the minimum detectable effect is this many standard errors, for
#: 80% power in a two-sided test at 5%.
MDE_Z = 2.801585218


def mde_from_se(se: float, scale: str) -> float:
    """The minimum detectable effect from the precision an analysis achieved.

    ``MDE_Z`` standard errors (80% power, two-sided 5%; Bloom 1995). For a ratio the
    standard error is of the log ratio and the MDE is returned as the ratio of a fall,
    ``exp(-MDE_Z * se)``; otherwise it is the difference.

    Examples
    --------
    >>> round(mde_from_se(0.025, "ratio"), 4), round(mde_from_se(10.0, "difference"), 2)
    (0.9324, 28.02)
    """
    k = MDE_Z * float(se)
    return float(np.exp(-k)) if scale == "ratio" else k


def _mde_of(mde: PowerResult | float, scale: str) -> tuple[float, float | None]:
    """(MDE on the analysis scale, percent or None)."""
    if isinstance(mde, PowerResult):
        row = mde.planned()
        pct = float(row["percent"]) if np.isfinite(row["percent"]) else None
        return float(row["mde"]), pct
    value = float(mde)
    if scale == "ratio":  # a rate ratio below (or above) 1
        k = abs(np.log(value))
        return k, 100 * (1 - np.exp(-k))
    return abs(value), None


def null_finding_text(effect: Mapping[str, Any], mde: PowerResult | float, *,
                      improvement: str = "decrease", units: str = "",
                      money: bool = False) -> str | None:
    """The sentence for a finding of no detectable effect.

    Parameters
    ----------
    effect
        An effect record (a row of ``DesignResult.effects``): ``scale``, ``ci_low``,
        ``ci_high``.
    mde
        The power result for that outcome and design, or the MDE itself: a rate ratio
        (e.g. 0.93) for ``scale="ratio"``, a difference otherwise.
    improvement
        ``"decrease"`` (a fall is the hoped-for effect) or ``"increase"``.
    units
        Words after an absolute MDE (e.g. ``"admissions per 1,000 a month"``).
    money
        The outcome is a cost in pounds: an absolute MDE is shown in whole pounds
        (:func:`evalkit.evidence.narrative.format_gbp`), e.g. "a fall of £412 or more".

    Returns
    -------
    str or None
        None when the interval excludes no effect (or is missing).

    Examples
    --------
    >>> null_finding_text({"scale": "ratio", "ci_low": 0.9, "ci_high": 1.05}, 0.93)
    'No fall was detected; the evaluation could have detected a fall of 7% or more.'
    >>> null_finding_text({"scale": "difference", "ci_low": -900.0, "ci_high": 150.0},
    ...                   1234.4, money=True)
    'No fall was detected; the evaluation could have detected a fall of £1,234 or more.'
    """
    scale = str(effect.get("scale", "difference"))
    lo, hi = effect.get("ci_low"), effect.get("ci_high")
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    null = 1.0 if scale == "ratio" else 0.0
    if not lo <= null <= hi:
        return None
    word = "fall" if improvement == "decrease" else "rise"
    amount = detectable_amount(scale, mde, improvement=improvement, units=units,
                               money=money)
    return (f"No {word} was detected; the evaluation could have detected a {word} of "
            f"{amount} or more.")


def detectable_amount(scale: str, mde: PowerResult | float, *,
                      improvement: str = "decrease", units: str = "",
                      money: bool = False) -> str:
    """The minimum detectable effect as the reports show it: a percentage for a ratio
    ("7%"), whole pounds for money ("£1,234"), else 3 significant figures with ``units``.

    The one wording of an MDE, shared by :func:`null_finding_text` and the comparative
    synthesis's "too small to tell" table.

    Examples
    --------
    >>> detectable_amount("ratio", 0.93), detectable_amount("difference", 1234.4, money=True)
    ('7%', '£1,234')
    """
    size, pct = _mde_of(mde, scale)
    if scale == "ratio":
        shown = (100 * (1 - np.exp(-size)) if improvement == "decrease"
                 else 100 * (np.exp(size) - 1))
        return f"{shown:.0f}%"
    if money:
        from evalkit.evidence.narrative import format_gbp

        return format_gbp(size) + (f" {units}" if units else "")
    if pct is not None:
        return f"{size:.3g}{' ' + units if units else ''} ({pct:.0f}%)"
    return f"{size:.3g}{' ' + units if units else ''}"
