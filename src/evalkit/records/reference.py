"""A plain pandas reading of the same measure definitions, for tests and benchmarks.

:func:`reference_aggregate` interprets a :class:`~evalkit.records.measures.RecordsSpec`
directly with pandas merges and group-bys, sharing no code with the SQL compiler, so that
agreement between it, DuckDB and Spark is evidence that the SQL does what the definitions
say. It holds every table in memory: use it on data that fits, and :func:`aggregate` for
the rest. It runs no input checks.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evalkit.records.aggregate import finish_panel
from evalkit.records.checks import RecordsReport
from evalkit.records.measures import Cohort, Measure, RecordsSpec, Source

if TYPE_CHECKING:
    from evalkit.records.aggregate import RecordsResult

__all__ = ["reference_aggregate", "read_source"]


def read_source(src: Source) -> pd.DataFrame:
    """A table as pandas reads it (CSV columns as text, like the SQL engines)."""
    if src.frame is not None:
        return src.frame.copy()
    path = Path(src.path)
    if "*" in str(path):
        files = sorted(path.parent.glob(path.name))
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".pq",
                                                                           ".csv"))
    else:
        files = [path]
    if src.format == "csv":
        parts = [pd.read_csv(f, dtype=str) for f in files]
    else:
        parts = [pd.read_parquet(f) for f in files]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _dates(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.dt.normalize().astype("datetime64[s]")
    if pd.api.types.is_object_dtype(values) and values.dropna().map(
            lambda v: hasattr(v, "year")).all():
        return pd.to_datetime(values).astype("datetime64[s]")
    return pd.to_datetime(values, format="%Y-%m-%d").astype("datetime64[s]")


def _matches(values: pd.Series, wanted: tuple) -> np.ndarray:
    """Rows whose value is one of ``wanted`` (text columns compare as text)."""
    if pd.api.types.is_bool_dtype(values):
        truth = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
        targets = [truth[str(w).lower()] for w in wanted]
    elif pd.api.types.is_numeric_dtype(values):
        targets = [float(w) for w in wanted]
    else:
        targets = [str(w).lower() if isinstance(w, bool) else str(w) for w in wanted]
    return values.isin(targets).to_numpy(dtype=bool)


def _age(at: pd.Series, dob: pd.Series) -> np.ndarray:
    """Completed years (NaN where the date of birth is unknown)."""
    years = at.dt.year.to_numpy(dtype=float) - dob.dt.year.to_numpy(dtype=float)
    before = (at.dt.month * 100 + at.dt.day).to_numpy(dtype=float) < \
        (dob.dt.month * 100 + dob.dt.day).to_numpy(dtype=float)
    return years - before


class _Reference:
    def __init__(self, spec: RecordsSpec):
        self.spec = spec
        self.raw = {name: read_source(src) for name, src in spec.tables.items()}
        self.start = spec.months[0].start_time
        self.end_excl = (spec.months[-1] + 1).start_time
        self.reg = self._registrations()

    def col(self, table: str, name: str) -> str:
        return self.spec.tables[table].col(name)

    def _registrations(self) -> pd.DataFrame:
        r = self.raw["registrations"]
        reg = pd.DataFrame({
            "patient_id": r[self.col("registrations", "patient_id")].to_numpy(),
            "practice": r[self.col("registrations", "practice")].to_numpy(),
            "start_date": _dates(r[self.col("registrations", "start_date")]).to_numpy(),
            "end_date": _dates(r[self.col("registrations", "end_date")]).to_numpy()})
        # The later registration takes over: the next start (ordered by start, practice,
        # end, blanks last) cuts the earlier one short.
        reg = reg.sort_values(["patient_id", "start_date", "practice", "end_date"],
                              na_position="last", kind="mergesort").reset_index(drop=True)
        reg["next_start"] = reg.groupby("patient_id", sort=False)["start_date"].shift(-1)
        if "patients" in self.raw:
            p = self.raw["patients"]
            pat = pd.DataFrame({"patient_id": p[self.col("patients", "patient_id")].to_numpy(),
                                "date_of_birth": _dates(
                                    p[self.col("patients", "date_of_birth")]).to_numpy()})
            for f in self.spec.patient_columns():
                pat[f"flag:{f}"] = p[self.col("patients", f)].to_numpy()
            reg = reg.merge(pat, on="patient_id", how="left")
        else:
            reg["date_of_birth"] = pd.Series(pd.NaT, index=reg.index, dtype="datetime64[s]")
        return reg

    def _in_force(self, frame: pd.DataFrame, day: pd.Series) -> np.ndarray:
        return ((frame["start_date"] <= day) & (frame["end_date"].isna()
                | (day <= frame["end_date"])) & (frame["next_start"].isna()
                | (day < frame["next_start"]))).to_numpy(dtype=bool)

    def events(self, table: str) -> pd.DataFrame:
        """The table's events in the period with practice, date of birth and flags."""
        src = self.spec.tables[table]
        raw = self.raw[table]
        dates = _dates(raw[src.col(src.date)])
        keep = ((dates >= self.start) & (dates < self.end_excl)).to_numpy(dtype=bool)
        ev = raw.loc[keep].copy()
        ev["__patient"] = ev[src.col("patient_id")].to_numpy()
        ev["__date"] = dates[keep].to_numpy()
        ev["__row"] = np.arange(len(ev))
        pairs = ev[["__row", "__patient", "__date"]].merge(
            self.reg, left_on="__patient", right_on="patient_id", how="inner")
        pairs = pairs[self._in_force(pairs, pairs["__date"])]
        extra = ["practice", "date_of_birth"] + [c for c in self.reg if c.startswith("flag:")]
        found = pairs.set_index("__row")[extra]
        ev = ev.join(found, on="__row")
        ev["__age"] = _age(ev["__date"], ev["date_of_birth"])
        month = ev["__date"].dt.year * 12 + ev["__date"].dt.month - 1
        ev["__month"] = month.astype("int64")
        return ev

    def cohort_mask(self, frame: pd.DataFrame, cohort: Cohort | None) -> np.ndarray:
        mask = np.ones(len(frame), dtype=bool)
        if cohort is None:
            return mask
        age = frame["__age"].to_numpy(dtype=float)
        if cohort.min_age is not None:
            mask &= age >= cohort.min_age
        if cohort.max_age is not None:
            mask &= age <= cohort.max_age
        for column, values in cohort.patients.items():
            mask &= _matches(frame[f"flag:{column}"], values)
        return mask

    def measure_rows(self, ev: pd.DataFrame, m: Measure) -> tuple[np.ndarray, np.ndarray]:
        """Which rows count for ``m`` and how much each adds."""
        src = self.spec.tables[m.table]
        mask = np.ones(len(ev), dtype=bool)
        for column, values in m.where.items():
            mask &= _matches(ev[src.col(column)], values)
        unattributed = ev["practice"].isna().to_numpy()
        mask &= unattributed | self.cohort_mask(ev, self.spec.cohort_of(m))
        if m.kind == "sum":
            if m.days_between:
                a, b = (_dates(ev[src.col(c)]) for c in m.days_between)
                amount = (b - a).dt.days.to_numpy(dtype=float)
            else:
                amount = pd.to_numeric(ev[src.col(m.value)]).to_numpy(dtype=float)
            amount = np.nan_to_num(amount, nan=0.0)
        else:
            amount = np.ones(len(ev))
        return mask, amount

    def band_masks(self, age: np.ndarray) -> list[np.ndarray]:
        bands = list(self.spec.age_bands)
        with np.errstate(invalid="ignore"):
            masks = [(age >= lo) & (age < hi) for lo, hi in zip(bands[:-1], bands[1:], strict=True)]
            masks.append(age >= bands[-1])
            masks.append(np.isnan(age) | (age < bands[0]))
        return masks

    def list_sizes(self, measures: list[Measure]) -> pd.DataFrame:
        reg = self.reg
        dod = None
        if "deaths" in self.raw:
            d = self.raw["deaths"]
            deaths = pd.DataFrame({"patient_id": d[self.col("deaths", "patient_id")],
                                   "dod": _dates(d[self.col("deaths", self.spec.tables[
                                       "deaths"].date)])}).groupby("patient_id")["dod"].min()
            dod = reg["patient_id"].map(deaths)
        rows = []
        for month in self.spec.months:  # one vectorised pass per month
            census = month.start_time + pd.Timedelta(days=self.spec.census_day - 1)
            on = np.array(self._in_force(reg, pd.Series(census, index=reg.index)))
            if dod is not None:
                on &= (dod.isna() | (dod >= census)).to_numpy(dtype=bool)
            sub = reg.loc[on].copy()
            sub["__age"] = _age(pd.Series(census, index=sub.index).astype("datetime64[s]"),
                                sub["date_of_birth"])
            out = pd.DataFrame({"practice": sub["practice"].to_numpy()})
            for m in measures:
                mask = self.cohort_mask(sub, self.spec.cohort_of(m))
                out[m.name] = mask.astype("int64")
                if m.by_age_band:
                    for label, band in zip(m.columns(self.spec.age_bands)[1:],
                                           self.band_masks(sub["__age"].to_numpy(dtype=float)),
                                           strict=True):
                        out[label] = (mask & band).astype("int64")
            counts = out.groupby("practice").sum()
            counts["month"] = str(month)
            rows.append(counts.reset_index())
        return pd.concat(rows, ignore_index=True).set_index(["practice", "month"])

    def grid(self) -> pd.MultiIndex:
        codes = set(self.reg["practice"].dropna())
        if "practices" in self.raw:
            codes |= set(self.raw["practices"][self.col("practices", "practice")].dropna())
        months = [str(m) for m in self.spec.months]
        return pd.MultiIndex.from_product([sorted(codes, key=str), months],
                                          names=["practice", "month"])


def _label(month_index: pd.Series) -> pd.Series:
    year, month = np.divmod(month_index.to_numpy(), 12)
    return pd.Series([f"{y:04d}-{m + 1:02d}" for y, m in zip(year, month, strict=True)],
                     index=month_index.index)


def reference_aggregate(spec: RecordsSpec) -> RecordsResult:
    """The panel and patient-level tables of ``spec``, computed with pandas.

    Parameters
    ----------
    spec
        The definitions (e.g. from :func:`~evalkit.records.measures.load_records_spec`).

    Returns
    -------
    RecordsResult
        With ``engine="pandas"``; the report counts events in no registration (no
        examples, no checks).

    Examples
    --------
    >>> res = reference_aggregate(spec)  # doctest: +SKIP
    """
    from evalkit.records.aggregate import RecordsResult, as_spec

    spec = as_spec(spec)
    ref = _Reference(spec)
    grid = ref.grid()
    columns: dict[str, pd.Series] = {}
    lost_rows: list[dict] = []
    events_read: list[tuple[str, int]] = []
    cache: dict[str, pd.DataFrame] = {}

    def table_events(table: str) -> pd.DataFrame:
        if table not in cache:
            cache[table] = ref.events(table)
        return cache[table]

    for table in spec.event_tables:
        ev = table_events(table)
        events_read.append((table, len(ev)))
        lost = int(ev["practice"].isna().sum())
        if lost:
            lost_rows.append({"table": table, "measure": "", "value": lost, "examples": ""})
    for m in spec.panel_measures:
        if m.kind not in ("count", "sum"):
            continue
        ev = table_events(m.table)
        mask, amount = ref.measure_rows(ev, m)
        attributed = ev["practice"].notna().to_numpy()
        targets = [(m.name, np.ones(len(ev), dtype=bool))]
        if m.by_age_band:
            targets += list(zip(m.columns(spec.age_bands)[1:],
                                ref.band_masks(ev["__age"].to_numpy(dtype=float)),
                                strict=True))
        for name, band in targets:
            use = mask & band & attributed
            frame = pd.DataFrame({"practice": ev["practice"].to_numpy()[use],
                                  "month": ev["__month"].to_numpy()[use],
                                  "amount": amount[use]})
            sums = frame.groupby(["practice", "month"])["amount"].sum()
            idx = sums.index
            labelled = pd.Series(sums.to_numpy(), index=pd.MultiIndex.from_arrays(
                [idx.get_level_values(0), _label(pd.Series(idx.get_level_values(1)))],
                names=["practice", "month"]))
            column = labelled.reindex(grid, fill_value=0)
            decimal = m.kind == "sum" and m.value is not None and pd.api.types.is_float_dtype(
                ref.raw[m.table][spec.tables[m.table].col(m.value)])
            columns[name] = column.astype(float) if decimal else column.round().astype("int64")
        n_lost = amount[mask & ~attributed].sum()
        n_lost = float(n_lost) if isinstance(columns[m.name].iloc[0], float) else int(n_lost)
        if lost_rows and any(r["table"] == m.table and r["measure"] == "" for r in lost_rows):
            lost_rows.append({"table": m.table, "measure": m.name, "value": n_lost,
                              "examples": ""})
    sizes = [m for m in spec.panel_measures if m.kind == "list_size"]
    if sizes:
        counts = ref.list_sizes(sizes).reindex(grid, fill_value=0)
        for col in counts:
            columns[col] = counts[col].astype("int64")
    panel = finish_panel(pd.DataFrame(columns, index=grid), spec)

    tables: dict[str, pd.DataFrame] = {}
    for m in spec.table_measures:
        if m.kind == "events":
            tables[m.name] = _events_table(ref, spec, m, lost_rows)
        else:
            tables[m.name] = _patient_costs(ref, spec, m, table_events)
    report = RecordsReport((), pd.DataFrame(lost_rows, columns=["table", "measure", "value",
                                                                "examples"]),
                           tuple(events_read))
    return RecordsResult(panel, tables, report, "pandas")


def _events_table(ref: _Reference, spec: RecordsSpec, m: Measure, lost_rows: list
                  ) -> pd.DataFrame:
    src = spec.tables[m.table]
    ev = ref.events(m.table)
    raw_cols = list(ref.raw[m.table].columns)
    mask = np.ones(len(ev), dtype=bool)
    for column, values in m.where.items():
        mask &= _matches(ev[src.col(column)], values)
    attributed = ev["practice"].notna().to_numpy()
    lost = int((mask & ~attributed).sum())
    if lost:
        lost_rows.append({"table": m.table, "measure": m.name, "value": lost, "examples": ""})
    mask &= attributed & ref.cohort_mask(ev, spec.cohort_of(m))
    out = ev.loc[mask]
    practice_as = "registered_practice" if "practice" in raw_cols else "practice"
    table = out[raw_cols].copy()
    table[practice_as] = out["practice"].to_numpy()
    order = [src.col("patient_id")]
    table["__date"] = out["__date"].to_numpy()
    order.append("__date")
    if src.id and src.id in raw_cols and src.id != src.col("patient_id"):
        order.append(src.id)
    table = table.sort_values(order, kind="mergesort").drop(columns="__date")
    from evalkit.records.aggregate import normalise_dates

    dated = [c for c in raw_cols if pd.api.types.is_object_dtype(table[c]) and table[c].dropna()
             .map(lambda v: isinstance(v, date) and not isinstance(v, datetime)).all()
             and table[c].notna().any()]
    return normalise_dates(table.reset_index(drop=True), dated)


def _patient_costs(ref: _Reference, spec: RecordsSpec, m: Measure, table_events
                   ) -> pd.DataFrame:
    items = [spec.measure(name) for name in m.unit_costs]
    parts = []
    for item in items:
        ev = table_events(item.table)
        mask, amount = ref.measure_rows(ev, item)
        use = mask & ev["practice"].notna().to_numpy()
        dates = ev["__date"][use]
        year = dates.dt.year.to_numpy()
        if m.year == "financial":
            year = np.where(dates.dt.month.to_numpy() >= 4, year, year - 1)
        parts.append(pd.DataFrame({"patient_id": ev["__patient"].to_numpy()[use],
                                   "practice": ev["practice"].to_numpy()[use],
                                   "year": year.astype("int64"), "item": item.name,
                                   "amount": amount[use]}))
    long = pd.concat(parts, ignore_index=True)
    wide = long.pivot_table(index=["patient_id", "practice", "year"], columns="item",
                            values="amount", aggfunc="sum", fill_value=0)
    wide = wide.reindex(columns=[i.name for i in items], fill_value=0).reset_index()
    for item in items:
        wide[item.name] = wide[item.name].round().astype("int64")
    wide = wide[(wide[[i.name for i in items]] != 0).any(axis=1)]
    cost = None
    for item in items:  # left to right, as the SQL adds them
        term = wide[item.name].astype(float) * float(m.unit_costs[item.name])
        cost = term if cost is None else cost + term
    wide["cost"] = cost
    wide = wide.sort_values(["patient_id", "year", "practice"], kind="mergesort")
    wide.columns.name = None
    return wide.reset_index(drop=True)[["patient_id", "practice", "year",
                                        *[i.name for i in items], "cost"]]

