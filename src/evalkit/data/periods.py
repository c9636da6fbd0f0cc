"""Time periods: monthly labels (``"2019-04"``, dates) or whole-number periods.

Designs work on integer period codes so that gaps, windows and event times are
simple arithmetic. Monthly labels become ``year * 12 + month - 1``; whole
numbers stay as they are. :class:`PeriodAxis` converts both ways.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evalkit.errors import DataError

__all__ = ["PeriodAxis", "parse_periods", "parse_period"]

_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})(?:-\d{1,2})?(?:[ T].*)?\s*$")


@dataclass(frozen=True)
class PeriodAxis:
    """How period codes map back to labels.

    Attributes
    ----------
    kind
        ``"month"`` for calendar months, ``"integer"`` for plain period numbers.
    """

    kind: str

    def label(self, code: int) -> str:
        """Return the human label of a period code."""
        code = int(code)
        if self.kind == "month":
            return f"{code // 12:04d}-{code % 12 + 1:02d}"
        return str(code)

    def labels(self, codes) -> list[str]:
        """Labels of several codes."""
        return [self.label(c) for c in codes]


def _month_code(text: str) -> int | None:
    m = _MONTH.match(text)
    if not m:
        return None
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        return None
    return year * 12 + month - 1


def parse_periods(values: pd.Series, *, file: str | None = None,
                  column: str | None = None) -> tuple[np.ndarray, PeriodAxis]:
    """Convert a time column to integer period codes.

    Parameters
    ----------
    values
        Monthly labels (``"2019-04"``, ``"2019-04-01"``), datetimes, or whole numbers.
    file, column
        Used in error messages.

    Returns
    -------
    codes, axis
        Integer codes and the axis that labels them.

    Raises
    ------
    DataError
        If some values are missing or are neither months nor whole numbers.

    Examples
    --------
    >>> codes, axis = parse_periods(pd.Series(["2019-04", "2019-05"]))
    >>> axis.labels(codes)
    ['2019-04', '2019-05']
    """
    values = pd.Series(values).reset_index(drop=True)
    missing = values.isna().to_numpy()
    if missing.any():
        raise DataError("time is missing", file=file, column=column,
                        rows=list(np.flatnonzero(missing) + 2),
                        fix="fill in the period for every row")
    if pd.api.types.is_datetime64_any_dtype(values):
        codes = (values.dt.year * 12 + values.dt.month - 1).to_numpy(dtype=np.int64)
        return codes, PeriodAxis("month")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        arr = values.to_numpy(dtype=float)
        bad = np.flatnonzero(arr != np.round(arr))
        if bad.size:
            raise DataError("time must be whole period numbers or months like 2019-04",
                            file=file, column=column, rows=list(bad + 2),
                            fix="use integer periods or YYYY-MM labels")
        return arr.astype(np.int64), PeriodAxis("integer")
    text = values.astype(str)
    uniq = pd.unique(text)
    lookup: dict[str, int | None] = {}
    for u in uniq:
        lookup[u] = _month_code(u)
    if all(v is not None for v in lookup.values()):
        return text.map(lookup).to_numpy(dtype=np.int64), PeriodAxis("month")
    if all(re.fullmatch(r"\s*-?\d+\s*", u) for u in uniq):
        return text.astype(int).to_numpy(dtype=np.int64), PeriodAxis("integer")
    bad_values = [u for u, v in lookup.items() if v is None]
    bad_rows = np.flatnonzero(text.isin(bad_values).to_numpy()) + 2
    raise DataError(f"cannot read {bad_values[:3]} as periods", file=file, column=column,
                    rows=list(bad_rows), fix="write months as YYYY-MM (e.g. 2019-04) "
                    "or use whole period numbers")


def parse_period(value, axis: PeriodAxis, *, what: str = "start") -> int:
    """Convert one period (e.g. a design's ``start``) to a code on ``axis``."""
    if isinstance(value, bool) or value is None:
        raise DataError(f"{what} must be a period, got {value!r}",
                        fix="give a month such as 2019-04 or a period number")
    if axis.kind == "month":
        if isinstance(value, pd.Timestamp):
            return value.year * 12 + value.month - 1
        if hasattr(value, "year") and hasattr(value, "month"):
            return value.year * 12 + value.month - 1
        code = _month_code(str(value))
        if code is None:
            raise DataError(f"{what} {value!r} is not a month",
                            fix="write it as YYYY-MM, e.g. 2019-04, to match the data")
        return code
    try:
        num = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{what} {value!r} is not a period number",
                        fix="the data use whole period numbers; give one of them") from None
    if num != round(num):
        raise DataError(f"{what} {value!r} is not a whole period number",
                        fix="give a whole period number")
    return int(num)
