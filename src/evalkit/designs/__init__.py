"""Evaluation designs: one module per design, one top-level function each.

The registry of the designs a spec can name, which adds the economic evaluation from
:mod:`evalkit.economics`, is :data:`evalkit.evaluation.designs.DESIGNS`.
"""

from evalkit.designs.did import did
from evalkit.designs.event_study import event_study
from evalkit.designs.its import its
from evalkit.designs.its_checks import its_placebo, its_power, its_sensitivity
from evalkit.designs.matching import match, matched
from evalkit.designs.prepost import prepost
from evalkit.designs.staggered_did import staggered_did
from evalkit.designs.synthetic_control import synthetic_control

__all__ = ["prepost", "its", "did", "event_study", "staggered_did", "its_placebo",
           "its_sensitivity", "its_power", "match", "matched", "synthetic_control"]
