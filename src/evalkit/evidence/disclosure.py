"""Statistical disclosure control for published tables of counts.

Small counts in sub-national tables can identify people. The NHS Digital convention for
Hospital Episode Statistics (HES) is that, below national level, counts from 1 to 7 are
replaced by ``"*"`` and zero may be shown (NHS Digital, 2018, "Disclosure control
methodology for Hospital Episode Statistics and Emergency Care Data Set"). That
methodology also rounds every other count to the nearest 5, which is what stops a
suppressed cell being worked out from a table's totals. Before 2018 HES suppressed 1 to 5
and then applied *secondary suppression*: hiding further cells so that no hidden cell can
be recalculated from the others and the totals. :class:`DisclosureRules` holds either
convention; the default suppresses 1 to 7, shows zeros, does not round and applies
secondary suppression. ``DisclosureRules(round_to=5, secondary=False)`` (the constant
:data:`HES_2018`) is the 2018 HES method exactly.

Primary suppression
    Every count from ``low`` to ``high`` (and 0 when ``suppress_zero``) is hidden,
    totals included.

Margins
    A table's totals are constraints a reader can use. ``totals="margins"`` says that the
    **last row** holds the column totals (when the table has at least two rows) and the
    **last count column** holds the row totals (when it has at least two count columns);
    the cell where they meet is the grand total. ``totals={"row": label, "column": name}``
    names a totals row (by index label) and/or a totals column explicitly, for a table
    with only one of them. The totals are checked: each must equal the sum of the cells it
    totals, or :func:`suppress` refuses the table and says where the difference is.

Secondary suppression
    A line (a row or column with a total, the totals row and column included) is a linear
    equation: its cells add up to its total. If exactly one of its cells is hidden, that
    cell is the total less the others. So, repeatedly, for every line with exactly one
    hidden cell, the smallest other cell of the line is hidden too (preferring non-zero
    cells, then zeros, and the line's total only when nothing else is left), until no
    line has exactly one hidden cell.

    That rule is necessary but not sufficient: hidden cells can still be solved for by
    combining several equations (two blocks of hidden cells joined by one hidden cell,
    for example, let that one be recovered). So the result is then audited by linear
    algebra: with the published cells known, the hidden cells ``u`` satisfy ``A u = b``
    for the margin equations ``A``; a hidden cell is uniquely determined exactly when the
    basis of the null space of ``A`` has a zero in that cell's coordinate. Any hidden
    cell that is still determined gets a further partner hidden in one of its lines, and
    the single-cell rule runs again, until no hidden cell is determined. (Hiding every
    cell always leaves every cell undetermined, so this ends.) The audit treats the hidden
    values as free real numbers: it does not use the knowledge that counts are whole and
    non-negative, which can narrow a hidden cell to a range, though not to one value
    unless every other hidden cell of its lines is 0.

Rounding
    With ``round_to`` set, every count that is shown is rounded to the nearest multiple
    (halves up), after the suppression decisions, totals independently of their cells, so
    rounded rows need not add up. Zero stays zero.

Shares, rates and everything else computed from a count
    A share ``k / n`` is a count in disguise: with ``n`` known (or published elsewhere in
    the report) it gives ``k`` back exactly when ``n`` is below ``100 * 10**d`` for a
    percentage printed to ``d`` decimals (a 0-decimal percentage pins any numerator with
    ``n < 100``), and always from the unrounded value in ``results.json`` or a figure's
    data. So rounding cannot protect a share; :data:`SHARE_RULE` says what does. A share
    or rate is hidden whenever the count it is computed from is hidden, and a count
    ``k`` of ``n`` is hidden when ``k`` **or** ``n - k`` is small (3 of 61 agreeing is
    hidden, and so is 58 of 61: 3 disagreeing). A share of a total (an overall rate
    beside a table of its parts) is the table's margin: the parts are suppressed with
    that margin, so that secondary suppression stops the total giving a hidden part
    away. :func:`small_counts` and :func:`share_hidden` decide; :func:`proportions`
    controls a table of numerators and denominators with its totals row;
    :func:`show_share` is the one place a share becomes text. Every sentence, table
    cell, figure label, alt text, figure point and results file of evalkit that shows a
    count of people or events, or a share, rate or point computed from one, reads these
    decisions.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"A": [4, 20, 24], "B": [30, 40, 70], "Total": [34, 60, 94]},
...                      index=["Ward 1", "Ward 2", "Total"])
>>> res = suppress(table, totals="margins")
>>> res.table["A"].tolist(), res.table["B"].tolist()
(['*', '*', 24], ['*', '*', 70])
>>> res.n_primary, res.n_secondary
(1, 3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import null_space

from evalkit.errors import DataError, DesignError

__all__ = ["DisclosureRules", "DisclosureResult", "HES_2018", "suppress", "small_counts",
           "share_hidden", "show_share", "proportions", "SHARE_RULE"]

_TOL = 1e-8


@dataclass(frozen=True)
class DisclosureRules:
    """Which counts are hidden, how they are shown, and what else is done.

    Parameters
    ----------
    low, high
        Counts from ``low`` to ``high`` inclusive are suppressed (primary suppression).
    symbol
        What a suppressed cell shows.
    suppress_zero
        Whether zeros are suppressed too (shown by default).
    round_to
        Round every count that is shown to the nearest multiple of this (e.g. 5), or
        ``None`` for no rounding.
    secondary
        Whether to hide further cells so that no hidden cell can be worked out from the
        table's totals.
    name
        A name for the rules, for the log and provenance.

    Examples
    --------
    >>> DisclosureRules().description()[:55]
    'NHS HES small numbers: counts from 1 to 7 are shown as '
    """

    low: int = 1
    high: int = 7
    symbol: str = "*"
    suppress_zero: bool = False
    round_to: int | None = None
    secondary: bool = True
    name: str = "NHS HES small numbers"

    def __post_init__(self) -> None:
        for attr in ("low", "high"):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise DesignError(f"{attr}={v!r} is not a whole number",
                                  fix=f"give {attr} as a whole number of people or events")
        if self.low < 1:
            raise DesignError(f"low={self.low} is below 1",
                              fix="counts of 0 are controlled by suppress_zero=True; "
                                  "keep low at 1 or more")
        if self.high < self.low:
            raise DesignError(f"high={self.high} is below low={self.low}",
                              fix="give a range with low <= high, e.g. low=1, high=7")
        if not isinstance(self.symbol, str) or not self.symbol:
            raise DesignError("symbol must be a non-empty string", fix='use e.g. symbol="*"')
        if self.round_to is not None and (isinstance(self.round_to, bool)
                                          or not isinstance(self.round_to, (int, np.integer))
                                          or self.round_to < 1):
            raise DesignError(f"round_to={self.round_to!r} is not a whole number of 1 or more",
                              fix="use round_to=5 (the nearest 5) or round_to=None")

    def description(self) -> str:
        """The rules in one sentence."""
        zero = "zeros are suppressed too" if self.suppress_zero else "zeros are shown"
        rounding = (f"other counts are rounded to the nearest {self.round_to}"
                    if self.round_to and self.round_to > 1 else "other counts are not rounded")
        second = ("further cells are suppressed where a hidden count could be worked out "
                  "from the totals (secondary suppression)" if self.secondary
                  else "there is no secondary suppression")
        return (f"{self.name}: counts from {self.low} to {self.high} are shown as "
                f"'{self.symbol}', {zero}; {rounding}; {second}.")

    def to_dict(self) -> dict[str, Any]:
        """The rules as a plain dict for provenance, with the description."""
        out = asdict(self)
        out["round_to"] = None if self.round_to is None else int(self.round_to)
        out["low"], out["high"] = int(self.low), int(self.high)
        out["description"] = self.description()
        return out


#: The 2018 HES and ECDS method: 1 to 7 suppressed, everything else rounded to the nearest
#: 5, no secondary suppression (the rounding protects the totals).
HES_2018 = DisclosureRules(round_to=5, secondary=False, name="NHS Digital HES/ECDS (2018)")


@dataclass(frozen=True)
class DisclosureResult:
    """A table made safe to publish, with what was hidden and why.

    Attributes
    ----------
    table
        The display table: the input with suppressed counts replaced by the rules'
        symbol, and shown counts rounded when the rules say so. Columns with a suppressed
        cell hold Python objects (whole numbers and the symbol).
    mask
        One column per count column, same index: ``"primary"``, ``"secondary"`` or
        ``""`` for each cell.
    log
        One row per suppressed cell, in the order decided: ``row`` (the index label),
        ``row_number`` (spreadsheet-style: header is row 1), ``column``, ``kind``
        (``primary``/``secondary``) and ``reason``. It never holds the hidden values.
    rules
        The :class:`DisclosureRules` applied.
    totals
        The margins used: ``{"row": label or None, "column": name or None}``.
    audited
        Whether the linear-algebra audit ran (tables with margins and secondary
        suppression); when it did, no suppressed cell is determined by the published
        cells and the margins.
    """

    table: pd.DataFrame
    mask: pd.DataFrame
    log: pd.DataFrame
    rules: DisclosureRules
    totals: Mapping[str, Any] = field(default_factory=dict)
    audited: bool = False

    @property
    def n_primary(self) -> int:
        """Cells suppressed because they are small."""
        return int((self.mask.to_numpy() == "primary").sum())

    @property
    def n_secondary(self) -> int:
        """Cells suppressed to protect others."""
        return int((self.mask.to_numpy() == "secondary").sum())

    @property
    def suppressed(self) -> pd.DataFrame:
        """``True`` where a cell is hidden (either kind)."""
        return self.mask != ""

    def to_frame(self) -> pd.DataFrame:
        """The display table (a copy)."""
        return self.table.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The mask and the log (copies)."""
        return {"mask": self.mask.copy(), "log": self.log.copy()}

    def provenance(self) -> dict[str, Any]:
        """What was done, as plain values for ``provenance.json``."""
        return {"rules": self.rules.to_dict(), "primary": self.n_primary,
                "secondary": self.n_secondary,
                "totals": {k: (None if v is None else str(v)) for k, v in self.totals.items()},
                "audited": self.audited}

    def summary(self) -> str:
        """What was suppressed and why, in plain text."""
        lines = [self.rules.description()]
        row, col = self.totals.get("row"), self.totals.get("column")
        if row is None and col is None:
            lines.append("No totals: nothing can be worked out by subtraction, so no "
                         "secondary suppression was needed.")
        else:
            parts = ([f"totals row {row!r}"] if row is not None else []) + \
                    ([f"totals column {col!r}"] if col is not None else [])
            lines.append("Totals: " + " and ".join(parts) + ".")
        lines.append(f"{self.n_primary + self.n_secondary} cell(s) suppressed: "
                     f"{self.n_primary} primary (small counts), {self.n_secondary} "
                     "secondary (to protect them).")
        if self.audited:
            lines.append("Audit: no suppressed cell is determined by the published cells "
                         "and totals.")
        elif (row is not None or col is not None) and not self.rules.secondary:
            lines.append("Secondary suppression is off: suppressed cells may be worked out "
                         "from the totals unless the rounding protects them.")
        if len(self.log):
            lines.append(self.log.drop(columns=["row_number"]).to_string(index=False))
        return "\n".join(lines)


def _count_matrix(frame: pd.DataFrame, columns: Sequence[Any], file: str | None) -> np.ndarray:
    """The count columns as a whole-number matrix, refusing what cannot be a count."""
    out = np.empty((len(frame), len(columns)), dtype=np.int64)
    for j, name in enumerate(columns):
        raw = frame[name]
        if raw.dtype == bool:
            raise DataError("the column holds true/false values, not counts", file=file,
                            column=str(name), fix="give counts as whole numbers")
        missing = raw.isna().to_numpy()
        if missing.any():
            raise DataError("a count is missing", file=file, column=str(name),
                            rows=(np.flatnonzero(missing) + 2).tolist(),
                            fix="fill in every count (0 where there were none) before "
                                "publishing")
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(num)
        if bad.any():
            raise DataError("a count is not a number", file=file, column=str(name),
                            rows=(np.flatnonzero(bad) + 2).tolist(),
                            fix="give plain whole numbers (no text, symbols or commas)")
        frac = num != np.round(num)
        if frac.any():
            raise DataError("a count is not a whole number", file=file, column=str(name),
                            rows=(np.flatnonzero(frac) + 2).tolist(),
                            fix="disclosure control applies to counts of people or events: "
                                "give whole numbers (rates and means are not controlled "
                                "here)")
        neg = num < 0
        if neg.any():
            raise DataError("a count is negative", file=file, column=str(name),
                            rows=(np.flatnonzero(neg) + 2).tolist(),
                            fix="counts cannot be negative: correct those rows")
        out[:, j] = num.astype(np.int64)
    return out


def _margins(frame: pd.DataFrame, columns: list[Any], totals: Any,
             file: str | None) -> tuple[int | None, int | None]:
    """Positions of the totals row and totals column (among the count columns)."""
    if totals is None:
        return None, None
    n_rows, n_cols = len(frame), len(columns)
    if isinstance(totals, str):
        if totals != "margins":
            raise DesignError(f"totals={totals!r} is not understood", file=file,
                              fix='use totals=None, totals="margins" (the last row and the '
                                  'last count column are totals) or totals={"row": label, '
                                  '"column": name}')
        row = n_rows - 1 if n_rows >= 2 else None
        col = n_cols - 1 if n_cols >= 2 else None
        if row is None and col is None:
            raise DesignError("a one-cell table has no margins", file=file,
                              fix="use totals=None")
        return row, col
    if not isinstance(totals, Mapping) or not set(totals) <= {"row", "column"} or not totals:
        raise DesignError(f"totals={totals!r} is not understood", file=file,
                          fix='use totals=None, "margins" or {"row": label, "column": name}')
    row = col = None
    if totals.get("row") is not None:
        label = totals["row"]
        hits = np.flatnonzero(frame.index == label)
        if len(hits) != 1:
            raise DesignError(f"the totals row {label!r} is "
                              + ("not in the table's index" if len(hits) == 0
                                 else "in the table's index more than once"), file=file,
                              fix="give the index label of the one row that holds the "
                                  "column totals")
        if n_rows < 2:
            raise DesignError("a totals row needs at least one other row", file=file)
        row = int(hits[0])
    if totals.get("column") is not None:
        name = totals["column"]
        if name not in columns:
            raise DesignError(f"the totals column {name!r} is not one of the count columns",
                              file=file, column=str(name),
                              fix=f"name one of: {', '.join(map(str, columns))}")
        if n_cols < 2:
            raise DesignError("a totals column needs at least one other count column",
                              file=file, column=str(name))
        col = columns.index(name)
    return row, col


def _check_totals(x: np.ndarray, row: int | None, col: int | None, frame: pd.DataFrame,
                  columns: list[Any], file: str | None) -> None:
    """Refuse margins that do not add up, naming the rows, columns and differences."""
    problems, rows, cols = [], [], []
    inner_r = np.array([i for i in range(x.shape[0]) if i != row])
    inner_c = np.array([j for j in range(x.shape[1]) if j != col])
    if row is not None:
        diff = x[row, :] - x[inner_r, :].sum(axis=0)
        for j in np.flatnonzero(diff):
            problems.append(f"column {columns[j]!r}: the totals row {frame.index[row]!r} says "
                            f"{x[row, j]}, the rows above add up to {x[row, j] - diff[j]} "
                            f"(difference {diff[j]:+d})")
            rows.append(row + 2)
            cols.append(columns[j])
    if col is not None:
        diff = x[:, col] - x[:, inner_c].sum(axis=1)
        for i in np.flatnonzero(diff):
            if row is not None and i == row and columns[col] in cols:
                continue  # the grand total: already reported against the totals row
            problems.append(f"row {frame.index[i]!r}: the totals column {columns[col]!r} says "
                            f"{x[i, col]}, the cells add up to {x[i, col] - diff[i]} "
                            f"(difference {diff[i]:+d})")
            rows.append(i + 2)
            cols.append(columns[col])
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more"
                                           if len(problems) > 5 else "")
        raise DataError(f"the totals do not add up: {shown}", file=file, column=str(cols[0]),
                        rows=sorted(set(rows)),
                        fix="correct the totals (or the cells), or say which row and column "
                            'are totals with totals={"row": ..., "column": ...} or '
                            "totals=None")


class _Margins:
    """The margin equations of a table, on its grid of count cells.

    With a totals column, each row (the totals row included) is an equation: its cells
    add up to its cell in the totals column. With a totals row, each column likewise.
    Line ``i < n_rows`` is row ``i``'s equation (when there is a totals column); the
    column equations follow.
    """

    def __init__(self, shape: tuple[int, int], row: int | None, col: int | None) -> None:
        self.n_r, self.n_c = shape
        self.row, self.col = row, col
        self.n_row_lines = self.n_r if col is not None else 0
        self.n_lines = self.n_row_lines + (self.n_c if row is not None else 0)
        totals = np.zeros(shape, dtype=bool)
        if col is not None:
            totals[:, col] = True
        if row is not None:
            totals[row, :] = True
        self.is_total = totals.ravel()  # a margin cell (never preferred as a partner)

    def counts(self, hidden: np.ndarray) -> np.ndarray:
        """Hidden cells in each line (a line is a whole row or a whole column)."""
        grid = hidden.reshape(self.n_r, self.n_c)
        parts = []
        if self.col is not None:
            parts.append(grid.sum(axis=1))
        if self.row is not None:
            parts.append(grid.sum(axis=0))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=int)

    def cells(self, k: int) -> tuple[np.ndarray, int]:
        """Flat indices of line ``k``'s cells (its total excluded), and of its total."""
        if k < self.n_row_lines:
            i = k
            cells = i * self.n_c + np.arange(self.n_c)
            return cells[np.arange(self.n_c) != self.col], i * self.n_c + self.col
        j = k - self.n_row_lines
        cells = np.arange(self.n_r) * self.n_c + j
        return cells[np.arange(self.n_r) != self.row], self.row * self.n_c + j

    def through(self, flat: int) -> list[int]:
        """The lines a cell is in."""
        i, j = divmod(flat, self.n_c)
        out = [i] if self.col is not None else []
        if self.row is not None:
            out.append(self.n_row_lines + j)
        return out

    def determined(self, hidden: np.ndarray) -> np.ndarray:
        """Flat indices of hidden cells uniquely determined by the margin equations.

        With the shown cells known, the hidden ones ``u`` solve ``A_u u = b``; cell ``k``
        is unique exactly when every null-space vector of ``A_u`` is zero at ``k``. Only
        the lines holding a hidden cell matter.
        """
        idx = np.flatnonzero(hidden)
        if len(idx) == 0 or self.n_lines == 0:
            return np.array([], dtype=int)
        i, j = np.divmod(idx, self.n_c)
        entries = []  # (line, position among hidden cells, coefficient)
        pos = np.arange(len(idx))
        if self.col is not None:
            entries.append((i, pos, np.where(j == self.col, -1.0, 1.0)))
        if self.row is not None:
            entries.append((self.n_row_lines + j, pos, np.where(i == self.row, -1.0, 1.0)))
        lines = np.concatenate([e[0] for e in entries])
        used, line_row = np.unique(lines, return_inverse=True)
        a_u = np.zeros((len(used), len(idx)))
        a_u[line_row, np.concatenate([e[1] for e in entries])] = np.concatenate(
            [e[2] for e in entries])
        basis = null_space(a_u)
        if basis.shape[1] == 0:
            return idx
        return idx[np.all(np.abs(basis) < _TOL, axis=1)]


def _partner(candidates: np.ndarray, is_total: np.ndarray, values: np.ndarray) -> int | None:
    """The cell to hide next: non-totals first, non-zero before zero, smallest first."""
    if len(candidates) == 0:
        return None
    order = np.lexsort((candidates, values[candidates], values[candidates] == 0,
                        is_total[candidates]))
    return int(candidates[order[0]])


def _label(frame: pd.DataFrame, columns: list[Any], flat: int) -> tuple[Any, int, Any]:
    i, j = divmod(flat, len(columns))
    return frame.index[i], i + 2, columns[j]


def suppress(table: pd.DataFrame | pd.Series, *, count_columns: Sequence[Any] | None = None,
             rules: DisclosureRules = DisclosureRules(), totals: Any = None,
             file: str | None = None) -> DisclosureResult:
    """Suppress small counts in a table, and the cells that would reveal them.

    Parameters
    ----------
    table
        Counts, one row per group (practice, ward, month). A Series is taken as a table
        of one count column.
    count_columns
        The columns holding counts; by default every numeric column. Other columns
        (names, codes) pass through untouched.
    rules
        The :class:`DisclosureRules` (default: counts 1 to 7 hidden as ``"*"``, zeros
        shown, secondary suppression, no rounding).
    totals
        ``None`` (no totals), ``"margins"`` (the last row holds the column totals and the
        last count column the row totals; a one-column table has only the totals row), or
        ``{"row": label, "column": name}`` naming either or both.
    file
        The file the table came from, for error messages.

    Returns
    -------
    DisclosureResult
        The display table, the mask, the log and the rules.

    Raises
    ------
    DataError
        Counts that are missing, not numbers, not whole or negative; totals that do not
        add up (naming the rows, columns and differences).
    DesignError
        Unknown count columns or totals.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.Series([12, 5, 30, 47], index=["A", "B", "C", "Total"], name="admissions")
    >>> suppress(s, totals="margins").table["admissions"].tolist()
    ['*', '*', 30, 47]
    """
    if isinstance(table, pd.Series):
        table = table.to_frame(name=table.name if table.name is not None else "count")
    if not isinstance(table, pd.DataFrame):
        raise DesignError(f"the table must be a pandas DataFrame or Series, not "
                          f"{type(table).__name__}", file=file,
                          fix="read the file with ek.read(...) or pandas first")
    if not isinstance(rules, DisclosureRules):
        raise DesignError("rules must be a DisclosureRules", file=file,
                          fix="pass rules=DisclosureRules(...)")
    if table.empty:
        raise DataError("the table has no rows", file=file, fix="give a table of counts")
    if count_columns is None:
        columns = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])
                   and not pd.api.types.is_bool_dtype(table[c])]
        if not columns:
            raise DataError("the table has no numeric columns", file=file,
                            fix="name the count columns with count_columns=[...]")
    else:
        columns = [count_columns] if isinstance(count_columns, str) else list(count_columns)
        for name in columns:
            if name not in table.columns:
                raise DesignError(f"the column {name!r} is not in the table", file=file,
                                  column=str(name),
                                  fix=f"name one of: {', '.join(map(str, table.columns))}")
        if not columns:
            raise DesignError("count_columns is empty", file=file,
                              fix="name at least one column of counts")
    x = _count_matrix(table, columns, file)
    row, col = _margins(table, columns, totals, file)
    _check_totals(x, row, col, table, columns, file)

    values = x.ravel()
    primary = (values >= rules.low) & (values <= rules.high)
    if rules.suppress_zero:
        primary |= values == 0
    kind = np.where(primary, "primary", "").astype(object)
    log: list[tuple[int, str, str]] = []
    zero = " or zero" if rules.suppress_zero else ""
    for k in np.flatnonzero(primary):
        log.append((int(k), "primary",
                    f"a count from {rules.low} to {rules.high}{zero}"))

    margins = _Margins(x.shape, row, col)
    audited = False
    if rules.secondary and margins.n_lines:
        hidden = primary.copy()
        while True:
            # Rule 1: no line with exactly one hidden cell.
            while True:
                single = np.flatnonzero(margins.counts(hidden) == 1)
                if len(single) == 0:
                    break
                k = int(single[0])
                members, t = margins.cells(k)
                line = np.append(members, t)
                alone = int(line[hidden[line]][0])
                pick = _partner(members[~hidden[members]], margins.is_total, values)
                if pick is None:
                    pick = t
                hidden[pick] = True
                kind[pick] = "secondary"
                r_lab, _, c_lab = _label(table, columns, alone)
                what = "row" if k < margins.n_row_lines else "column"
                which = r_lab if what == "row" else c_lab
                why = (f"the only hidden cell in {what} {which!r} (at {r_lab!r}, {c_lab!r}) "
                       "could be worked out from the line's total")
                if pick == t:
                    why += "; no other cell of the line was left to hide, so the total is"
                log.append((pick, "secondary", why))
            # Rule 2: audit by linear algebra; break any remaining unique solution.
            audited = True
            determined = margins.determined(hidden)
            if len(determined) == 0:
                break
            cell = int(determined[0])
            cand = np.unique(np.concatenate([np.append(*margins.cells(k))
                                             for k in margins.through(cell)]))
            pick = _partner(cand[~hidden[cand]], margins.is_total, values)
            if pick is None:  # every line through it is hidden: widen to the whole table
                pick = _partner(np.flatnonzero(~hidden), margins.is_total, values)
            hidden[pick] = True
            kind[pick] = "secondary"
            r_lab, _, c_lab = _label(table, columns, cell)
            log.append((pick, "secondary",
                        f"the hidden cell at {r_lab!r}, {c_lab!r} could still be worked out "
                        "by solving the totals together"))
    # Display values: shown counts rounded after the decisions, hidden ones as the symbol.
    shown = values.copy()
    if rules.round_to and rules.round_to > 1:
        r = int(rules.round_to)
        shown = (np.floor(values / r + 0.5) * r).astype(np.int64)
    hidden_all = kind != ""
    display = table.copy()
    mask = pd.DataFrame("", index=table.index, columns=columns, dtype=object)
    grid_hidden = hidden_all.reshape(x.shape)
    grid_shown = shown.reshape(x.shape)
    grid_kind = kind.reshape(x.shape)
    for j, name in enumerate(columns):
        if grid_hidden[:, j].any():
            display[name] = pd.Series([rules.symbol if h else int(v) for h, v in
                                       zip(grid_hidden[:, j], grid_shown[:, j], strict=True)],
                                      index=table.index, dtype=object)
        else:
            display[name] = pd.Series(grid_shown[:, j], index=table.index)
        mask[name] = pd.Series(list(grid_kind[:, j]), index=table.index, dtype=object)
    log_rows = [dict(zip(("row", "row_number", "column"), _label(table, columns, k),
                         strict=True), kind=kd, reason=why) for k, kd, why in log]
    log_frame = pd.DataFrame(log_rows, columns=["row", "row_number", "column", "kind",
                                                "reason"])
    used = {"row": None if row is None else table.index[row],
            "column": None if col is None else columns[col]}
    return DisclosureResult(table=display, mask=mask, log=log_frame, rules=rules, totals=used,
                            audited=audited)


#: The rule for anything computed from a count, in one sentence (the reports print it).
SHARE_RULE = ("A share, rate or chart point computed from a count is hidden whenever that "
              "count is: when its numerator, or the rest of its denominator, is a small "
              "count, or when it is a total whose parts are hidden.")


def small_counts(values: Any, rules: DisclosureRules | None = None) -> np.ndarray:
    """Which counts primary suppression hides (vectorised; missing values are not hidden).

    Parameters
    ----------
    values
        Counts of people or events (a scalar or array-like).
    rules
        The :class:`DisclosureRules` (default: 1 to 7 hidden, zeros shown).

    Examples
    --------
    >>> small_counts([0, 1, 7, 8]).tolist()
    [False, True, True, False]
    """
    rules = rules or DisclosureRules()
    x = np.atleast_1d(np.asarray(values, dtype=float))
    out = (x >= rules.low) & (x <= rules.high)
    if rules.suppress_zero:
        out |= x == 0
    return out


def share_hidden(numerator: Any, denominator: Any,
                 rules: DisclosureRules | None = None) -> np.ndarray:
    """Whether a share ``k / n`` would give a hidden count away (vectorised).

    ``True`` when ``k`` is small or ``n - k`` is small (the people not counted are a
    count too: 58 of 61 agreeing says that 3 did not).

    Examples
    --------
    >>> share_hidden([3, 58, 30, 0], [61, 61, 61, 61]).tolist()
    [True, True, False, False]
    """
    k = np.atleast_1d(np.asarray(numerator, dtype=float))
    n = np.atleast_1d(np.asarray(denominator, dtype=float))
    return small_counts(k, rules) | small_counts(n - k, rules)


def show_share(value: Any, hidden: Any, fmt: str = "{:.0%}",
               rules: DisclosureRules | None = None) -> str:
    """A share or rate as text: formatted with ``fmt``, or the rules' symbol when hidden.

    Examples
    --------
    >>> show_share(0.049, True), show_share(0.25, False)
    ('*', '25%')
    """
    rules = rules or DisclosureRules()
    return rules.symbol if bool(np.asarray(hidden).any()) else fmt.format(value)


def proportions(numerator: Any, denominator: Any, index: Sequence[Any], *,
                rules: DisclosureRules | None = None, total_label: Any = "Total",
                file: str | None = None) -> DisclosureResult:
    """Suppress a table of numerators of denominators (k of n) with its totals row.

    The table suppressed has columns ``numerator``, ``rest`` (``n - k``) and
    ``denominator`` (the row totals) and a totals row: a share is hidden when its row's
    ``numerator`` is (:attr:`DisclosureResult.suppressed`), and the overall share (the
    totals row) can be published beside the parts without giving a hidden one away.

    Examples
    --------
    >>> res = proportions([5, 300, 280], [20, 400, 400], ["SW", "GP", "RN"])
    >>> res.suppressed["numerator"].tolist()
    [True, False, True, False]
    """
    k = np.asarray(numerator, dtype=np.int64)
    n = np.asarray(denominator, dtype=np.int64)
    frame = pd.DataFrame({"numerator": k, "rest": n - k, "denominator": n},
                         index=pd.Index(list(index)))
    frame.loc[total_label] = frame.sum(axis=0)
    return suppress(frame, count_columns=["numerator", "rest", "denominator"],
                    rules=rules or DisclosureRules(), file=file,
                    totals={"row": total_label, "column": "denominator"})
