"""Compile measure definitions to one portable SQL dialect that DuckDB and Spark SQL both run.

Every query this module writes is run unchanged by :class:`~evalkit.records.engines.DuckDBEngine`
and :class:`~evalkit.records.engines.SparkEngine`; the engines differ only in how they expose
the input files as views (``src_<table>``) and how they keep the intermediate tables
(:data:`REG_VIEW`, :data:`PRACTICE_VIEW`, :data:`CAL_VIEW`, :data:`PATIENT_VIEW` and
:data:`MANY_VIEW`) between queries. The dialect is the intersection of the two, each form
checked on both engines by ``tests/records/test_records_sql.py``:

- identifiers in double quotes (standard SQL; Spark reads them so with
  ``spark.sql.ansi.doubleQuotedIdentifiers``, which the Spark engine sets), text in single
  quotes with ``''`` for a quote and no backslashes;
- dates as ``DATE 'YYYY-MM-DD'`` literals and ``CAST(x AS DATE)``; months by
  a join to a calendar of the period's days (:data:`CAL_VIEW`, built with ``make_date``),
  which also keeps only the events in the period; parts by ``EXTRACT(YEAR|MONTH|DAY|DOY FROM d)``;
  the day before by ``CAST(d - INTERVAL '1' DAY AS DATE)`` (the one interval form), days by
  ``make_date(y, m, d)`` of ``INTEGER`` parts, ``MOD``, ``LEAST`` of non-NULL values;
  There is no common day-difference function (DuckDB's ``datediff('day', a, b)`` and
  Spark's ``datediff(b, a)`` differ), so days between dates are differences of a day
  number built from ``EXTRACT`` (the proleptic Gregorian day count), and age is whole
  years from ``EXTRACT`` of year, month and day;
- ``LEFT JOIN ... ON`` with range conditions, ``LEAD(...) OVER (PARTITION BY ... ORDER BY
  ... NULLS LAST)``, ``CASE``, ``COALESCE``, ``IN``, ``UNION ALL``, ``LIMIT``, inline
  ``(VALUES ...) AS t(a, b)`` tables, ``TRY_CAST`` and ``LIKE`` (checks only);
- every sum cast to ``BIGINT`` (DuckDB would otherwise return 128-bit integers) and every
  cost product to ``DOUBLE``; no division except guarded shares, which are computed in
  Python after the engines return whole-number counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import pandas as pd

from evalkit.errors import SpecError
from evalkit.records.measures import Cohort, Measure, RecordsSpec

__all__ = ["Step", "Plan", "compile_plan", "ident", "literal", "date_literal", "as_date",
           "age_sql", "birthday_sql", "day_number_sql", "in_force_sql", "REG_VIEW",
           "PATIENT_VIEW", "MANY_VIEW", "PRACTICE_VIEW", "CAL_VIEW", "SLOT_LIMIT", "source_view",
           "slots_sql", "month_number", "unattributed_examples_sql"]

#: The intermediate table of registrations (with dates of birth, birthdays and patient flags).
REG_VIEW = "evalkit_reg"
#: One row per registered patient: their registrations side by side ("slots").
PATIENT_VIEW = "evalkit_pat"
#: The registrations of patients with more than :data:`SLOT_LIMIT` of them.
MANY_VIEW = "evalkit_many"
#: Each practice of the registrations with a whole-number code (events carry the code).
PRACTICE_VIEW = "evalkit_practice"
#: Every day of the period with its month number (events are joined to it).
CAL_VIEW = "evalkit_cal"
#: The most registrations a patient's row of :data:`PATIENT_VIEW` holds.
SLOT_LIMIT = 6
_FAR = "DATE '9999-12-31'"
_TRUE = "TRUE"


def ident(name: str) -> str:
    """A double-quoted identifier (names were validated to hold no double quote)."""
    if '"' in name:  # pragma: no cover - validated in measures
        raise ValueError(f"identifier {name!r} holds a double quote")
    return f'"{name}"'


def source_view(table: str) -> str:
    """The view an engine registers a table's file under."""
    return ident(f"src_{table}")


def date_literal(day: pd.Timestamp | pd.Period) -> str:
    """``DATE 'YYYY-MM-DD'``."""
    if isinstance(day, pd.Period):
        day = day.start_time
    return f"DATE '{pd.Timestamp(day).strftime('%Y-%m-%d')}'"


def literal(value, kind: str | None = None) -> str:
    """A SQL literal for ``value``, typed for a column of ``kind``.

    Text columns (``"string"``, and every column of a CSV file) compare with text, so
    ``1`` becomes ``'1'``; number and boolean columns compare with numbers and
    ``TRUE``/``FALSE``.
    """
    if kind == "string" or (kind is None and isinstance(value, str)):
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return "'" + text.replace("'", "''") + "'"
    if kind == "boolean" or isinstance(value, bool):
        truth = {"true": True, "false": False, "1": True, "0": False, "yes": True,
                 "no": False}.get(str(value).strip().lower())
        if truth is None:
            raise SpecError(f"{value!r} is compared with a true/false column",
                            fix="compare with true or false")
        return "TRUE" if truth else "FALSE"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise SpecError(f"{value!r} is compared with a column of numbers",
                            fix="compare with a number, or check the column") from None
        value = int(number) if number.is_integer() and kind == "integer" else number
    if isinstance(value, float):
        if kind == "integer" and value.is_integer():
            return str(int(value))
        if not math.isfinite(value):  # pragma: no cover - validated in measures
            raise ValueError(value)
        return f"CAST({value!r} AS DOUBLE)"
    return str(int(value))


def as_date(expr: str) -> str:
    """``CAST(expr AS DATE)``: a no-op on dates, the strict ISO reading of text."""
    return f"CAST({expr} AS DATE)"


def _part(part: str, expr: str) -> str:
    return f"CAST(EXTRACT({part} FROM {expr}) AS BIGINT)"


def age_sql(at: str, dob: str) -> str:
    """Completed years between the date of birth ``dob`` and the date ``at``.

    A year is completed when the month and day of ``at`` reach those of ``dob``, so people
    born on 29 February turn a year older on 1 March in years without one. NULL when
    ``dob`` is NULL.
    """
    return (f"({_part('YEAR', at)} - {_part('YEAR', dob)} - CASE WHEN "
            f"{_part('MONTH', at)} * 100 + {_part('DAY', at)} < "
            f"{_part('MONTH', dob)} * 100 + {_part('DAY', dob)} THEN 1 ELSE 0 END)")


def birthday_sql(dob: str, years: int, *, parts: tuple[str, str, str] | None = None) -> str:
    """The day on which a person born on ``dob`` completes ``years`` years (NULL if ``dob`` is).

    The same rule as :func:`age_sql`: people born on 29 February complete a year on 1 March
    in years without one. Comparing an event date with these days (``day >= birthday``)
    gives age bands and age cohorts without working out an age for every event.
    ``parts`` names integer columns that already hold the year, month and day of ``dob``
    (so that several birthdays extract them once).
    """
    if parts is None:
        parts = tuple(f"CAST(EXTRACT({p} FROM {dob}) AS INTEGER)" for p in ("YEAR", "MONTH",
                                                                              "DAY"))
    year, month, day = parts
    y = f"({year} + {int(years)})"
    leap = f"(MOD({y}, 4) = 0 AND (MOD({y}, 100) <> 0 OR MOD({y}, 400) = 0))"
    return (f"(CASE WHEN {month} = 2 AND {day} = 29 AND NOT {leap} THEN make_date({y}, 3, 1) "
            f"ELSE make_date({y}, {month}, {day}) END)")


def slots_sql() -> str:
    """The largest number of registrations any one patient has (0 when there are none)."""
    return f"SELECT COALESCE(MAX(n), 0) AS n FROM {REG_VIEW}"


def month_number(month: pd.Period) -> int:
    """``12 * year + month - 1``."""
    return 12 * month.year + month.month - 1


def _month_sql(expr: str) -> str:
    return f"({_part('YEAR', expr)} * 12 + {_part('MONTH', expr)} - 1)"


def day_number_sql(expr: str) -> str:
    """The proleptic Gregorian day number of a date (1 January of year 1 is day 1).

    Differences of day numbers are days between dates: ``365 (y - 1) + floor((y - 1) / 4)
    - floor((y - 1) / 100) + floor((y - 1) / 400) + day of year``.
    """
    y1 = f"({_part('YEAR', expr)} - 1)"
    return (f"({y1} * 365 + CAST(FLOOR({y1} / 4) AS BIGINT) - CAST(FLOOR({y1} / 100) AS "
            f"BIGINT) + CAST(FLOOR({y1} / 400) AS BIGINT) + {_part('DOY', expr)})")


def in_force_sql(reg: str, day: str) -> str:
    """The registration ``reg`` is in force on ``day`` (ends inclusive; later start wins)."""
    return (f"{reg}.start_date <= {day} AND ({reg}.end_date IS NULL OR {day} <= "
            f"{reg}.end_date) AND ({reg}.next_start IS NULL OR {day} < {reg}.next_start)")


@dataclass(frozen=True)
class Step:
    """One query of a plan.

    Attributes
    ----------
    name
        What the step computes, for the progress bar and logs.
    kind
        ``"keep"`` (an intermediate table, kept under ``target``: the registrations, then
        one row per patient, the calendar), ``"practices"``, ``"panel"`` (an event table's
        measures per practice and month number, with a row of NULL practice per month for
        its events in no registration), ``"list_size"``, ``"events"`` or
        ``"patient_cost"``.
    sql
        The query, run unchanged by every engine.
    measures
        The measures it computes.
    columns
        SQL alias to output column, for the columns the engine returns under aliases.
    table
        The event table it reads, if one.
    floats
        Output columns that are sums of a decimal value (all others are whole numbers).
    unrestricted
        For a ``panel`` step: SQL alias to measure, for the measures with a cohort, of the
        same sum without the cohort (what the ``where`` filter alone selects): what the
        report counts, by measure, of the events in no registration.
    target
        For a ``keep`` step: the name the result is kept under.
    """

    name: str
    kind: str
    sql: str
    measures: tuple[str, ...] = ()
    columns: Mapping[str, str] = field(default_factory=dict)
    table: str | None = None
    floats: tuple[str, ...] = ()
    unrestricted: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None


@dataclass(frozen=True)
class Plan:
    """The queries that compute a spec's measures, in order."""

    steps: tuple[Step, ...]

    def sql(self) -> str:
        """All queries as one script (for review and audit)."""
        return "\n\n".join(f"-- {s.kind}: {s.name}\n{s.sql};" for s in self.steps)


def _kind(kinds: Mapping[str, Mapping[str, str]] | None, table: str, column: str) -> str | None:
    if not kinds:
        return None
    return kinds.get(table, {}).get(column)


def _match(expr: str, values: Sequence, kind: str | None) -> str:
    lits = [literal(v, kind) for v in values]
    if len(lits) == 1:
        return f"{expr} = {lits[0]}"
    return f"{expr} IN ({', '.join(lits)})"


def _and(parts: Sequence[str]) -> str:
    parts = [p for p in parts if p and p != _TRUE]
    return " AND ".join(f"({p})" for p in parts) if parts else _TRUE


class _Compiler:
    """Builds the queries; one instance per spec, set of column kinds and slot count.

    Events are attributed through :data:`PATIENT_VIEW`, one row per patient with their
    registrations side by side (``slots`` of them: the most any patient has, up to
    :data:`SLOT_LIMIT`). Joining events to it is a join on a unique key, which DuckDB runs
    as a direct lookup, and the registration in force is then picked by date in the row.
    Patients with more registrations than that (``overflow``) are joined to their rows
    of :data:`MANY_VIEW` by range conditions instead. Ages are comparisons of the event
    date with birthdays worked out once per patient (:func:`birthday_sql`).
    """

    def __init__(self, spec: RecordsSpec, kinds: Mapping[str, Mapping[str, str]] | None,
                 slots: int = 1, overflow: bool = False):
        self.spec = spec
        self.kinds = kinds or {}
        self.flags = spec.patient_columns()
        self.slots = max(1, int(slots))
        self.overflow = bool(overflow)
        months = spec.months
        self.start = months[0].start_time
        self.end_excl = (months[-1] + 1).start_time
        ages: set[int] = set()
        for cohort in spec.cohorts.values():
            if cohort.min_age is not None:
                ages.add(int(cohort.min_age))
            if cohort.max_age is not None:
                ages.add(int(cohort.max_age) + 1)
        ages.update(int(b) for b in spec.age_bands)
        self.ages = sorted(ages)

    @classmethod
    def for_slots(cls, spec: RecordsSpec, kinds: Mapping[str, Mapping[str, str]] | None,
                  slots: int) -> _Compiler:
        """The compiler for patients with up to ``slots`` registrations: side by side up
        to :data:`SLOT_LIMIT`, the rest by range joins."""
        return cls(spec, kinds, slots=min(max(1, slots), SLOT_LIMIT),
                   overflow=slots > SLOT_LIMIT)

    # -- pieces ------------------------------------------------------------------------
    def col(self, table: str, name: str) -> str:
        return self.spec.tables[table].col(name)

    def flag_alias(self, column: str) -> str:
        return f"p{self.flags.index(column)}"

    @staticmethod
    def bday(years: int, prefix: str = "") -> str:
        """The column of the birthday on which a patient completes ``years`` years."""
        return f"{prefix}b{int(years)}"

    def patient_extras(self, prefix: str) -> str:
        """``, <prefix>b..., <prefix>p...``: the birthday and flag columns, to carry along."""
        names = [self.bday(a) for a in self.ages] + [self.flag_alias(f) for f in self.flags]
        return "".join(f", {prefix}{n}" for n in names)

    def cohort_cond(self, cohort: Cohort | None, day: str, prefix: str = "") -> str:
        """Whether an event on ``day`` is in ``cohort``; patient columns under ``prefix``."""
        if cohort is None:
            return _TRUE
        parts = []
        if cohort.min_age is not None:
            parts.append(f"{day} >= {self.bday(cohort.min_age, prefix)}")
        if cohort.max_age is not None:
            parts.append(f"{day} < {self.bday(cohort.max_age + 1, prefix)}")
        for column, values in cohort.patients.items():
            kind = _kind(self.kinds, "patients", self.col("patients", column))
            parts.append(_match(prefix + self.flag_alias(column), values, kind))
        return _and(parts)

    def band_conds(self, day: str, prefix: str = "") -> list[str]:
        bands = list(self.spec.age_bands)
        conds = [f"{day} >= {self.bday(lo, prefix)} AND {day} < {self.bday(hi, prefix)}"
                 for lo, hi in zip(bands[:-1], bands[1:], strict=True)]
        conds.append(f"{day} >= {self.bday(bands[-1], prefix)}")
        first = self.bday(bands[0], prefix)
        conds.append(f"{first} IS NULL OR {day} < {first}")
        return conds

    # -- registrations and patients ------------------------------------------------------
    def registrations(self) -> Step:
        """The registrations, each with the next one's start (``next_start``), its rank
        ``k`` among the patient's registrations and their number ``n``, and the patient's
        date of birth and flags."""
        c = lambda n: ident(self.col("registrations", n))  # noqa: E731
        r = (f"SELECT s.{c('patient_id')} AS patient_id, s.{c('practice')} AS practice, "
             f"{as_date('s.' + c('start_date'))} AS start_date, "
             f"{as_date('s.' + c('end_date'))} AS end_date "
             f"FROM {source_view('registrations')} AS s")
        order = ("PARTITION BY r.patient_id ORDER BY r.start_date ASC NULLS LAST, r.practice "
                 "ASC NULLS LAST, r.end_date ASC NULLS LAST")
        n = (f"SELECT r.patient_id, r.practice, r.start_date, r.end_date, LEAD(r.start_date) "
             f"OVER ({order}) AS next_start, ROW_NUMBER() OVER ({order}) AS k, COUNT(*) OVER "
             "(PARTITION BY r.patient_id) AS n FROM r")
        if "patients" in self.spec.tables:
            pc = lambda n: ident(self.col("patients", n))  # noqa: E731
            flags = "".join(f", s.{pc(f)} AS {self.flag_alias(f)}" for f in self.flags)
            dob = as_date("s." + pc("date_of_birth"))
            p = (f"SELECT s.{pc('patient_id')} AS patient_id, {dob} AS date_of_birth{flags} "
                 f"FROM {source_view('patients')} AS s")
            flag_out = "".join(f", p.{self.flag_alias(f)}" for f in self.flags)
            sql = (f"WITH r AS ({r}), n AS ({n}), p AS ({p}) "
                   "SELECT n.patient_id, n.practice, n.start_date, n.end_date, n.next_start, "
                   f"n.k, n.n, p.date_of_birth{flag_out} FROM n LEFT JOIN p ON n.patient_id = "
                   "p.patient_id")
        else:
            sql = (f"WITH r AS ({r}), n AS ({n}) SELECT n.patient_id, n.practice, "
                   "n.start_date, n.end_date, n.next_start, n.k, n.n, CAST(NULL AS DATE) AS "
                   "date_of_birth FROM n")
        return Step("registrations", "keep", sql, target=REG_VIEW)

    def practice_codes(self) -> Step:
        """The practices of the registrations, numbered 1, 2, ... in order."""
        sql = (f"SELECT d.practice, ROW_NUMBER() OVER (ORDER BY d.practice) AS code FROM "
               f"(SELECT DISTINCT practice FROM {REG_VIEW} WHERE practice IS NOT NULL) AS d")
        return Step("practice codes", "keep", sql, target=PRACTICE_VIEW)

    def patient_index(self) -> Step:
        """One row per patient: their registrations side by side, birthdays and flags.

        Slot ``k`` holds the practice's code ``r<k>`` and the days it is in force, from
        ``s<k>`` to ``l<k>`` inclusive: to its end and before the next registration's start,
        open ends as 9999-12-31 (the same rule as :func:`in_force_sql`). Patients with more
        registrations than there are slots have empty slots and ``o = 1`` (their events
        are attributed through :data:`MANY_VIEW`; the column is there only then).
        ``b<A>`` is the day the patient completes ``A`` years.
        """
        last = (f"LEAST(COALESCE(x.end_date, {_FAR}), COALESCE(CAST(x.next_start - INTERVAL "
                f"'1' DAY AS DATE), {_FAR}))")

        def slot(k: int, expr: str) -> str:
            return f"MAX(CASE WHEN x.k = {k} AND x.n <= {self.slots} THEN {expr} END)"

        source = (f"{REG_VIEW} AS x LEFT JOIN {PRACTICE_VIEW} AS c ON x.practice = c.practice")
        cols = ["x.patient_id"]
        for k in range(1, self.slots + 1):
            cols += [f"{slot(k, 'c.code')} AS r{k}", f"{slot(k, 'x.start_date')} AS s{k}",
                     f"{slot(k, last)} AS l{k}"]
        firsts = ["date_of_birth"] + [self.flag_alias(f) for f in self.flags]
        cols += [f"MAX(CASE WHEN x.k = 1 THEN x.{n} END) AS {n}" for n in firsts]
        if self.overflow:
            cols.append(f"MAX(CASE WHEN x.n > {self.slots} THEN 1 END) AS o")
        grouped = (f"SELECT {', '.join(cols)} FROM {source} WHERE x.n > 1 AND "
                   "x.patient_id IS NOT NULL GROUP BY x.patient_id")
        # Most patients have one registration: their row needs no grouping. Empty slots
        # are typed NULLs (CASE WHEN FALSE), so that both branches have the same types.
        single = ["x.patient_id", "c.code AS r1", "x.start_date AS s1", f"{last} AS l1"]
        for k in range(2, self.slots + 1):
            single += [f"CASE WHEN FALSE THEN {c} END AS {a}{k}" for c, a in
                       (("c.code", "r"), ("x.start_date", "s"), ("x.start_date", "l"))]
        single += [f"x.{n}" for n in firsts]
        if self.overflow:
            single.append("CASE WHEN FALSE THEN 1 END AS o")
        one = (f"SELECT {', '.join(single)} FROM {source} WHERE x.n = 1 AND "
               "x.patient_id IS NOT NULL")
        ymd = ("g.dob_y", "g.dob_m", "g.dob_d")
        days = "".join(f", {birthday_sql('', a, parts=ymd)} AS {self.bday(a)}"
                       for a in self.ages)
        split = ", ".join(f"CAST(EXTRACT({p} FROM g.date_of_birth) AS INTEGER) AS {n}"
                          for p, n in (("YEAR", "dob_y"), ("MONTH", "dob_m"), ("DAY", "dob_d")))
        sql = (f"SELECT g.*{days} FROM (SELECT g.*, {split} FROM ({one} UNION ALL {grouped}) "
               "AS g) AS g")
        return Step("patients", "keep", sql, target=PATIENT_VIEW)

    def many(self) -> Step:
        """The registrations (with practice codes) of the patients with more than ``slots``
        of them."""
        sql = (f"SELECT r.*, c.code FROM {REG_VIEW} AS r LEFT JOIN {PRACTICE_VIEW} AS c ON "
               f"r.practice = c.practice WHERE r.n > {self.slots}")
        return Step("patients with many registrations", "keep", sql, target=MANY_VIEW)

    def calendar_days(self) -> Step:
        """Every day of the period with its month number (``12 * year + month - 1``).

        Events are joined to it on their date: the join keeps the events in the period and
        gives each its month without working it out from the date, event by event.
        """
        months = ", ".join(f"({month_number(m)}, {m.year}, {m.month}, {m.days_in_month})"
                           for m in self.spec.months)
        days = ", ".join(f"({d})" for d in range(1, 32))
        valid = (f"SELECT m.k, m.y, m.mo, d.d FROM (VALUES {months}) AS m(k, y, mo, n) CROSS "
                 f"JOIN (VALUES {days}) AS d(d) WHERE d.d <= m.n")
        sql = f"SELECT make_date(v.y, v.mo, v.d) AS day, v.k AS period_month FROM ({valid}) AS v"
        return Step("calendar", "keep", sql, target=CAL_VIEW)

    def practices(self) -> Step:
        sql = f"SELECT DISTINCT practice FROM {REG_VIEW}"
        if "practices" in self.spec.tables:
            sql = (f"SELECT practice FROM {REG_VIEW} UNION SELECT s."
                   f"{ident(self.col('practices', 'practice'))} AS practice FROM "
                   f"{source_view('practices')} AS s")
        return Step("practices", "practices", sql)

    # -- event tables --------------------------------------------------------------------
    def event_cte(self, table: str, measures: Sequence[Measure],
                  before: pd.Timestamp | None = None
                  ) -> tuple[str, dict[str, str], dict[str, str]]:
        """The query of a table's events (``patient_id``, ``event_date``, the ``where``
        columns as ``w<i>`` and each sum measure's value as ``v<i>``), before the day
        ``before`` if given; the join to the calendar (:meth:`attributed`) keeps those in
        the period."""
        src = self.spec.tables[table]
        date = as_date("s." + ident(src.col(src.date)))
        where_alias: dict[str, str] = {}
        value_alias: dict[str, str] = {}
        cols = [f"s.{ident(src.col('patient_id'))} AS patient_id", f"{date} AS event_date"]
        for m in measures:
            for column in m.where:
                if column not in where_alias:
                    where_alias[column] = f"w{len(where_alias)}"
                    cols.append(f"s.{ident(src.col(column))} AS {where_alias[column]}")
            if m.kind == "sum":
                alias = f"v{len(value_alias)}"
                value_alias[m.name] = alias
                if m.days_between:
                    a, b = (as_date("s." + ident(src.col(x))) for x in m.days_between)
                    cols.append(f"{day_number_sql(b)} - {day_number_sql(a)} AS {alias}")
                else:
                    vkind = _kind(self.kinds, table, src.col(m.value))
                    vtype = "DOUBLE" if vkind == "float" else "BIGINT"
                    cols.append(f"CAST(s.{ident(src.col(m.value))} AS {vtype}) AS {alias}")
        ev = f"SELECT {', '.join(cols)} FROM {source_view(table)} AS s"
        if before is not None:
            ev += f" WHERE {date} < {date_literal(before)}"
        return ev, where_alias, value_alias

    def extras(self, measures: Sequence[Measure]) -> list[str]:
        """The patient columns (birthdays ``b<A>``, flags ``p<i>``) the measures use."""
        names: list[str] = []
        for m in measures:
            cohort = self.spec.cohort_of(m)
            if m.by_age_band:
                names += [self.bday(b) for b in self.spec.age_bands]
            if cohort is not None:
                if cohort.min_age is not None:
                    names.append(self.bday(cohort.min_age))
                if cohort.max_age is not None:
                    names.append(self.bday(cohort.max_age + 1))
                names += [self.flag_alias(c) for c in cohort.patients]
        return list(dict.fromkeys(names))

    def attributed(self, ev: str, measures: Sequence[Measure]) -> str:
        """The events of ``ev`` (a CTE name) in the period, with ``code`` (the practice's,
        from :data:`PRACTICE_VIEW`; NULL for events in none of the patient's registrations
        and for patients with none), ``period_month`` (the month number, from
        :data:`CAL_VIEW`) and the patient columns the measures use."""
        extra = "".join(f", w.{n}" for n in self.extras(measures))
        slot = " ".join(f"WHEN e.event_date BETWEEN w.s{k} AND w.l{k} THEN w.r{k}"
                        for k in range(1, self.slots + 1))
        day = f"JOIN {CAL_VIEW} AS k ON e.event_date = k.day"
        # One pass: the events in no registration keep a NULL code and are counted from
        # the same rows as the panel (a filter here would be pushed into the join and work
        # the code out twice).
        sql = (f"SELECT e.*, CASE {slot} END AS code, k.period_month{extra} FROM {ev} AS e "
               f"LEFT JOIN {PATIENT_VIEW} AS w ON e.patient_id = w.patient_id {day}")
        if self.overflow:
            # Patients with more registrations than slots (``o = 1``, empty slots) take the
            # registration in force from their rows of MANY_VIEW instead.
            sql += (f" WHERE w.o IS NULL UNION ALL SELECT e.*, r.code AS code, "
                    f"k.period_month{extra} FROM {ev} AS e JOIN {PATIENT_VIEW} AS w ON "
                    f"e.patient_id = w.patient_id AND w.o = 1 LEFT JOIN {MANY_VIEW} AS r ON "
                    f"e.patient_id = r.patient_id AND {in_force_sql('r', 'e.event_date')} "
                    f"{day}")
        return sql

    def event_ctes(self, table: str, measures: Sequence[Measure], prefix: str = ""
                   ) -> tuple[str, dict[str, str], dict[str, str]]:
        """CTEs ``{prefix}ev`` (the events) and ``{prefix}att`` (those of registered patients).

        Returns the CTE text, the alias of each ``where`` column and of each measure's
        value (``sum`` measures).
        """
        ev, where_alias, value_alias = self.event_cte(table, measures)
        att = self.attributed(f"{prefix}ev", measures)
        return f"{prefix}ev AS ({ev}), {prefix}att AS ({att})", where_alias, value_alias

    def where_cond(self, table: str, m: Measure, where_alias: Mapping[str, str]) -> str:
        """The ``where`` filter of measure ``m`` on its table's event rows."""
        src = self.spec.tables[table]
        return _and([_match(where_alias[c], v, _kind(self.kinds, table, src.col(c)))
                     for c, v in m.where.items()])

    def measure_cond(self, table: str, m: Measure, where_alias: Mapping[str, str]) -> str:
        """The row condition of measure ``m`` on its table's attributed rows."""
        return _and([self.where_cond(table, m, where_alias),
                     self.cohort_cond(self.spec.cohort_of(m), "event_date")])

    @staticmethod
    def _amount(m: Measure, value_alias: Mapping[str, str]) -> str:
        return f"COALESCE({value_alias[m.name]}, 0)" if m.kind == "sum" else "1"

    def _sum(self, cond: str, amount: str, decimal: bool, alias: str) -> str:
        if cond == _TRUE and amount == "1":
            return f"CAST(COUNT(*) AS BIGINT) AS {alias}"
        return (f"CAST(SUM(CASE WHEN {cond} THEN {amount} ELSE 0 END) AS "
                f"{'DOUBLE' if decimal else 'BIGINT'}) AS {alias}")

    def panel(self, table: str, measures: Sequence[Measure]) -> Step:
        """A table's measures per practice and month, in one pass over its events.

        Rows with a NULL practice hold, per month, the events in no registration (and, in
        the ``unrestricted`` columns, the ``where``-filtered sums of the measures with a
        cohort), which the report counts; ``n_events`` counts every event of the period.
        """
        ctes, where_alias, value_alias = self.event_ctes(table, measures)
        select = ["code", "period_month", "CAST(COUNT(*) AS BIGINT) AS n_events"]
        columns: dict[str, str] = {}
        unrestricted: dict[str, str] = {}
        floats: list[str] = []
        for m in measures:
            cond = self.measure_cond(table, m, where_alias)
            amount = self._amount(m, value_alias)
            decimal = self.is_float(m)
            targets = [(m.name, _TRUE)]
            if m.by_age_band:
                targets += list(zip(m.columns(self.spec.age_bands)[1:],
                                    self.band_conds("event_date"), strict=True))
            for out, extra in targets:
                alias = f"c{len(columns)}"
                columns[alias] = out
                if decimal:
                    floats.append(out)
                select.append(self._sum(_and([cond, extra]), amount, decimal, alias))
            if self.spec.cohort_of(m) is not None:
                alias = f"u{len(unrestricted)}"
                unrestricted[alias] = m.name
                select.append(self._sum(self.where_cond(table, m, where_alias), amount,
                                        decimal, alias))
        names = ", ".join(f"g.{a}" for a in [*columns, *unrestricted])
        sql = (f"WITH {ctes}, g AS (SELECT {', '.join(select)} FROM att GROUP BY code, "
               f"period_month) SELECT p.practice AS practice, g.period_month, g.n_events, "
               f"{names} FROM g LEFT JOIN {PRACTICE_VIEW} AS p ON g.code = p.code")
        return Step(table, "panel", sql, tuple(m.name for m in measures),
                    MappingProxyType(columns), table, tuple(floats),
                    MappingProxyType(unrestricted))

    def is_float(self, m: Measure) -> bool:
        """Whether a sum measure adds a decimal column (and so is not a whole number)."""
        return m.kind == "sum" and m.value is not None and _kind(
            self.kinds, m.table, self.spec.tables[m.table].col(m.value)) == "float"

    def calendar(self) -> str:
        """The month numbers of the period."""
        rows = ", ".join(f"({month_number(m)})" for m in self.spec.months)
        return f"SELECT * FROM (VALUES {rows}) AS cal(k)"

    def census_index(self, day: str, *, strictly_after: bool = False) -> str:
        """The month number of the first census day on (or strictly after) ``day``."""
        op = ">=" if strictly_after else ">"
        return (f"({_month_sql(day)} + CASE WHEN {_part('DAY', day)} {op} "
                f"{self.spec.census_day} THEN 1 ELSE 0 END)")

    def list_size(self, measures: Sequence[Measure]) -> Step:
        """List sizes from each registration's run of census days, without a row per month.

        A registration is on the list on the census days from the first on or after its
        start to the last before the first census day after its end, on or after the next
        registration's start, or after the patient's death. Month numbers (``12 * year +
        month - 1``) turn these into an interval ``[lo, hi)`` per registration, and age
        bounds into more: a person is at least ``A`` on the census days from month number
        ``kb + 12 A``, where ``kb`` is the first census on or after their birth. Each
        interval adds +1 at ``lo`` and -1 at ``hi``; a running sum over months gives the
        list size, so the work grows with registrations, not registrations times months.
        """
        big = 10**8  # a month number beyond any date: an open end
        k0 = month_number(self.spec.months[0])
        ctes = [f"cal AS ({self.calendar()})"]
        death_join, dod_hi = "", ""
        if "deaths" in self.spec.tables:
            d = self.spec.tables["deaths"]
            dod = as_date("s." + ident(d.col(d.date)))
            ctes.append(f"dth AS (SELECT s.{ident(d.col('patient_id'))} AS patient_id, "
                        f"MIN({dod}) AS date_of_death FROM {source_view('deaths')} AS s "
                        f"GROUP BY s.{ident(d.col('patient_id'))})")
            death_join = " LEFT JOIN dth ON r.patient_id = dth.patient_id"
            after_death = self.census_index("dth.date_of_death", strictly_after=True)
            dod_hi = f", COALESCE({after_death}, {big})"
        ends = (f"LEAST(COALESCE({self.census_index('r.end_date', strictly_after=True)}, "
                f"{big}), COALESCE({self.census_index('r.next_start')}, {big}){dod_hi})")
        flags = "".join(f", r.{self.flag_alias(f)}" for f in self.flags)
        ctes.append(f"x AS (SELECT r.practice, {self.census_index('r.start_date')} AS lo, "
                    f"{ends} AS hi, {self.census_index('r.date_of_birth')} AS kb{flags} "
                    f"FROM {REG_VIEW} AS r{death_join})")

        def at_age(years: int) -> str:
            return f"x.kb + {12 * years}"

        columns: dict[str, str] = {}
        parts: list[tuple[str, str, str]] = []  # (lower, upper, condition) per column
        bands = list(self.spec.age_bands)
        for m in measures:
            cohort = self.spec.cohort_of(m)
            lower, upper, conds = ["x.lo"], ["x.hi"], []
            if cohort is not None:
                if cohort.min_age is not None:
                    lower.append(at_age(cohort.min_age))
                if cohort.max_age is not None:
                    upper.append(at_age(cohort.max_age + 1))
                if cohort.needs_age:
                    conds.append("x.kb IS NOT NULL")
                for column, values in cohort.patients.items():
                    kind = _kind(self.kinds, "patients", self.col("patients", column))
                    conds.append(_match("x." + self.flag_alias(column), values, kind))
            targets = [(m.name, [], [], [])]
            if m.by_age_band:
                labels = m.columns(self.spec.age_bands)[1:]
                for i, label in enumerate(labels[:-1]):
                    up = [at_age(bands[i + 1])] if i + 1 < len(bands) else []
                    targets.append((label, [at_age(bands[i])], up, ["x.kb IS NOT NULL"]))
                targets.append((labels[-1], [], [f"CASE WHEN x.kb IS NULL THEN {big} ELSE "
                                                 f"{at_age(bands[0])} END"], []))
            for out, lo_extra, hi_extra, cond_extra in targets:
                columns[f"c{len(columns)}"] = out
                lo, hi = lower + lo_extra, upper + hi_extra
                lo_sql = lo[0] if len(lo) == 1 else f"GREATEST({', '.join(lo)})"
                hi_sql = hi[0] if len(hi) == 1 else f"LEAST({', '.join(hi)})"
                parts.append((lo_sql, hi_sql, _and(conds + cond_extra + [f"{lo_sql} < {hi_sql}"
                                                                         ])))
        pairs = ", ".join(f"({j}, {sgn})" for j in range(len(parts)) for sgn in (1, -1))
        k_case = " ".join(f"WHEN {j} THEN (CASE WHEN t.sgn = 1 THEN {lo} ELSE {hi} END)"
                          for j, (lo, hi, _) in enumerate(parts))
        ok_case = " ".join(f"WHEN {j} THEN ({ok})" for j, (_, _, ok) in enumerate(parts))
        ctes.append(f"e AS (SELECT x.practice, t.j, t.sgn, CASE t.j {k_case} END AS k, "
                    f"CASE t.j {ok_case} END AS ok FROM x CROSS JOIN (VALUES {pairs}) AS "
                    "t(j, sgn))")
        ctes.append(f"g AS (SELECT practice, j, GREATEST(k, {k0}) AS k, SUM(sgn) AS d FROM e "
                    f"WHERE ok GROUP BY practice, j, GREATEST(k, {k0}))")
        select = ["g.practice AS practice", "cal.k AS period_month"]
        select += [f"CAST(SUM(CASE WHEN g.j = {j} THEN g.d ELSE 0 END) AS BIGINT) AS c{j}"
                   for j in range(len(parts))]
        sql = (f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM g JOIN cal ON g.k <= "
               "cal.k GROUP BY g.practice, cal.k")
        return Step("list sizes", "list_size", sql, tuple(m.name for m in measures),
                    MappingProxyType(columns))

    # -- patient-level tables ------------------------------------------------------------
    def events(self, m: Measure) -> Step:
        src = self.spec.tables[m.table]
        date = as_date("s." + ident(src.col(src.date)))
        kinds = self.kinds.get(m.table, {})
        practice_as = "registered_practice" if "practice" in kinds else "practice"
        parts = [f"{date} >= {date_literal(self.start)}",
                 f"{date} < {date_literal(self.end_excl)}"]
        parts += [_match("s." + ident(src.col(c)), v, _kind(self.kinds, m.table, src.col(c)))
                  for c, v in m.where.items()]
        cohort = self.spec.cohort_of(m)
        if cohort is not None:
            cond = self.cohort_cond(cohort, date, prefix="w.")
            parts.append(f"r.practice IS NULL OR ({cond})")
        order = [f"s.{ident(src.col('patient_id'))}", date]
        if src.id and src.id in kinds and src.id != src.col("patient_id"):
            order.append(f"s.{ident(src.id)}")
        patients = (f" LEFT JOIN {PATIENT_VIEW} AS w ON s.{ident(src.col('patient_id'))} = "
                    "w.patient_id" if cohort is not None else "")
        sql = (f"SELECT s.*, r.practice AS {ident(practice_as)} FROM {source_view(m.table)} "
               f"AS s LEFT JOIN {REG_VIEW} AS r ON s.{ident(src.col('patient_id'))} = "
               f"r.patient_id AND {in_force_sql('r', date)}{patients} WHERE {_and(parts)} "
               f"ORDER BY {', '.join(order)}")
        return Step(m.name, "events", sql, (m.name,),
                    MappingProxyType({practice_as: practice_as}), m.table)

    def patient_cost(self, m: Measure) -> Step:
        items = [self.spec.measure(name) for name in m.unit_costs]
        tables: list[str] = []
        for item in items:
            if item.table not in tables:
                tables.append(item.table)
        floats = {item.name for item in items if self.is_float(item)}
        ctes, branches = [], []
        for i, table in enumerate(tables):
            mine = [item for item in items if item.table == table]
            text, where_alias, value_alias = self.event_ctes(table, mine, prefix=f"t{i}_")
            ctes.append(text)
            year = self._year_sql("event_date", m.year)
            cols = ["patient_id", "code", f"{year} AS cost_year"]
            for k, item in enumerate(items):
                zero = "CAST(0 AS DOUBLE)" if item.name in floats else "CAST(0 AS BIGINT)"
                if item.table != table:
                    cols.append(f"{zero} AS a{k}")
                    continue
                cond = self.measure_cond(table, item, where_alias)
                amount = (f"COALESCE({value_alias[item.name]}, 0)" if item.kind == "sum"
                          else "1")
                cast = "DOUBLE" if item.name in floats else "BIGINT"
                cols.append(f"CAST(SUM(CASE WHEN {cond} THEN {amount} ELSE 0 END) AS {cast}) "
                            f"AS a{k}")
            branches.append(f"SELECT {', '.join(cols)} FROM t{i}_att WHERE code IS NOT "
                            f"NULL GROUP BY patient_id, code, {year}")
        sums = ", ".join(f"CAST(SUM(a{k}) AS {'DOUBLE' if item.name in floats else 'BIGINT'})"
                         f" AS a{k}" for k, item in enumerate(items))
        cost = " + ".join(f"CAST(g.a{k} AS DOUBLE) * {literal(float(m.unit_costs[item.name]))}"
                          for k, item in enumerate(items))
        nonzero = " OR ".join(f"g.a{k} <> 0" for k in range(len(items)))
        acts = ", ".join(f"g.a{k}" for k in range(len(items)))
        sql = (f"WITH {', '.join(ctes)}, u AS ({' UNION ALL '.join(branches)}), "
               f"g AS (SELECT patient_id, code, cost_year, {sums} FROM u "
               "GROUP BY patient_id, code, cost_year) "
               f"SELECT g.patient_id, p.practice AS practice, g.cost_year, {acts}, {cost} AS "
               f"cost FROM g LEFT JOIN {PRACTICE_VIEW} AS p ON g.code = p.code "
               f"WHERE {nonzero} ORDER BY g.patient_id, g.cost_year, p.practice")
        columns = {"patient_id": "patient_id", "practice": "practice", "cost_year": "year"}
        columns.update({f"a{k}": item.name for k, item in enumerate(items)})
        columns["cost"] = "cost"
        return Step(m.name, "patient_cost", sql, (m.name,), MappingProxyType(columns))

    @staticmethod
    def _year_sql(day: str, year: str) -> str:
        y = _part("YEAR", day)
        if year == "calendar":
            return y
        return f"(CASE WHEN {_part('MONTH', day)} >= 4 THEN {y} ELSE {y} - 1 END)"

    def examples(self, table: str, limit: int, before: pd.Timestamp | None) -> str:
        """The first events (by patient and date) in no registration, on days before
        ``before`` (the end of the earliest months that hold enough of them): the rows of
        :meth:`attributed` with no practice, the same rule the panel counts them by."""
        ev, _, _ = self.event_cte(table, [], before=before)
        return (f"WITH ev AS ({ev}), att AS ({self.attributed('ev', [])}) SELECT patient_id, "
                "event_date FROM att WHERE code IS NULL ORDER BY patient_id ASC NULLS LAST, "
                f"event_date ASC NULLS LAST LIMIT {int(limit)}")


def compile_plan(spec: RecordsSpec, kinds: Mapping[str, Mapping[str, str]] | None = None,
                 *, slots: int = 1) -> Plan:
    """The queries that compute every measure of ``spec``.

    Parameters
    ----------
    spec
        The definitions.
    kinds
        Column kinds by table and source column (``"string"``, ``"integer"``, ``"float"``,
        ``"boolean"``, ``"date"``, ``"timestamp"``), as an engine reports them; used to type
        the literals that filters compare with (text for CSV columns).
    slots
        The largest number of registrations one patient has (:func:`slots_sql` counts
        them once the registrations are kept). Up to :data:`SLOT_LIMIT` they sit side by
        side in one row per patient; the registrations of patients with more are joined
        by range conditions. A larger value gives the same panel, more slowly; a smaller
        one would leave the events of patients with more registrations unattributed.

    Returns
    -------
    Plan
        The registrations, practices, calendar and patients first, then per event table
        its panel (all of its count and sum measures in one pass), the list sizes, and one
        step per patient-level table.

    Examples
    --------
    >>> from evalkit.records.measures import records_spec
    >>> spec = records_spec({"tables": {"registrations": "r.parquet",
    ...                                 "admissions": {"path": "a.parquet",
    ...                                                "date": "admission_date"}},
    ...                      "period": ["2019-04", "2019-06"],
    ...                      "measures": {"admissions": {"kind": "count",
    ...                                                  "table": "admissions"}}})
    >>> [s.kind for s in compile_plan(spec).steps]
    ['keep', 'keep', 'keep', 'keep', 'practices', 'panel']
    """
    c = _Compiler.for_slots(spec, kinds, slots)
    overflow = c.overflow
    steps = [c.registrations(), c.practice_codes(), c.calendar_days(), c.patient_index()]
    if overflow:
        steps.append(c.many())
    steps.append(c.practices())
    by_table: dict[str, list[Measure]] = {}
    for m in spec.panel_measures:
        if m.kind in ("count", "sum"):
            by_table.setdefault(m.table, []).append(m)
    for table in spec.event_tables:  # tables only table measures use: counts for the report
        by_table.setdefault(table, [])
    for table, measures in by_table.items():
        steps.append(c.panel(table, measures))
    sizes = [m for m in spec.panel_measures if m.kind == "list_size"]
    if sizes:
        steps.append(c.list_size(sizes))
    for m in spec.table_measures:
        steps.append(c.events(m) if m.kind == "events" else c.patient_cost(m))
    return Plan(tuple(steps))


def unattributed_examples_sql(spec: RecordsSpec, table: str, *, limit: int = 5,
                              kinds: Mapping[str, Mapping[str, str]] | None = None,
                              before: pd.Timestamp | None = None, slots: int) -> str:
    """A query for the first events of ``table`` (by patient and date) in no registration.

    ``before`` restricts the scan to events before that day (the end of the earliest
    months holding at least ``limit`` such events, which the panel counts), so the query
    reads little. ``slots`` must be the plan's (:func:`compile_plan`), whose tables it
    reads.
    """
    return _Compiler.for_slots(spec, kinds, slots).examples(table, limit, before)
