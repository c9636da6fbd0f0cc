"""Plots: each takes a result (or its effect records) and never refits.

Every plot function returns ``(figure, alt_text)``: the alt text states what the
figure shows, for reports and accessibility.
"""

from evalkit.plots.did import bacon_plot, cohort_trajectories_plot, event_study_plot
from evalkit.plots.display import show
from evalkit.plots.economics import ce_plane_plot, ceac_plot, tornado_plot
from evalkit.plots.effects import effects_plot
from evalkit.plots.engagement import (
    dose_response_plot,
    likert_plot,
    lorenz_plot,
    maturity_radar,
    mdt_attendance_plot,
    referral_share_plot,
)
from evalkit.plots.funnel import funnel_plot
from evalkit.plots.its import its_plot
from evalkit.plots.matching import love_plot
from evalkit.plots.palette import ANALYSIS_FUNCTION, NHS_BLUE
from evalkit.plots.prepost import prepost_plot
from evalkit.plots.spc import spc_facets, spc_plot
from evalkit.plots.synth import synth_gap_plot, synth_loo_plot, synth_path_plot
from evalkit.plots.synthesis import bubble_plot, effect_funnel_plot, forest_plot

__all__ = ["effects_plot", "its_plot", "prepost_plot", "event_study_plot",
           "cohort_trajectories_plot", "bacon_plot", "synth_path_plot", "synth_gap_plot",
           "synth_loo_plot", "love_plot", "ce_plane_plot", "ceac_plot", "tornado_plot",
           "spc_plot", "spc_facets", "funnel_plot", "referral_share_plot", "lorenz_plot",
           "mdt_attendance_plot", "likert_plot", "dose_response_plot", "maturity_radar",
           "forest_plot", "bubble_plot", "effect_funnel_plot",
           "NHS_BLUE", "ANALYSIS_FUNCTION", "show"]
