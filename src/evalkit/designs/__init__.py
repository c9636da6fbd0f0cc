"""Evaluation designs: one module per design, one top-level function each."""

from .prepost import prepost

#: The designs an evaluation spec can name, and the function behind each.
DESIGNS = {"prepost": prepost}

__all__ = ["DESIGNS", "prepost"]
