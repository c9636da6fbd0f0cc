"""Net cost, return on investment and break-even, with uncertainty.

The budget questions a commissioner asks of a scheme:

net cost
    ``scheme cost - savings``: positive means the scheme costs more than it saves.
return on investment
    ``(savings - scheme cost) / scheme cost``: -100% when nothing is saved, 0 at
    break-even. The *benefit-cost ratio* is ``savings / scheme cost``.
break-even activity
    ``scheme cost / unit cost``: how many admissions (or bed days, attendances) the scheme
    must avoid to pay for itself; set beside the number it did avoid.
break-even year
    The first year in which cumulative discounted savings reach cumulative discounted
    costs (set-up costs fall in year 0).

Savings and scheme costs may be fixed numbers or arrays of draws (bootstrap replicates of
the activity change times its unit cost, or a PSA); every quantity then gets a percentile
interval over the draws and the probability that the scheme saves money.

References
----------
HM Treasury. *The Green Book*. 2022 (net present value, benefit-cost ratio).
NHS England. *Return on investment tools* (ROI as net saving over investment), various
years.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evalkit.economics.costing import DISCOUNT_RATE, discount_factors
from evalkit.errors import DesignError

__all__ = ["NetCost", "net_cost", "break_even_year"]


def _draws(value: Any, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise DesignError(f"{name} must be a number or an array of finite draws",
                          fix=f"check {name} for missing values")
    return arr


@dataclass(frozen=True)
class NetCost:
    """Net cost and return on investment of a scheme (returned by :func:`net_cost`)."""

    table: pd.DataFrame
    probability_saving: float
    n_draws: int
    conf_level: float
    warnings: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """``quantity, estimate, ci_low, ci_high, unit`` (a copy)."""
        return self.table.copy()

    def __getitem__(self, quantity: str) -> float:
        return float(self.table.set_index("quantity").loc[quantity, "estimate"])

    def summary(self) -> str:
        """A plain-text table with the probability of saving money."""
        t = self.table.copy()
        for c in ("estimate", "ci_low", "ci_high"):
            t[c] = t[c].map(lambda v: "" if pd.isna(v) else f"{v:,.4g}")
        lines = [t.to_string(index=False)]
        if self.n_draws > 1:
            lines.append(f"Probability the scheme saves money: {self.probability_saving:.2f} "
                         f"({self.n_draws} draws)")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def net_cost(scheme_cost: Any, savings: Any, *, unit_cost: float | None = None,
             activity_avoided: Any = None, activity: str = "activity",
             conf_level: float = 0.95, savings_estimate: float | None = None,
             activity_estimate: float | None = None) -> NetCost:
    """Net cost, return on investment and the break-even activity of a scheme.

    Parameters
    ----------
    scheme_cost
        What the scheme cost (one number, or draws).
    savings
        The money saved by changed activity (positive = saved), one number or draws of
        the same length as any ``scheme_cost`` draws.
    unit_cost
        The cost of one unit of the activity the scheme aims to avoid (e.g. one
        non-elective admission): gives the break-even activity.
    activity_avoided
        The activity the scheme avoided (number or draws), shown beside the break-even.
    activity
        Its name, for the table (e.g. ``"emergency admissions"``).
    conf_level
        For the percentile intervals over draws.
    savings_estimate, activity_estimate
        The point estimates to report when ``savings`` (``activity_avoided``) are draws,
        e.g. the estimate from the full sample beside its bootstrap replicates; by default
        the mean of the draws. Intervals always come from the draws.

    Returns
    -------
    NetCost
        ``table`` rows: ``scheme_cost``, ``savings``, ``net_cost``, ``roi``,
        ``benefit_cost_ratio`` and, with ``unit_cost``, ``break_even_activity`` (and
        ``activity_avoided``); ``probability_saving`` = share of draws with net cost < 0.

    Examples
    --------
    >>> r = net_cost(100_000, 60_000, unit_cost=2_500)
    >>> r["net_cost"], r["roi"], r["break_even_activity"]
    (40000.0, -0.4, 40.0)
    """
    cost = _draws(scheme_cost, "scheme_cost")
    save = _draws(savings, "savings")
    n = max(cost.size, save.size)
    if cost.size not in (1, n) or save.size not in (1, n):
        raise DesignError(f"scheme_cost has {cost.size} draws and savings {save.size}",
                          fix="give the same number of draws, or one fixed value")
    if np.any(cost <= 0):
        raise DesignError("scheme_cost must be positive to compute a return on investment",
                          fix="check the scheme cost")
    if not 0 < conf_level < 1:
        raise DesignError(f"conf_level must be between 0 and 1, not {conf_level}",
                          fix="e.g. 0.95")
    cost, save = np.broadcast_to(cost, (n,)), np.broadcast_to(save, (n,))
    point_cost = float(np.mean(cost))
    point_save = float(np.mean(save)) if savings_estimate is None \
        else float(_draws(savings_estimate, "savings_estimate")[0])
    quantities = {
        "scheme_cost": (point_cost, cost, "pounds"),
        "savings": (point_save, save, "pounds"),
        "net_cost": (point_cost - point_save, cost - save, "pounds"),
        "roi": ((point_save - point_cost) / point_cost, (save - cost) / cost,
                "proportion of the scheme cost"),
        "benefit_cost_ratio": (point_save / point_cost, save / cost, "ratio"),
    }
    warnings: list[str] = []
    if unit_cost is not None:
        if not np.isfinite(unit_cost) or unit_cost <= 0:
            raise DesignError(f"unit_cost must be a positive number, not {unit_cost!r}",
                              fix="give the cost of one unit of the avoided activity")
        quantities["break_even_activity"] = (point_cost / unit_cost, cost / unit_cost,
                                             f"{activity} to avoid")
    if activity_avoided is not None:
        avoided = _draws(activity_avoided, "activity_avoided")
        if avoided.size not in (1, n) and n > 1:
            raise DesignError("activity_avoided has a different number of draws",
                              fix="give the same number of draws as the savings")
        quantities["activity_avoided"] = (
            float(avoided.mean()) if activity_estimate is None
            else float(_draws(activity_estimate, "activity_estimate")[0]),
                                          np.broadcast_to(avoided, (n,)), f"{activity} avoided")
    alpha = 1 - conf_level
    rows = []
    for name, (estimate, draws, unit) in quantities.items():
        lo = hi = float("nan")
        if n > 1 and np.ptp(draws) > 0:
            lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
        rows.append({"quantity": name, "estimate": estimate, "ci_low": lo, "ci_high": hi,
                     "unit": unit})
    if n == 1:
        warnings.append("no draws were given, so the net cost has no interval; pass bootstrap "
                        "or PSA draws of the savings for its uncertainty")
    return NetCost(pd.DataFrame(rows), float(np.mean(cost - save < 0)), n, conf_level,
                   tuple(warnings))


def break_even_year(costs: Any, savings: Any, *, rate: float = DISCOUNT_RATE,
                    timing: str = "start") -> float:
    """The first year (0 = the first) in which discounted savings repay discounted costs.

    Parameters
    ----------
    costs, savings
        Yearly amounts, year 0 first (put set-up costs in year 0).
    rate, timing
        Discounting (see :func:`~evalkit.economics.costing.discount_factors`).

    Returns
    -------
    float
        The year, or NaN if the scheme has not broken even by the end of the horizon.

    Examples
    --------
    >>> break_even_year([100, 20, 20, 20], [0, 50, 50, 50], rate=0.0)
    3.0
    """
    c, s = _draws(costs, "costs"), _draws(savings, "savings")
    if c.size != s.size:
        raise DesignError(f"costs cover {c.size} years and savings {s.size}",
                          fix="give one amount per year for both")
    factors = discount_factors(c.size, rate, timing=timing)
    gap = np.cumsum((s - c) * factors)
    hit = np.flatnonzero(gap >= 0)
    return float(hit[0]) if hit.size else float("nan")
