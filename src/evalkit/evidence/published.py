"""Disclosure control of the counts an evidence summary shows.

Every count of people or events that the report prints (patients enrolled or matched,
admissions, referrals, meeting attendances, survey answers) passes through
:class:`ReportCounts`, which applies :func:`evalkit.evidence.disclosure.suppress` with the
report's :class:`~evalkit.evidence.disclosure.DisclosureRules` (NHS HES small numbers by default:
1 to 7 shown as ``*``) and keeps a log of what was shown and hidden, so the report can
say which rule applied and how often. A share or rate computed from a hidden count is
hidden too, since it would give the count away (:meth:`ReportCounts.share`); a share
``k`` of ``n`` is hidden when ``k`` or ``n - k`` is small, and a table of shares is
suppressed with its totals (:meth:`ReportCounts.proportions`), so that an overall rate
printed elsewhere gives no hidden part away (:data:`evalkit.evidence.disclosure.SHARE_RULE`).

Counts of organisations (practices, areas, networks) and of time periods are not about
people and are shown as they are; the report says so. This follows the HES convention
the rules come from, which protects people: a count of practices that never referred
says nothing about any patient (zero is shown anyway), while a count of the referrals
one practice made is a count of patients and is controlled. The comparative synthesis
applies the same rule.

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

from evalkit.errors import DataError
from evalkit.evidence.disclosure import (
    SHARE_RULE,
    DisclosureResult,
    DisclosureRules,
    proportions,
    small_counts,
    suppress,
)

__all__ = ["ReportCounts", "ORGANISATION_NOTE", "published_effects", "EVENT_KEYS",
           "PEOPLE_KEYS"]

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
        """A table of counts after disclosure control
        (see :func:`~evalkit.evidence.disclosure.suppress`).

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

    def proportions(self, numerator: Sequence[Any], denominator: Sequence[Any],
                    index: Sequence[Any], what: str, *, file: str | None = None
                    ) -> DisclosureResult:
        """Numerators of denominators (``k`` of ``n``) after disclosure control.

        Applies :func:`evalkit.evidence.disclosure.proportions` (the rest ``n - k`` and a totals
        row take part, so the overall share can be published) and returns its result
        without the totals row; ``table`` shows ``numerator`` and ``denominator`` as text
        and ``suppressed["numerator"]`` says which shares are hidden.
        """
        res = proportions(numerator, denominator, index, rules=self.rules, file=file,
                          total_label="\x00total")
        keep = res.table.index[:-1]
        self.record(what, res.suppressed.loc[keep, ["numerator", "denominator"]]
                    .to_numpy().ravel())  # the counts shown, not the rest and totals
        shown = res.table.loc[keep].copy()
        for c in ("numerator", "rest", "denominator"):
            shown[c] = [_display(v) for v in shown[c]]
        return DisclosureResult(table=shown, mask=res.mask.loc[keep], log=res.log,
                                rules=res.rules, totals=res.totals, audited=res.audited)

    def record(self, what: str, hidden: Sequence[bool]) -> None:
        """Log counts whose hiding was decided elsewhere (e.g. by a measure's rules)."""
        hidden = np.asarray(hidden, dtype=bool)
        self.log.append({"what": what, "shown": int((~hidden).sum()),
                         "suppressed": int(hidden.sum())})

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
                + (f" ({'; '.join(what)})" if what else "") + f". {SHARE_RULE} "
                + ORGANISATION_NOTE)


#: Diagnostics that count events or person-time: controlled in every analysis.
EVENT_KEYS = ("baseline_events", "followup_events", "observations")
#: Diagnostics (and ``n_units``) that count people when the analysis's units are people
#: (patients, survey respondents): controlled then, shown as they are for organisations.
PEOPLE_KEYS = ("n_units", "n_treated", "n_control", "n_matched_treated", "n_controls_used",
               "n_unmatched_treated", "n_enrolled", "n_matched_pairs", "patients_served",
               "n_before", "n_after")


def published_effects(effects: pd.DataFrame, people: Sequence[bool],
                      rules: DisclosureRules | None = None) -> pd.DataFrame:
    """Effect records as ``results.json`` and ``results.csv`` publish them.

    Every count of events (:data:`EVENT_KEYS`), and every count of people
    (:data:`PEOPLE_KEYS`) of a record whose ``people`` flag is set, that the rules hide
    is replaced by ``None`` (``n_units``: NaN) and named in the record's
    ``diagnostics["suppressed"]``. Estimates are not counts and are kept, except those
    the measures themselves already withheld.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"n_units": [5, 40], "diagnostics": [{"baseline_events": 3},
    ...                                                       {"baseline_events": 30}]})
    >>> out = published_effects(e, [True, True])
    >>> out["diagnostics"].tolist(), out["n_units"].tolist()[1]
    ([{'baseline_events': None, 'suppressed': ['baseline_events', 'n_units']}, \
{'baseline_events': 30}], 40)
    """
    rules = rules or DisclosureRules()
    out = effects.copy()
    people = np.asarray(list(people), dtype=bool)
    if len(people) != len(out):
        raise DataError("one people flag is needed per effect record",
                        fix="give a flag for every record")
    diags, n_units = [], out["n_units"].to_numpy(dtype=float).copy() if "n_units" in out \
        else None
    for i, d in enumerate(out["diagnostics"] if "diagnostics" in out else [{}] * len(out)):
        d = dict(d or {})
        keys = EVENT_KEYS + (PEOPLE_KEYS if people[i] else ())
        hidden = [k for k in keys if k != "n_units" and isinstance(d.get(k), (int, float,
                                                                             np.number))
                  and not isinstance(d.get(k), bool) and small_counts(d[k], rules)[0]]
        for k in hidden:
            d[k] = None
        if people[i] and n_units is not None and small_counts(n_units[i], rules)[0]:
            n_units[i] = np.nan
            hidden.append("n_units")
        if hidden:
            d["suppressed"] = sorted(set(d.get("suppressed", []) if isinstance(
                d.get("suppressed"), list) else []) | set(hidden))
        diags.append(d)
    if "diagnostics" in out:
        out["diagnostics"] = diags
    if n_units is not None and np.isnan(n_units).any():  # whole numbers, blanks hidden
        out["n_units"] = pd.array([None if np.isnan(v) else int(v) for v in n_units],
                                  dtype="Int64")
    return out
