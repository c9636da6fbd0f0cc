"""Comparing units: funnel plots against a target, and standardised rates.

- :func:`funnel` places each practice's (or PCN's) proportion or rate against exact
  binomial or Poisson limits, optionally inflated for overdispersion (Spiegelhalter, 2005).
- :func:`standardised_rates` gives directly standardised rates with Dobson intervals, or
  indirectly standardised ratios (SMR/SIR) and rates with Byar's or exact intervals.
"""

from evalkit.variation.funnel import DEFAULT_LIMITS, FunnelResult, exact_limits, funnel
from evalkit.variation.standardise import StandardisedRates, poisson_limits, standardised_rates

__all__ = ["funnel", "FunnelResult", "exact_limits", "DEFAULT_LIMITS", "standardised_rates",
           "StandardisedRates", "poisson_limits"]
