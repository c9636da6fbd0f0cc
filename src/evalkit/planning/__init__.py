"""Planning an evaluation from the user's own data: ``evalkit init`` and ``evalkit advise``.

- :mod:`evalkit.planning.shape`: what the data files hold (unit, time, outcomes, ...).
- :mod:`evalkit.planning.advise`: the designs the data support, and which to lead with.
- :mod:`evalkit.planning.init`: a commented ``spec.yaml`` and a README from the data.
"""

from evalkit.planning.advise import Advice, DesignOption, advise
from evalkit.planning.init import InitResult, init

__all__ = ["advise", "Advice", "DesignOption", "init", "InitResult"]
