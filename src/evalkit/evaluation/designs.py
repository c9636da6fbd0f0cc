"""The designs an evaluation spec can name, and the function behind each."""

from evalkit.designs import (
                             did,
                             event_study,
                             its,
                             matched,
                             prepost,
                             staggered_did,
                             synthetic_control,
)
from evalkit.economics.evaluation import economic

__all__ = ["DESIGNS"]

#: The designs an evaluation spec can name, and the function behind each.
DESIGNS = {"prepost": prepost, "its": its, "did": did, "event_study": event_study,
           "staggered_did": staggered_did, "matched": matched,
           "synthetic_control": synthetic_control, "economic": economic}
