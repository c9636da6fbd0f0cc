"""Disclosure control of the counts an evidence summary shows.

Every count of people or events that the report prints (patients enrolled or matched,
admissions, referrals, meeting attendances, survey answers) passes through
:class:`ReportCounts`, which applies :func:`evalkit.disclosure.suppress` with the
report's :class:`~evalkit.disclosure.DisclosureRules` (NHS HES small numbers by default:
1 to 7 shown as ``*``) and keeps a log of what was shown and hidden, so the report can
say which rule applied and how often. A share or rate computed from a hidden count is
hidden too, since it would give the count away (:meth:`ReportCounts.share`).

Counts of organisations (practices, areas, networks) and of time periods are not about
people and are shown as they are; the report says so.

Examples
--------
>>> counts = ReportCounts()
>>> counts.count(5, "patients"), counts.count(1234, "admissions")
('*', '1,234')
>>> counts.to_frame()[["what", "shown", "suppressed"]].values.tolist()
[['patients', 0, 1], ['admissions', 1, 0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .disclosure import DisclosureResult, DisclosureRules, suppress
from .errors import DataError

__all__ = ["ReportCounts", "ORGANISATION_NOTE"]

#: What the report says about counts that are not controlled.
ORGANISATION_NOTE = ("Counts of organisations (practices, areas, networks) and of months "
                     "are not about people and are shown as they are.")


def _display(value: Any) -> str:
    return value if isinstance(value, str) else f"{int(value):,}"


@dataclass(frozen=True)
class ReportCounts:
    """Disclosure control for the counts of one report, with a log of each use.

    Parameters
    ----------
    rules
        The rules applied (default: NHS HES small numbers, 1 to 7 hidden as ``*``).

    Attributes
    ----------
    log
        One entry per call: ``what`` was counted, how many counts were ``shown`` and how
        many ``suppressed`` (primary and secondary together).
    """

    rules: DisclosureRules = field(default_factory=DisclosureRules)
    log: list = field(default_factory=list, repr=False)

    def counts(self, values: Sequence[Any], what: str, *, file: str | None = None
               ) -> list[str]:
        """Several counts with no totals between them, each shown or hidden.

        Parameters
        ----------
        values
            Whole numbers of people or events.
        what
            What they count, for the log (e.g. ``"patients enrolled"``).
        file
            The file the counts came from, for error messages.

        Returns
        -------
        list of str
            Each count with thousands separators, or the rules' symbol.

        Raises
        ------
        DataError
            For a count that is missing, negative or not a whole number (naming the
            position as a row: the first count is row 2).
        """
        values = list(values)
        if not values:
            return []
        res = suppress(pd.DataFrame({what: values}), count_columns=[what], rules=self.rules,
                       file=file)
        self._record(what, res)
        return [_display(v) for v in res.table[what]]

    def count(self, value: Any, what: str, *, file: str | None = None) -> str:
        """One count, shown or hidden (see :meth:`counts`)."""
        return self.counts([value], what, file=file)[0]

    def table(self, frame: pd.DataFrame, count_columns: Sequence[str], what: str, *,
              totals: Any = None, file: str | None = None) -> DisclosureResult:
        """A table of counts after disclosure control (see :func:`~evalkit.disclosure.suppress`).

        Shown counts keep their thousands separators as text in the returned ``table``.
        """
        res = suppress(frame, count_columns=list(count_columns), rules=self.rules,
                       totals=totals, file=file)
        self._record(what, res)
        shown = res.table.copy()
        for c in count_columns:
            shown[c] = [_display(v) for v in shown[c]]
        return DisclosureResult(table=shown, mask=res.mask, log=res.log, rules=res.rules,
                                totals=res.totals, audited=res.audited)

    def share(self, text: Sequence[str], hidden: Sequence[bool]) -> list[str]:
        """Shares or rates, with those computed from a hidden count hidden too.

        Examples
        --------
        >>> ReportCounts().share(["45%", "3%"], [False, True])
        ['45%', '*']
        """
        text, hidden = list(text), np.asarray(hidden, dtype=bool)
        if len(text) != len(hidden):
            raise DataError("the shares and the hidden flags differ in length",
                            fix="give one flag per share")
        return [self.rules.symbol if h else t for t, h in zip(text, hidden, strict=True)]

    def hidden(self, shown: Sequence[str]) -> list[bool]:
        """Which of the displayed counts are hidden."""
        return [s == self.rules.symbol for s in shown]

    def _record(self, what: str, res: DisclosureResult) -> None:
        n_hidden = res.n_primary + res.n_secondary
        self.log.append({"what": what, "shown": int(res.mask.size - n_hidden),
                         "suppressed": int(n_hidden)})

    # -- result shape -----------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The log: one row per use, ``what``, ``shown`` and ``suppressed``."""
        return pd.DataFrame(self.log, columns=["what", "shown", "suppressed"])

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The log, by what was counted."""
        return {"log": self.to_frame().groupby("what", sort=False, as_index=False).sum()}

    def summary(self) -> str:
        """The rules and how many counts were shown and hidden, in plain text."""
        log = self.to_frame()
        return (f"{self.rules.description()} {int(log['shown'].sum()) if len(log) else 0} "
                f"count(s) shown, {int(log['suppressed'].sum()) if len(log) else 0} "
                "suppressed.")

    def statement(self) -> str:
        """What the report says about disclosure control: the rule and what it hid."""
        log = self.to_frame()
        hidden = int(log["suppressed"].sum()) if len(log) else 0
        total = hidden + (int(log["shown"].sum()) if len(log) else 0)
        what = sorted(set(log.loc[log["suppressed"] > 0, "what"])) if len(log) else []
        return (f"Every count of people or events in this report went through disclosure "
                f"control before it was shown. Rule applied: {self.rules.description()} "
                f"Of the {total:,} counts checked, {hidden:,} "
                + ("were" if hidden != 1 else "was") + " suppressed"
                + (f" ({'; '.join(what)})" if what else "") + f". {ORGANISATION_NOTE}")
