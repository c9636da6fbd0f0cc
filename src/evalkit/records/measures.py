"""Declarative definitions of the measures derived from patient-level records.

A :class:`RecordsSpec` names the input tables (registrations, patients, deaths and event
tables such as admissions or A&E attendances), the panel period and the measures. Each
:class:`Measure` is one declaration; the same declaration is compiled to portable SQL
(:mod:`evalkit.records.sql`, run by DuckDB or Spark) and interpreted by the pandas reference
(:mod:`evalkit.records.reference`). Specs come from Python (dicts or these dataclasses) or
from YAML (a ``measures:`` block, optionally under a top-level ``records:`` key).

Kinds of measure
----------------
``count``
    Events in ``table`` per practice and month of the event date, optionally filtered
    (``where``), restricted to a ``cohort`` and broken down ``by_age_band``.
``sum``
    Like ``count`` but adds up a value per event: a column (``value``) or the days between
    two date columns (``days_between: [admission_date, discharge_date]``, e.g. bed days).
``list_size``
    Patients registered with the practice on the census day of the month (the 15th by
    default) and alive that day (see *List-size convention*). Takes ``cohort`` and
    ``by_age_band`` (age on the census day).
``share``
    ``numerator / denominator`` of two panel measures (e.g. deaths at home as a share of
    deaths); blank where the denominator is 0.
``events``
    A patient-level table passed through with the practice attributed (e.g. consultations
    for continuity indices).
``patient_cost``
    Activity times unit cost per patient, practice and year: ``unit_costs`` maps ``count``
    or ``sum`` measures to a cost per unit of activity.

Conventions
-----------
Attribution
    An event belongs to the practice whose registration is in force on the event date:
    ``start_date <= date`` and (``end_date`` blank or ``date <= end_date``), both ends
    inclusive. Where a patient's registrations overlap, the one that starts later takes
    over from its start date (ties on the start date go to the higher practice code), so
    every date maps to at most one practice. Events in no registration are not counted in
    the panel; the result's report counts them per table and measure, with examples.
List-size convention
    ``list_size`` for month *m* counts patients with a registration in force on day
    ``census_day`` (default 15) of *m* who had not died before that day (a death on the
    census day still counts). Mid-month counts are less sensitive than month-start or
    month-end counts to registrations that are processed in batches at month ends.
Age
    Completed years on the event date (on the census day for list sizes): a person is
    65 from their 65th birthday. People born on 29 February turn a year older on 1 March
    in years without 29 February. Bands are half-open, ``[lower, next lower)``; an age
    that is unknown (no date of birth) or below the first lower bound goes to
    ``age_unknown``.
Period
    Events dated in the period's months (``period: [2019-04, 2024-03]``, both months
    included) are aggregated; others are ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from evalkit.data.contract import nearest
from evalkit.errors import SpecError

__all__ = ["KINDS", "PANEL_KINDS", "TABLE_KINDS", "ROLE_TABLES", "DEFAULT_AGE_BANDS",
           "Cohort", "Measure", "Source", "RecordsSpec", "records_spec", "load_records_spec",
           "band_labels", "month_starts"]

KINDS = ("count", "sum", "list_size", "share", "events", "patient_cost")
PANEL_KINDS = ("count", "sum", "list_size", "share")
TABLE_KINDS = ("events", "patient_cost")
#: Tables with a fixed role, and the standard columns each must have.
ROLE_TABLES = {
    "registrations": ("patient_id", "practice", "start_date", "end_date"),
    "patients": ("patient_id", "date_of_birth"),
    "deaths": ("patient_id", "date_of_death"),
    "practices": ("practice",),
}
DEFAULT_AGE_BANDS = (0, 18, 65, 75, 85)

SPEC_KEYS = ("tables", "period", "measures", "census_day", "age_bands", "cohorts", "out")
TABLE_KEYS = ("path", "format", "date", "id", "practice", "columns", "description")
MEASURE_KEYS = ("kind", "table", "where", "cohort", "by_age_band", "value", "days_between",
                "numerator", "denominator", "unit_costs", "year", "label")
COHORT_KEYS = ("min_age", "max_age", "patients")
FORMATS = ("parquet", "csv")
YEARS = ("financial", "calendar")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_RESERVED_COLUMNS = ("practice", "month")


def _fail(message: str, fix: str, file: str | None) -> SpecError:
    return SpecError(message, file=file, fix=fix)


def _unknown(keys, allowed: Sequence[str], where: str, file: str | None) -> None:
    for key in keys:
        if key not in allowed:
            guess = nearest(str(key), allowed)
            hint = f"did you mean '{guess}'?" if guess else f"valid keys: {', '.join(allowed)}"
            raise _fail(f"unknown key '{key}' in {where}", hint, file)


def _column_name(value: Any, where: str, file: str | None) -> str:
    """A source column name: any text without double quotes or control characters."""
    if not isinstance(value, str) or not value or '"' in value or any(
            ord(ch) < 32 for ch in value):
        raise _fail(f"{where} must name a column, not {value!r}",
                    "give the column's name as it is in the file (no double quotes)", file)
    return value


def _scalar(value: Any, where: str, file: str | None) -> Any:
    """A value a filter compares with: text, a whole number, a number or true/false."""
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(f"{where} compares with {value!r}", "use a finite number", file)
        return value
    if isinstance(value, str):
        if "\\" in value or any(ord(ch) < 32 for ch in value):
            raise _fail(f"{where} compares with {value!r}, which has a backslash or a "
                        "control character", "write the value without them", file)
        return value
    raise _fail(f"{where} compares with {value!r}",
                "use text, a number or true/false (or a list of them)", file)


def _filter(mapping: Any, where: str, file: str | None) -> Mapping[str, tuple]:
    """``{column: value or [values]}`` with every value a tuple of scalars."""
    if mapping is None:
        return MappingProxyType({})
    if not isinstance(mapping, Mapping):
        raise _fail(f"{where} must map columns to values", "e.g. where: {admission_method: "
                    "emergency}", file)
    out = {}
    for col, value in mapping.items():
        col = _column_name(col, f"a column in {where}", file)
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values:
            raise _fail(f"{where} gives no values for '{col}'", "list at least one value",
                        file)
        out[col] = tuple(_scalar(v, f"{where} ('{col}')", file) for v in values)
    return MappingProxyType(out)


def parse_month(value: Any, where: str, file: str | None) -> pd.Period:
    """A month written ``YYYY-MM`` (or a date, whose month is taken)."""
    if hasattr(value, "year") and hasattr(value, "month"):  # YAML reads 2019-04-01 as a date
        return pd.Period(year=int(value.year), month=int(value.month), freq="M")
    m = _MONTH.match(str(value).strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise _fail(f"{where} must be a month written YYYY-MM, not {value!r}",
                    "e.g. period: [2019-04, 2024-03]", file)
    return pd.Period(year=int(m.group(1)), month=int(m.group(2)), freq="M")


def band_labels(age_bands: Sequence[int]) -> tuple[str, ...]:
    """Column suffixes for age bands, e.g. ``age_0_17`` ... ``age_85_plus``, ``age_unknown``.

    Examples
    --------
    >>> band_labels((0, 18, 65))
    ('age_0_17', 'age_18_64', 'age_65_plus', 'age_unknown')
    """
    bands = list(age_bands)
    labels = [f"age_{lo}_{hi - 1}" for lo, hi in zip(bands[:-1], bands[1:], strict=True)]
    return (*labels, f"age_{bands[-1]}_plus", "age_unknown")


def month_starts(period: tuple[pd.Period, pd.Period]) -> list[pd.Period]:
    """Every month of the period, first to last."""
    return list(pd.period_range(period[0], period[1], freq="M"))


@dataclass(frozen=True)
class Cohort:
    """Patients a measure is restricted to.

    Attributes
    ----------
    name
        The cohort's name (for messages).
    min_age, max_age
        Age in completed years at the event (census day for list sizes), both inclusive;
        ``None`` for no bound. An unknown age is outside any cohort with an age bound.
    patients
        Conditions on columns of the patients table, e.g. ``{"frail": (1,)}``.
    """

    name: str
    min_age: int | None = None
    max_age: int | None = None
    patients: Mapping[str, tuple] = field(default_factory=dict)

    @property
    def needs_age(self) -> bool:
        """Whether the cohort bounds age."""
        return self.min_age is not None or self.max_age is not None


@dataclass(frozen=True)
class Measure:
    """One declared measure (see the module docstring for the kinds).

    Examples
    --------
    >>> m = Measure("emergency_admissions", "count", table="admissions",
    ...             where={"admission_method": "emergency"})
    >>> m.where["admission_method"]
    ('emergency',)
    """

    name: str
    kind: str
    table: str | None = None
    where: Mapping[str, tuple] = field(default_factory=dict)
    cohort: str | Cohort | None = None
    by_age_band: bool = False
    value: str | None = None
    days_between: tuple[str, str] | None = None
    numerator: str | None = None
    denominator: str | None = None
    unit_costs: Mapping[str, float] = field(default_factory=dict)
    year: str = "financial"
    label: str | None = None

    def __post_init__(self) -> None:
        where = f"measure '{self.name}'"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise _fail(f"measure name {self.name!r} must be lower-case letters, digits and "
                        "underscores, starting with a letter", "e.g. emergency_admissions",
                        None)
        if self.kind not in KINDS:
            guess = nearest(str(self.kind), KINDS)
            raise _fail(f"{where} has unknown kind {self.kind!r}",
                        f"use one of {', '.join(KINDS)}"
                        + (f" (did you mean '{guess}'?)" if guess else ""), None)
        object.__setattr__(self, "where", _filter(self.where, f"{where} 'where'", None))
        if isinstance(self.cohort, Mapping):
            object.__setattr__(self, "cohort", _cohort(f"{self.name}", self.cohort, None))
        if self.days_between is not None:
            pair = list(self.days_between) if isinstance(self.days_between, (list, tuple)) \
                else []
            if len(pair) != 2:
                raise _fail(f"{where}: days_between must name two date columns",
                            "e.g. days_between: [admission_date, discharge_date]", None)
            object.__setattr__(self, "days_between", tuple(
                _column_name(c, f"{where} days_between", None) for c in pair))
        if self.value is not None:
            _column_name(self.value, f"{where} value", None)
        if not isinstance(self.by_age_band, bool):
            raise _fail(f"{where}: by_age_band must be true or false", "write true or false",
                        None)
        costs = {}
        for k, v in dict(self.unit_costs or {}).items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0:
                raise _fail(f"{where}: the unit cost of '{k}' must be a number >= 0, "
                            f"not {v!r}", "give a cost per unit of activity, e.g. 1850", None)
            costs[str(k)] = float(v)
        object.__setattr__(self, "unit_costs", MappingProxyType(costs))
        self._check_kind()

    def _check_kind(self) -> None:
        where = f"measure '{self.name}' ({self.kind})"
        k = self.kind

        def refuse(what: str, allowed: bool) -> None:
            if not allowed:
                raise _fail(f"{where} cannot take '{what}'",
                            f"remove '{what}' from this measure", None)

        refuse("table", self.table is None or k in ("count", "sum", "events"))
        if k in ("count", "sum", "events") and not self.table:
            raise _fail(f"{where} needs a 'table'", "name the table its events are in", None)
        refuse("where", not self.where or k in ("count", "sum", "events"))
        refuse("cohort", self.cohort is None or k in ("count", "sum", "list_size", "events"))
        refuse("by_age_band", not self.by_age_band or k in ("count", "sum", "list_size"))
        refuse("value", self.value is None or k == "sum")
        refuse("days_between", self.days_between is None or k == "sum")
        refuse("numerator", self.numerator is None or k == "share")
        refuse("denominator", self.denominator is None or k == "share")
        refuse("unit_costs", not self.unit_costs or k == "patient_cost")
        if k == "sum" and (self.value is None) == (self.days_between is None):
            raise _fail(f"{where} needs one of 'value' (a column) or 'days_between' "
                        "(two date columns)", "e.g. days_between: [admission_date, "
                        "discharge_date] for bed days", None)
        if k == "share" and not (self.numerator and self.denominator):
            raise _fail(f"{where} needs 'numerator' and 'denominator'",
                        "name two panel measures, e.g. deaths_at_home and deaths", None)
        if k == "patient_cost" and not self.unit_costs:
            raise _fail(f"{where} needs 'unit_costs'", "map count or sum measures to a cost "
                        "per unit, e.g. {emergency_admissions: 1850}", None)
        if self.year not in YEARS:
            raise _fail(f"{where}: year must be one of {', '.join(YEARS)}, not "
                        f"{self.year!r}", "financial years run April to March", None)

    def columns(self, age_bands: Sequence[int]) -> tuple[str, ...]:
        """The panel columns this measure makes (none for table kinds)."""
        if self.kind in TABLE_KINDS:
            return ()
        cols = (self.name,)
        if self.by_age_band:
            cols += tuple(f"{self.name}_{b}" for b in band_labels(age_bands))
        return cols


@dataclass(frozen=True, eq=False)
class Source:
    """One input table: a CSV or Parquet file (or folder, or glob), or a DataFrame.

    Attributes
    ----------
    name
        The table's name in the spec, e.g. ``admissions``.
    path
        The file; ``None`` when ``frame`` is given.
    frame
        A DataFrame to use instead of a file.
    format
        ``parquet`` or ``csv`` (taken from the file's suffix by default).
    date
        The event date column (event tables; ``date_of_death`` for deaths).
    id
        The event identifier column, checked for duplicates (``event_id`` by default;
        ``patient_id`` for deaths).
    practice
        A practice column of the events themselves, checked against the known practices.
    columns
        Renames from evalkit's column names to the file's, e.g.
        ``{"patient_id": "person_id"}``; every column the spec names goes through it.
    """

    name: str
    path: Path | None = None
    frame: pd.DataFrame | None = None
    format: str | None = None
    date: str | None = None
    id: str | None = None
    practice: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)

    def col(self, name: str) -> str:
        """The file's column for evalkit's column ``name``."""
        return self.columns.get(name, name)

    @property
    def label(self) -> str:
        """The file (or table name) for messages."""
        return str(self.path) if self.path is not None else f"table '{self.name}'"


def _cohort(name: str, raw: Any, file: str | None) -> Cohort:
    if isinstance(raw, Cohort):
        return raw
    if not isinstance(raw, Mapping):
        raise _fail(f"cohort '{name}' must be a mapping", "e.g. {min_age: 65} or "
                    "{patients: {frail: 1}}", file)
    _unknown(raw, COHORT_KEYS, f"cohort '{name}'", file)
    ages = {}
    for key in ("min_age", "max_age"):
        v = raw.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise _fail(f"cohort '{name}': {key} must be a whole number of years >= 0, not "
                        f"{v!r}", "e.g. min_age: 65", file)
        ages[key] = v
    if ages["min_age"] is not None and ages["max_age"] is not None \
            and ages["min_age"] > ages["max_age"]:
        raise _fail(f"cohort '{name}': min_age is above max_age", "swap them", file)
    patients = _filter(raw.get("patients"), f"cohort '{name}' patients", file)
    if not patients and not any(v is not None for v in ages.values()):
        raise _fail(f"cohort '{name}' sets no condition", "give min_age, max_age or "
                    "patients", file)
    return Cohort(name, ages["min_age"], ages["max_age"], patients)


def _source(name: str, raw: Any, base: Path | None, file: str | None) -> Source:
    if isinstance(raw, Source):
        return raw
    if isinstance(raw, pd.DataFrame):
        raw = {"frame": raw}
    elif isinstance(raw, (str, Path)):
        raw = {"path": raw}
    if not isinstance(raw, Mapping):
        raise _fail(f"table '{name}' must be a path or a mapping with 'path'",
                    f"e.g. {name}: {{path: {name}.parquet}}", file)
    frame = raw.get("frame")
    _unknown([k for k in raw if k != "frame"], TABLE_KEYS, f"table '{name}'", file)
    path = raw.get("path")
    if frame is None and not path:
        raise _fail(f"table '{name}' has no path", f"add 'path: {name}.parquet'", file)
    if path is not None:
        path = Path(path)
        if not path.is_absolute() and base is not None:
            path = base / path
    fmt = raw.get("format")
    if fmt is None and path is not None:
        suffix = path.suffix.lower().lstrip(".")
        fmt = {"pq": "parquet", "parquet": "parquet", "csv": "csv"}.get(suffix)
        if fmt is None and (path.is_dir() or "*" in path.name):
            fmt = "parquet"
    if frame is None and fmt not in FORMATS:
        raise _fail(f"table '{name}': cannot tell the format of {path}",
                    "use a .parquet or .csv file, or set format: parquet|csv", file)
    columns = raw.get("columns") or {}
    if not isinstance(columns, Mapping):
        raise _fail(f"table '{name}': columns must map evalkit's names to the file's",
                    "e.g. columns: {patient_id: person_id}", file)
    columns = {str(k): _column_name(v, f"table '{name}' columns", file)
               for k, v in columns.items()}
    date = raw.get("date") or ("date_of_death" if name == "deaths" else None)
    ident = raw.get("id") or ("patient_id" if name in ("deaths", "patients") else "event_id")
    for key, value in (("date", date), ("id", ident), ("practice", raw.get("practice"))):
        if value is not None:
            _column_name(value, f"table '{name}' {key}", file)
    return Source(name=name, path=path, frame=frame, format=fmt, date=date, id=ident,
                  practice=raw.get("practice"), columns=MappingProxyType(columns))


@dataclass(frozen=True, eq=False)
class RecordsSpec:
    """Input tables, period and measures: everything :func:`~evalkit.records.aggregate` needs.

    Build one with :func:`records_spec` (from a dict) or :func:`load_records_spec` (YAML).

    Attributes
    ----------
    tables
        Input tables by name. ``registrations`` is required; ``patients`` (dates of birth
        and flags), ``deaths`` and ``practices`` (a list of practice codes) have fixed
        roles; any other table holds events.
    measures
        The measures, in the order their columns appear.
    period
        First and last month (``pandas.Period``).
    census_day
        The day of the month list sizes are counted on (1 to 28; default 15).
    age_bands
        Lower bounds of the age bands, strictly increasing.
    cohorts
        Named cohorts the measures can refer to.
    out
        Where to write the panel (optional).
    file
        The spec file, for messages.
    """

    tables: Mapping[str, Source]
    measures: tuple[Measure, ...]
    period: tuple[pd.Period, pd.Period]
    census_day: int = 15
    age_bands: tuple[int, ...] = DEFAULT_AGE_BANDS
    cohorts: Mapping[str, Cohort] = field(default_factory=dict)
    out: Path | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        file = self.file
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))
        object.__setattr__(self, "cohorts", MappingProxyType(dict(self.cohorts)))
        object.__setattr__(self, "measures", tuple(self.measures))
        if "registrations" not in self.tables:
            raise _fail("the spec has no 'registrations' table",
                        "add tables: {registrations: {path: registrations.parquet}} with "
                        "patient_id, practice, start_date, end_date", file)
        if not self.measures:
            raise _fail("the spec lists no measures", "add a 'measures:' block", file)
        if isinstance(self.census_day, bool) or not isinstance(self.census_day, int) \
                or not 1 <= self.census_day <= 28:
            raise _fail(f"census_day must be a day of the month from 1 to 28, not "
                        f"{self.census_day!r}", "the default, 15, counts mid-month lists",
                        file)
        bands = tuple(self.age_bands)
        pairs = zip(bands[:-1], bands[1:], strict=True)
        if not bands or any(isinstance(b, bool) or not isinstance(b, int) or b < 0
                            for b in bands) or any(b >= c for b, c in pairs):
            raise _fail(f"age_bands must be increasing whole numbers >= 0, not {bands!r}",
                        "e.g. age_bands: [0, 18, 65, 75, 85]", file)
        object.__setattr__(self, "age_bands", bands)
        start, end = self.period
        if start > end:
            raise _fail(f"the period starts ({start}) after it ends ({end})",
                        "give [first month, last month]", file)
        self._check_measures()

    def _check_measures(self) -> None:
        file = self.file
        names: dict[str, Measure] = {}
        columns = set(_RESERVED_COLUMNS)
        for m in self.measures:
            if m.name in names:
                raise _fail(f"measure '{m.name}' is defined twice", "give each a new name",
                            file)
            names[m.name] = m
            for col in m.columns(self.age_bands):
                if col in columns:
                    raise _fail(f"measure '{m.name}' makes a column '{col}' that another "
                                "column already has", "rename the measure", file)
                columns.add(col)
            if m.table is not None:
                if m.table not in self.tables:
                    guess = nearest(m.table, self.tables)
                    raise _fail(f"measure '{m.name}' uses table '{m.table}', which the spec "
                                "does not list", f"did you mean '{guess}'?" if guess
                                else "add it under 'tables:'", file)
                if m.table in ROLE_TABLES and m.table != "deaths":
                    raise _fail(f"measure '{m.name}' counts rows of '{m.table}', which holds "
                                "no events", "use a list_size measure for registrations", file)
                if not self.tables[m.table].date:
                    raise _fail(f"table '{m.table}' has no 'date' column", "add e.g. "
                                "'date: admission_date' to the table", file)
            cohort = self.cohort_of(m)
            needs_patients = m.by_age_band or (cohort is not None and (
                cohort.needs_age or bool(cohort.patients)))
            if needs_patients and "patients" not in self.tables:
                raise _fail(f"measure '{m.name}' needs ages or patient flags but the spec has "
                            "no 'patients' table", "add tables: {patients: {path: ...}} with "
                            "patient_id and date_of_birth", file)
        for m in self.measures:
            if m.kind == "share":
                for role in ("numerator", "denominator"):
                    ref = getattr(m, role)
                    target = names.get(ref)
                    if target is None or target.kind not in ("count", "sum", "list_size"):
                        raise _fail(f"measure '{m.name}': the {role} '{ref}' is not a count, "
                                    "sum or list_size measure of this spec",
                                    "name a measure defined above", file)
            if m.kind == "patient_cost":
                for ref in m.unit_costs:
                    target = names.get(ref)
                    if target is None or target.kind not in ("count", "sum"):
                        raise _fail(f"measure '{m.name}': unit cost for '{ref}', which is not "
                                    "a count or sum measure of this spec",
                                    "cost count or sum measures", file)

    def cohort_of(self, measure: Measure) -> Cohort | None:
        """The measure's cohort, looked up by name."""
        c = measure.cohort
        if c is None or isinstance(c, Cohort):
            return c
        if c not in self.cohorts:
            guess = nearest(c, self.cohorts)
            raise _fail(f"measure '{measure.name}' uses cohort '{c}', which the spec does not "
                        "define", f"did you mean '{guess}'?" if guess
                        else "define it under 'cohorts:'", self.file)
        return self.cohorts[c]

    @property
    def panel_measures(self) -> tuple[Measure, ...]:
        """Measures that make panel columns."""
        return tuple(m for m in self.measures if m.kind in PANEL_KINDS)

    @property
    def table_measures(self) -> tuple[Measure, ...]:
        """Measures that make patient-level tables."""
        return tuple(m for m in self.measures if m.kind in TABLE_KINDS)

    @property
    def event_tables(self) -> tuple[str, ...]:
        """Tables whose events some measure uses, in order of first use."""
        used: list[str] = []
        for m in self.measures:
            refs = [m.table] if m.table else []
            if m.kind == "patient_cost":
                refs = [self.measure(r).table for r in m.unit_costs]
            for t in refs:
                if t not in used:
                    used.append(t)
        return tuple(used)

    def measure(self, name: str) -> Measure:
        """A measure by name."""
        for m in self.measures:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def panel_columns(self) -> tuple[str, ...]:
        """The panel's columns, in order."""
        cols: list[str] = ["practice", "month"]
        for m in self.panel_measures:
            cols.extend(m.columns(self.age_bands))
        return tuple(cols)

    @property
    def months(self) -> list[pd.Period]:
        """Every month of the period."""
        return month_starts(self.period)

    def patient_columns(self) -> tuple[str, ...]:
        """Columns of the patients table that cohorts use, in first-use order."""
        cols: list[str] = []
        for m in self.measures:
            c = self.cohort_of(m) if m.kind not in ("share", "patient_cost") else None
            for col in (c.patients if c else {}):
                if col not in cols:
                    cols.append(col)
        return tuple(cols)


def _measure(name: str, raw: Any, file: str | None) -> Measure:
    if isinstance(raw, Measure):
        return raw
    if not isinstance(raw, Mapping):
        raise _fail(f"measure '{name}' must be a mapping with 'kind'",
                    "e.g. emergency_admissions: {kind: count, table: admissions}", file)
    _unknown(raw, MEASURE_KEYS, f"measure '{name}'", file)
    if "kind" not in raw:
        raise _fail(f"measure '{name}' has no 'kind'", f"use one of {', '.join(KINDS)}", file)
    kwargs = {f.name: raw[f.name] for f in fields(Measure) if f.name in raw}
    if "days_between" in kwargs and kwargs["days_between"] is not None:
        kwargs["days_between"] = tuple(kwargs["days_between"]) if isinstance(
            kwargs["days_between"], (list, tuple)) else kwargs["days_between"]
    try:
        return Measure(name=name, **kwargs)
    except SpecError as err:
        raise SpecError(err.message, file=file, fix=err.fix) from None


def records_spec(mapping: Mapping[str, Any] | RecordsSpec, *, base: str | Path | None = None,
                 file: str | None = None) -> RecordsSpec:
    """Build and validate a :class:`RecordsSpec` from a plain mapping (as YAML gives).

    Parameters
    ----------
    mapping
        ``tables``, ``period``, ``measures`` and optionally ``census_day``, ``age_bands``,
        ``cohorts`` and ``out`` (or all of them under a ``records`` key). ``measures`` maps
        names to definitions (or is a list of definitions with ``name``).
    base
        The folder relative paths are relative to.
    file
        The spec file, for messages.

    Returns
    -------
    RecordsSpec

    Raises
    ------
    SpecError
        For anything malformed, naming the key and a fix.

    Examples
    --------
    >>> spec = records_spec({
    ...     "tables": {"registrations": "reg.parquet", "admissions":
    ...                {"path": "apc.parquet", "date": "admission_date"}},
    ...     "period": ["2019-04", "2020-03"],
    ...     "measures": {"list_size": {"kind": "list_size"},
    ...                  "admissions": {"kind": "count", "table": "admissions"}}})
    >>> spec.panel_columns
    ('practice', 'month', 'list_size', 'admissions')
    """
    if isinstance(mapping, RecordsSpec):
        return mapping
    if not isinstance(mapping, Mapping):
        raise _fail("the records spec must be a mapping", "check the YAML's indentation", file)
    if "records" in mapping and isinstance(mapping["records"], Mapping):
        outer = {k: v for k, v in mapping.items() if k != "records"}
        mapping = {**mapping["records"], **{k: v for k, v in outer.items() if k in SPEC_KEYS}}
    _unknown(mapping, SPEC_KEYS, "the records spec", file)
    base_path = Path(base) if base is not None else None
    for key in ("tables", "period", "measures"):
        if key not in mapping:
            raise _fail(f"the records spec has no '{key}'", {
                "tables": "list the input files under 'tables:'",
                "period": "add period: [first month, last month], e.g. [2019-04, 2024-03]",
                "measures": "add a 'measures:' block"}[key], file)
    tables_raw = mapping["tables"]
    if not isinstance(tables_raw, Mapping) or not tables_raw:
        raise _fail("'tables' must map table names to files", "e.g. tables: {registrations: "
                    "registrations.parquet}", file)
    tables = {}
    for name, raw in tables_raw.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise _fail(f"table name {name!r} must be lower-case letters, digits and "
                        "underscores", "e.g. ae_attendances", file)
        tables[name] = _source(name, raw, base_path, file)
    period = mapping["period"]
    if isinstance(period, Mapping):
        _unknown(period, ("start", "end"), "period", file)
        period = [period.get("start"), period.get("end")]
    if not isinstance(period, (list, tuple)) or len(period) != 2:
        raise _fail("'period' must give the first and last month", "e.g. period: "
                    "[2019-04, 2024-03]", file)
    months = (parse_month(period[0], "the period's first month", file),
              parse_month(period[1], "the period's last month", file))
    cohorts_raw = mapping.get("cohorts") or {}
    if not isinstance(cohorts_raw, Mapping):
        raise _fail("'cohorts' must map names to conditions", "e.g. cohorts: {older: "
                    "{min_age: 65}}", file)
    cohorts = {str(k): _cohort(str(k), v, file) for k, v in cohorts_raw.items()}
    raw_measures = mapping["measures"]
    if isinstance(raw_measures, Mapping):
        items = list(raw_measures.items())
    elif isinstance(raw_measures, (list, tuple)):
        items = []
        for i, m in enumerate(raw_measures):
            if isinstance(m, Measure):
                items.append((m.name, m))
            elif isinstance(m, Mapping) and "name" in m:
                items.append((m["name"], {k: v for k, v in m.items() if k != "name"}))
            else:
                raise _fail(f"measure {i + 1} has no 'name'", "give each measure a name",
                            file)
    else:
        raise _fail("'measures' must map names to definitions", "e.g. measures: "
                    "{list_size: {kind: list_size}}", file)
    measures = tuple(_measure(str(name), raw, file) for name, raw in items)
    out = mapping.get("out")
    if out is not None:
        out = Path(out)
        if not out.is_absolute() and base_path is not None:
            out = base_path / out
    kwargs: dict[str, Any] = {}
    if "census_day" in mapping:
        kwargs["census_day"] = mapping["census_day"]
    if "age_bands" in mapping:
        bands = mapping["age_bands"]
        kwargs["age_bands"] = tuple(bands) if isinstance(bands, (list, tuple)) else (bands,)
    return RecordsSpec(tables=tables, measures=measures, period=months, cohorts=cohorts,
                       out=out, file=file, **kwargs)


def load_records_spec(path: str | Path) -> RecordsSpec:
    """Read and validate a records spec from YAML.

    Relative paths in it are relative to the spec's folder.

    Raises
    ------
    SpecError
        If the file is missing, not valid YAML, or breaks the format.

    Examples
    --------
    >>> spec = load_records_spec("records.yaml")  # doctest: +SKIP
    """
    path = Path(path)
    file = str(path)
    if not path.exists():
        raise _fail("spec not found", "give the path of a records spec (YAML)", file)
    from evalkit.data.bounded_yaml import (
        read_yaml,  # bounded: UTF-8, 1 MB, aliases expanding to 100,000 values
    )

    raw = read_yaml(path, what="records spec")
    return records_spec(raw or {}, base=path.parent, file=file)
