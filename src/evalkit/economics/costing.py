"""Costing: discounting, the cost of running a scheme, and the cost of resource use.

Discounting
    A cost ``C_t`` falling in year ``t`` (the first year of the appraisal is year 0) has
    present value ``C_t / (1 + r) ** (t + s)``, where ``s`` is 0 when costs fall at the
    start of each year, 0.5 at mid-year and 1 at its end. The default, ``r = 3.5%`` with
    costs at the start of each year (so the first year is not discounted), follows the
    HM Treasury Green Book (2022) and the NICE reference case (NICE, 2022);
    NICE asks for 1.5% and 0% as sensitivity analyses where appropriate
    (:data:`SENSITIVITY_RATES`). Horizons beyond 30 years need the Green Book's declining
    schedule, which is not implemented.

Scheme costs
    Each staff line costs ``wte * annual_salary * (1 + oncost_rate) * (1 + overhead_rate)``
    a year: employer on-costs (National Insurance, pension) are a share of salary, and
    overheads (management, estates, IT) a share of salary plus on-costs, as in the PSSRU
    *Unit Costs of Health and Social Care* (Jones et al., 2024). A line with ``wte = 0`` is
    a non-staff item whose ``annual_salary`` column holds the item's cost. Recurrent lines
    recur every year; set-up lines fall once, at the start of year 0, and are never
    discounted.

Resource-use costs
    ``cost = count * unit_cost`` for each activity column, summed per row. Unit costs come
    from :func:`~evalkit.economics.unit_costs.unit_costs` (illustrative defaults) or the
    user's own table (:func:`~evalkit.economics.unit_costs.load_unit_costs`).

References
----------
HM Treasury. *The Green Book: appraisal and evaluation in central government*. 2022.
NICE. *NICE health technology evaluations: the manual* (PMG36). 2022.
Jones KC, et al. *Unit Costs of Health and Social Care 2023 Manual*. PSSRU; 2024.
Drummond MF, Sculpher MJ, Claxton K, Stoddart GL, Torrance GW. *Methods for the Economic
Evaluation of Health Care Programmes*, 4th ed. Oxford University Press; 2015 (cost analysis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.arguments import check_choice, check_whole
from evalkit.data.contract import nearest
from evalkit.economics.unit_costs import _validate, financial_year
from evalkit.economics.unit_costs import unit_costs as packaged_unit_costs
from evalkit.errors import DataError, DesignError

__all__ = ["DISCOUNT_RATE", "SENSITIVITY_RATES", "TIMINGS", "discount", "discount_factors",
           "SchemeCosts", "scheme_costs", "resource_costs"]

#: The reference-case discount rate for costs (Green Book; NICE reference case).
DISCOUNT_RATE = 0.035
#: Rates for sensitivity analysis (NICE manual, 2022).
SENSITIVITY_RATES = (0.015, 0.0)
#: When in each year costs fall, and the shift ``s`` in the discount exponent.
TIMINGS = {"start": 0.0, "mid": 0.5, "end": 1.0}

_SETUP = {"setup", "set-up", "set up", "one-off", "one off", "capital", "non-recurrent"}
_RECURRENT = {"recurrent", "recurring", "annual", "ongoing", "revenue"}
_SCHEME_COLUMNS = ("role", "wte", "annual_salary", "oncost_rate", "overhead_rate", "cost_type")


def _check_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) \
            or not 0 <= float(rate) < 1:
        raise DesignError(f"the discount rate must be a fraction between 0 and 1, not {rate!r}",
                          fix="use e.g. 0.035 for 3.5%")
    return float(rate)


def discount_factors(n_years: int, rate: float = DISCOUNT_RATE, *, start_year: int = 0,
                     timing: str = "start") -> np.ndarray:
    """Discount factors ``1 / (1 + rate) ** (t + s)`` for ``n_years`` consecutive years.

    Parameters
    ----------
    n_years
        How many years, the first being ``start_year``.
    rate
        The annual discount rate (3.5% by default).
    start_year
        The first year's number, counting the first year of the appraisal as 0.
    timing
        When costs fall within a year: ``"start"`` (``s = 0``; the Green Book and NICE
        convention, so year 0 is undiscounted), ``"mid"`` (``s = 0.5``) or ``"end"``
        (``s = 1``).

    Examples
    --------
    >>> discount_factors(3, 0.035).round(4).tolist()
    [1.0, 0.9662, 0.9335]
    """
    check_whole("n_years", n_years, 0)
    check_whole("start_year", start_year, 0)
    check_choice("timing", timing, tuple(TIMINGS))
    rate = _check_rate(rate)
    t = start_year + np.arange(n_years) + TIMINGS[timing]
    return (1.0 + rate) ** -t


def discount(values: Any, rate: float = DISCOUNT_RATE, *, start_year: int = 0,
             timing: str = "start") -> Any:
    """Discount a stream of yearly amounts to present values.

    The amount for year ``t = start_year + i`` (the ``i``-th value) becomes
    ``values[i] / (1 + rate) ** (t + s)`` with ``s`` set by ``timing`` (see
    :func:`discount_factors`). Sum the result for the total present value.

    Parameters
    ----------
    values
        One amount per year: a sequence, array or Series (a single number is year
        ``start_year``).
    rate
        The annual rate: 0.035 (the reference case); 0.015 and 0 for sensitivity.
    start_year, timing
        See :func:`discount_factors`.

    Returns
    -------
    The discounted amounts, of the same type and shape as ``values``.

    Examples
    --------
    >>> round(float(discount([0, 0, 0, 1000.0]).sum()), 2)  # 1000 / 1.035**3
    901.94
    """
    if isinstance(values, pd.Series):
        arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    else:
        arr = np.asarray(values, dtype=float)
    if arr.ndim > 1:
        raise DesignError("discount takes one amount per year (a 1-D sequence)",
                          fix="discount each stream separately")
    if not np.all(np.isfinite(arr)):
        raise DataError("amounts to discount must be numbers (missing or non-numeric found)",
                        fix="fill or drop the missing years")
    factors = discount_factors(max(arr.size, 1), rate, start_year=start_year, timing=timing)
    if arr.ndim == 0:
        return float(arr * factors[0])
    out = arr * factors[: arr.size]
    if isinstance(values, pd.Series):
        return pd.Series(out, index=values.index, name=values.name)
    return out


# --------------------------------------------------------------------------- scheme costs


@dataclass(frozen=True)
class SchemeCosts:
    """The cost of running a scheme (returned by :func:`scheme_costs`).

    Attributes
    ----------
    lines
        One row per line of the staffing table, with ``basis`` (``"staff"`` or
        ``"item"``) and ``annual_cost``.
    by_year
        Per year: ``year`` (0 = first), ``recurrent``, ``setup``, ``total``,
        ``discount_factor`` and ``discounted``.
    annual_recurrent, setup
        The recurrent cost of a year, and the one-off set-up cost.
    total_undiscounted, total_discounted
        Totals over ``years``.
    years, discount_rate, timing, price_year
        The options used (``price_year`` is a label, ``None`` when not stated).
    sensitivity
        The discounted total at each rate in :data:`SENSITIVITY_RATES`.
    warnings
        Plain-words warnings.
    """

    lines: pd.DataFrame
    by_year: pd.DataFrame
    annual_recurrent: float
    setup: float
    total_undiscounted: float
    total_discounted: float
    years: int
    discount_rate: float
    timing: str
    price_year: str | None
    sensitivity: dict[float, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def by_role(self) -> pd.DataFrame:
        """Annual cost and WTE by role and band."""
        return (self.lines.groupby(["cost_type", "role", "band"], sort=False, dropna=False)
                [["wte", "annual_cost"]].sum().reset_index())

    def to_dict(self) -> dict[str, Any]:
        """The totals and options as plain values."""
        return {"annual_recurrent": self.annual_recurrent, "setup": self.setup,
                "total_undiscounted": self.total_undiscounted,
                "total_discounted": self.total_discounted, "years": self.years,
                "discount_rate": self.discount_rate, "timing": self.timing,
                "price_year": self.price_year,
                "sensitivity": {f"{r:.3f}": v for r, v in self.sensitivity.items()},
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        """The totals as a few lines of text."""
        prices = f"{self.price_year} prices" if self.price_year else "price year not stated"
        lines = [f"Scheme costs ({prices}, GBP)",
                 f"  recurrent, per year:     {self.annual_recurrent:,.0f}",
                 f"  set-up (one-off):        {self.setup:,.0f}",
                 f"  total over {self.years} year(s):  {self.total_undiscounted:,.0f} "
                 f"undiscounted, {self.total_discounted:,.0f} at "
                 f"{self.discount_rate:.1%}"]
        lines += [f"  discounted at {r:.1%}:     {v:,.0f}" for r, v in self.sensitivity.items()]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _numeric(table: pd.DataFrame, column: str, file: str | None) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError("missing or not a number", file=file, column=column,
                        rows=[int(i) + 2 for i in np.flatnonzero(bad)],
                        fix="give a plain number (0 for none)")
    if (values < 0).any():
        raise DataError("negative", file=file, column=column,
                        rows=[int(i) + 2 for i in np.flatnonzero(values < 0)],
                        fix="costs, WTE and rates cannot be negative")
    return values


def scheme_costs(table: pd.DataFrame, *, years: int = 1, discount_rate: float = DISCOUNT_RATE,
                 price_year: str | None = None, timing: str = "start",
                 file: str | None = None) -> SchemeCosts:
    """Cost a scheme's staffing and set-up from a staffing table.

    Parameters
    ----------
    table
        One row per line, with columns ``role``, ``wte``, ``annual_salary``,
        ``oncost_rate``, ``overhead_rate`` and ``cost_type`` (``"recurrent"`` or
        ``"setup"``), and optionally ``band``. Rates are fractions (0.28, not 28). A line
        with ``wte = 0`` is a non-staff item costing ``annual_salary``.
    years
        How many years the scheme runs (recurrent costs recur each year).
    discount_rate
        Annual discount rate, 3.5% by default (Green Book; NICE reference case).
    price_year
        The price year of the salaries, e.g. ``"2022/23"`` (a label kept with the result).
    timing
        When recurrent costs fall within each year (see :func:`discount_factors`).
    file
        The table's file, for error messages (default ``table.attrs["source"]``).

    Returns
    -------
    SchemeCosts
        Lines, costs by year, totals and the totals at the sensitivity rates.

    Notes
    -----
    ``annual_cost = wte * annual_salary * (1 + oncost_rate) * (1 + overhead_rate)`` (staff)
    or ``annual_salary * (1 + oncost_rate) * (1 + overhead_rate)`` (items, ``wte = 0``).
    Year ``t`` (0 to ``years - 1``) costs the recurrent total, plus set-up in year 0; its
    discounted value is ``recurrent / (1 + r) ** (t + s) + setup * [t == 0]``.

    Examples
    --------
    >>> staff = pd.DataFrame({"role": ["nurse"], "band": ["6"], "wte": [2.0],
    ...                       "annual_salary": [40000.0], "oncost_rate": [0.25],
    ...                       "overhead_rate": [0.2], "cost_type": ["recurrent"]})
    >>> scheme_costs(staff).annual_recurrent  # 2 * 40000 * 1.25 * 1.2
    120000.0
    """
    file = file or table.attrs.get("source")
    check_whole("years", years, 1)
    discount_rate = _check_rate(discount_rate)
    check_choice("timing", timing, tuple(TIMINGS))
    if price_year is not None:
        price_year = financial_year(price_year)
    missing = [c for c in _SCHEME_COLUMNS if c not in table.columns]
    if missing:
        guess = nearest(missing[0], map(str, table.columns))
        raise DataError(f"a staffing table needs the column(s) {', '.join(missing)}", file=file,
                        column=missing[0], fix=(f"did you mean '{guess}'? " if guess else "")
                        + "columns are role, band, wte, annual_salary, oncost_rate, "
                          "overhead_rate, cost_type")
    table = table.reset_index(drop=True)
    wte = _numeric(table, "wte", file)
    salary = _numeric(table, "annual_salary", file)
    rates = {}
    for column in ("oncost_rate", "overhead_rate"):
        rates[column] = _numeric(table, column, file)
        pct = rates[column] > 1
        if pct.any():
            raise DataError("rate above 1: it looks like a percentage", file=file, column=column,
                            rows=[int(i) + 2 for i in np.flatnonzero(pct)],
                            fix="give rates as fractions, e.g. 0.28 for 28%")
    kind = table["cost_type"].astype("string").str.strip().str.lower().fillna("")
    setup = kind.isin(_SETUP).to_numpy()
    unknown = ~setup & ~kind.isin(_RECURRENT).to_numpy()
    if unknown.any():
        raise DataError(f"unknown cost type '{kind[unknown].iloc[0]}'", file=file,
                        column="cost_type", rows=[int(i) + 2 for i in np.flatnonzero(unknown)],
                        fix="use 'recurrent' or 'setup'")
    item = wte == 0
    base = np.where(item, salary, wte * salary)
    annual = base * (1 + rates["oncost_rate"]) * (1 + rates["overhead_rate"])
    lines = pd.DataFrame({
        "role": table["role"].astype("string").fillna("").to_numpy(dtype=object),
        "band": (table["band"].astype("string").fillna("").to_numpy(dtype=object)
                 if "band" in table.columns else ""),
        "cost_type": np.where(setup, "setup", "recurrent"),
        "basis": np.where(item, "item", "staff"), "wte": wte, "annual_salary": salary,
        "oncost_rate": rates["oncost_rate"], "overhead_rate": rates["overhead_rate"],
        "annual_cost": annual})
    recurrent_total = float(annual[~setup].sum())
    setup_total = float(annual[setup].sum())
    factors = discount_factors(years, discount_rate, timing=timing)
    set_up_by_year = np.zeros(years)
    set_up_by_year[0] = setup_total
    recurrent_by_year = np.full(years, recurrent_total)
    by_year = pd.DataFrame({"year": np.arange(years), "recurrent": recurrent_by_year,
                            "setup": set_up_by_year,
                            "total": recurrent_by_year + set_up_by_year,
                            "discount_factor": factors,
                            "discounted": recurrent_by_year * factors + set_up_by_year})

    def total_at(rate: float) -> float:
        return float(recurrent_total * discount_factors(years, rate, timing=timing).sum()
                     + setup_total)

    warnings = []
    if price_year is None:
        warnings.append("No price year stated for the salaries: state it (price_year=) so the "
                        "costs can be compared with unit costs and inflated.")
    if (item & ~setup).any():
        warnings.append("Recurrent line(s) with zero WTE were costed as non-staff items at "
                        "their annual_salary value: " + ", ".join(lines.loc[item & ~setup,
                                                                           "role"]) + ".")
    return SchemeCosts(lines=lines, by_year=by_year, annual_recurrent=recurrent_total,
                       setup=setup_total, total_undiscounted=float(by_year["total"].sum()),
                       total_discounted=float(by_year["discounted"].sum()), years=years,
                       discount_rate=discount_rate, timing=timing, price_year=price_year,
                       sensitivity={r: total_at(r) for r in SENSITIVITY_RATES},
                       warnings=tuple(warnings))


# --------------------------------------------------------------------------- resource use


def _singular(name: str) -> list[str]:
    out = [name]
    if name.endswith("s"):
        out.append(name[:-1])
    return out


def _unit_cost_lookup(unit_costs: Any, file: str | None) -> tuple[dict[str, float], dict]:
    """Unit costs as {activity: cost} and metadata (price year, version, illustrative)."""
    if unit_costs is None:
        table = packaged_unit_costs()
    elif isinstance(unit_costs, pd.DataFrame):
        attrs = dict(unit_costs.attrs)
        table = _validate(unit_costs, file=attrs.get("source"), index=None, price_year=None)
        table.attrs.update({k: v for k, v in attrs.items() if k not in table.attrs})
    elif isinstance(unit_costs, Mapping):
        costs = {}
        for k, v in unit_costs.items():
            try:
                costs[str(k)] = float(v)
            except (TypeError, ValueError):
                raise DataError(f"the unit cost of '{k}' is not a number ({v!r})",
                                fix="give unit costs as numbers of pounds") from None
        return costs, {"price_year": None, "version": "user mapping", "illustrative": False}
    else:
        raise DesignError(f"unit_costs must be a table or a mapping, not "
                          f"{type(unit_costs).__name__}",
                          fix="pass unit_costs() , load_unit_costs(path) or {'activity': cost}")
    meta = {"price_year": table.attrs.get("price_year"),
            "version": table.attrs.get("version", "user table"),
            "illustrative": bool(table.attrs.get("illustrative", False))}
    return dict(zip(table["activity"], table["cost_gbp"].astype(float), strict=True)), meta


def resource_costs(activity: pd.DataFrame, *, unit_costs: Any = None,
                   mapping: Mapping[str, str] | None = None, id_cols: Sequence[str] = (),
                   savings: Sequence[str] = (), file: str | None = None) -> pd.DataFrame:
    """Cost resource use: activity counts times unit costs.

    Parameters
    ----------
    activity
        One row per patient (or patient-period), one column per activity count, plus
        identifying columns.
    unit_costs
        A unit-cost table (:func:`~evalkit.economics.unit_costs.unit_costs`,
        :func:`~evalkit.economics.unit_costs.load_unit_costs`) or a mapping
        ``{activity: cost}``. By default the packaged ILLUSTRATIVE table.
    mapping
        ``{column: activity}`` for columns whose names differ from the activity names. A
        column named like an activity, or its plural (``bed_days`` for ``bed_day``), is
        matched without one.
    id_cols
        Columns carried through uncosted (patient id, practice, arm, year ...). Every
        other column must be an activity with a unit cost.
    savings
        Columns that may be negative (e.g. a change in bed days); they are costed with
        their sign. Everywhere else negative counts are refused.
    file
        The data's file, for error messages (default ``activity.attrs["source"]``).

    Returns
    -------
    pandas.DataFrame
        ``id_cols``, one ``<column>_cost`` per activity column and ``total_cost``.
        ``attrs`` hold ``price_year``, ``unit_costs_version``, ``illustrative`` and
        ``unit_costs_used`` ({column: [activity, cost]}).

    Raises
    ------
    DataError
        A column has no unit cost (all such columns are named), an id column is missing,
        or a count is missing, non-numeric or negative (rows named).

    Examples
    --------
    >>> use = pd.DataFrame({"patient": ["a", "b"], "gp_consultations": [3, 0]})
    >>> resource_costs(use, unit_costs={"gp_consultation": 40.0},
    ...                id_cols=["patient"])["total_cost"].tolist()
    [120.0, 0.0]
    """
    file = file or activity.attrs.get("source")
    id_cols, savings = list(id_cols), list(savings)
    for col in id_cols + savings + list(mapping or {}):
        if col not in activity.columns:
            guess = nearest(str(col), map(str, activity.columns))
            raise DataError(f"column '{col}' is not in the data", file=file, column=str(col),
                            fix=f"did you mean '{guess}'?" if guess else "check the name")
    costs, meta = _unit_cost_lookup(unit_costs, file)
    mapping = dict(mapping or {})
    used: dict[str, tuple[str, float]] = {}
    unmatched = []
    for col in activity.columns:
        if col in id_cols:
            continue
        names = [mapping[col]] if col in mapping else _singular(str(col))
        hit = next((n for n in names if n in costs), None)
        if hit is None:
            unmatched.append(str(col))
        else:
            used[col] = (hit, costs[hit])
    if unmatched:
        hints = [f"'{c}' (did you mean '{g}'?)" if (g := nearest(c, costs)) else f"'{c}'"
                 for c in unmatched]
        raise DataError(f"no unit cost for column(s) {', '.join(hints)}", file=file,
                        column=unmatched[0],
                        fix="map each to an activity with mapping={'column': 'activity'}, "
                            "list identifying columns in id_cols=, or add the activity to "
                            "the unit-cost table")
    out = activity[id_cols].copy().reset_index(drop=True)
    total = np.zeros(len(activity))
    for col, (name, unit_cost) in used.items():
        counts = pd.to_numeric(activity[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(counts)
        if bad.any():
            raise DataError("count is missing or not a number", file=file, column=str(col),
                            rows=[int(i) + 2 for i in np.flatnonzero(bad)],
                            fix="use 0 for no activity, or drop the rows")
        if col not in savings and (counts < 0).any():
            raise DataError("negative count", file=file, column=str(col),
                            rows=[int(i) + 2 for i in np.flatnonzero(counts < 0)],
                            fix=f"correct the counts, or declare the column with "
                                f"savings=['{col}'] if negative values are reductions")
        if col not in savings and unit_cost < 0:
            raise DataError(f"the unit cost of '{name}' is negative ({unit_cost})",
                            column=str(col), fix="unit costs must be positive unless the "
                                                 "column is declared in savings=")
        out[f"{col}_cost"] = counts * unit_cost
        total += counts * unit_cost
    out["total_cost"] = total
    out.attrs.update(price_year=meta["price_year"], unit_costs_version=meta["version"],
                     illustrative=meta["illustrative"],
                     unit_costs_used={str(k): [v[0], v[1]] for k, v in used.items()})
    if file:
        out.attrs["source"] = file
    return out
