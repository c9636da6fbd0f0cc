"""The E-value: how strong unmeasured confounding would have to be to explain an effect away.

The E-value (VanderWeele and Ding, 2017) is the minimum strength of association, on the
risk-ratio scale, that an unmeasured confounder would need with both the treatment and
the outcome, beyond the measured covariates, to fully explain away an observed risk
ratio RR:

    E = RR + sqrt(RR * (RR - 1))   for RR > 1 (for RR < 1, use 1/RR first).

The E-value of the confidence interval is that of the limit nearest no effect (1 if the
interval includes no effect). Rate ratios are used as risk ratios (a rare outcome, or
counts). For a difference in means on a continuous outcome, the standardised difference
d (the difference over the outcome's standard deviation) is converted with
RR ~ exp(0.91 d) (VanderWeele and Ding, 2017, section "Other effect measures", after
Hasselblad and Hedges, 1995).

References
----------
VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational research: introducing
the E-value. *Annals of Internal Medicine* 167:268-274.
Hasselblad V, Hedges LV (1995). Meta-analysis of screening and diagnostic tests.
*Psychological Bulletin* 117:167-178.
"""

from __future__ import annotations

import math

__all__ = ["e_value", "e_values"]


def e_value(rr: float) -> float:
    """The E-value of a risk ratio.

    Examples
    --------
    >>> round(e_value(3.9), 2)
    7.26
    >>> e_value(1.0)
    1.0
    """
    if not rr > 0 or not math.isfinite(rr):
        return math.nan
    rr = 1 / rr if rr < 1 else rr
    return rr + math.sqrt(rr * (rr - 1))


def e_values(estimate: float, ci_low: float, ci_high: float, *, scale: str = "ratio",
             sd: float | None = None) -> tuple[float, float]:
    """E-values of an estimate and of its confidence limit nearest no effect.

    Parameters
    ----------
    estimate, ci_low, ci_high
        The effect and its interval: a ratio for ``scale="ratio"``, else a difference.
    scale
        ``"ratio"`` or ``"difference"``.
    sd
        For differences: the outcome's standard deviation (d = difference / sd).

    Returns
    -------
    (float, float)
        The estimate's E-value and the interval's (1 when it includes no effect); NaN
        when they cannot be computed (a difference without ``sd``).

    Examples
    --------
    >>> [round(v, 2) for v in e_values(3.9, 1.8, 8.7)]
    [7.26, 3.0]
    """
    if scale != "ratio":
        if sd is None or not sd > 0:
            return math.nan, math.nan
        estimate, ci_low, ci_high = (math.exp(0.91 * v / sd)
                                     for v in (estimate, ci_low, ci_high))
    if ci_low <= 1 <= ci_high:
        limit = 1.0
    else:
        limit = ci_low if estimate > 1 else ci_high
    return e_value(estimate), e_value(limit)
