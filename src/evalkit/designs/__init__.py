"""Evaluation designs: one module per design, one top-level function each."""

from .its import its
from .its_checks import its_placebo, its_power, its_sensitivity
from .prepost import prepost

#: The designs an evaluation spec can name, and the function behind each.
DESIGNS = {"prepost": prepost, "its": its}

__all__ = ["DESIGNS", "prepost", "its", "its_placebo", "its_sensitivity", "its_power"]
