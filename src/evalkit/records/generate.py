"""Synthetic patient-level records with their panel-level truth.

:func:`generate_records` writes a consistent population as Parquet (or CSV) files:
registrations, patients, deaths, admissions, A&E attendances, GP consultations and
community contacts, and returns the panel that a correct aggregation must give, computed
while the events are generated (from the practice and age each event was generated with,
not by aggregating the files), together with a records spec of the standard measures.

The model (documented, simple, seeded)
--------------------------------------
Population
    Ages at the period's start are uniform on 0 to 99 years; 5% of people are instead born
    exactly 18, 65, 75 or 85 years before a day of the period (so they cross an age band
    during it) and 0.3% on 29 February. 25% of people aged 65 or more, and 2% of younger
    people, carry the flag ``frail``.
Registrations
    90% are registered before the period starts, 10% register during it (earlier events are
    in no registration). Practices are drawn with log-normal weights. 12% move practice
    once: 70% of moves end the old registration the day before the new one starts, 15% on
    the day the new one starts (a one-day overlap, which goes to the new practice) and 15%
    leave a gap of 1 to 60 days (events in it are in no registration). 3% leave without
    registering again. A death ends the registration in force.
Deaths
    Yearly hazard 0.2% under 65, 2% from 65 to 84 and 10% from 85; the date is uniform over
    the registered part of the period, with 20% moved to the census day and 10% to the day
    before (so list-size conventions are tested); place: home 30%, hospital 45%, care home
    20%, hospice 5%.
Events
    Poisson counts over each registration (and each unregistered stretch) at yearly rates
    per person: emergency admissions 0.10 (x4 from 65), elective admissions 0.05, A&E 0.30
    (x1.5 from 65), GP consultations 4.5, community contacts 0.5 (x5 from 65), each times a
    practice factor (log-normal, sd 0.25), and a third of that in unregistered stretches.
    ``events=`` scales every rate to reach that many event rows. Length of stay: 0 days
    for 30% of admissions, else geometric with mean 5.
    Events run from 20 days before the period to 20 days after it (events outside it test
    the period filter). 3% of events are moved to the first day of their month and 3% to
    the last, 2% to the patient's birthday in that year and 1% to the day before, whenever
    the new date stays inside the same registration (or unregistered stretch).
Following a case study (``like=``)
    Given a synthetic case study's practice-month panel, the practices are the panel's
    (drawn in proportion to their mean list sizes), the period is the panel's, and
    emergency admissions and A&E attendances follow its rates: in each practice and month
    the rate per person is the panel's count over its list size, spread evenly over the
    month's days (the window's extra days take the nearest month's rate), so a practice's
    events rise and fall as the case study's do. The 65-and-over multiplier is kept and
    divided by its average over the registered person-time, so that the population's rate
    is the panel's. Where the panel has bed days, the mean length of stay
    is the panel's bed days per emergency admission. The other tables keep the model's
    rates (and ``events=`` scales only those).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import yaml

from evalkit.errors import DesignError
from evalkit.files.output_folder import replace_folder
from evalkit.records.measures import (
    DEFAULT_AGE_BANDS,
    RecordsSpec,
    band_labels,
    parse_month,
    records_spec,
)

__all__ = ["GeneratedRecords", "generate_records", "standard_measures", "RATES",
           "UNIT_COSTS", "FOLLOWED"]

#: Yearly event rates per person (under 65) and the multiplier from age 65.
RATES = {"emergency": (0.10, 4.0), "elective": (0.05, 1.0), "ae": (0.30, 1.5),
         "consultations": (4.5, 1.0), "community": (0.5, 5.0)}
#: Illustrative unit costs (GBP), as in evalkit's unit-cost table.
UNIT_COSTS = {"emergency_admissions": 3000.0, "bed_days": 350.0, "ae_attendances": 250.0,
              "gp_consultations": 45.0, "community_contacts": 50.0}
PLACES = np.array(["home", "hospital", "care_home", "hospice"])
_EPOCH = np.datetime64("1970-01-01", "D")


def standard_measures() -> dict[str, dict]:
    """The measures of a generated records spec (a ``measures:`` block)."""
    return {
        "list_size": {"kind": "list_size"},
        "list_size_65plus": {"kind": "list_size", "cohort": "older"},
        "emergency_admissions": {"kind": "count", "table": "admissions",
                                 "where": {"admission_method": "emergency"}},
        "emergency_admissions_65plus": {"kind": "count", "table": "admissions",
                                        "where": {"admission_method": "emergency"},
                                        "cohort": "older"},
        "emergency_admissions_frail": {"kind": "count", "table": "admissions",
                                       "where": {"admission_method": "emergency"},
                                       "cohort": "frail"},
        "bed_days": {"kind": "sum", "table": "admissions",
                     "where": {"admission_method": "emergency"},
                     "days_between": ["admission_date", "discharge_date"]},
        "ae_attendances": {"kind": "count", "table": "ae_attendances", "by_age_band": True},
        "gp_consultations": {"kind": "count", "table": "consultations"},
        "community_contacts": {"kind": "count", "table": "community_contacts"},
        "deaths": {"kind": "count", "table": "deaths"},
        "deaths_at_home": {"kind": "count", "table": "deaths",
                           "where": {"place_of_death": "home"}},
        "deaths_at_home_share": {"kind": "share", "numerator": "deaths_at_home",
                                 "denominator": "deaths"},
        "consultations": {"kind": "events", "table": "consultations"},
        "patient_costs": {"kind": "patient_cost", "unit_costs": dict(UNIT_COSTS)},
    }


@dataclass(frozen=True)
class GeneratedRecords:
    """What :func:`generate_records` wrote, and what aggregating it must give.

    Attributes
    ----------
    folder
        Where the files are (with ``records.yaml``, the spec).
    spec
        The records spec of the files and the standard measures.
    truth
        The panel-level truth: one row per practice and month with every panel measure
        of :func:`standard_measures` (shares included), from the generated events.
    unattributed
        Events in the period in no registration, per table (and per measure).
    rows
        Rows written per table.
    """

    folder: Path
    spec: RecordsSpec
    truth: pd.DataFrame
    unattributed: Mapping[str, int] = field(default_factory=dict)
    rows: Mapping[str, int] = field(default_factory=dict)

    @property
    def events(self) -> int:
        """Event rows written (admissions, A&E, consultations, community contacts)."""
        return sum(v for k, v in self.rows.items()
                   if k in ("admissions", "ae_attendances", "consultations",
                            "community_contacts"))


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _age(at: np.ndarray, dob: np.ndarray) -> np.ndarray:
    """Completed years at day numbers ``at`` for births on day numbers ``dob``."""
    y, m, d = _ymd(at)
    by, bm, bd = _ymd(dob)
    return y - by - ((m * 100 + d) < (bm * 100 + bd))


def _birthday(dob: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Day number of the birthday in ``years`` (29 February -> 1 March if none)."""
    _, bm, bd = _ymd(dob)
    first = ((years - 1970) * 12 + bm - 1).astype("datetime64[M]").astype("datetime64[D]")
    return first.astype(np.int64) + bd - 1


def _anniversary(dob: np.ndarray, age: int) -> np.ndarray:
    by, _, _ = _ymd(dob)
    return _birthday(dob, by + age)


class _Truth:
    """Counts by practice and month, accumulated chunk by chunk."""

    def __init__(self, n_practices: int, months: list[pd.Period], census_day: int):
        self.n_pr = n_practices
        self.months = months
        self.first = np.datetime64(months[0].start_time.date(), "D").astype(np.int64)
        self.first_month = np.datetime64(str(months[0]), "M").astype(np.int64)
        self.end_excl = np.datetime64((months[-1] + 1).start_time.date(), "D").astype(np.int64)
        self.census = np.array([np.datetime64(m.start_time.date(), "D").astype(np.int64)
                                + census_day - 1 for m in months])
        self.cols: dict[str, np.ndarray] = {}
        self.unattributed: dict[str, int] = {}

    def add(self, name: str, practice: np.ndarray, day: np.ndarray,
            weight: np.ndarray | None = None) -> None:
        """Add events dated on day numbers ``day`` to the practices ``practice``.

        Practice -1 marks events in no registration (counted as unattributed) and -2
        registered events outside the measure's cohort (not counted).
        """
        inside = (day >= self.first) & (day < self.end_excl)
        lost = inside & (practice == -1)
        amount = np.ones(day.shape) if weight is None else weight
        self.unattributed[name] = self.unattributed.get(name, 0) + int(amount[lost].sum())
        use = inside & (practice >= 0)
        mi = day[use].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) \
            - self.first_month
        key = practice[use] * len(self.months) + mi
        counts = np.bincount(key, weights=amount[use], minlength=self.n_pr * len(self.months))
        grid = np.rint(counts).astype(np.int64).reshape(self.n_pr, len(self.months))
        self.cols[name] = self.cols.get(name, 0) + grid

    def add_spells(self, name: str, practice: np.ndarray, lo: np.ndarray,
                   hi: np.ndarray) -> None:
        """Count census days in ``[lo, hi]`` (day numbers, inclusive) per practice."""
        first = np.searchsorted(self.census, lo, side="left")
        last = np.searchsorted(self.census, hi, side="right")
        keep = last > first
        n_m = len(self.months)
        diff = np.zeros(self.n_pr * (n_m + 1), dtype=np.int64)
        np.add.at(diff, practice[keep] * (n_m + 1) + first[keep], 1)
        np.add.at(diff, practice[keep] * (n_m + 1) + last[keep], -1)
        grid = np.cumsum(diff.reshape(self.n_pr, n_m + 1), axis=1)[:, :n_m]
        self.cols[name] = self.cols.get(name, 0) + grid


class _Writer:
    """Appends chunks to one Parquet or CSV file per table."""

    def __init__(self, folder: Path, file_format: str):
        self.folder = folder
        self.format = file_format
        self.writers: dict[str, Any] = {}
        self.rows: dict[str, int] = {}

    def path(self, table: str) -> Path:
        return self.folder / f"{table}.{self.format}"

    def write(self, table: str, columns: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = {}
        for name, values in columns.items():
            if name.endswith("_date") or name in ("date_of_birth", "date_of_death"):
                mask = values == np.iinfo(np.int64).min
                arrays[name] = pa.array(values.astype(np.int32), type=pa.date32(),
                                        mask=mask if mask.any() else None)
            else:
                arrays[name] = pa.array(values)
        batch = pa.table(arrays)
        self.rows[table] = self.rows.get(table, 0) + batch.num_rows
        if self.format == "parquet":
            if table not in self.writers:
                self.writers[table] = pq.ParquetWriter(self.path(table), batch.schema)
            self.writers[table].write_table(batch)
        else:
            import pyarrow.csv as pcsv

            first = table not in self.writers
            self.writers[table] = True
            with open(self.path(table), "ab") as fh:
                pcsv.write_csv(batch, fh, pcsv.WriteOptions(include_header=first))

    def close(self) -> None:
        if self.format == "parquet":
            for w in self.writers.values():
                w.close()


_NONE = np.iinfo(np.int64).min  # a missing date


#: Case-study panel columns the generator can follow, and its event types.
FOLLOWED = {"emergency_admissions": "emergency", "ae_attendances": "ae"}
class _Curves:
    """Cumulative daily rates per person, by practice, for the rates a case study sets.

    ``cum[p, j]`` is the expected number of events per person from the window's first day
    to day ``j`` at practice ``p`` (row ``n_practices``: a third of the practices' mean,
    for unregistered stretches). Counts over an interval are differences of ``cum``;
    days are placed by inverting it (one search over all practices at once).
    """

    def __init__(self, daily: np.ndarray):
        unregistered = daily.mean(axis=0, keepdims=True) / 3
        rates = np.vstack([daily, unregistered])
        self.cum = np.cumsum(rates, axis=1)
        self.cum0 = np.hstack([np.zeros((len(rates), 1)), self.cum])  # cum before day j
        self.width = rates.shape[1]
        self.big = float(self.cum[:, -1].max()) + 1.0
        self.flat = (self.cum + self.big * np.arange(len(rates))[:, None]).ravel()

    def mass(self, row: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Expected events per person in days ``lo..hi`` (window offsets, inclusive)."""
        return self.cum0[row, hi + 1] - self.cum0[row, lo]

    def place(self, rng: np.random.Generator, row: np.ndarray, lo: np.ndarray,
              hi: np.ndarray) -> np.ndarray:
        """A day in ``lo..hi`` for each event, with probability in proportion to the rate."""
        a, b = self.cum0[row, lo], self.cum0[row, hi + 1]
        u = a + rng.random(len(row)) * (b - a)
        j = np.searchsorted(self.flat, u + self.big * row, side="right") - row * self.width
        return np.clip(j, lo, hi)


def _follow(panel: pd.DataFrame, months: list[pd.Period], w0: int, w1: int,
            codes: np.ndarray) -> tuple[dict[str, _Curves], float | None]:
    """Daily rates per person from a case study's panel, and its mean length of stay."""
    days = np.arange(w0, w1 + 1).astype("datetime64[D]")
    first = np.datetime64(str(months[0]), "M").astype(np.int64)
    # the period's month of each day of the window (the nearest one outside the period)
    which = np.clip(days.astype("datetime64[M]").astype(np.int64) - first, 0, len(months) - 1)
    month_days = np.array([m.days_in_month for m in months], dtype=float)
    curves: dict[str, _Curves] = {}
    frame = panel.assign(month=panel["month"].astype(str)).set_index(["practice", "month"])
    index = pd.MultiIndex.from_product([codes, [str(m) for m in months]])
    size = frame["list_size"].reindex(index).to_numpy(dtype=float).reshape(len(codes), -1)
    for column, kind in FOLLOWED.items():
        if column not in frame:
            continue
        count = frame[column].reindex(index).to_numpy(dtype=float).reshape(len(codes), -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_day = np.where(size > 0, np.nan_to_num(count) / size, 0.0) / month_days
        curves[kind] = _Curves(per_day[:, which])
    stay = None
    if "bed_days" in frame and "emergency_admissions" in frame:
        total = float(np.nansum(frame["emergency_admissions"].to_numpy(dtype=float)))
        if total > 0:
            stay = float(np.nansum(frame["bed_days"].to_numpy(dtype=float))) / total
    return curves, stay


def _days(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A uniform day in ``[lo, hi]`` (inclusive)."""
    return lo + np.floor(rng.random(lo.shape) * (hi - lo + 1)).astype(np.int64)


def _chunk(rng: np.random.Generator, ids: np.ndarray, ctx: dict, truth: _Truth,
           out: _Writer, counters: dict[str, int]) -> None:
    n = len(ids)
    p0, p1 = ctx["p0"], ctx["p1"]  # first and last day of the period
    w0, w1 = p0 - 20, p1 + 20      # the window events are generated in
    n_pr = ctx["n_practices"]
    # -- people ---------------------------------------------------------------------------
    age0 = rng.integers(0, 100, n)
    dob = p0 - (age0 * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    edge = rng.random(n) < 0.05
    if edge.any():
        band_age = rng.choice(np.array([18, 65, 75, 85]), edge.sum())
        when = _days(rng, np.full(edge.sum(), p0), np.full(edge.sum(), p1))
        y, m, d = _ymd(when)
        y = y - band_age
        d = np.where((m == 2) & (d == 29), 28, d)
        dob[edge] = ((y - 1970) * 12 + m - 1).astype("datetime64[M]").astype(
            "datetime64[D]").astype(np.int64) + d - 1
    leap = rng.random(n) < 0.003
    if leap.any():
        years = rng.choice(np.arange(1924, 2017, 4), leap.sum())
        dob[leap] = ((years - 1970) * 12 + 1).astype("datetime64[M]").astype(
            "datetime64[D]").astype(np.int64) + 28
    age_start = _age(np.full(n, p0), dob)
    older = age_start >= 65
    frail = np.where(rng.random(n) < np.where(older, 0.25, 0.02), 1, 0).astype(np.int8)
    # -- registrations --------------------------------------------------------------------
    p_first = rng.choice(n_pr, n, p=ctx["weights"])
    late = rng.random(n) < 0.10
    s1 = np.where(late, _days(rng, np.full(n, p0), np.full(n, p1)),
                  p0 - rng.integers(1, 3650, n))
    s1 = np.maximum(s1, dob)  # nobody registers before birth
    # -- deaths ---------------------------------------------------------------------------
    hazard = np.select([age_start >= 85, age_start >= 65], [0.10, 0.02], 0.002)
    years = (p1 - p0 + 1) / 365.25
    dies = rng.random(n) < 1 - np.exp(-hazard * years)
    lo = np.maximum(s1, p0)
    dod = np.where(dies & (lo <= p1), _days(rng, lo, np.full(n, p1)), _NONE)
    has_dod = dod != _NONE
    shift = rng.random(n)
    y, m, _ = _ymd(np.where(has_dod, dod, p0))
    month_first = ((y - 1970) * 12 + m - 1).astype("datetime64[M]").astype(
        "datetime64[D]").astype(np.int64)
    census = month_first + ctx["census_day"] - 1
    moved = has_dod & (shift < 0.3)
    target = np.where(shift < 0.2, census, census - 1)
    ok = moved & (target >= lo) & (target <= p1)
    dod = np.where(ok, target, dod)
    last_alive = np.where(has_dod, dod, w1)  # events stop at death
    # -- moves and leavers ----------------------------------------------------------------
    what = rng.random(n)
    move_lo = lo + 1
    move_hi = np.minimum(last_alive, p1)
    can_move = move_lo <= move_hi
    moves = (what < 0.12) & can_move
    leaves = (what >= 0.12) & (what < 0.15) & can_move
    when = np.where(can_move, _days(rng, move_lo, np.maximum(move_lo, move_hi)), 0)
    kind = rng.random(n)
    touch = moves & (kind >= 0.70) & (kind < 0.85)
    gap = moves & (kind >= 0.85)
    gap_days = rng.integers(1, 61, n)
    s2 = np.where(gap, when + gap_days, when)
    second = moves & (~has_dod | (s2 <= dod))  # dying in a gap means no second registration
    e1 = np.where(moves, np.where(touch, when, when - 1),
                  np.where(leaves, when, np.where(has_dod, dod, _NONE)))
    e1_eff = np.where(touch, when - 1, e1)
    e2 = np.where(has_dod, dod, _NONE)
    p_second = (p_first + 1 + rng.integers(0, max(n_pr - 1, 1), n)) % n_pr
    # -- the tables: patients, registrations, deaths -----------------------------------------
    out.write("patients", {"patient_id": ids, "date_of_birth": dob, "frail": frail})
    reg_pid = np.concatenate([ids, ids[second]])
    out.write("registrations", {
        "patient_id": reg_pid,
        "practice": ctx["codes"][np.concatenate([p_first, p_second[second]])],
        "start_date": np.concatenate([s1, s2[second]]),
        "end_date": np.concatenate([e1, e2[second]])})
    # Effective spells (inclusive), for truth and events; open ends run to the window's end.
    sp_pat = np.concatenate([np.arange(n), np.flatnonzero(second)])
    sp_pr = np.concatenate([p_first, p_second[second]])
    sp_lo = np.concatenate([s1, s2[second]])
    sp_hi = np.concatenate([np.where(e1_eff == _NONE, np.iinfo(np.int64).max // 4, e1_eff),
                            np.where(e2[second] == _NONE, np.iinfo(np.int64).max // 4,
                                     e2[second])])
    truth.add_spells("list_size", sp_pr, sp_lo, sp_hi)
    b65 = _anniversary(dob, 65)[sp_pat]
    truth.add_spells("list_size_65plus", sp_pr, np.maximum(sp_lo, b65), sp_hi)
    # Unregistered stretches: before a late registration, in a gap, after leaving.
    un_pat = np.concatenate([np.flatnonzero(s1 > w0), np.flatnonzero(gap),
                             np.flatnonzero(leaves)])
    un_lo = np.concatenate([np.full((s1 > w0).sum(), w0), when[gap], when[leaves] + 1])
    un_hi = np.concatenate([np.minimum(s1[s1 > w0] - 1, last_alive[s1 > w0]),
                            np.minimum(s2[gap] - 1, last_alive[gap]),
                            last_alive[leaves]])
    un_lo = np.maximum(un_lo, dob[un_pat])
    # All intervals: practice -1 where unregistered; clipped to the window and to death.
    iv_pat = np.concatenate([sp_pat, un_pat])
    iv_pr = np.concatenate([sp_pr, np.full(len(un_pat), -1)])
    iv_lo = np.maximum(np.concatenate([sp_lo, un_lo]), w0)
    iv_hi = np.minimum(np.minimum(np.concatenate([sp_hi, un_hi]), w1), last_alive[iv_pat])
    keep = iv_hi >= iv_lo
    iv_pat, iv_pr, iv_lo, iv_hi = iv_pat[keep], iv_pr[keep], iv_lo[keep], iv_hi[keep]
    # Deaths: attributed to the spell that covers the day of death.
    d_idx = np.flatnonzero(has_dod)
    d_pr = np.full(len(d_idx), -1)
    for lo_, hi_, pr_, pat_ in ((s1, e1_eff, p_first, None), (s2, e2, p_second, second)):
        cover = (lo_[d_idx] <= dod[d_idx]) & ((hi_[d_idx] == _NONE)
                                              | (dod[d_idx] <= hi_[d_idx]))
        if pat_ is not None:
            cover &= pat_[d_idx]
        d_pr = np.where(cover, pr_[d_idx], d_pr)
    place = PLACES[rng.choice(4, len(d_idx), p=[0.30, 0.45, 0.20, 0.05])]
    out.write("deaths", {"patient_id": ids[d_idx], "date_of_death": dod[d_idx],
                         "place_of_death": place})
    truth.add("deaths", d_pr, dod[d_idx])
    truth.add("deaths_at_home", d_pr, dod[d_idx], (place == "home").astype(float))
    truth.add("table:deaths", d_pr, dod[d_idx])
    # -- events ---------------------------------------------------------------------------
    # Unregistered stretches: a third of the rate (most such people live elsewhere).
    factor = np.where(iv_pr >= 0, ctx["practice_factor"][np.maximum(iv_pr, 0)], 1 / 3)
    older_iv = older[iv_pat]
    span = (iv_hi - iv_lo + 1).astype(float)

    def draw(rate_key: str) -> tuple[np.ndarray, np.ndarray]:
        base, mult = RATES[rate_key]
        curve = ctx["curves"].get(rate_key)
        if curve is None:
            rate = base * ctx["scale"] / 365.25 * factor * np.where(older_iv, mult, 1.0)
            k = rng.poisson(rate * span)
            which = np.repeat(np.arange(len(iv_pat)), k)
            day = _days(rng, iv_lo[which], iv_hi[which])
        else:  # the case study's rates by practice and month
            row = np.where(iv_pr >= 0, iv_pr, n_pr)
            lo_j, hi_j = iv_lo - w0, iv_hi - w0
            # The multiplier averages 1 over the registered person-time of this chunk.
            reg = iv_pr >= 0
            mean_x = (np.sum(span[reg] * np.where(older_iv[reg], mult, 1.0))
                      / max(float(span[reg].sum()), 1.0))
            older_x = np.where(older_iv, mult, 1.0) / (mean_x if mean_x > 0 else 1.0)
            k = rng.poisson(curve.mass(row, lo_j, hi_j) * older_x)
            which = np.repeat(np.arange(len(iv_pat)), k)
            day = w0 + curve.place(rng, row[which], lo_j[which], hi_j[which])
        # Boundary cases: first/last day of the month, birthday, day before birthday.
        u = rng.random(len(which))
        y, m, _ = _ymd(day)
        first = ((y - 1970) * 12 + m - 1).astype("datetime64[M]").astype(
            "datetime64[D]").astype(np.int64)
        last = ((y - 1970) * 12 + m).astype("datetime64[M]").astype(
            "datetime64[D]").astype(np.int64) - 1
        bday = _birthday(dob[iv_pat[which]], y)
        cand = np.select([u < 0.03, u < 0.06, u < 0.08, u < 0.09],
                         [first, last, bday, bday - 1], day)
        fits = (cand >= iv_lo[which]) & (cand <= iv_hi[which])
        day = np.where(fits, cand, day)
        return which, day

    def ids_for(table: str, k: int) -> np.ndarray:
        start = counters.get(table, 0)
        counters[table] = start + k
        return np.arange(start + 1, start + k + 1, dtype=np.int64)

    # Admissions: emergency and elective in one table.
    w_em, d_em = draw("emergency")
    w_el, d_el = draw("elective")
    which = np.concatenate([w_em, w_el])
    day = np.concatenate([d_em, d_el])
    method = np.concatenate([np.full(len(w_em), "emergency"), np.full(len(w_el), "elective")])
    # Length of stay: 0 days for 30%, else geometric with mean 5 (or the case study's mean).
    p_stay = 0.2 if ctx["stay"] is None else min(1.0, 0.7 / max(ctx["stay"], 0.7))
    stay = np.where(rng.random(len(which)) < 0.3, 0, rng.geometric(p_stay, len(which)))
    order = np.argsort(day, kind="stable")
    which, day, method, stay = which[order], day[order], method[order], stay[order]
    out.write("admissions", {"event_id": ids_for("admissions", len(which)),
                             "patient_id": ids[iv_pat[which]], "admission_date": day,
                             "discharge_date": day + stay, "admission_method": method})
    em = method == "emergency"
    pr = iv_pr[which]
    truth.add("table:admissions", pr, day)
    truth.add("emergency_admissions", pr[em], day[em])
    age_at = _age(day, dob[iv_pat[which]])
    # Cohorts apply to registered events; unregistered ones (-1) count as unattributed.
    old = (age_at >= 65) | (pr < 0)
    truth.add("emergency_admissions_65plus", np.where(old, pr, -2)[em], day[em])
    fr = (frail[iv_pat[which]] == 1) | (pr < 0)
    truth.add("emergency_admissions_frail", np.where(fr, pr, -2)[em], day[em])
    truth.add("bed_days", pr[em], day[em], stay[em].astype(float))
    # A&E attendances, by age band.
    which, day = draw("ae")
    out.write("ae_attendances", {"event_id": ids_for("ae_attendances", len(which)),
                                 "patient_id": ids[iv_pat[which]], "attendance_date": day})
    pr = iv_pr[which]
    truth.add("table:ae_attendances", pr, day)
    truth.add("ae_attendances", pr, day)
    age_at = _age(day, dob[iv_pat[which]])
    bands = list(ctx["age_bands"])
    labels = band_labels(bands)
    for i, label in enumerate(labels[:-1]):
        hi_age = bands[i + 1] if i + 1 < len(bands) else np.inf
        inside = (age_at >= bands[i]) & (age_at < hi_age)
        truth.add(f"ae_attendances_{label}", np.where(inside, pr, -2), day)
    truth.add(f"ae_attendances_{labels[-1]}", np.where(age_at < bands[0], pr, -2), day)
    # GP consultations (with a clinician, for continuity) and community contacts.
    which, day = draw("consultations")
    pr = iv_pr[which]
    clinician = np.char.add(np.char.add(ctx["codes"][np.maximum(pr, 0)], "-GP"),
                            rng.integers(1, 6, len(which)).astype(str))
    out.write("consultations", {"event_id": ids_for("consultations", len(which)),
                                "patient_id": ids[iv_pat[which]], "consultation_date": day,
                                "clinician": clinician})
    truth.add("table:consultations", pr, day)
    truth.add("gp_consultations", pr, day)
    which, day = draw("community")
    out.write("community_contacts", {"event_id": ids_for("community_contacts", len(which)),
                                     "patient_id": ids[iv_pat[which]], "contact_date": day})
    truth.add("table:community_contacts", iv_pr[which], day)
    truth.add("community_contacts", iv_pr[which], day)


def _expected_events(patients: int, months: int) -> float:
    years = months / 12
    return patients * years * sum(base * (1 + (mult - 1) * 0.2) for base, mult in
                                  RATES.values())


def generate_records(folder: str | Path, *, patients: int = 10_000, events: int | None = None,
                     practices: int | None = None, start: str = "2019-04", months: int = 24,
                     census_day: int = 15, seed: int = 1, chunk: int = 500_000,
                     file_format: str = "parquet", overwrite: bool = True,
                     force: bool = False, progress: bool = False,
                     like: str | Path | pd.DataFrame | None = None) -> GeneratedRecords:
    """Write synthetic patient-level records and return their panel-level truth.

    Parameters
    ----------
    folder
        Where to write (created, or replaced as a whole when ``overwrite``: see
        :mod:`evalkit.files.output_folder`; a folder holding files evalkit did not write is
        refused, and nothing evalkit did not write is ever deleted).
    patients
        People in the population.
    events
        About how many event rows to write (admissions, A&E, consultations, community);
        by default the model's rates give about 5.8 per person-year.
    practices
        Number of practices (default: one per 8,000 people, at least 3).
    start, months
        The period: first month (``YYYY-MM``) and its length.
    census_day
        The list-size census day used for the truth.
    seed
        Seed; the same arguments give the same files.
    chunk
        People generated and written at a time (bounds memory).
    file_format
        ``"parquet"`` or ``"csv"``.
    overwrite
        Replace an existing records folder that evalkit wrote.
    force
        Replace it even if it holds other files (they are kept, not deleted).
    progress
        Show a progress bar over chunks.
    like
        A synthetic case study to follow: its practice-month panel (a DataFrame, a
        ``panel.csv``, or a case-study folder or spec), with ``practice``, ``month``,
        ``list_size`` and any of ``emergency_admissions``, ``ae_attendances`` and
        ``bed_days``. Its practices, period and rates replace the model's (see the module
        notes); ``practices``, ``start`` and ``months`` are then taken from it.

    Returns
    -------
    GeneratedRecords
        The folder, the spec (also written as ``records.yaml``), the truth and row counts.

    Examples
    --------
    >>> gen = generate_records("demo-records", patients=1_000, seed=3)  # doctest: +SKIP
    >>> gen.truth[["practice", "month", "list_size"]].head(2)  # doctest: +SKIP
    """
    if file_format not in ("parquet", "csv"):
        raise DesignError(f"file_format must be parquet or csv, not {file_format!r}",
                          fix="use file_format='parquet'")
    if patients < 1 or months < 1:
        raise DesignError("patients and months must be at least 1", fix="e.g. patients=1000")
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise DesignError("the folder exists", file=str(folder), fix="pass overwrite=True")
    with replace_folder(folder, force=force, what="records folder") as staging:
        generated = _generate(staging, folder, patients=patients, events=events,
                              practices=practices, start=start, months=months,
                              census_day=census_day, seed=seed, chunk=chunk,
                              file_format=file_format, progress=progress, like=like)
    truth, codes, unattributed, rows, period = generated
    spec_dict = _spec_dict(folder, file_format, period, census_day)
    spec = records_spec(spec_dict, base=folder, file=str(folder / "records.yaml"))
    return GeneratedRecords(folder, spec, _truth_panel(truth, codes, spec),
                            MappingProxyType(unattributed), MappingProxyType(rows))


def _generate(staging: Path, folder: Path, *, patients, events, practices, start, months,
              census_day, seed, chunk, file_format, progress, like):
    """Write the records into ``staging`` (published as ``folder``)."""
    from tqdm import tqdm

    case = _case_panel(like) if like is not None else None
    if case is not None:
        codes = np.array(sorted(case["practice"].astype(str).unique()))
        case_months = sorted(pd.PeriodIndex(case["month"].astype(str), freq="M").unique())
        first, months = case_months[0], len(case_months)
    else:
        codes = None
        first = parse_month(start, "start", None)
    n_pr = len(codes) if codes is not None else practices or max(3, round(patients / 8000))
    period = [first, first + (months - 1)]
    month_list = list(pd.period_range(period[0], period[1], freq="M"))
    root = np.random.SeedSequence(seed)
    setup = np.random.default_rng(root.spawn(1)[0])
    weights = np.exp(setup.normal(0, 0.5, n_pr))
    if codes is None:
        codes = np.array([f"P{i + 1:04d}" for i in range(n_pr)])
    else:  # in proportion to the case study's mean list sizes
        weights = (case.groupby(case["practice"].astype(str))["list_size"].mean()
                   .reindex(codes).fillna(0).to_numpy(dtype=float))
    p0 = np.datetime64(month_list[0].start_time.date(), "D").astype(np.int64)
    p1 = np.datetime64(month_list[-1].end_time.date(), "D").astype(np.int64)
    curves, stay = ({}, None)
    if case is not None:
        case = case.assign(practice=case["practice"].astype(str))
        curves, stay = _follow(case, month_list, p0 - 20, p1 + 20, codes)
    ctx = {"p0": p0, "p1": p1,
           "n_practices": n_pr, "weights": weights / weights.sum(),
           "practice_factor": np.exp(setup.normal(0, 0.25, n_pr)),
           "codes": codes, "curves": curves, "stay": stay,
           "census_day": census_day, "age_bands": DEFAULT_AGE_BANDS,
           "scale": 1.0 if events is None else events / _expected_events(patients, months)}
    truth = _Truth(n_pr, month_list, census_day)
    writer = _Writer(staging, file_format)
    counters: dict[str, int] = {}
    starts = list(range(0, patients, chunk))
    seeds = root.spawn(len(starts) + 1)[1:]
    try:
        for c0, ss in tqdm(list(zip(starts, seeds, strict=True)), desc="generate records",
                           disable=not progress, unit="chunk"):
            ids = np.arange(c0 + 1, min(patients, c0 + chunk) + 1, dtype=np.int64)
            _chunk(np.random.default_rng(ss), ids, ctx, truth, writer, counters)
    finally:
        writer.close()
    spec_dict = _spec_dict(folder, file_format, period, census_day)
    (staging / "records.yaml").write_text(yaml.safe_dump(spec_dict, sort_keys=False),
                                          encoding="utf-8")
    return truth, ctx["codes"], dict(truth.unattributed), dict(writer.rows), period


def _case_panel(like: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A case study's practice-month panel, from a frame, a panel file or a case folder."""
    from evalkit.data.io import read

    if isinstance(like, pd.DataFrame):
        frame = like
    else:
        path = Path(like)
        if path.is_dir() or path.suffix.lower() in (".yaml", ".yml"):
            path = (path if path.is_dir() else path.parent) / "panel.csv"
        frame = read(path)
    missing = [c for c in ("practice", "month", "list_size") if c not in frame]
    if missing:
        raise DesignError(f"the case study's panel has no {', '.join(missing)} column",
                          file=frame.attrs.get("source"),
                          fix="give a practice-month panel with practice, month and list_size")
    if not any(c in frame for c in FOLLOWED):
        raise DesignError("the case study's panel has none of the rates the generator can "
                          f"follow ({', '.join(FOLLOWED)})", file=frame.attrs.get("source"),
                          fix="give a panel with emergency_admissions or ae_attendances")
    return frame


def _spec_dict(folder: Path, fmt: str, period: list, census_day: int) -> dict:
    return {
        "period": [str(period[0]), str(period[1])],
        "census_day": census_day,
        "age_bands": list(DEFAULT_AGE_BANDS),
        "tables": {
            "registrations": {"path": f"registrations.{fmt}"},
            "patients": {"path": f"patients.{fmt}"},
            "deaths": {"path": f"deaths.{fmt}"},
            "admissions": {"path": f"admissions.{fmt}", "date": "admission_date"},
            "ae_attendances": {"path": f"ae_attendances.{fmt}", "date": "attendance_date"},
            "consultations": {"path": f"consultations.{fmt}", "date": "consultation_date"},
            "community_contacts": {"path": f"community_contacts.{fmt}",
                                   "date": "contact_date"},
        },
        "cohorts": {"older": {"min_age": 65}, "frail": {"patients": {"frail": 1}}},
        "measures": standard_measures(),
        "out": "panel.parquet",
    }


def _truth_panel(truth: _Truth, codes: np.ndarray, spec: RecordsSpec) -> pd.DataFrame:
    n_m = len(truth.months)
    frame = pd.DataFrame({"practice": np.repeat(codes, n_m),
                          "month": np.tile([str(m) for m in truth.months], len(codes))})
    for col in spec.panel_columns[2:]:
        if col in truth.cols:
            frame[col] = np.asarray(truth.cols[col]).reshape(-1).astype(np.int64)
    # A patient-level truth of zeros is still a column (e.g. no deaths in a tiny run).
    for m in spec.panel_measures:
        for col in m.columns(spec.age_bands):
            if m.kind != "share" and col not in frame:
                frame[col] = np.zeros(len(frame), dtype=np.int64)
    for m in spec.panel_measures:
        if m.kind == "share":
            num = frame[m.numerator].to_numpy(dtype=float)
            den = frame[m.denominator].to_numpy(dtype=float)
            share = np.full(len(frame), np.nan)
            np.divide(num, den, out=share, where=den > 0)
            frame[m.name] = share
    return frame[list(spec.panel_columns)]
