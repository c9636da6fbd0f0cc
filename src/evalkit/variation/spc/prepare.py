"""Checked, sorted and phased input for the SPC charts.

Every chart (:func:`~evalkit.variation.spc.xmr`, :func:`~evalkit.variation.spc.p_chart`,
:func:`~evalkit.variation.spc.u_chart`) starts here: the data are checked (numbers where numbers
are needed, one row per group and time, rebase dates that exist), sorted by group and
time, and cut into *segments*, one per group and phase. Everything downstream works on
flat arrays in that order with a segment id per point, so a national panel of
thousands of practices is handled in one pass without a Python loop over practices.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import DataError, DesignError

__all__ = ["SPCWarning", "Prepared", "prepare", "MIN_POINTS", "WARN_POINTS"]

#: Fewer points than this in a phase (used for its limits) is refused.
MIN_POINTS = 6
#: Fewer points than this in a phase (used for its limits) gives a warning.
WARN_POINTS = 15


class SPCWarning(UserWarning):
    """An SPC chart can be drawn, but a reader should be told something about it."""


@dataclass(frozen=True)
class Prepared:
    """The data of a chart in (group, time) order, cut into segments.

    Attributes
    ----------
    values
        The numeric columns by role (``"value"``, or ``"numerator"`` and
        ``"denominator"``), sorted.
    group_names
        One label per group code.
    gcode, phase, seg
        Group code, phase number (1, 2, ... within each group) and segment id per point.
    seg_group, seg_phase, seg_first, seg_count
        Per segment: its group code, phase, index of its first point, number of points.
    time, tkey
        Time per point as given (parsed to datetimes or numbers) and a numeric sort key.
    row
        Spreadsheet-style row number of each point in the input (header is row 1).
    base
        Whether the point is among those the limits are computed from (``fix_after``).
    time_kind
        ``"month"`` (dates, all on the first of a month), ``"datetime"``, ``"number"``
        or ``"position"`` (no time column given).
    warnings
        The warnings issued (phases whose limits rest on fewer than
        :data:`WARN_POINTS` points).
    """

    values: Mapping[str, np.ndarray]
    group_names: np.ndarray
    gcode: np.ndarray
    phase: np.ndarray
    seg: np.ndarray
    seg_group: np.ndarray
    seg_phase: np.ndarray
    seg_first: np.ndarray
    seg_count: np.ndarray
    time: np.ndarray
    tkey: np.ndarray
    row: np.ndarray
    base: np.ndarray
    time_kind: str
    warnings: tuple[str, ...]

    @property
    def n_segments(self) -> int:
        return int(self.seg_count.size)


def _frame(data, value_role: str | None, time, group, file) -> tuple[pd.DataFrame, Any, Any]:
    """The input as a DataFrame, with the time and group column names to use."""
    if isinstance(data, pd.DataFrame):
        return data, time, group
    if value_role is None:
        raise DesignError("this chart needs a DataFrame with numerator and denominator "
                          f"columns, not a {type(data).__name__}", file=file,
                          fix="pass a DataFrame and name its columns")
    if isinstance(data, (str, bytes, Mapping)) or not hasattr(data, "__len__"):
        raise DesignError(f"data must be a DataFrame or a sequence of numbers, not "
                          f"{type(data).__name__}", file=file,
                          fix="pass a DataFrame with a value column, or a list of numbers")
    arr = np.asarray(data, dtype=object)
    if arr.ndim != 1:
        raise DesignError(f"a sequence of values must be one-dimensional, not shape "
                          f"{arr.shape}", file=file,
                          fix="pass a DataFrame with value, time and group columns")
    if group is not None:
        raise DesignError("group needs a DataFrame with a group column", file=file,
                          fix="pass a DataFrame, or drop group=")
    frame = pd.DataFrame({"value": pd.Series(list(arr), dtype=object)})
    if time is not None:
        if isinstance(time, str) or len(time) != len(arr):
            raise DesignError("with a sequence of values, time must be a sequence of the "
                              "same length", file=file,
                              fix="pass a DataFrame and name its time column, or give one "
                                  "time per value")
        frame["time"] = list(time)
        time = "time"
    return frame, time, None


def _column(frame: pd.DataFrame, name: str, role: str, file) -> pd.Series:
    if name not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:12]))
        raise DataError(f"there is no {role} column {name!r}", file=file, column=str(name),
                        fix=f"name one of the columns: {shown}")
    return frame[name]


def _numbers(series: pd.Series, column: str, file) -> np.ndarray:
    """A column as float, refusing text, missing and infinite values (naming rows)."""
    s = series.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float)
    num = pd.to_numeric(s, errors="coerce")
    text = (num.isna() & s.notna()).to_numpy()
    if text.any():
        bad = pd.unique(s[text].astype(str))[:3]
        raise DataError(f"values are not numbers ({', '.join(repr(b) for b in bad)})",
                        file=file, column=column,
                        rows=(np.flatnonzero(text) + 2).tolist(),
                        fix="correct or remove these rows; write numbers without units or "
                            "text")
    out = num.to_numpy(dtype=float)
    missing = np.isnan(out)
    if missing.any():
        raise DataError("values are missing", file=file, column=column,
                        rows=(np.flatnonzero(missing) + 2).tolist(),
                        fix="fill them in or drop the rows: an SPC chart needs a value at "
                            "every time point")
    inf = np.isinf(out)
    if inf.any():
        raise DataError("values are infinite", file=file, column=column,
                        rows=(np.flatnonzero(inf) + 2).tolist(),
                        fix="correct these rows (a division by zero upstream?)")
    return out


def _times(series: pd.Series, column: str, file) -> tuple[np.ndarray, np.ndarray, str]:
    """Parse a time column: returns (values as parsed, numeric sort keys, kind)."""
    s = series.reset_index(drop=True)
    missing = s.isna().to_numpy()
    if missing.any():
        raise DataError("time is missing", file=file, column=column,
                        rows=(np.flatnonzero(missing) + 2).tolist(),
                        fix="fill in the time of every row")
    if isinstance(s.dtype, pd.PeriodDtype):
        s = s.dt.to_timestamp()
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        parsed = s.astype("datetime64[ns]")
        return parsed.to_numpy(), parsed.to_numpy().view(np.int64), _date_kind(parsed)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(), s.to_numpy(dtype=float), "number"
    text = s.astype(str)
    if text.str.fullmatch(r"\s*-?\d+(\.\d+)?\s*").all():
        num = text.astype(float)
        return num.to_numpy(), num.to_numpy(), "number"
    parsed = pd.to_datetime(s, format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        shown = pd.unique(text[bad])[:3]
        raise DataError(f"cannot read {', '.join(repr(b) for b in shown)} as dates",
                        file=file, column=column,
                        rows=(np.flatnonzero(bad) + 2).tolist(),
                        fix="write dates as YYYY-MM-DD or months as YYYY-MM, or use "
                            "period numbers")
    parsed = parsed.astype("datetime64[ns]")
    return parsed.to_numpy(), parsed.to_numpy().view(np.int64), _date_kind(parsed)


def _date_kind(parsed: pd.Series) -> str:
    """``"month"`` when every date is the first of a month at midnight, else ``"datetime"``."""
    monthly = bool(((parsed.dt.day == 1) & (parsed == parsed.dt.normalize())).all())
    return "month" if monthly else "datetime"


def _rebase_key(value, kind: str) -> float:
    """One rebase value as a sort key on the data's time axis."""
    if isinstance(value, bool) or value is None:
        raise DesignError(f"rebase {value!r} is not a time", fix="give a date, a month "
                          "such as 2019-10, or a period number, as in the time column")
    if kind in ("datetime", "month"):
        try:
            ts = pd.Timestamp(value)
        except (TypeError, ValueError):
            raise DesignError(f"rebase {value!r} is not a date",
                              fix="write it as YYYY-MM-DD or YYYY-MM") from None
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
        return int(ts.as_unit("ns").value)
    try:
        return float(value)
    except (TypeError, ValueError):
        what = "period number" if kind == "number" else "position (the data have no time " \
            "column, so phases start at point numbers 1, 2, ...)"
        raise DesignError(f"rebase {value!r} is not a {what}",
                          fix="give a value that appears in the time column") from None


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray,
                                                                   pd.Index, pd.Series)):
        return [value]
    return list(value)


def label(value, kind: str | None = None) -> str:
    """A time value as a short human label.

    Months (``kind="month"``) read ``YYYY-MM``, other dates without a clock time
    ``YYYY-MM-DD``, whole numbers without a decimal point.
    """
    if isinstance(value, (np.datetime64, pd.Timestamp)):
        ts = pd.Timestamp(value)
        if kind == "month":
            return ts.strftime("%Y-%m")
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _nearest(keys: np.ndarray, times: np.ndarray, key, kind: str) -> str:
    """The available times either side of ``key`` (keys sorted, unique)."""
    i = int(np.searchsorted(keys, key))
    near = [label(times[j], kind) for j in (i - 1, i) if 0 <= j < keys.size]
    return " and ".join(near) if near else "none"


def _rebase_pairs(rebase, group_names, gcode, tkey, times, kind, group, time_col, file):
    """Rebase as (group code, time key) pairs (code -1: every group), checked to exist."""
    if rebase is None:
        return np.empty(0, np.int64), np.empty(0, float)
    if isinstance(rebase, Mapping):
        if group is None:
            raise DesignError("rebase by group needs group=", file=file,
                              fix="give rebase as a date or a list of dates")
        lookup = {str(g): i for i, g in enumerate(group_names)}
        unknown = [g for g in rebase if str(g) not in lookup]
        if unknown:
            raise DataError(f"rebase names groups not in the data: "
                            f"{', '.join(map(str, unknown[:5]))}", file=file, column=group,
                            fix="use group labels as they appear in the group column")
        items = [(lookup[str(g)], v) for g, v in rebase.items() for v in _as_list(v)]
    else:
        items = [(-1, v) for v in _as_list(rebase)]
    if not items:
        return np.empty(0, np.int64), np.empty(0, float)
    codes = np.asarray([c for c, _ in items], np.int64)
    keys = np.asarray([_rebase_key(v, kind) for _, v in items], dtype=float)
    uniq = np.unique(tkey)
    rank = np.searchsorted(uniq, keys).clip(0, uniq.size - 1)
    present = uniq[rank] == keys
    own = codes >= 0
    if own.any():  # a group's own rebase time must be in that group's series
        have = np.unique(gcode * uniq.size + np.searchsorted(uniq, tkey))
        present[own] &= np.isin(codes[own] * uniq.size + rank[own], have)
    if not present.all():
        missing = []
        for i in np.flatnonzero(~present)[:5]:
            mask = slice(None) if codes[i] < 0 else gcode == codes[i]
            avail, first = np.unique(tkey[mask], return_index=True)
            where = "" if codes[i] < 0 else f" of {group} {group_names[codes[i]]}"
            missing.append(f"{items[i][1]} (nearest in the series{where}: "
                           f"{_nearest(avail, times[mask][first], keys[i], kind)})")
        more = int((~present).sum()) - len(missing)
        raise DesignError(f"rebase {'dates are' if (~present).sum() > 1 else 'date is'} not "
                          f"in the series: {'; '.join(missing)}"
                          + (f" and {more} more" if more > 0 else ""), file=file,
                          column=time_col,
                          fix="rebase at times that appear in the time column (a new phase "
                              "starts at that point)")
    return codes, keys


def _phases(gcode, tkey, rb_codes, rb_keys) -> np.ndarray:
    """Phase 1, 2, ... per point (inputs sorted by group then time)."""
    n = gcode.size
    if rb_keys.size == 0:
        return np.ones(n, np.int64)
    global_keys = np.sort(np.unique(rb_keys[rb_codes < 0]))
    raw = np.searchsorted(global_keys, tkey, side="right").astype(np.int64)
    own = rb_codes >= 0
    if own.any():
        # count each group's own rebase times <= t: rank times, then one sorted key
        # per (group, time rank) so a single searchsorted does every group at once.
        uniq = np.unique(tkey)
        rank = np.searchsorted(uniq, tkey)
        pair = np.unique(rb_codes[own] * uniq.size + np.searchsorted(uniq, rb_keys[own]))
        key = gcode * uniq.size + rank
        raw += (np.searchsorted(pair, key, side="right")
                - np.searchsorted(pair, gcode * uniq.size, side="left"))
    first = np.r_[True, gcode[1:] != gcode[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    return raw - raw[start] + 1


def prepare(data, *, columns: Mapping[str, str | None], time=None, group=None, rebase=None,
            fix_after: int | None = None, file: str | None = None,
            check: Callable[[Mapping[str, np.ndarray]], None] | None = None) -> Prepared:
    """Check, sort and phase a chart's data.

    Parameters
    ----------
    data
        A DataFrame, or (for a chart of one value column) a 1-D sequence of numbers.
    columns
        The numeric columns by role, e.g. ``{"value": "admissions"}``. A role mapped to
        ``None`` means that ``data`` is a sequence.
    time, group, rebase, fix_after, file
        As in :func:`~evalkit.variation.spc.xmr`.
    check
        Called with the numeric columns in input row order (row ``i`` is spreadsheet
        row ``i + 2``) before anything else, to refuse values a chart cannot take.

    Raises
    ------
    DataError
        Text, missing or infinite values; missing times or groups; two rows for one
        group and time; a phase with fewer than :data:`MIN_POINTS` points.
    DesignError
        Options that do not fit the data (rebase times not in the series, bad
        ``fix_after``).
    """
    sequence_role = next((r for r, c in columns.items() if c is None), None)
    frame, time_col, group_col = _frame(data, sequence_role, time, group, file)
    if sequence_role is not None:
        columns = {**columns, sequence_role: "value"}
    if fix_after is not None:
        if isinstance(fix_after, bool) or not isinstance(fix_after, (int, np.integer)) \
                or fix_after < MIN_POINTS:
            raise DesignError(f"fix_after={fix_after!r}: limits need at least {MIN_POINTS} "
                              "points", file=file,
                              fix=f"give a whole number of points of {MIN_POINTS} or more "
                                  f"(at least {WARN_POINTS} is better)")
    n = len(frame)
    values = {role: _numbers(_column(frame, col, role, file), col, file)
              for role, col in columns.items()}
    if check is not None:
        check(values)
    if group_col is not None:
        gs = _column(frame, group_col, "group", file).reset_index(drop=True)
        if gs.isna().any():
            raise DataError("group is missing", file=file, column=group_col,
                            rows=(np.flatnonzero(gs.isna().to_numpy()) + 2).tolist(),
                            fix="fill in the group of every row")
        codes, names = pd.factorize(gs, sort=True)
        names = np.asarray(names, dtype=object)
    else:
        codes = np.zeros(n, np.int64)
        names = np.asarray([columns.get("value") or columns.get("numerator")], dtype=object)
    codes = np.asarray(codes, np.int64)
    if time_col is not None:
        times, tkey, kind = _times(_column(frame, time_col, "time", file), time_col, file)
    else:  # position within the group, in the order of the rows
        order = np.argsort(codes, kind="stable")
        first = np.r_[True, codes[order][1:] != codes[order][:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        pos = np.empty(n, np.int64)
        pos[order] = np.arange(n) - start + 1
        times, tkey, kind = pos, pos.astype(float), "position"
    order = np.lexsort((tkey, codes))
    gcode, tkey, times = codes[order], tkey[order], np.asarray(times)[order]
    row = order + 2
    values = {role: v[order] for role, v in values.items()}
    dup = np.flatnonzero((gcode[1:] == gcode[:-1]) & (tkey[1:] == tkey[:-1]))
    if dup.size:
        rows = np.unique(np.r_[row[dup], row[dup + 1]])
        raise DataError("two or more rows share a group and time", file=file,
                        column=time_col, rows=rows.tolist(),
                        fix="keep one row per group and time (aggregate duplicates first)")

    rb_codes, rb_keys = _rebase_pairs(rebase, names, gcode, tkey, times, kind, group_col,
                                      time_col, file)
    phase = _phases(gcode, tkey, rb_codes, rb_keys)
    start = np.r_[True, (gcode[1:] != gcode[:-1]) | (phase[1:] != phase[:-1])]
    seg = np.cumsum(start) - 1
    seg_first = np.flatnonzero(start)
    seg_count = np.diff(np.r_[seg_first, n])
    pos = np.arange(n) - seg_first[seg]
    base = pos < (fix_after if fix_after is not None else n + 1)
    used = np.minimum(seg_count, fix_after) if fix_after is not None else seg_count

    def where(segs) -> str:
        parts = []
        for s in segs[:3]:
            g = "" if group_col is None else f"{group_col} {names[gcode[seg_first[s]]]}, "
            parts.append(f"{g}phase {phase[seg_first[s]]} ({used[s]} point"
                         f"{'' if used[s] == 1 else 's'})")
        more = len(segs) - 3
        return "; ".join(parts) + (f" and {more} more" if more > 0 else "")

    short = np.flatnonzero(used < MIN_POINTS)
    if short.size:
        rows = np.sort(row[np.isin(seg, short)])
        raise DataError(f"too few points for process limits: {where(short)}; at least "
                        f"{MIN_POINTS} are needed", file=file, column=time_col,
                        rows=rows.tolist(),
                        fix="collect more data points, or rebase less often")
    notes = []
    few = np.flatnonzero(used < WARN_POINTS)
    if few.size:
        msg = (f"limits rest on fewer than {WARN_POINTS} points in {few.size} phase"
               f"{'s' if few.size > 1 else ''} ({where(few)}); treat them as trial limits "
                "that will move as more data arrive")
        warnings.warn(msg, SPCWarning, stacklevel=3)
        notes.append(msg)
    return Prepared(values=values, group_names=names, gcode=gcode, phase=phase, seg=seg,
                    seg_group=gcode[seg_first], seg_phase=phase[seg_first],
                    seg_first=seg_first, seg_count=seg_count, time=times, tkey=tkey,
                    row=row, base=base, time_kind=kind, warnings=tuple(notes))

