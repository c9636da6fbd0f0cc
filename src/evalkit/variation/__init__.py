"""Is a unit's variation special? Statistical process control over time, and units compared
with each other.

- :mod:`evalkit.variation.spc`: XmR, p- and u-charts with the Making Data Count rules;
- :func:`funnel` places each practice's (or PCN's) proportion or rate against exact
  binomial or Poisson limits, optionally inflated for overdispersion (Spiegelhalter, 2005).
- :func:`standardised_rates` gives directly standardised rates with Dobson intervals, or
  indirectly standardised ratios (SMR/SIR) and rates with Byar's or exact intervals.
"""

from evalkit.variation.funnel import DEFAULT_LIMITS, FunnelResult, exact_limits, funnel
from evalkit.variation.standardise import StandardisedRates, poisson_limits, standardised_rates

__all__ = ["funnel", "FunnelResult", "exact_limits", "DEFAULT_LIMITS", "standardised_rates",
           "StandardisedRates", "poisson_limits"]
