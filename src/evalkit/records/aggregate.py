"""From patient-level records to a practice-month panel: the public entry point.

:func:`aggregate` reads a records spec (YAML, a dict or a
:class:`~evalkit.records.measures.RecordsSpec`), registers the input files with an engine
(DuckDB by default, or Spark), checks them (:mod:`evalkit.records.checks`), runs the
portable SQL (:mod:`evalkit.records.sql`) and returns a :class:`RecordsResult` whose
``panel`` meets evalkit's data contract. With ``out=`` it writes the panel (Parquet or
CSV), one file per patient-level table and a JSON report, each to a temporary file first
and then moved into place, so a run that fails leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from evalkit.data.contract import Problem, check_panel
from evalkit.errors import DesignError, EvalkitError
from evalkit.files.output_folder import check_replace, record_files
from evalkit.records.checks import (
    RecordsError,
    RecordsReport,
    check_records,
    examples_text,
    raise_for_problems,
)
from evalkit.records.engines import Engine, make_engine
from evalkit.records.measures import RecordsSpec, load_records_spec, records_spec
from evalkit.records.sql import (
    Plan,
    Step,
    compile_plan,
    month_number,
    slots_sql,
    unattributed_examples_sql,
)

__all__ = ["RecordsResult", "aggregate", "aggregate_command", "write_outputs", "as_spec",
           "finish_panel", "normalise_dates"]

OUT_FORMATS = (".parquet", ".csv")


@dataclass(frozen=True)
class RecordsResult:
    """A panel built from patient-level records, with its patient-level tables and report.

    Attributes
    ----------
    panel
        One row per practice and month (every practice of the registrations and practice
        list, every month of the period): ``practice``, ``month`` (``YYYY-MM``) and one
        column per measure (and age band). Counts are whole numbers.
    tables
        Patient-level tables by measure name (``events`` and ``patient_cost`` measures).
    report
        What the checks found and the events that fell in no registration.
    engine
        The engine that ran the queries.
    plan
        The queries, as run.
    seconds
        Wall-clock time from registering the inputs to the finished panel.
    """

    panel: pd.DataFrame
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    report: RecordsReport = field(default_factory=RecordsReport)
    engine: str = "duckdb"
    plan: Plan | None = None
    seconds: float = float("nan")

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))

    def to_frame(self) -> pd.DataFrame:
        """The panel (a copy)."""
        return self.panel.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The panel and the unattributed-events table (copies)."""
        return {"panel": self.panel.copy(), "unattributed": self.report.unattributed.copy()}

    def summary(self) -> str:
        """Plain text: the panel's shape, totals per measure, and the report."""
        p = self.panel
        n_pr = p["practice"].nunique() if len(p) else 0
        n_mo = p["month"].nunique() if len(p) else 0
        lines = [f"Panel from patient-level records ({self.engine}): {len(p):,} rows, "
                 f"{n_pr} practices x {n_mo} months"]
        for col in p.columns[2:]:
            v = p[col]
            if pd.api.types.is_integer_dtype(v):
                lines.append(f"  {col}: total {int(v.sum()):,}")
            else:
                lines.append(f"  {col}: mean {float(v.mean()):.4g}")
        for name, t in self.tables.items():
            lines.append(f"  table {name}: {len(t):,} rows")
        lines.append(self.report.summary())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<RecordsResult {self.engine}: panel {self.panel.shape}, {len(self.tables)} " \
               "table(s)>"


def normalise_dates(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Date columns as ``datetime64[us]`` (engines hand dates to pandas differently)."""
    for col in columns:
        if col in frame:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    return frame


def as_spec(spec: str | Path | Mapping[str, Any] | RecordsSpec) -> RecordsSpec:
    """A :class:`RecordsSpec` from a YAML path, a mapping or a spec."""
    if isinstance(spec, RecordsSpec):
        return spec
    if isinstance(spec, (str, Path)):
        return load_records_spec(spec)
    return records_spec(spec)


def _collect(frame: pd.DataFrame, step: Step, grid: pd.MultiIndex,
             months: Mapping[int, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A step's counts on the full grid, and, for a panel step, its events in no
    registration by month (each measure with a cohort by its ``where`` filter alone)."""
    bare = {alias: f"{m}\0" for alias, m in step.unrestricted.items()}  # without cohort
    frame = frame.rename(columns={**dict(step.columns), **bare})
    frame["month"] = frame.pop("period_month").map(months)
    none = frame["practice"].isna()
    lost = pd.DataFrame()
    if step.kind == "panel":
        wide = {m: (f"{m}\0" if m in set(step.unrestricted.values()) else m)
                for m in step.measures}
        cols = ["n_events"] + list(dict.fromkeys(wide.values()))
        lost = frame[none].groupby("month")[cols].sum()
        lost = lost.rename(columns={v: k for k, v in wide.items()})
    frame = frame[~none].drop(columns=[c for c in frame if c.endswith("\0")])
    kept = frame.set_index(["practice", "month"]).reindex(grid, fill_value=0).fillna(0)
    whole = [c for c in kept.columns if c not in step.floats]
    kept[whole] = kept[whole].astype("int64")
    return kept, lost


def _enough(lost: pd.Series, limit: int = 5) -> pd.Timestamp | None:
    """The end of the earliest months that hold ``limit`` events in no registration
    (``None``: all of them are needed)."""
    counts = lost[lost > 0].sort_index()
    reached = counts.cumsum() >= limit
    if not reached.any():
        return None
    return (pd.Period(counts.index[int(np.argmax(reached.to_numpy()))], "M") + 1).start_time


def finish_panel(counts: pd.DataFrame, spec: RecordsSpec) -> pd.DataFrame:
    """Shares and column order on a grid of counts (shared by the engines and the reference).

    ``counts`` is indexed by practice and month and holds every count, sum and list-size
    column; shares are added as ``numerator / denominator`` (blank where it is 0).
    """
    out = counts.copy()
    for m in spec.panel_measures:
        if m.kind == "share":
            num = out[m.numerator].to_numpy(dtype=float)
            den = out[m.denominator].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[m.name] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    out = out.reset_index()
    return out[list(spec.panel_columns)]


def _grid(practices: list, spec: RecordsSpec) -> pd.MultiIndex:
    months = [str(m) for m in spec.months]
    codes = sorted({p for p in practices if p is not None and not pd.isna(p)}, key=str)
    return pd.MultiIndex.from_product([codes, months], names=["practice", "month"])


def _contract(panel: pd.DataFrame, spec: RecordsSpec, file: str | None) -> list[Problem]:
    """The data contract's findings on the panel, as warnings."""
    counts = {c: "poisson" for m in spec.panel_measures if m.kind != "share"
              for c in m.columns(spec.age_bands)}
    if not counts or panel.empty:
        return []
    sizes = [m.name for m in spec.panel_measures if m.kind == "list_size"
             and m.cohort is None]
    denominator = {m.name: sizes[0] for m in spec.panel_measures
                   if sizes and m.kind in ("count", "sum") and m.cohort is None}
    report = check_panel(panel, unit="practice", time="month", outcomes=counts,
                         denominator=denominator or None, file=file)
    return [Problem(p.code, f"the panel: {p.message}", "warning", p.file, p.column, p.rows,
                    p.fix) for p in report.problems]


def _run(spec: RecordsSpec, engine: Engine, progress: bool, check: bool,
         file: str | None) -> tuple[pd.DataFrame, dict, RecordsReport, Plan]:
    for name, src in spec.tables.items():
        engine.register(name, src)
    kinds = {t: engine.columns(t) for t in spec.tables}
    problems = check_records(spec, engine) if check else []
    raise_for_problems(problems)
    # The registrations first: how many one patient has decides the shape of the plan.
    first = compile_plan(spec, kinds).steps[0]
    engine.keep(first.target, first.sql)
    slots = int(engine.query(slots_sql())["n"].iloc[0])
    plan = compile_plan(spec, kinds, slots=slots)
    total = len(spec.measures)
    bar = tqdm(total=total, desc=f"aggregate ({engine.name})", unit="measure",
               disable=not progress, file=sys.stderr)
    grid = None
    months = {month_number(m): str(m) for m in spec.months}
    blocks: list[pd.DataFrame] = []
    lost_rows: list[dict] = []
    events_read: dict[str, int] = {}
    tables: dict[str, pd.DataFrame] = {}
    try:
        for step in plan.steps:
            bar.set_postfix_str(step.name)
            if step.kind == "keep":
                if step.target != first.target:
                    engine.keep(step.target, step.sql)
                continue
            if step.kind == "practices":
                grid = _grid(engine.query(step.sql)["practice"].tolist(), spec)
                continue
            frame = engine.query(step.sql)
            if step.kind in ("panel", "list_size"):
                kept, lost = _collect(frame, step, grid, months)
                if step.kind == "panel":
                    events_read[step.table] = int(frame["n_events"].sum())
                    kept = kept.drop(columns="n_events")
                    n_lost = int(lost["n_events"].sum())
                    if n_lost:
                        shown = engine.query(unattributed_examples_sql(
                            spec, step.table, kinds=kinds, before=_enough(lost["n_events"]),
                            slots=slots))
                        ex = [f"{pid} on {pd.Timestamp(d):%Y-%m-%d}" for pid, d in
                              zip(shown["patient_id"], shown["event_date"], strict=True)]
                        lost_rows.append({"table": step.table, "measure": "", "value": n_lost,
                                          "examples": examples_text(ex, n_lost,
                                                                            quote=False)})
                        for m in step.measures:
                            lost_rows.append({"table": step.table, "measure": m,
                                              "value": lost[m].sum().item(), "examples": ""})
                blocks.append(kept)
            elif step.kind == "events":
                practice_as = next(iter(step.columns))
                missing = frame[practice_as].isna()
                if missing.any():
                    lost_rows.append({"table": step.table, "measure": step.name,
                                      "value": int(missing.sum()), "examples": ""})
                dated = [c for c, k in kinds[step.table].items() if k == "date"]
                tables[step.name] = normalise_dates(frame[~missing].reset_index(drop=True),
                                                    dated)
            else:
                frame = frame.rename(columns=dict(step.columns))
                frame["year"] = frame["year"].astype("int64")
                tables[step.name] = frame.reset_index(drop=True)
            bar.update(len(step.measures))
        bar.update(total - bar.n)
    finally:
        bar.close()
    counts = pd.concat(blocks, axis=1) if blocks else pd.DataFrame(index=grid)
    panel = finish_panel(counts, spec)
    unattributed = pd.DataFrame(lost_rows, columns=["table", "measure", "value", "examples"])
    problems = list(problems) + _contract(panel, spec, file)
    report = RecordsReport(tuple(problems), unattributed, tuple(events_read.items()))
    return panel, tables, report, plan


def aggregate(spec: str | Path | Mapping[str, Any] | RecordsSpec, *,
              engine: str | Engine = "duckdb", out: str | Path | None = None,
              memory_limit: str | int = "4GB", temp_directory: str | Path | None = None,
              threads: int | None = None, spark: Any = None, progress: bool = False,
              check: bool = True, force: bool = False) -> RecordsResult:
    """Aggregate patient-level records into a practice-month panel.

    Parameters
    ----------
    spec
        The records spec: a YAML file, a mapping, or a
        :class:`~evalkit.records.measures.RecordsSpec`.
    engine
        ``"duckdb"`` (default: embedded, bounded memory, spills to disk), ``"spark"``, or
        an engine object (e.g. a :class:`~evalkit.records.engines.SparkEngine` on a
        cluster session).
    out
        Write the panel here (``.parquet`` or ``.csv``; defaults to the spec's ``out``),
        with ``<stem>_<table>`` files for patient-level tables and ``<stem>_report.json``.
    memory_limit
        DuckDB's memory limit (Spark: driver memory of a new local session).
    temp_directory
        Where DuckDB spills (a new temporary folder by default).
    threads
        DuckDB threads (all cores by default).
    spark
        A ``SparkSession`` to run on (``engine="spark"``).
    progress
        Show a progress bar over the measures.
    check
        Run the bad-input checks first (recommended).
    force
        Overwrite files at ``out`` that evalkit did not write (by default such a file
        stops the run before any work; see :func:`evalkit.files.output_folder.check_replace`).

    Returns
    -------
    RecordsResult
        ``panel`` (practice, month, measures), ``tables`` and ``report``.

    Raises
    ------
    SpecError
        If the spec is malformed.
    RecordsError
        (a :class:`~evalkit.errors.DataError`) if the records fail their checks; its
        ``problems`` lists them all.

    Examples
    --------
    >>> from evalkit.records import generate_records
    >>> gen = generate_records("records-demo", patients=2_000, seed=1)  # doctest: +SKIP
    >>> res = aggregate(gen.spec)  # doctest: +SKIP
    >>> res.panel.columns[:4].tolist()  # doctest: +SKIP
    ['practice', 'month', 'list_size', 'emergency_admissions']
    """
    spec = as_spec(spec)
    target = Path(out) if out is not None else spec.out
    if target is not None and target.suffix.lower() not in OUT_FORMATS:
        raise DesignError(f"cannot write a panel to '{target.name}'",
                          fix="give a .parquet or .csv file for out")
    if target is not None:  # refused before the work, not after it
        check_replace(target.parent, [target.name, f"{target.stem}_report.json"],
                      force=force)
    eng, owned = make_engine(engine, memory_limit=memory_limit, temp_directory=temp_directory,
                             threads=threads, spark=spark)
    t0 = time.perf_counter()
    try:
        panel, tables, report, plan = _run(spec, eng, progress, check,
                                           str(target) if target else None)
    finally:
        if owned:
            eng.close()
    result = RecordsResult(panel, tables, report, eng.name, plan, time.perf_counter() - t0)
    if target is not None:
        write_outputs(result, target, force=force)
    return result


def _write(frame: pd.DataFrame, path: Path, suffix: str) -> None:
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


def write_outputs(result: RecordsResult, out: str | Path, *, force: bool = False
                  ) -> list[Path]:
    """Write the panel, its tables and the report beside each other, all or nothing.

    Each file is written to a temporary name in the same folder; only when all are
    written are they moved into place with :func:`os.replace`. A file of those names that
    evalkit did not write (the folder's manifest, :mod:`evalkit.files.output_folder`) is not
    replaced unless ``force``; the files written are listed in the manifest.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in OUT_FORMATS:
        raise DesignError(f"cannot write a panel to '{out.name}'",
                          fix="give a .parquet or .csv file for out")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"engine": result.engine, "seconds": result.seconds,
              "events": dict(result.report.events),
              "problems": result.report.to_frame().to_dict(orient="records"),
              "unattributed": result.report.unattributed.to_dict(orient="records"),
              "tables": {k: len(v) for k, v in result.tables.items()}}
    targets: list[tuple[Path, Any]] = [(out, result.panel)]
    targets += [(out.with_name(f"{out.stem}_{name}{suffix}"), frame)
                for name, frame in result.tables.items()]
    targets.append((out.with_name(f"{out.stem}_report.json"), report))
    check_replace(out.parent, [t.name for t, _ in targets], force=force)
    token = uuid.uuid4().hex[:8]
    written: list[tuple[Path, Path]] = []
    try:
        for target, content in targets:
            tmp = target.with_name(f".{target.name}.{token}.tmp")
            written.append((tmp, target))
            if isinstance(content, pd.DataFrame):
                _write(content, tmp, suffix)
            else:
                tmp.write_text(json.dumps(content, indent=2, default=str), encoding="utf-8")
        for tmp, target in written:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        raise
    record_files(out.parent, [t.name for _, t in written])
    return [t for _, t in written]


def aggregate_command(spec_path: str | Path, out: str | Path | None = None,
                      engine: str = "duckdb", memory_limit: str = "4GB",
                      progress: bool = True, force: bool = False) -> int:
    """``evalkit aggregate SPEC``: print one line per problem; return the exit code.

    Returns 0 when the panel was written (warnings may have been printed) and 2 when a
    user-fixable problem (:class:`~evalkit.errors.EvalkitError`) stopped the run, in which
    case nothing is written. The panel goes to ``out``, else the spec's ``out``, else
    ``output/<spec name>.parquet``.
    """
    try:
        spec = as_spec(spec_path)
        target = Path(out) if out is not None else (
            spec.out or Path("output") / f"{Path(spec_path).stem}.parquet")
        result = aggregate(spec, engine=engine, out=target, memory_limit=memory_limit,
                           progress=progress, force=force)
    except RecordsError as err:
        for p in err.problems:
            print(f"evalkit: {p}", file=sys.stderr)
        return 2
    except EvalkitError as err:
        print(f"evalkit: error: {err.one_line()}", file=sys.stderr)
        return 2
    for line in result.report.lines():
        print(line)
    p = result.panel
    print(f"Wrote {target}: {len(p):,} rows ({p['practice'].nunique()} practices x "
          f"{p['month'].nunique()} months) in {result.seconds:.1f}s with {result.engine}")
    return 0
