"""The shape of a user's data, worked out from column names and data patterns.

:func:`read_shape` reads data files (CSV, Excel, Parquet) and says what each holds: a panel
(units by periods), a patient cohort (one row per patient), patient costs, scheme costs,
a survey or an engagement table; and in a panel, the unit, the time, the outcomes and their
denominators, the treated flag, the comparison flag, the start date(s) and the cohorts.
Every choice keeps the reason it was made (:class:`Choice`), and what cannot be decided is
a :class:`Choice` with ``todo=True`` and no value: nothing is guessed silently. Explicit
values (the command line's ``--unit``, ``--time``, ``--treated``, ``--start``) override
every guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.io import READERS, read
from evalkit.errors import DataError
from evalkit.evidence.selection import unit_column

__all__ = ["Choice", "Outcome", "Table", "Shape", "read_shape", "data_files"]

UNIT_NAMES = ("practice", "area", "locality", "pcn", "network", "cluster", "site", "unit",
              "ward", "lsoa", "ccg", "icb", "patient_id", "patient", "id")
TIME_NAMES = ("month", "period", "date", "quarter", "week", "year", "time")
TREATED_NAMES = ("treated", "scheme", "in_scheme", "intervention", "exposed", "enrolled",
                 "participant", "pilot", "treatment")
COMPARISON_NAMES = ("comparison", "control", "donor", "comparator")
COHORT_NAMES = ("cohort", "wave", "first_treated", "start_month", "adoption", "go_live")
DENOMINATOR_NAMES = ("list_size", "population", "registered", "list", "denominator",
                     "patients", "pop", "registered_patients")
COVARIATE_PATTERN = re.compile(r"^(pct|prop|share|perc)_|imd|depriv|rural|age_", re.I)
LOWER_BETTER = re.compile(r"admission|bed_day|attendance|cost|death(?!s_at_home)|readmission|"
                          r"ae_|a_e|emergency|waiting|wait_", re.I)
HIGHER_BETTER = re.compile(r"experience|continuity|qaly|at_home|satisfaction|quality|"
                           r"uptake|coverage", re.I)
AGE_BAND = re.compile(r"_age_(\d+_\d+|\d+_plus|unknown)$")
MONTH = re.compile(r"^\d{4}-\d{2}$")
PERIOD_SUFFIX = re.compile(r"^(?P<stem>.+?)_(?:y|yr|year|m|q|t|p)?(?P<k>\d+)$")
# Engagement and cost tables, recognised by their columns (docs/data-contract.md).
SIGNATURES: tuple[tuple[str, frozenset[str]], ...] = (
    ("scheme_costs", frozenset({"role", "wte"})),
    ("survey", frozenset({"respondent", "item", "response"})),
    ("maturity", frozenset({"rater", "block", "score"})),
    ("mdt", frozenset({"invited", "attended"})),
    ("care_plans", frozenset({"eligible", "completed"})),
    ("referrals", frozenset({"referrals"})),
    ("consultations", frozenset({"patient_id", "clinician"})),
    ("patient_costs", frozenset({"patient_id", "year", "cost"})),
)
#: Tables whose first period says when the scheme began (activity only exists after it).
ACTIVITY_KINDS = ("referrals", "mdt", "care_plans", "maturity")


@dataclass
class Choice:
    """One decision about the data: its value and why it was made.

    ``todo`` marks what could not be decided (``value`` is None then, and ``why`` says
    what to fill in); ``given`` marks a value the user gave explicitly.
    """

    value: Any
    why: str
    todo: bool = False
    given: bool = False


@dataclass
class Outcome:
    """An outcome column with its family, denominator and better direction."""

    name: str
    family: str
    denominator: str | None
    better: str | None
    why: str


@dataclass
class Table:
    """One data file and what it holds."""

    name: str
    path: Path
    frame: pd.DataFrame = field(repr=False)
    kind: str
    why: str
    unit: Choice | None = None
    time: Choice | None = None
    treated: Choice | None = None
    comparison: Choice | None = None
    cohort: Choice | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    covariates: list[str] = field(default_factory=list)
    pre: dict[str, list[str]] = field(default_factory=dict)
    #: a records spec (docs/records.md) aggregated to a panel, and the practice-level
    #: table joined onto it
    records: bool = False
    attributes: Table | None = None

    def units(self, flag: str | None) -> pd.Series:
        """Each unit's maximum of a 0/1 column (whether it is ever flagged)."""
        col = self.unit.value if self.unit else None
        if not flag or not col:
            return pd.Series(dtype=float)
        return pd.to_numeric(self.frame[flag], errors="coerce").groupby(
            self.frame[col]).max()

    @property
    def n_treated(self) -> int:
        """Units ever flagged treated."""
        return int((self.units(self.treated.value if self.treated else None) == 1).sum())

    @property
    def n_units(self) -> int:
        """Distinct units."""
        return int(self.frame[self.unit.value].nunique()) if self.unit and self.unit.value \
            else 0


@dataclass
class Shape:
    """What a set of data files holds, and the decisions taken about it."""

    tables: list[Table]
    start: Choice
    panel: Table | None
    localities: Table | None
    cohort: Table | None
    starts: list[str] = field(default_factory=list)

    @property
    def todos(self) -> list[str]:
        """What could not be decided, as sentences."""
        out = [f"start: {self.start.why}"] if self.start.todo else []
        for t in self.tables:
            for key in ("unit", "time", "treated"):
                c = getattr(t, key)
                if c is not None and c.todo:
                    out.append(f"{t.name} {key}: {c.why}")
        return out

    def table(self, kind: str) -> list[Table]:
        """The tables of one kind."""
        return [t for t in self.tables if t.kind == kind]


def data_files(items: list[str | Path]) -> list[Path]:
    """The data files named, a folder standing for the readable files directly in it."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file()
                           and f.suffix.lower() in READERS and not f.name.startswith("."))
            if not found:
                raise DataError("no CSV, Excel or Parquet files in this folder", file=str(p),
                                fix="give the data files, or a folder holding them")
            out += found
        elif not p.exists():
            raise DataError("file or folder not found", file=str(p), fix="check the path")
        elif p.suffix.lower() in (".yaml", ".yml") and p.name in ("spec.yaml", "spec.yml"):
            raise DataError("is an evaluation spec, not data", file=str(p),
                            fix="give the data files (or 'evalkit advise' the spec)")
        else:
            out.append(p)
    if not out:
        raise DataError("no data files given", fix="give one or more CSV, Excel or Parquet "
                        "files, or a folder holding them")
    return out


def _name(path: Path, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_") or "data"
    if base[0].isdigit():
        base = "data_" + base
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _binary(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s):
        return True
    if not pd.api.types.is_numeric_dtype(s):
        return False
    vals = set(pd.unique(s.dropna()))
    return bool(vals) and vals <= {0, 1}


def _pick(cols: list[str], names: tuple[str, ...]) -> str | None:
    low = {c.lower(): c for c in cols}
    for n in names:
        if n in low:
            return low[n]
    return None


def _time(frame: pd.DataFrame, given: str | None) -> Choice | None:
    cols = [str(c) for c in frame.columns]
    if given:
        if given not in cols:
            raise DataError(f"--time names column '{given}', which the table does not have",
                            file=frame.attrs.get("source"), fix=f"use one of {', '.join(cols)}")
        return Choice(given, "given on the command line (--time)", given=True)
    for c in cols:
        s = frame[c]
        if (s.dtype == object or pd.api.types.is_string_dtype(s)) and \
                s.astype(str).str.match(MONTH).all():
            return Choice(c, f"'{c}' holds months written YYYY-MM")
    c = _pick(cols, TIME_NAMES)
    if c is not None:
        return Choice(c, f"'{c}' is named like a period")
    return None


def _unit(frame: pd.DataFrame, time: str | None, given: str | None) -> Choice | None:
    cols = [str(c) for c in frame.columns]
    if given:
        if given not in cols:
            raise DataError(f"--unit names column '{given}', which the table does not have",
                            file=frame.attrs.get("source"), fix=f"use one of {', '.join(cols)}")
        return Choice(given, "given on the command line (--unit)", given=True)
    keys = [time] if time else []
    named = _pick([c for c in cols if c != time], UNIT_NAMES)
    if named is not None and not frame.duplicated([named, *keys]).any():
        what = f"with '{time}' it identifies every row" if time else "it identifies every row"
        return Choice(named, f"'{named}' is named like a unit and {what}")
    found = unit_column(frame, time) if time else None
    if found is not None:
        return Choice(found, f"'{found}' is the first text column that, with '{time}', "
                      "identifies every row")
    return None


def _constant_within(frame: pd.DataFrame, unit: str, col: str) -> bool:
    return bool((frame.groupby(unit)[col].nunique(dropna=False) <= 1).all())


def _classify(frame: pd.DataFrame) -> tuple[str | None, str]:
    cols = {str(c).lower() for c in frame.columns}
    for kind, needs in SIGNATURES:
        if needs <= cols:
            return kind, (f"it has the columns {', '.join(sorted(needs))} of a '{kind}' table "
                          "(docs/data-contract.md)")
    return None, ""


def _outcomes(frame: pd.DataFrame, t: Table, exclude: set[str]) -> None:
    unit = t.unit.value
    counts, rest = [], []
    for c in map(str, frame.columns):
        s = frame[c]
        if c in exclude or not pd.api.types.is_numeric_dtype(s) or _binary(s):
            continue
        if AGE_BAND.search(c):  # a breakdown of another measure (records' by_age_band)
            continue
        if _constant_within(frame, unit, c) or COVARIATE_PATTERN.search(c):
            t.covariates.append(c)
            continue
        whole = bool(np.all(np.mod(s.dropna().to_numpy(float), 1) == 0)) and s.min() >= 0
        (counts if whole else rest).append(c)
    den = _pick(counts, DENOMINATOR_NAMES)
    # sub-populations of the denominator (list_size_65plus) are denominators too
    dens = {c for c in counts if den and (c == den or c.startswith(den + "_"))}
    for c in counts:
        if c in dens:
            continue
        parent = next((p for p in counts if p != c and p not in dens
                       and c.startswith(p + "_")), None)
        suffix = c[len(parent) + 1:] if parent else ""
        own = f"{den}_{suffix}" if parent and den and f"{den}_{suffix}" in dens else None
        if own is None and den:  # a measure of a sub-population: emergency_admissions_65plus
            own = next((d for d in dens if d != den and c.endswith(d[len(den):])), None)
        positive = parent is not None and bool((frame[parent] > 0).all())
        if own is not None:
            o = Outcome(c, "quasipoisson", own, None, f"whole numbers (counts) per '{own}', "
                        "the population of the same sub-group (quasi-Poisson)")
        elif parent is not None and re.match(r"^(at|in)_", suffix) and positive and \
                bool((frame[c] <= frame[parent]).all()):
            o = Outcome(c, "binomial", parent, None, f"whole numbers never above '{parent}', "
                        f"whose name it extends with a place ('{suffix}'): a share of "
                        f"'{parent}' (binomial)")
        elif den is not None:
            o = Outcome(c, "quasipoisson", den, None, f"whole numbers (counts) per '{den}', "
                        "which is named like a population: a rate (quasi-Poisson, which allows "
                        "for overdispersion)")
        else:
            o = Outcome(c, "quasipoisson", None, None, "whole numbers (counts) and no "
                        "population column was found (quasi-Poisson); TODO: add a denominator "
                        "if the units differ in size")
        t.outcomes.append(o)
    shares = {o.denominator for o in t.outcomes if o.family == "binomial"}
    t.outcomes = [o for o in t.outcomes if o.name not in shares]  # deaths: the share's base
    for c in rest:
        t.outcomes.append(Outcome(c, "gaussian", None, None, "numbers with fractions that change "
                                  "over time (a continuous measure: gaussian)"))
    for o in t.outcomes:
        if HIGHER_BETTER.search(o.name):
            o.better = "higher"
        elif LOWER_BETTER.search(o.name):
            o.better = "lower"


def _panel(t: Table, given: dict[str, Any]) -> None:
    frame, unit = t.frame, t.unit.value
    cols = [str(c) for c in frame.columns]
    binary = [c for c in cols if c not in (unit, t.time.value) and _binary(frame[c])]
    if given.get("treated"):
        name = given["treated"]
        if name not in cols:
            raise DataError(f"--treated names column '{name}', which the table does not have",
                            file=str(t.path), fix=f"use one of {', '.join(cols)}")
        t.treated = Choice(name, "given on the command line (--treated)", given=True)
    else:
        name = _pick(binary, TREATED_NAMES)
        if name is not None:
            t.treated = Choice(name, f"'{name}' holds 0 and 1 and is named like the scheme's "
                               "flag")
        else:
            flags = [c for c in binary if c.lower() not in COMPARISON_NAMES]
            t.treated = Choice(None, "no 0/1 column is named like the scheme's flag (treated, "
                               "scheme, intervention, ...)" + (
                                   f"; candidates: {', '.join(flags)}" if flags else "")
                               + "; give --treated COLUMN", todo=True)
    comp = _pick([c for c in binary if c != t.treated.value], COMPARISON_NAMES)
    if comp is not None:
        t.comparison = Choice(comp, f"'{comp}' holds 0 and 1 and is named like the comparison "
                              "group's flag")
    coh = given.get("cohort") or _pick([c for c in cols if c not in binary and c != unit
                                        and c != t.time.value], COHORT_NAMES)
    if given.get("cohort") and (coh not in cols or not _constant_within(frame, unit, coh)):
        raise DataError(f"--cohort names column '{coh}', which "
                        + ("the table does not have" if coh not in cols else
                           f"changes within a '{unit}'"), file=str(t.path), column=coh,
                        fix="name the column giving each unit's start period (the same in "
                            "every row of the unit; 0 for never)")
    if coh is not None and _constant_within(frame, unit, coh):
        t.cohort = Choice(coh, "given on the command line (--cohort)" if given.get("cohort")
                          else f"'{coh}' is named like the start of each unit's cohort and is "
                          "constant within each unit", given=bool(given.get("cohort")))
    exclude = {unit, t.time.value, *(binary), *([t.cohort.value] if t.cohort else [])}
    _outcomes(frame, t, exclude)


def _cohort_table(t: Table, given: dict[str, Any]) -> None:
    frame = t.frame
    cols = [str(c) for c in frame.columns]
    binary = [c for c in cols if _binary(frame[c])]
    name = _pick(binary, TREATED_NAMES)
    t.treated = Choice(name, f"'{name}' holds 0 and 1 and is named like the scheme's flag") \
        if name else Choice(None, "no 0/1 column is named like the enrolment flag", todo=True)
    stems: dict[str, list[tuple[int, str]]] = {}
    for c in cols:
        m = PERIOD_SUFFIX.match(c)
        if m and pd.api.types.is_numeric_dtype(frame[c]):
            stems.setdefault(m["stem"], []).append((int(m["k"]), c))
    for stem, items in stems.items():
        if len(items) < 2:
            continue
        items.sort()
        last = items[-1][1]
        t.pre[last] = [c for _, c in items[:-1]]
        t.outcomes.append(Outcome(last, "gaussian", None, None,
                                  f"'{stem}' is measured in {len(items)} periods; the last, "
                                  f"'{last}', is the outcome and the earlier ones the "
                                  "pre-period"))
    timed = {c for items in stems.values() if len(items) >= 2 for _, c in items}
    t.covariates = [c for c in cols if c not in timed and c != t.treated.value
                    and c != (t.unit.value if t.unit else None)
                    and pd.api.types.is_numeric_dtype(frame[c])]
    for o in t.outcomes:
        o.better = "lower" if LOWER_BETTER.search(o.name) else (
            "higher" if HIGHER_BETTER.search(o.name) else None)


def _first_period(t: Table) -> str | None:
    col = _pick([str(c) for c in t.frame.columns], ("month",))
    if col is None:
        return None
    s = t.frame[col].astype(str)
    s = s[s.str.match(MONTH)]
    return None if s.empty else str(s.min())


def read_shape(items: list[str | Path], *, unit: str | None = None, time: str | None = None,
               treated: str | None = None, start: str | None = None,
               cohort: str | None = None) -> Shape:
    """Read data files and work out what they hold.

    Parameters
    ----------
    items
        Data files (CSV, Excel, Parquet) or folders holding them.
    unit, time, treated, cohort
        Column names that override the guesses, for the main panel.
    start
        The scheme's start period (e.g. ``2019-10``), overriding the guess.

    Returns
    -------
    Shape

    Raises
    ------
    DataError
        If a file cannot be read, or a given column is not in the panel.
    """
    given = {"unit": unit, "time": time, "treated": treated, "cohort": cohort}
    taken: set[str] = set()
    tables: list[Table] = []
    for path in data_files(items):
        if path.suffix.lower() in (".yaml", ".yml"):
            tables.append(_records(path, taken))
            continue
        frame = read(path)
        frame.columns = [str(c) for c in frame.columns]
        kind, why = _classify(frame)
        tables.append(Table(_name(path, taken), path, frame, kind or "", why))
    _join_attributes(tables)
    # panels: a unit and a time that together identify the rows
    for t in tables:
        if t.kind:
            continue
        tm = _time(t.frame, time if time in t.frame else None)
        un = _unit(t.frame, tm.value, unit if unit in t.frame else None) if tm else None
        if tm is not None and un is not None and t.frame[un.value].nunique() < len(t.frame):
            t.kind, t.why, t.time, t.unit = "panel", (
                f"each row is one '{un.value}' in one '{tm.value}'"), tm, un
            continue
        pid = _pick(list(t.frame.columns), ("patient_id", "patient", "person_id", "nhs_number",
                                            "id"))
        if pid is not None and not t.frame[pid].duplicated().any():
            t.kind, t.why = "cohort", f"one row per '{pid}'"
            t.unit = Choice(pid, f"'{pid}' identifies every row")
            continue
        t.kind = "unknown"
        t.why = ("neither a panel (no unit and period columns that identify the rows) nor a "
                 "table evalkit recognises; TODO: say what it holds (docs/spec.md)")
    panels = [t for t in tables if t.kind == "panel"]
    for t in panels:
        _panel(t, {})
    localities = [t for t in panels if t.treated and t.treated.value and t.n_treated == 1
                  and t.n_units >= 3]
    main = [t for t in panels if t not in localities]
    panel = max(main, key=lambda t: (t.n_treated, len(t.frame))) if main else None
    if panel is not None and any(given.values()):  # explicit flags: decide the panel again
        tm = _time(panel.frame, time) if time else panel.time
        un = _unit(panel.frame, tm.value, unit) if unit else panel.unit
        fresh = Table(panel.name, panel.path, panel.frame, "panel", panel.why, un, tm)
        _panel(fresh, given)
        tables[tables.index(panel)] = fresh
        panel = fresh
    if panel is None and not localities and (unit or time or treated or cohort):
        raise DataError("--unit, --time, --treated and --cohort name columns of a panel, and "
                        "no file is one (one row per unit per period)",
                        file=str(tables[0].path),
                        fix="check the files, and that --unit and --time name the columns "
                            "that together identify each row")
    for t in tables:
        if t.kind == "cohort":
            _cohort_table(t, given)
    cohorts = [t for t in tables if t.kind == "cohort" and t.treated.value and t.outcomes]
    start_choice, starts = _start(panel, localities, tables, start)
    return Shape(tables, start_choice, panel, localities[0] if localities else None,
                 cohorts[0] if cohorts else None, starts)


def _records(path: Path, taken: set[str]) -> Table:
    """The practice-month panel a records spec aggregates to (docs/records.md)."""
    from evalkit.records import aggregate

    frame = aggregate(path, progress=False).panel
    frame.attrs["source"] = str(path)
    return Table(_name(path, taken), path, frame, "", "", records=True)


def _join_attributes(tables: list[Table]) -> None:
    """Join a practice-level table (one row per practice, with a 0/1 column) onto each
    records panel: patient-level records do not say which practices are in the scheme."""
    from evalkit.evaluation.sources import _with_attributes

    for t in [t for t in tables if t.records]:
        found = [a for a in tables if not a.records and not a.kind and "practice" in a.frame
                 and not a.frame["practice"].duplicated().any()
                 and any(_binary(a.frame[c]) for c in a.frame)]
        if len(found) == 1:
            a = found[0]
            t.frame = _with_attributes(t.frame, a.path)
            t.attributes = a
            a.kind = "attributes"
            a.why = (f"one row per practice with 0/1 columns: joined onto the panel of "
                     f"'{t.name}' as its attributes")


def _start(panel: Table | None, localities: list[Table], tables: list[Table],
           given: str | None) -> tuple[Choice, list[str]]:
    starts: list[str] = []
    if panel is not None and panel.cohort is not None:
        vals = panel.frame[panel.cohort.value].astype(str)
        starts = sorted(v for v in pd.unique(vals) if MONTH.match(v))
    elif panel is not None and panel.treated and panel.treated.value:
        flag = pd.to_numeric(panel.frame[panel.treated.value], errors="coerce")
        on = panel.frame.loc[flag == 1]
        if not on.empty and not _constant_within(panel.frame, panel.unit.value,
                                                 panel.treated.value):
            first = on.groupby(panel.unit.value)[panel.time.value].min().astype(str)
            starts = sorted(pd.unique(first))
    if given:
        return Choice(str(given), "given on the command line (--start)", given=True), starts
    if len(starts) == 1:
        return Choice(starts[0], "every treated unit's flag turns on in this period"), starts
    if len(starts) > 1:
        return Choice(starts[0], f"the first of {len(starts)} start periods in the cohorts "
                      f"({', '.join(starts)})"), starts
    firsts = {t.name: _first_period(t) for t in tables if t.kind in ACTIVITY_KINDS}
    firsts = {k: v for k, v in firsts.items() if v}
    if firsts:
        first = min(firsts.values())
        names = ", ".join(f"'{k}'" for k, v in firsts.items() if v == first)
        return Choice(first, f"the scheme's activity records ({names}) begin in this month; "
                      "check it is the start (override with --start)"), [first]
    return Choice(None, "nothing in the data says when the scheme started (no cohort column, "
                  "no flag that turns on, no activity records); give --start YYYY-MM",
                  todo=True), []
