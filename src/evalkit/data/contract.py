"""The data contract: what a case-study panel must look like, and the checks.

A panel has one row per unit (practice, PCN, area or patient) per period, with
outcome columns, a denominator where an outcome is a count, a treatment
indicator or adoption period, and optional covariates. :func:`check_panel`
finds every problem at once and reports each with the file, the column, the
rows and a suggested fix; :meth:`CheckReport.raise_for_errors` turns the first
error into a :class:`~evalkit.errors.DataError` for the designs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_period, parse_periods
from evalkit.errors import DataError, EvalkitError

__all__ = ["FAMILIES", "COUNT_FAMILIES", "Problem", "CheckReport", "check_panel",
           "nearest", "never_treated"]

FAMILIES = ("gaussian", "poisson", "quasipoisson", "negbin", "binomial")
COUNT_FAMILIES = ("poisson", "quasipoisson", "negbin", "binomial")


def nearest(name: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``name`` (for 'did you mean' hints), or None."""
    choices = [str(c) for c in choices]
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return lowered[name.lower()]
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if not match:
        match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        match = [lowered[m] for m in match]
    return match[0] if match else None


@dataclass(frozen=True)
class Problem:
    """One problem found in the data.

    Attributes
    ----------
    code
        A short stable identifier, e.g. ``"missing_column"``.
    message
        What is wrong.
    severity
        ``"error"`` (the analysis cannot run) or ``"warning"``.
    """

    code: str
    message: str
    severity: str = "error"
    file: str | None = None
    column: str | None = None
    rows: tuple[int, ...] = ()
    fix: str | None = None

    def as_error(self) -> DataError:
        """This problem as an exception."""
        return DataError(self.message, file=self.file, column=self.column,
                         rows=self.rows, fix=self.fix)

    def __str__(self) -> str:
        return f"{self.severity.upper()}: {self.as_error().one_line()}"


class ProblemList:
    """``errors``, ``warnings`` and ``ok`` of anything holding ``problems``."""

    problems: Sequence[Problem]

    @property
    def errors(self) -> list[Problem]:
        """Problems that stop an analysis."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems worth knowing about."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors


@dataclass
class CheckReport(ProblemList):
    """All problems found in one table."""

    file: str | None
    n_rows: int
    problems: list[Problem] = field(default_factory=list)

    def add(self, code: str, message: str, *, severity: str = "error",
            column: str | None = None, rows: Iterable[int] = (), fix: str | None = None) -> None:
        """Record a problem."""
        self.problems.append(Problem(code, message, severity, self.file, column,
                                     tuple(int(r) for r in rows), fix))

    def raise_for_errors(self) -> None:
        """Raise the first error as a :class:`DataError` (with a count of the rest)."""
        if self.errors:
            first = self.errors[0].as_error()
            more = len(self.errors) - 1
            if more:
                first.message += f" (and {more} more problem{'s' if more > 1 else ''}: " \
                                 "run `evalkit check` for all of them)"
            raise first

    def __str__(self) -> str:
        name = self.file or "data"
        if not self.problems:
            return f"{name}: {self.n_rows} rows, no problems found."
        head = (f"{name}: {self.n_rows} rows, {len(self.errors)} error(s), "
                f"{len(self.warnings)} warning(s)")
        return "\n".join([head] + [f"  - {p}" for p in self.problems])


def _show(value) -> str:
    """A value as a person would write it: text quoted, numbers plain."""
    return repr(value) if isinstance(value, str) else str(value)


def _rows(mask: np.ndarray) -> list[int]:
    """Spreadsheet row numbers (header = row 1) of True positions."""
    return list(np.flatnonzero(mask) + 2)


#: A denominator at least this large is a population (a list size, residents of an area):
#: more events than people in it in one period is refused (docs/data-contract.md,
#: "Counts and denominators").
POPULATION_DENOMINATOR = 1000


def _events_per_head(report: CheckReport, count: np.ndarray, den: np.ndarray, col: str,
                     den_col: str) -> None:
    """Events above the people at risk in one period.

    Repeat events are real (bed days per death, a long stay in a practice of 16 patients),
    so more events than people is not in itself wrong. Over a population of at least
    :data:`POPULATION_DENOMINATOR` people it is: three admissions per registered patient in
    a month is a typo or a denominator in the wrong units, so it is an error. Over smaller
    denominators it is a warning, unless the column usually exceeds its denominator (a
    measure such as bed days per death).
    """
    ok = np.isfinite(count) & np.isfinite(den) & (den > 0)
    above = ok & (count > den)
    if not above.any():
        return
    wild = above & (den >= POPULATION_DENOMINATOR)
    if wild.any():
        i = int(np.flatnonzero(wild)[0])
        report.add("count_exceeds_denominator",
                   f"{wild.sum()} row(s) have more '{col}' than '{den_col}' in one period "
                   f"(e.g. {count[i]:g} against {den[i]:g}), more events than people in a "
                   f"population", column=col, rows=_rows(wild),
                   fix=f"check the count, and that '{den_col}' is the number of people (not "
                   "thousands) at risk in that period")
    elif np.median(count[ok] / den[ok]) <= 1:
        report.add("count_exceeds_denominator",
                   f"{above.sum()} row(s) have more '{col}' than '{den_col}' in one period",
                   severity="warning", column=col, rows=_rows(above),
                   fix=f"repeat events can do this in a small group, but check the count and "
                   f"'{den_col}'")


def never_treated(values: pd.Series) -> np.ndarray:
    """True where a cohort value means 'never treated' (0, blank or NaN)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return (values.isna() | (values == 0)).to_numpy(dtype=bool, na_value=True)
    text = values.astype("string").str.strip()
    return (values.isna() | text.isin(["0", "", "0.0", "nan", "NaN", "never"])).to_numpy(
        dtype=bool, na_value=True)


@takes_frame
def check_panel(
    data: pd.DataFrame,
    *,
    unit: str | None,
    time: str,
    outcomes: Mapping[str, str] | Sequence[str] = (),
    denominator: str | Mapping[str, str | None] | None = None,
    treated: str | None = None,
    cohort: str | None = None,
    start=None,
    min_pre_periods: int = 0,
    min_post_periods: int = 0,
    needs_comparison: bool = False,
    covariates: Sequence[str] = (),
    file: str | None = None,
) -> CheckReport:
    """Check a panel against the data contract.

    Parameters
    ----------
    data
        The panel, one row per unit per period.
    unit, time
        Column names of the unit identifier and the period.
    outcomes
        Outcome columns, with their family (``{"admissions": "poisson"}``) or as a list
        (taken as gaussian).
    denominator
        The denominator column (list size, population or trials), one for all outcomes
        or a mapping from outcome to column.
    treated
        A 0/1 column marking scheme units (constant within unit) or treated periods.
    cohort
        The first-treated period column (0, blank or NaN for never treated).
    start
        The interruption or adoption period, checked to lie inside the data.
    min_pre_periods, min_post_periods
        How many periods the design needs before and from ``start``.
    needs_comparison
        Whether the design needs units that are not treated.
    covariates
        Extra numeric columns.
    file
        The file name, used in messages (defaults to ``data.attrs["source"]``).

    Returns
    -------
    CheckReport
        Every problem found; ``report.ok`` is True when the design can run.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"practice": ["A", "A"], "month": ["2019-01", "2019-02"],
    ...                    "admissions": [3, -1], "list_size": [1000, 1000]})
    >>> report = check_panel(df, unit="practice", time="month",
    ...                      outcomes={"admissions": "poisson"}, denominator="list_size")
    >>> report.ok
    False
    """
    file = file or data.attrs.get("source")
    report = CheckReport(file=file, n_rows=len(data))
    if isinstance(outcomes, Mapping):
        families = {str(k): (v or "gaussian") for k, v in outcomes.items()}
    else:
        families = {str(k): "gaussian" for k in outcomes}
    if isinstance(denominator, Mapping):
        denominators = {k: v for k, v in denominator.items() if v}
    else:
        denominators = {k: denominator for k in families} if denominator else {}

    # 1. Columns present, with the nearest name suggested when one is misspelled.
    wanted: dict[str, str] = {}
    for role, col in [("unit", unit), ("time", time), ("treated", treated),
                      ("cohort", cohort)]:
        if col:
            wanted[col] = role
    for col in families:
        wanted.setdefault(col, "outcome")
    for col in denominators.values():
        wanted.setdefault(col, "denominator")
    for col in covariates:
        wanted.setdefault(col, "covariate")
    present = set(map(str, data.columns))
    for col, role in wanted.items():
        if col not in present:
            guess = nearest(col, present)
            fix = (f"did you mean '{guess}'? Rename the column or change the spec"
                   if guess else f"add the {role} column, or name the right one in the spec")
            report.add("missing_column", f"the {role} column '{col}' is missing",
                       column=col, fix=fix)
    for family in set(families.values()):
        if family not in FAMILIES:
            guess = nearest(family, FAMILIES)
            report.add("unknown_family", f"unknown family '{family}'",
                       fix=f"use one of {', '.join(FAMILIES)}"
                       + (f" (did you mean '{guess}'?)" if guess else ""))
    if report.errors:
        return report

    # 2. Types: numeric outcomes, denominators, covariates; 0/1 treatment.
    numeric: dict[str, np.ndarray] = {}
    for col in list(families) + list(dict.fromkeys(denominators.values())) + list(covariates):
        if col in numeric:
            continue
        raw = data[col]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna().to_numpy() & raw.notna().to_numpy()
        if bad.any():
            examples = ", ".join(_show(v) for v in pd.unique(raw[bad])[:3])
            report.add("wrong_type", f"expected numbers, found {examples}", column=col,
                       rows=_rows(bad), fix="remove text such as '*' or '<5' and leave the "
                       "cell blank if the value is unknown")
        numeric[col] = values.to_numpy(dtype=float)
        inf = np.isinf(numeric[col])
        if inf.any():
            report.add("infinite_value", f"{inf.sum()} infinite value(s)", column=col,
                       rows=_rows(inf), fix="replace 'inf' with the real value, or leave the "
                       "cell blank if it is unknown")
    for col in families:
        miss = data[col].isna().to_numpy()
        if miss.any():
            report.add("missing_values", f"{miss.sum()} missing value(s)", severity="warning",
                       column=col, rows=_rows(miss),
                       fix="these rows are left out; fill them in if they are known")
    if treated:
        raw = data[treated]
        tvals = pd.to_numeric(raw.replace({True: 1, False: 0}), errors="coerce")
        bad = ~tvals.isin([0, 1]).to_numpy()
        if bad.any():
            examples = ", ".join(_show(v) for v in pd.unique(raw[bad])[:3])
            report.add("wrong_type", f"the treatment indicator must be 0 or 1, found {examples}",
                       column=treated, rows=_rows(bad), fix="code scheme units as 1, others 0")

    # 3. Counts: negative, non-integer; denominators: zero or negative; binomial: x > n.
    for col, family in families.items():
        if family not in COUNT_FAMILIES or col not in numeric:
            continue
        v = numeric[col]
        neg = v < 0
        if neg.any():
            report.add("negative_count", f"{neg.sum()} negative count(s)", column=col,
                       rows=_rows(neg), fix="counts cannot be negative; correct the extract")
        frac = np.isfinite(v) & (v != np.round(v))
        if frac.any():
            report.add("non_integer_count", f"{family} counts must be whole numbers",
                       column=col, rows=_rows(frac),
                       fix="use the raw counts, or family 'gaussian' for rates")
    for col, den in denominators.items():
        if den not in numeric:
            continue
        d = numeric[den]
        if col in numeric:
            lost = np.isnan(d) & np.isfinite(numeric[col])
            if lost.any():
                report.add("missing_denominator", f"{lost.sum()} row(s) have a value of "
                           f"'{col}' but no '{den}'", column=den, rows=_rows(lost),
                           fix=f"fill in '{den}' (a count cannot be a rate without it), or "
                           f"blank '{col}' too to leave the row out")
        zero = np.isfinite(d) & (d <= 0)
        if zero.any():
            report.add("zero_denominator", f"{zero.sum()} zero or negative denominator(s)",
                       column=den, rows=_rows(zero),
                       fix="a list size or population must be positive; drop or correct "
                       "these rows")
        if families.get(col) == "binomial" and col in numeric:
            over = numeric[col] > d
            if over.any():
                report.add("numerator_exceeds_denominator",
                           f"'{col}' is larger than its denominator '{den}'", column=col,
                           rows=_rows(over), fix="check that the denominator counts the "
                           "people who could have the outcome")
        elif families.get(col) in COUNT_FAMILIES and col in numeric:
            _events_per_head(report, numeric[col], d, col, den)

    # 4. Time: readable periods, duplicates and gaps.
    try:
        codes, axis = parse_periods(data[time], file=file, column=time)
    except EvalkitError as err:
        report.add("bad_time", err.message, column=time, rows=err.rows, fix=err.fix)
        return report
    # Units as integer codes (labels only for messages): fast on millions of rows.
    if unit:
        ucode, ulabels = pd.factorize(data[unit], use_na_sentinel=False)
    else:
        ucode, ulabels = np.zeros(len(data), dtype=np.int64), np.array([""])
    if unit and len(data):
        lo = int(codes.min())
        span = int(codes.max()) - lo + 1
        n_u = len(ulabels)
        key = ucode.astype(np.int64) * span + (codes - lo)
        if n_u * span <= 50_000_000:
            counts = np.bincount(key, minlength=n_u * span)
            dup = counts[key] > 1
            present = (counts > 0).reshape(n_u, span)
        else:  # very long sparse axes: sort instead of counting
            _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
            dup = cnt[inv] > 1
            present = None
        if dup.any():
            report.add("duplicate_rows", f"{dup.sum()} rows share a {unit} and {time}",
                       column=time, rows=_rows(dup),
                       fix="keep one row per unit and period (aggregate or de-duplicate)")
        if present is not None:
            first = present.argmax(1)
            last = span - 1 - present[:, ::-1].argmax(1)
            gappy = np.flatnonzero(last - first + 1 != present.sum(1))
        else:
            gappy = np.array([], dtype=np.int64)
        if gappy.size:
            examples = []
            for u in gappy[:3]:
                gap = [lo + c for c in range(first[u], last[u] + 1) if not present[u, c]]
                examples.append(f"{ulabels[u]} lacks {', '.join(axis.labels(gap[:3]))}"
                                + ("…" if len(gap) > 3 else ""))
            report.add("time_gaps", f"{gappy.size} unit(s) have gaps in their time series: "
                       + "; ".join(examples), column=time,
                       fix="add the missing periods (with zero counts if nothing happened) or "
                       "check the extract")

    # 5. Treatment that switches off and on again, and comparison units.
    if unit and treated and treated in data and not any(p.column == treated
                                                         for p in report.errors):
        tr = pd.to_numeric(data[treated].replace({True: 1, False: 0}),
                           errors="coerce").to_numpy(dtype=float)
        order = np.lexsort((codes, ucode))
        su, st = ucode[order], tr[order]
        same = su[1:] == su[:-1]
        off_again = same & (st[1:] < st[:-1])
        if off_again.any():
            bad_units = ulabels[pd.unique(su[1:][off_again])]
            report.add("treatment_reverses", f"treatment switches off and on for "
                       f"{len(bad_units)} unit(s), e.g. {', '.join(map(str, bad_units[:3]))}",
                       column=treated, rows=sorted(order[1:][off_again] + 2),
                       fix="code treatment as 1 from adoption onwards; a unit that leaves the "
                       "scheme needs a separate analysis")
        if needs_comparison:
            ever = np.bincount(ucode, weights=(tr >= 1), minlength=len(ulabels)) > 0
            if ever.all():
                report.add("no_comparison_units", "every unit is treated, but the design "
                           "needs comparison units", column=treated,
                           fix="add units outside the scheme, or use a design without a "
                           "comparison group")
    if cohort and cohort in data:
        never = never_treated(data[cohort])
        if needs_comparison and not never.any():
            report.add("no_comparison_units", "no never-treated units (cohort 0 or blank)",
                       column=cohort, fix="add never-treated units or use not-yet-treated "
                       "controls")

    # 6. The interruption inside the data, with enough periods each side.
    if start is not None:
        try:
            s = parse_period(start, axis)
        except EvalkitError as err:
            report.add("bad_start", err.message, fix=err.fix)
        else:
            lo, hi = int(codes.min()), int(codes.max())
            if not lo < s <= hi:
                report.add("start_outside_data", f"the start {axis.label(s)} is outside the "
                           f"data ({axis.label(lo)} to {axis.label(hi)}) or leaves no "
                           "pre-period", column=time,
                           fix="check the start date or extend the data")
            else:
                n_pre = s - lo
                n_post = hi - s + 1
                if n_pre < min_pre_periods:
                    report.add("too_few_pre_periods", f"only {n_pre} period(s) before the start "
                               f"{axis.label(s)}; the design needs {min_pre_periods}",
                               column=time, fix="extend the data back in time or shorten the "
                               "baseline window")
                if n_post < min_post_periods:
                    report.add("too_few_post_periods", f"only {n_post} period(s) from the start "
                               f"{axis.label(s)}; the design needs {min_post_periods}",
                               column=time, fix="wait for more follow-up or shorten the "
                               "follow-up window")
    return report
