"""Engagement measures: referral indices, composites, staff surveys, maturity, dose-response.

- :mod:`.indices`: :func:`engagement` (referrals, MDT attendance, care plans,
  concentration, time to first referral) and the measures it uses (:func:`gini`,
  :func:`lorenz_curve`, :func:`top_share`, :func:`kaplan_meier`);
- :mod:`.composite`: :func:`composite_index` and :func:`weight_sensitivity`;
- :mod:`.survey`: :func:`likert_summary`, :func:`likert_change`, :func:`cronbach_alpha`;
- :mod:`.maturity`: :data:`BUILDING_BLOCKS` and :func:`maturity`;
- :mod:`.dose_response`: :func:`dose_response` and :func:`dose_response_panel`.

Plots of these results are in :mod:`evalkit.plots.engagement`.
"""

from evalkit.engagement.composite import (
    CompositeResult,
    WeightSensitivity,
    composite_index,
    weight_sensitivity,
)
from evalkit.engagement.dose_response import DoseResponseResult, dose_response, dose_response_panel
from evalkit.engagement.indices import (
    EngagementResult,
    engagement,
    gini,
    kaplan_meier,
    lorenz_curve,
    top_share,
    wilson_interval,
)
from evalkit.engagement.maturity import BODENHEIMER_NAMES, BUILDING_BLOCKS, MaturityResult, maturity
from evalkit.engagement.survey import (
    LikertSummary,
    ReliabilityResult,
    cronbach_alpha,
    feldt_interval,
    likert_change,
    likert_summary,
)

__all__ = [
    "engagement", "EngagementResult", "wilson_interval", "gini", "lorenz_curve", "top_share",
    "kaplan_meier",
    "composite_index", "weight_sensitivity", "CompositeResult", "WeightSensitivity",
    "likert_summary", "likert_change", "cronbach_alpha", "feldt_interval", "LikertSummary",
    "ReliabilityResult",
    "BUILDING_BLOCKS", "BODENHEIMER_NAMES", "maturity", "MaturityResult",
    "dose_response", "dose_response_panel", "DoseResponseResult",
]
