"""Bad-input checks on patient-level records, run by the engine before any measure.

Every check is a portable SQL query (so it runs out of core on DuckDB and on a Spark
cluster alike) and reports a count and a few examples; the one exception is the count of
copies of whole-number identifiers, which DuckDB does with a bitmap
(:meth:`_Checker.extra_ids`) and other engines with ``COUNT(DISTINCT ...)``:

- columns the spec names but the file lacks (with the nearest name);
- dates that are missing or malformed: text must be ``YYYY-MM-DD`` and a real date;
- registrations that end before they start, or without a practice; registrations that
  overlap a later one (a warning: the later one takes over from its start);
- duplicated event identifiers (and patients or deaths listed twice);
- practice codes that are not in the practice list (or, for an event table's own practice
  column, not in the registrations either);
- stays that end before they start (``days_between``);
- registered patients missing from the patients table when ages are needed (a warning).

Events in no registration are not an error: :func:`~evalkit.records.aggregate` counts
them and reports them in :class:`RecordsReport`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from evalkit.data.contract import Problem, ProblemList, nearest
from evalkit.errors import DataError
from evalkit.records.engines import Engine
from evalkit.records.measures import RecordsSpec
from evalkit.records.sql import as_date, ident, source_view

__all__ = ["RecordsError", "RecordsReport", "check_records", "examples_text", "BITMAP_BITS"]

#: The widest range of whole-number identifiers whose copies are counted with a bitmap
#: (2**30 bits, 128 MiB); wider ranges are counted with ``COUNT(DISTINCT ...)``.
BITMAP_BITS = 2**30


@dataclass
class RecordsError(DataError):
    """The records failed their checks; ``problems`` lists every one found."""

    problems: tuple[Problem, ...] = ()


def examples_text(values: Iterable, total: int | None = None, limit: int = 3,
                  quote: bool = True) -> str:
    """``"'A', 'B', 'C' and 9 more"`` (text quoted unless ``quote=False``)."""
    values = list(values)
    shown = ", ".join(repr(v) if isinstance(v, str) and quote else str(v)
                      for v in values[:limit])
    total = len(values) if total is None else int(total)
    more = total - min(limit, len(values))
    return shown + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class RecordsReport(ProblemList):
    """What the checks and the aggregation found.

    Attributes
    ----------
    problems
        Errors and warnings from the checks, and the data contract's findings on the panel.
    unattributed
        Events in the period that fall in no registration: one row per table (``measure``
        blank; ``value`` is the number of events, with ``examples`` of patients and dates)
        and per measure (``value`` is what the measure's filter selects among them, in the
        measure's units: events for counts, e.g. bed days for sums).
    events
        Events read in the period, per table.
    """

    problems: tuple[Problem, ...] = ()
    unattributed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["table", "measure", "value", "examples"]))
    events: tuple[tuple[str, int], ...] = ()

    def lines(self) -> list[str]:
        """One line per problem and per table with events outside any registration."""
        out = [str(p) for p in self.problems]
        totals = dict(self.events)
        for row in self.unattributed.itertuples(index=False):
            if isinstance(row.measure, str) and row.measure:
                continue
            n_all = totals.get(row.table, 0)
            share = f" ({row.value / n_all:.2%} of {n_all:,})" if n_all else ""
            out.append(f"NOTE: {row.table}: {row.value:,} event(s) in no registration"
                       f"{share}, not counted in the panel; e.g. {row.examples}")
        return out

    def summary(self) -> str:
        """Plain text: events read, events outside registrations, problems."""
        head = ", ".join(f"{t}: {n:,}" for t, n in self.events) or "no events"
        lines = [f"Events read in the period: {head}"]
        lines += [f"  - {x}" for x in self.lines()]
        if len(lines) == 1:
            lines.append("  no problems found")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """Problems as a tidy table (a copy)."""
        return pd.DataFrame([{"code": p.code, "severity": p.severity, "file": p.file,
                              "column": p.column, "message": p.message, "fix": p.fix}
                             for p in self.problems],
                            columns=["code", "severity", "file", "column", "message", "fix"])


class _Checker:
    def __init__(self, spec: RecordsSpec, engine: Engine):
        self.spec = spec
        self.engine = engine
        self.problems: list[Problem] = []
        self.kinds = {t: engine.columns(t) for t in spec.tables}

    def add(self, code: str, table: str, message: str, *, column: str | None = None,
            fix: str | None = None, severity: str = "error") -> None:
        self.problems.append(Problem(code, message, severity, self.spec.tables[table].label,
                                     column, (), fix))

    def one(self, sql: str) -> pd.Series:
        return self.engine.query(sql).iloc[0]

    def values(self, sql: str) -> list:
        frame = self.engine.query(sql)
        return [v.strftime("%Y-%m-%d") if hasattr(v, "strftime") else v
                for v in frame.iloc[:, 0].tolist()]

    # -- what each table must have -----------------------------------------------------
    def needed(self) -> dict[str, list[tuple[str, str]]]:
        """(evalkit name, role) of every column each table must have."""
        spec = self.spec
        need: dict[str, list[tuple[str, str]]] = {}
        fixed = {"registrations": ["patient_id", "practice", "start_date", "end_date"],
                 "patients": ["patient_id", "date_of_birth", *spec.patient_columns()],
                 "practices": ["practice"]}
        for table, src in spec.tables.items():
            cols = [(c, "column") for c in fixed.get(table, [])]
            if table not in fixed:
                cols += [("patient_id", "patient id column"), (src.date, "date column")]
                if src.practice:
                    cols.append((src.practice, "practice column"))
            for m in spec.measures:
                if m.table != table:
                    continue
                cols += [(c, "filter column") for c in m.where]
                if m.value:
                    cols.append((m.value, "value column"))
                cols += [(c, "date column") for c in (m.days_between or ())]
            seen: list[tuple[str, str]] = []
            for c in cols:
                if c[0] not in [s[0] for s in seen]:
                    seen.append(c)
            need[table] = seen
        return need

    def columns(self) -> None:
        for table, cols in self.needed().items():
            src = self.spec.tables[table]
            present = self.kinds[table]
            for name, role in cols:
                column = src.col(name)
                if column in present:
                    continue
                guess = nearest(column, present)
                fix = (f"did you mean '{guess}'? Rename the column, or map it under "
                       f"tables: {table}: columns: {{{name}: {guess}}}" if guess
                       else f"add the {role}, or name the right one in the spec")
                self.add("missing_column", table, f"the {role} '{column}' is missing",
                         column=column, fix=fix)
            if table not in ("registrations", "patients", "practices"):
                ident_col = src.id
                if ident_col and ident_col not in present:
                    self.add("no_event_id", table, f"no event identifier column "
                             f"'{ident_col}', so duplicated events cannot be found",
                             column=ident_col, severity="warning",
                             fix="set 'id:' to the column that identifies each event")

    # -- dates ---------------------------------------------------------------------------
    def date_columns(self) -> dict[str, list[tuple[str, bool]]]:
        """(file column, required) of each date column, per table."""
        spec = self.spec
        out: dict[str, list[tuple[str, bool]]] = {}
        for table, src in spec.tables.items():
            cols: list[tuple[str, bool]] = []
            if table == "registrations":
                cols = [(src.col("start_date"), True), (src.col("end_date"), False)]
            elif table == "patients":
                cols = [(src.col("date_of_birth"), False)]
            elif table != "practices":
                cols = [(src.col(src.date), True)]
                for m in spec.measures:
                    if m.table == table and m.days_between:
                        cols += [(src.col(c), False) for c in m.days_between]
            unique: list[tuple[str, bool]] = []
            for c, req in cols:
                if c not in [u[0] for u in unique]:
                    unique.append((c, req))
            out[table] = unique
        return out

    def dates(self) -> None:
        for table, cols in self.date_columns().items():
            kinds = self.kinds[table]
            parts, checks = [], []
            for i, (column, required) in enumerate(cols):
                kind = kinds.get(column)
                q = "s." + ident(column)
                if kind not in ("date", "timestamp", "string"):
                    self.add("not_dates", table, f"'{column}' holds {kind} values, not dates",
                             column=column, fix="store dates as YYYY-MM-DD text or as a "
                             "date type")
                    continue
                bad = "FALSE"
                if kind == "string":
                    text = f"CAST({q} AS STRING)"
                    bad = (f"{q} IS NOT NULL AND ({text} NOT LIKE '____-__-__' OR "
                           f"TRY_CAST({text} AS DATE) IS NULL)")
                parts.append(f"CAST(SUM(CASE WHEN {bad} THEN 1 ELSE 0 END) AS BIGINT) AS b{i}")
                parts.append(f"CAST(SUM(CASE WHEN {q} IS NULL THEN 1 ELSE 0 END) AS BIGINT) "
                             f"AS n{i}")
                checks.append((i, column, required, bad))
            if not parts:
                continue
            row = self.one(f"SELECT {', '.join(parts)} FROM {source_view(table)} AS s")
            for i, column, required, bad in checks:
                n_bad, n_null = int(row[f"b{i}"] or 0), int(row[f"n{i}"] or 0)
                if n_bad:
                    q = "s." + ident(column)
                    shown = self.values(f"SELECT DISTINCT CAST({q} AS STRING) AS v FROM "
                                        f"{source_view(table)} AS s WHERE {bad} ORDER BY v "
                                        "LIMIT 3")
                    self.add("bad_date", table, f"{n_bad:,} date(s) cannot be read, e.g. "
                             f"{examples_text(shown)}", column=column,
                             fix="write dates as YYYY-MM-DD (e.g. 2019-04-01), and check "
                             "that each is a real date")
                if n_null and required:
                    self.add("missing_date", table, f"{n_null:,} row(s) have no date",
                             column=column, fix="give every row a date, or drop those rows")

    # -- the rest ------------------------------------------------------------------------
    def duplicates(self) -> None:
        for table, src in self.spec.tables.items():
            if table in ("registrations", "practices"):
                continue
            column = src.col("patient_id") if table in ("patients", "deaths") else src.id
            if not column or column not in self.kinds[table]:
                continue
            q = "s." + ident(column)
            # The grouping (for the counts and examples) runs only when there are copies.
            if not self.extra_ids(table, column):
                continue
            dup = (f"SELECT {q} AS v, COUNT(*) AS n FROM {source_view(table)} AS s WHERE {q} "
                   f"IS NOT NULL GROUP BY {q} HAVING COUNT(*) > 1")
            row = self.one(f"SELECT CAST(COUNT(*) AS BIGINT) AS ids, CAST(SUM(n) AS BIGINT) "
                           f"AS rows_ FROM ({dup}) AS d")
            ids = int(row["ids"] or 0)
            if not ids:
                continue
            shown = self.values(f"SELECT v FROM ({dup}) AS d ORDER BY v LIMIT 3")
            what = {"patients": "patient", "deaths": "death of a patient"}.get(table, "event")
            self.add("duplicate_id", table, f"{ids:,} {what} identifier(s) appear more than "
                     f"once ({int(row['rows_']):,} rows), e.g. {examples_text(shown, ids)}",
                     column=column, fix="keep one row per identifier (de-duplicate the "
                     "extract), or name the right identifier column with 'id:'")

    def extra_ids(self, table: str, column: str) -> int:
        """How many non-NULL values of ``column`` repeat an earlier one (0: all distinct).

        Whole-number identifiers on DuckDB are counted with a bitmap of the range from
        their least to their largest value (``bitstring_agg``, one bit per possible value,
        when the range is at most :data:`BITMAP_BITS` and at most ``8 n + 2**20`` for
        ``n`` identifiers): setting bits costs far less than hashing every identifier,
        which ``COUNT(DISTINCT ...)``, the portable form used otherwise, does.
        """
        q = "s." + ident(column)
        view = source_view(table)
        if (getattr(self.engine, "name", "") == "duckdb"
                and self.kinds[table].get(column) == "integer"):
            row = self.one(f"SELECT COUNT({q}) AS n, MIN({q}) AS lo, MAX({q}) AS hi "
                           f"FROM {view} AS s")
            n = int(row["n"] or 0)
            if not n:
                return 0
            lo, hi = int(row["lo"]), int(row["hi"])
            if hi - lo + 1 <= min(BITMAP_BITS, 8 * n + 2**20):
                distinct = self.one(f"SELECT CAST(bit_count(bitstring_agg({q}, {lo}, {hi})) "
                                    f"AS BIGINT) AS d FROM {view} AS s")["d"]
                return n - int(distinct)
        extra = self.one(f"SELECT CAST(COUNT({q}) - COUNT(DISTINCT {q}) AS BIGINT) AS n "
                         f"FROM {view} AS s")["n"]
        return int(extra or 0)

    def registrations(self) -> None:
        src = self.spec.tables["registrations"]
        pid, prac = ident(src.col("patient_id")), ident(src.col("practice"))
        start = as_date("s." + ident(src.col("start_date")))
        end = as_date("s." + ident(src.col("end_date")))
        view = source_view("registrations")
        row = self.one(f"SELECT CAST(SUM(CASE WHEN {end} < {start} THEN 1 ELSE 0 END) AS "
                       f"BIGINT) AS backwards, CAST(SUM(CASE WHEN s.{prac} IS NULL THEN 1 "
                       f"ELSE 0 END) AS BIGINT) AS no_practice, CAST(SUM(CASE WHEN s.{pid} "
                       f"IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS no_patient FROM {view} AS s")
        if int(row["backwards"] or 0):
            shown = self.values(f"SELECT CAST(s.{pid} AS STRING) AS v FROM {view} AS s WHERE "
                                f"{end} < {start} ORDER BY v LIMIT 3")
            self.add("registration_backwards", "registrations",
                     f"{int(row['backwards']):,} registration(s) end before they start, e.g. "
                     f"patient(s) {examples_text(shown)}", column=src.col("end_date"),
                     fix="correct the start and end dates (swap them if reversed)")
        for key, column, what in (("no_practice", src.col("practice"), "practice"),
                                  ("no_patient", src.col("patient_id"), "patient")):
            if int(row[key] or 0):
                self.add(f"registration_{key}", "registrations",
                         f"{int(row[key]):,} registration(s) have no {what}", column=column,
                         fix=f"give every registration a {what}, or drop those rows")
        overlap = (f"WITH r AS (SELECT s.{pid} AS patient_id, s.{prac} AS practice, {start} AS "
                   f"start_date, {end} AS end_date FROM {view} AS s), n AS (SELECT r.*, "
                   "LEAD(r.start_date) OVER (PARTITION BY r.patient_id ORDER BY r.start_date "
                   "ASC NULLS LAST, r.practice ASC NULLS LAST, r.end_date ASC NULLS LAST) AS "
                   "next_start FROM r) SELECT CAST(COUNT(*) AS BIGINT) AS n FROM n WHERE "
                   "next_start IS NOT NULL AND (end_date IS NULL OR next_start < end_date)")
        n = int(self.one(overlap)["n"] or 0)
        if n:
            self.add("registrations_overlap", "registrations",
                     f"{n:,} registration(s) overlap a later registration of the same "
                     "patient by more than a day; events from the later one's start date are "
                     "attributed to it", column=src.col("end_date"), severity="warning",
                     fix="check the extract if practices' lists should not overlap")

    def practices(self) -> None:
        spec = self.spec
        reg = spec.tables["registrations"]
        known = None
        if "practices" in spec.tables:
            p = spec.tables["practices"]
            known = (f"SELECT DISTINCT s.{ident(p.col('practice'))} AS code FROM "
                     f"{source_view('practices')} AS s")
            self._unknown_codes("registrations", reg.col("practice"), known,
                                "the practice list")
        for table, src in spec.tables.items():
            if not src.practice or src.col(src.practice) not in self.kinds[table]:
                continue
            codes = known or (f"SELECT DISTINCT s.{ident(reg.col('practice'))} AS code FROM "
                              f"{source_view('registrations')} AS s")
            self._unknown_codes(table, src.col(src.practice), codes,
                                "the practice list" if known else "the registrations")

    def _unknown_codes(self, table: str, column: str, known: str, where: str) -> None:
        q = "s." + ident(column)
        base = (f"FROM {source_view(table)} AS s LEFT JOIN ({known}) AS k ON {q} = k.code "
                f"WHERE {q} IS NOT NULL AND k.code IS NULL")
        row = self.one(f"SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COUNT(DISTINCT {q}) AS "
                       f"BIGINT) AS codes {base}")
        n, codes = int(row["n"] or 0), int(row["codes"] or 0)
        if n:
            shown = self.values(f"SELECT DISTINCT {q} AS v {base} ORDER BY v LIMIT 3")
            self.add("unknown_practice", table, f"{codes:,} practice code(s) on {n:,} row(s) "
                     f"are not in {where}, e.g. {examples_text(shown, codes)}", column=column,
                     fix=f"correct the codes, or add the practices to {where}")

    def stays(self) -> None:
        for m in self.spec.measures:
            if not m.days_between:
                continue
            src = self.spec.tables[m.table]
            a, b = (as_date("s." + ident(src.col(c))) for c in m.days_between)
            view = source_view(m.table)
            n = int(self.one(f"SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {view} AS s WHERE "
                             f"{b} < {a}")["n"] or 0)
            if n:
                shown = self.values(f"SELECT CAST(s.{ident(src.col('patient_id'))} AS STRING) "
                                    f"AS v FROM {view} AS s WHERE {b} < {a} ORDER BY v LIMIT 3")
                self.add("negative_days", m.table, f"{n:,} row(s) have "
                         f"{m.days_between[1]} before {m.days_between[0]} (measure "
                         f"'{m.name}'), e.g. patient(s) {examples_text(shown)}",
                         column=src.col(m.days_between[1]),
                         fix="correct the dates; a stay cannot end before it starts")

    def missing_patients(self) -> None:
        spec = self.spec
        if "patients" not in spec.tables:
            return
        reg, pat = spec.tables["registrations"], spec.tables["patients"]
        rp, pp = ident(reg.col("patient_id")), ident(pat.col("patient_id"))
        n = int(self.one(f"SELECT CAST(COUNT(DISTINCT r.{rp}) AS BIGINT) AS n FROM "
                         f"{source_view('registrations')} AS r LEFT JOIN "
                         f"{source_view('patients')} AS p ON r.{rp} = p.{pp} WHERE p.{pp} IS "
                         "NULL")["n"] or 0)
        if n:
            self.add("patients_missing", "patients", f"{n:,} registered patient(s) are not in "
                     "the patients table: their age is unknown (counted under age_unknown, "
                     "outside cohorts)", column=pat.col("patient_id"), severity="warning",
                     fix="add them to the patients table")


def check_records(spec: RecordsSpec, engine: Engine) -> list[Problem]:
    """Check registered input tables against what ``spec`` needs.

    Parameters
    ----------
    spec
        The definitions.
    engine
        An engine with every table of ``spec`` registered.

    Returns
    -------
    list of Problem
        Errors (the aggregation cannot run) and warnings, each with a count, examples and
        a fix. Later checks are skipped while earlier ones (columns, then dates) fail,
        since they would read columns that are missing or unreadable.
    """
    c = _Checker(spec, engine)
    c.columns()
    if any(p.severity == "error" for p in c.problems):
        return c.problems
    c.dates()
    if any(p.severity == "error" for p in c.problems):
        return c.problems
    c.duplicates()
    c.registrations()
    c.practices()
    c.stays()
    c.missing_patients()
    return c.problems


def raise_for_problems(problems: Sequence[Problem]) -> None:
    """Raise :class:`RecordsError` with the first error, carrying all problems."""
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return
    first = errors[0]
    more = len(errors) - 1
    message = first.message + (f" (and {more} more problem{'s' if more > 1 else ''})"
                               if more else "")
    raise RecordsError(message, file=first.file, column=first.column, rows=first.rows,
                       fix=first.fix, problems=tuple(problems))
