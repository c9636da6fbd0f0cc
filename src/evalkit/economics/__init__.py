"""Costs and economic evaluation: unit costs, costing, bootstrap intervals, cost models.

Costing (this subpackage's first half):

- :mod:`.unit_costs` -- packaged ILLUSTRATIVE unit costs and NHS cost inflation index,
  price-year conversion, and checked loading of the user's own table;
- :mod:`.costing` -- discounting, scheme (staffing and set-up) costs and resource-use
  costs;
- :mod:`.bootstrap` -- vectorised bootstrap intervals (percentile, basic, BCa);
- :mod:`.cost_models` -- :func:`cost_compare`, mean cost differences with the bootstrap,
  a gamma GLM, a two-part model or OLS;
- :mod:`.cost_effectiveness` -- ICER frontier with dominance, NMB, CEAC, EVPI and the
  joint bootstrap of incremental cost and effect;
- :mod:`.net_cost` -- net cost, return on investment and break-even;
- :mod:`.sensitivity` -- one-way (tornado) and probabilistic sensitivity analysis;
- :mod:`.evaluation` -- :func:`economic`, the economic evaluation an evaluation spec runs.
"""

from evalkit.economics.bootstrap import BootstrapCI, bootstrap_ci
from evalkit.economics.cost_effectiveness import (
    NICE_WTP,
    WTP_GRID,
    ce_bootstrap,
    ceac,
    evpi,
    icer,
    incremental,
    nmb,
)
from evalkit.economics.cost_models import MODELS, cost_compare
from evalkit.economics.costing import (
    DISCOUNT_RATE,
    SENSITIVITY_RATES,
    SchemeCosts,
    discount,
    discount_factors,
    resource_costs,
    scheme_costs,
)
from evalkit.economics.evaluation import economic
from evalkit.economics.net_cost import NetCost, break_even_year, net_cost
from evalkit.economics.sensitivity import draw_parameters, one_way, psa
from evalkit.economics.unit_costs import (
    financial_year,
    inflate,
    inflation_index,
    load_unit_costs,
    unit_costs,
)

__all__ = [
    # unit costs and prices
    "unit_costs", "inflation_index", "inflate", "load_unit_costs", "financial_year",
    # costing
    "DISCOUNT_RATE", "SENSITIVITY_RATES", "discount", "discount_factors", "scheme_costs",
    "SchemeCosts", "resource_costs",
    # uncertainty and models
    "bootstrap_ci", "BootstrapCI", "cost_compare", "MODELS",
    # cost-effectiveness
    "icer", "incremental", "nmb", "ceac", "evpi", "ce_bootstrap", "NICE_WTP", "WTP_GRID",
    # net cost and sensitivity
    "net_cost", "NetCost", "break_even_year", "psa", "one_way", "draw_parameters",
    # the spec design
    "economic",
]
