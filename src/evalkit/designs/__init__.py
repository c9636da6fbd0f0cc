"""Evaluation designs: one module per design, one top-level function each."""

from ..economics.evaluation import economic  # noqa: E402  (costs and value, per patient)
from .did import did
from .event_study import event_study
from .its import its
from .its_checks import its_placebo, its_power, its_sensitivity
from .matching import match, matched
from .prepost import prepost
from .staggered_did import staggered_did
from .synthetic_control import synthetic_control

#: The designs an evaluation spec can name, and the function behind each.
DESIGNS = {"prepost": prepost, "its": its, "did": did, "event_study": event_study,
           "staggered_did": staggered_did, "matched": matched,
           "synthetic_control": synthetic_control, "economic": economic}

__all__ = ["DESIGNS", "prepost", "its", "did", "event_study", "staggered_did", "its_placebo",
           "its_sensitivity", "its_power", "match", "matched", "synthetic_control",
           "economic"]
