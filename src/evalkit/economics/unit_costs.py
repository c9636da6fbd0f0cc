"""Unit costs and price-year conversion.

The package ships two small, versioned tables:

- ``unit_costs.csv``: a unit cost per activity (GP consultation, A&E attendance, ...),
  with its unit, price year, source and a note;
- ``inflation_index.csv``: the NHS Cost Inflation Index (NHSCII, pay and prices) by
  financial year, 2015/16 = 100.

**Both are illustrative defaults.** Their figures are round numbers of the right order
of magnitude for England, written with the publications they would come from in mind
(PSSRU *Unit Costs of Health and Social Care 2023*, Jones et al., 2024; NHS England
*National Cost Collection* 2021/22; the NHSCII as published in the PSSRU reports). They
are *not quotations* from those publications and carry no table numbers. They let a
worked example run end to end; an evaluation should replace them with the current
published figures (or local prices) through :func:`load_unit_costs` and the ``index=``
argument of :func:`inflate`.

Price years are financial years written ``"2022/23"``. Converting an amount between
price years multiplies it by the ratio of the index values::

    amount_to = amount_from * index[to_year] / index[from_year]

References
----------
Jones KC, Weatherly H, Birch S, et al. *Unit Costs of Health and Social Care 2023
Manual*. PSSRU (University of Kent) and Centre for Health Economics (University of
York); 2024.
NHS England. *National Cost Collection for the NHS: 2021/22 National Schedule of NHS
Costs*. 2023.
NICE. *NICE health technology evaluations: the manual* (PMG36) (costs
valued at current prices, inflated with the NHSCII where needed). 2022.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.contract import nearest
from evalkit.errors import DataError

__all__ = ["UNIT_COST_VERSIONS", "UNIT_COST_COLUMNS", "unit_costs", "inflation_index",
           "inflate", "load_unit_costs", "financial_year"]

#: The packaged unit-cost tables by version name: (file, version label, note).
UNIT_COST_VERSIONS: dict[str, tuple[str, str]] = {
    "default": ("unit_costs.csv", "evalkit-illustrative-2024.1"),
}
#: The packaged inflation index: (file, version label).
_INDEX_FILE = ("inflation_index.csv", "nhscii-illustrative-2024.1")

#: Columns of a unit-cost table, in order (``unit``, ``source`` and ``note`` may be blank).
UNIT_COST_COLUMNS = ("activity", "unit", "cost_gbp", "price_year", "source", "note")
_REQUIRED = ("activity", "cost_gbp", "price_year")

_ILLUSTRATIVE = ("evalkit's packaged figures are ILLUSTRATIVE DEFAULTS (round numbers of the "
                 "right order, not quotations from the sources named); replace them with "
                 "current published or local figures")

_FY = re.compile(r"^\s*(?:FY\s*)?(\d{4})\s*[/-]\s*(\d{2}|\d{4})\s*$", re.I)


def financial_year(value: Any) -> str:
    """A financial year written the standard way, ``"2022/23"``.

    Accepts ``"2022/23"``, ``"2022-23"``, ``"2022/2023"`` and ``"FY2022/23"``. A bare
    year such as ``2022`` is refused: it could mean 2021/22 or 2022/23.

    Raises
    ------
    DataError
        If ``value`` is not a financial year.

    Examples
    --------
    >>> financial_year("2022-2023")
    '2022/23'
    """
    match = _FY.match(str(value))
    if match:
        start, end = int(match.group(1)), match.group(2)
        end_full = int(end) if len(end) == 4 else (start // 100) * 100 + int(end)
        if len(end) == 2 and end_full < start:  # 1999/00
            end_full += 100
        if end_full == start + 1:
            return f"{start}/{(start + 1) % 100:02d}"
    raise DataError(f"'{value}' is not a financial year",
                    fix="write price years as financial years, e.g. '2022/23'")


def _read_packaged(name: str) -> pd.DataFrame:
    with files(__package__).joinpath(name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, keep_default_na=False, na_values=[""])


def unit_costs(version: str = "default", *, price_year: str | None = None) -> pd.DataFrame:
    """The packaged table of illustrative default unit costs.

    Parameters
    ----------
    version
        The table version; ``"default"`` is the only one shipped.
    price_year
        Convert every cost to this price year with the packaged (illustrative) NHSCII.
        By default costs stay in the table's own price year (2022/23).

    Returns
    -------
    pandas.DataFrame
        Columns ``activity, unit, cost_gbp, price_year, source, note``. ``df.attrs`` holds
        ``version``, ``price_year`` and ``illustrative=True``.

    Notes
    -----
    The figures are ILLUSTRATIVE DEFAULTS: round numbers of the right order of magnitude,
    not quotations from PSSRU or the National Cost Collection. Replace them with your own
    through :func:`load_unit_costs`.

    Examples
    --------
    >>> table = unit_costs()
    >>> float(table.set_index("activity").loc["gp_consultation", "cost_gbp"])
    45.0
    """
    if version not in UNIT_COST_VERSIONS:
        guess = nearest(str(version), UNIT_COST_VERSIONS)
        raise DataError(f"no packaged unit-cost table '{version}'",
                        fix=f"use one of {', '.join(UNIT_COST_VERSIONS)}"
                        + (f" (did you mean '{guess}'?)" if guess else "")
                        + ", or read your own with load_unit_costs(path)")
    name, label = UNIT_COST_VERSIONS[version]
    table = _validate(_read_packaged(name), file=name,
                      index="default" if price_year else None, price_year=price_year)
    table.attrs.update(version=label, illustrative=True, note=_ILLUSTRATIVE)
    return table


def inflation_index() -> pd.Series:
    """The packaged NHS Cost Inflation Index (pay and prices), 2015/16 = 100.

    Returns
    -------
    pandas.Series
        Index values by financial year (``"2015/16"`` ... ``"2024/25"``);
        ``attrs`` hold ``version``, ``source`` and ``illustrative=True``.

    Notes
    -----
    ILLUSTRATIVE DEFAULT: built from round annual changes of the right order, not the
    published NHSCII. Pass the published index to :func:`inflate` as ``index=``.
    """
    name, label = _INDEX_FILE
    frame = _read_packaged(name)
    series = pd.Series(frame["index"].to_numpy(dtype=float),
                       index=pd.Index(frame["financial_year"].map(financial_year),
                                      name="financial_year"), name="index")
    series.attrs.update(version=label, illustrative=True, source=str(frame["source"].iloc[0]),
                        note=_ILLUSTRATIVE)
    return series


def _as_index(index: Any) -> pd.Series:
    """A user's index (Series by year, DataFrame with a year and an index column, mapping)."""
    if index is None or (isinstance(index, str) and index == "default"):
        return inflation_index()
    if isinstance(index, pd.DataFrame):
        year_col = next((c for c in ("financial_year", "price_year", "year")
                         if c in index.columns), None)
        value_col = next((c for c in ("index", "value", "nhscii") if c in index.columns), None)
        if year_col is None or value_col is None:
            raise DataError("an index table needs a year column and an index column",
                            fix="name them 'financial_year' and 'index'")
        index = pd.Series(index[value_col].to_numpy(), index=index[year_col].to_numpy())
    elif isinstance(index, Mapping):
        index = pd.Series(dict(index))
    elif not isinstance(index, pd.Series):
        raise DataError(f"an inflation index must be a Series, DataFrame or mapping, not "
                        f"{type(index).__name__}",
                        fix="pass a Series of index values indexed by financial year")
    values = pd.to_numeric(pd.Series(index.to_numpy()), errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(values) & (values > 0)):
        raise DataError("the inflation index has missing, non-numeric or non-positive values",
                        fix="give a positive index value for every year")
    years = [financial_year(y) for y in index.index]
    return pd.Series(values, index=pd.Index(years, name="financial_year"), name="index")


def _factor(from_year: str, to_year: str, index: pd.Series) -> float:
    for year in (from_year, to_year):
        if year not in index.index:
            raise DataError(f"the inflation index has no value for {year}",
                            fix=f"it covers {index.index[0]} to {index.index[-1]}; pass an "
                                "index that covers both years with index=...")
    return float(index[to_year] / index[from_year])


def inflate(amount: Any, from_year: Any, to_year: Any, *, index: Any = None) -> Any:
    """Convert an amount from one price year to another.

    ``amount * index[to_year] / index[from_year]``.

    Parameters
    ----------
    amount
        A number, array, Series or DataFrame of amounts in ``from_year`` prices.
    from_year, to_year
        Financial years, e.g. ``"2021/22"``.
    index
        The index to use: a Series indexed by financial year, a DataFrame with columns
        ``financial_year`` and ``index``, or a mapping. By default the packaged NHSCII,
        which is ILLUSTRATIVE; pass the published index for real work.

    Returns
    -------
    The amount in ``to_year`` prices, of the same type as ``amount``.

    Examples
    --------
    >>> inflate(100.0, "2021/22", "2022/23", index={"2021/22": 100, "2022/23": 105})
    105.0
    """
    factor = _factor(financial_year(from_year), financial_year(to_year), _as_index(index))
    if isinstance(amount, (pd.Series, pd.DataFrame, np.ndarray)):
        return amount * factor
    if np.ndim(amount):
        return np.asarray(amount, dtype=float) * factor
    return float(amount) * factor


def load_unit_costs(path: str | Path | pd.DataFrame, *, index: Any = None,
                    price_year: str | None = None) -> pd.DataFrame:
    """Read and check a unit-cost table of your own.

    Parameters
    ----------
    path
        A CSV or Excel file (or a DataFrame) with columns ``activity``, ``cost_gbp`` and
        ``price_year``; ``unit``, ``source`` and ``note`` are optional but recommended.
    index
        An inflation index (see :func:`inflate`; ``"default"`` for the packaged,
        illustrative one). Needed only when the table mixes price years.
    price_year
        The price year to express every cost in (needs ``index`` if it differs from the
        table's). With an index and no ``price_year``, the latest year in the table.

    Returns
    -------
    pandas.DataFrame
        The table with the standard columns, every cost in one price year
        (``attrs["price_year"]``); converted rows keep their original cost and year in
        ``cost_gbp_original`` and ``price_year_original``.

    Raises
    ------
    DataError
        A required column is missing; an activity is blank or repeated; a cost is
        missing, non-numeric, zero or negative; a price year is not a financial year; or
        the table mixes price years and no index was given. Row numbers are as in a
        spreadsheet (the header is row 1).
    """
    if isinstance(path, pd.DataFrame):
        table, file = path.copy(), path.attrs.get("source")
    else:
        from evalkit.data.io import read

        table, file = read(path), str(path)
    return _validate(table, file=file, index=index, price_year=price_year)


def _rows(mask: np.ndarray) -> list[int]:
    return [int(i) + 2 for i in np.flatnonzero(mask)]


def _validate(table: pd.DataFrame, *, file: str | None, index: Any,
              price_year: str | None) -> pd.DataFrame:
    table = table.rename(columns={c: str(c).strip() for c in table.columns})
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        guess = nearest(missing[0], map(str, table.columns))
        raise DataError(f"a unit-cost table needs the column(s) {', '.join(missing)}",
                        file=file, column=missing[0],
                        fix=(f"did you mean '{guess}'? " if guess else "")
                        + "columns are activity, unit, cost_gbp, price_year, source, note")
    table = table.reset_index(drop=True)
    activity = table["activity"].astype("string").str.strip()
    blank = activity.isna() | (activity == "")
    if blank.any():
        raise DataError("activity is blank", file=file, column="activity",
                        rows=_rows(blank.to_numpy()), fix="name every activity or drop the row")
    dup = activity.duplicated(keep=False)
    if dup.any():
        raise DataError(f"activity '{activity[dup].iloc[0]}' appears more than once", file=file,
                        column="activity", rows=_rows(dup.to_numpy()),
                        fix="keep one unit cost per activity")
    cost = pd.to_numeric(table["cost_gbp"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(cost)
    if bad.any():
        raise DataError("unit cost is missing or not a number", file=file, column="cost_gbp",
                        rows=_rows(bad), fix="give each cost as a plain number of pounds")
    if (cost <= 0).any():
        raise DataError("unit cost is zero or negative", file=file, column="cost_gbp",
                        rows=_rows(cost <= 0),
                        fix="unit costs must be positive; record savings as negative activity "
                            "(see resource_costs(savings=...)), not negative prices")
    years = []
    for i, y in enumerate(table["price_year"].tolist()):
        try:
            years.append(financial_year(y))
        except DataError:
            raise DataError(f"price year '{y}' is not a financial year", file=file,
                            column="price_year", rows=[i + 2],
                            fix="write price years like '2022/23'") from None
    years_arr = np.array(years, dtype=object)
    distinct = sorted(set(years))
    target = financial_year(price_year) if price_year is not None else None
    out = pd.DataFrame({
        "activity": activity.to_numpy(dtype=object),
        "unit": _text(table, "unit"), "cost_gbp": cost, "price_year": years_arr,
        "source": _text(table, "source"), "note": _text(table, "note")})
    if len(distinct) > 1 and index is None:
        counts = pd.Series(years).value_counts()
        odd = years_arr != counts.index[0]
        raise DataError(f"the table mixes price years ({', '.join(distinct)})", file=file,
                        column="price_year", rows=_rows(odd),
                        fix="convert them to one price year, or pass index=... (e.g. "
                            "index='default' or the published NHSCII) to convert them")
    if target is None:
        target = distinct[-1]
    if any(y != target for y in distinct):
        idx = _as_index(index) if index is not None else None
        if idx is None:
            raise DataError(f"the table is in {distinct[0]} prices, not {target}", file=file,
                            column="price_year",
                            fix="pass index=... to convert it, or drop price_year=")
        factors = np.array([_factor(y, target, idx) for y in years])
        out.insert(3, "cost_gbp_original", cost)
        out.insert(5, "price_year_original", years_arr)
        out["cost_gbp"] = cost * factors
        out["price_year"] = target
    out.attrs.update(price_year=target, source=file)
    return out


def _text(table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table.columns:
        return np.full(len(table), "", dtype=object)
    return table[column].astype("string").fillna("").to_numpy(dtype=object)
