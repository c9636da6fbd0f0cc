"""Synthesis across schemes: random-effects meta-analysis, meta-regression, sensitivity.

:func:`meta_analysis` pools scheme effects (a table, or evalkit effect records) by REML,
DerSimonian-Laird, Paule-Mandel or a fixed-effect model, with optional
Hartung-Knapp-Sidik-Jonkman intervals, subgroups and moderators (a mixed-effects
meta-regression). :func:`leave_one_out`, :func:`influence` and :func:`egger_test` probe how
much the pooled result rests on single schemes or on small-study effects.
"""

from evalkit.synthesis.meta_analysis import meta_analysis
from evalkit.synthesis.meta_regression import MetaRegression
from evalkit.synthesis.model import METHODS, fit_model
from evalkit.synthesis.result import MetaResult
from evalkit.synthesis.sensitivity import EggerResult, egger_test, influence, leave_one_out

__all__ = ["meta_analysis", "MetaResult", "MetaRegression", "fit_model", "leave_one_out",
           "influence", "egger_test", "EggerResult", "METHODS"]
