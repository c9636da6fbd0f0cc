"""User-facing errors: what went wrong, where, and what to do about it.

Internal bugs raise ordinary Python exceptions so that they get fixed. Problems
with the user's data, spec or command line raise :class:`EvalkitError` (or a
subclass). The command-line tool turns these into one readable line and exit
code 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["EvalkitError", "DataError", "SpecError", "DesignError", "format_rows", "one_line"]


def one_line(text: str) -> str:
    """``text`` on one line: line breaks and runs of spaces become single spaces (messages
    quoted from other libraries, such as pandas' parser, may end in a line break)."""
    return " ".join(str(text).split())


def format_rows(rows: Iterable[int], limit: int = 5) -> str:
    """Describe row numbers compactly, e.g. ``"rows 3, 7, 9 and 12 more"``.

    Row numbers are as a person sees them in a spreadsheet: 1 is the header,
    so the first data row is 2.
    """
    rows = list(rows)
    if not rows:
        return ""
    shown = ", ".join(str(r) for r in rows[:limit])
    more = len(rows) - limit
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}" + (f" and {more} more" if more > 0 else "")


@dataclass
class EvalkitError(Exception):
    """A problem the user can fix.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    file
        The file the problem is in, if any.
    column
        The column involved, if any.
    rows
        Spreadsheet-style row numbers (header is row 1) of offending rows.
    fix
        What the user can do about it.
    """

    message: str
    file: str | None = None
    column: str | None = None
    rows: Sequence[int] = field(default_factory=tuple)
    fix: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """Return the error as one readable line."""
        where = []
        if self.file:
            where.append(str(self.file))
        if self.column:
            where.append(f"column '{self.column}'")
        if self.rows:
            where.append(format_rows(self.rows))
        text = (": ".join([", ".join(where), self.message]) if where else self.message)
        if self.fix:
            text += f". Fix: {self.fix}"
        return one_line(text)

    def __str__(self) -> str:
        return self.one_line()


class DataError(EvalkitError):
    """The data do not meet the data contract."""


class SpecError(EvalkitError):
    """The evaluation spec is malformed."""


class DesignError(EvalkitError):
    """The data cannot support the requested design or options."""
