"""Planning an evaluation from the user's own data: ``evalkit init`` and ``evalkit advise``.

- :mod:`evalkit.planning.shape`: what the data files hold (unit, time, outcomes, ...).
- :mod:`evalkit.planning.advise`: the designs the data support, and which to lead with.
- :mod:`evalkit.planning.init`: a commented ``spec.yaml`` and a README from the data.
- :mod:`evalkit.planning.plan`: an evaluation plan from a spec (the advice and the MDE of
  each analysis), worded for ``reports/evaluation-plan.qmd`` by
  :mod:`evalkit.planning.plan_report`.
"""

from evalkit.planning.advise import Advice, DesignOption, advise
from evalkit.planning.init import InitResult, init
from evalkit.planning.plan import EvaluationPlan, plan

__all__ = ["advise", "Advice", "DesignOption", "init", "InitResult", "plan", "EvaluationPlan"]
