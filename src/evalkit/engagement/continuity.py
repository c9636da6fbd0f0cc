"""Continuity of care from consultation records: UPC, COC, SECON and MMCI.

Relational continuity, seeing the same clinician over time, is one of the things a
collaborative scheme can gain or lose (e.g. when practices pool appointments across a
PCN). These indices measure it per patient from a table of consultations, one row per
visit. For a patient with ``n`` visits, ``n_j`` of them to provider ``j`` and ``P``
distinct providers:

Usual Provider of Care (Breslau & Reeb, 1975)
    ``UPC = max_j(n_j) / n``, the share of visits to the provider seen most.

Continuity of Care index (Bice & Boxerman, 1977)
    ``COC = (sum_j n_j^2 - n) / (n (n - 1))``: 1 when every visit is to one provider,
    0 when every visit is to a different one.

Sequential Continuity (Steinwachs, 1979)
    ``SECON = sum_{i=1}^{n-1} s_i / (n - 1)`` with ``s_i = 1`` when visits ``i`` and
    ``i + 1`` (in date order) are to the same provider: the share of consecutive pairs
    of visits with the same provider.

Modified Modified Continuity Index (Magill & Senf, 1987)
    ``MMCI = (1 - P / (n + 0.1)) / (1 - 1 / (n + 0.1))``.

Conventions
    Visits are ordered by date; visits on the same date (or time) keep the order of their
    rows in the table (a stable sort), and only SECON depends on that order. The number of
    patients with same-day visits to different providers is reported in the warnings.
    Indices are computed within each ``group`` (practice, period) when one is given, so a
    patient seen in two practices has a row in each. Patients with fewer than
    ``min_visits`` visits get NaN for COC, SECON and MMCI (UPC is still reported, as it
    is defined for a single visit) and are left out of the group summaries, which count
    them separately.

Dates
    A datetime column is used as it is, and a numeric column as an order key (e.g. day
    numbers). Text is read as ISO dates (``2024-03-04``, with or without a time) or, failing
    that, as UK dates (``04/03/2024``, day first); anything else is refused, naming rows.

References
----------
Breslau N, Reeb KG (1975). Continuity of care in a university-based practice. *Journal
of Medical Education* 50:965-969.
Bice TW, Boxerman SB (1977). A quantitative measure of continuity of care. *Medical
Care* 15:347-349.
Steinwachs DM (1979). Measuring provider continuity in ambulatory care: an assessment of
alternative approaches. *Medical Care* 17:551-565.
Magill MK, Senf J (1987). A new method for measuring continuity of care in family
practice residencies. *Journal of Family Practice* 24:165-168.
Pollack CE, Hussey PS, Rudin RS, et al. (2016). Measuring care continuity: a comparison
of claims-based methods. *Medical Care* 54:e30-e34.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.arguments import check_whole
from evalkit.data.contract import nearest
from evalkit.data.inputs import takes_frame
from evalkit.errors import DataError, DesignError
from evalkit.results import ReadOnlyOptions

__all__ = ["ContinuityResult", "continuity", "INDICES"]

#: The per-patient indices, in the order they are reported.
INDICES = ("upc", "coc", "secon", "mmci")


def _rows(mask: np.ndarray, limit: int = 20) -> list[int]:
    return [int(i) + 2 for i in np.flatnonzero(mask)[:limit]]


def _parse_dates(values: pd.Series, *, column: str, file: str | None) -> np.ndarray:
    """Dates (or a numeric order key) as a sortable numeric array."""
    missing = values.isna().to_numpy()
    if missing.any():
        raise DataError("the date is missing", file=file, column=column, rows=_rows(missing),
                        fix="give every consultation a date, or drop those rows")
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.to_numpy().astype("datetime64[ns]").astype(np.int64)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float)
    text = values.astype(str).str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    retry = parsed.isna().to_numpy()
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], format="%d/%m/%Y", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        shown = ", ".join(repr(v) for v in text[bad].unique()[:3])
        raise DataError(f"the date cannot be read ({shown})", file=file, column=column,
                        rows=_rows(bad), fix="write dates as YYYY-MM-DD (or DD/MM/YYYY)")
    return parsed.to_numpy().astype("datetime64[ns]").astype(np.int64)


@dataclass(frozen=True)
class ContinuityResult(ReadOnlyOptions):
    """Continuity-of-care indices per patient and their summaries by group.

    Attributes
    ----------
    patients
        One row per patient (and group): ``group`` (if any), ``patient``, ``n_visits``,
        ``n_providers``, ``usual_provider`` (the provider seen most; on a tie, the one
        seen first), ``first_visit``, ``last_visit``, ``upc``, ``coc``, ``secon``,
        ``mmci`` and ``eligible`` (at least ``min_visits`` visits).
    groups
        One row per group (one row ``"all"`` without a group): ``n_patients``,
        ``n_eligible``, ``n_excluded`` (fewer than ``min_visits`` visits), ``n_visits``,
        and the mean and median of each index over eligible patients
        (``upc_mean``, ``upc_median``, ...).
    min_visits
        The fewest visits a patient needs to count.
    """

    patients: pd.DataFrame
    groups: pd.DataFrame
    min_visits: int
    warnings: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_excluded(self) -> int:
        """Patients with fewer than ``min_visits`` visits."""
        return int((~self.patients["eligible"]).sum())

    def to_frame(self) -> pd.DataFrame:
        """The per-patient table (a copy)."""
        return self.patients.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The per-patient and per-group tables (copies)."""
        return {"patients": self.patients.copy(), "groups": self.groups.copy()}

    def summary(self) -> str:
        """Plain text: the indices by group and who was left out."""
        p = self.patients
        lines = [f"Continuity of care: {len(p)} patient(s), {int(p['n_visits'].sum())} "
                 f"visit(s); {self.n_excluded} patient(s) with fewer than {self.min_visits} "
                 "visits have no COC, SECON or MMCI and are left out of the means."]
        for _, row in self.groups.iterrows():
            stats = "; ".join(f"{name.upper()} mean {row[f'{name}_mean']:.3f} "
                              f"(median {row[f'{name}_median']:.3f})" for name in INDICES)
            lines.append(f"  {row['group']}: {int(row['n_eligible'])} of "
                         f"{int(row['n_patients'])} patients; {stats}")
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<ContinuityResult: {len(self.patients)} patients, "
                f"{len(self.groups)} group(s)>")


@takes_frame
def continuity(consultations: pd.DataFrame, *, patient: str = "patient_id",
               provider: str = "clinician", date: str = "date", group: str | None = None,
               min_visits: int = 2, file: str | None = None) -> ContinuityResult:
    """UPC, COC, SECON and MMCI per patient from consultation records.

    Parameters
    ----------
    consultations
        One row per consultation.
    patient, provider, date
        Column names: the patient, the clinician (or provider) seen, and the date.
    group
        Optional column to compute and summarise within, e.g. the practice or period.
    min_visits
        Patients with fewer visits get NaN for COC, SECON and MMCI and are left out of
        the group summaries (at least 2, since COC and SECON need two visits).
    file
        The data's file name, for error messages.

    Returns
    -------
    ContinuityResult

    Examples
    --------
    >>> import pandas as pd
    >>> visits = pd.DataFrame({"patient_id": [1] * 5,
    ...                        "clinician": ["A", "A", "B", "A", "C"],
    ...                        "date": pd.date_range("2024-01-01", periods=5, freq="W")})
    >>> res = continuity(visits)
    >>> res.patients[["upc", "coc", "secon"]].round(2).values.tolist()
    [[0.6, 0.3, 0.25]]
    """
    if not isinstance(consultations, pd.DataFrame):
        raise DesignError("the consultations must be a pandas DataFrame, not "
                          f"{type(consultations).__name__}", fix="read the file first")
    check_whole("min_visits", min_visits, 2)
    needed = [patient, provider, date] + ([group] if group is not None else [])
    if len(set(needed)) < len(needed):
        raise DesignError("patient, provider, date and group must be different columns",
                          fix="name each column once")
    for name in needed:
        if name not in consultations.columns:
            guess = nearest(str(name), map(str, consultations.columns))
            raise DataError(f"the column '{name}' is missing", file=file, column=str(name),
                            fix=f"did you mean '{guess}'?" if guess
                            else f"name one of: {', '.join(map(str, consultations.columns))}")
    if len(consultations) == 0:
        raise DataError("there are no consultations", file=file,
                        fix="give one row per consultation")
    for name, what in ((patient, "patient"), (provider, "provider (clinician)")) + (
            ((group, "group"),) if group is not None else ()):
        missing = consultations[name].isna().to_numpy()
        if missing.any():
            raise DataError(f"the {what} is missing", file=file, column=name,
                            rows=_rows(missing),
                            fix=f"fill in the {what} for every consultation, or drop those "
                                "rows" + (" (record an unknown clinician explicitly, e.g. "
                                          "'unknown', only if that is what you mean)"
                                          if name == provider else ""))
    when = _parse_dates(consultations[date], column=date, file=file)

    # patient key (within group) and provider codes; sort by key, date, then row order
    key_cols = ([group] if group is not None else []) + [patient]
    keys = consultations[key_cols].reset_index(drop=True)
    pid, uniques = pd.factorize(pd.MultiIndex.from_frame(keys.astype(object)), sort=False)
    prov, prov_names = pd.factorize(consultations[provider], sort=False)
    order = np.lexsort((np.arange(len(pid)), when, pid))
    pid, prov, when = pid[order], prov[order], when[order]
    k = len(uniques)

    n = np.bincount(pid, minlength=k).astype(float)
    # visits per (patient, provider): sorted pairs, run lengths
    pair = pid.astype(np.int64) * len(prov_names) + prov
    pair_vals, pair_counts = np.unique(pair, return_counts=True)
    pair_pid = pair_vals // len(prov_names)
    pair_prov = pair_vals % len(prov_names)
    sum_sq = np.bincount(pair_pid, weights=pair_counts.astype(float) ** 2, minlength=k)
    n_prov = np.bincount(pair_pid, minlength=k).astype(float)
    n_max = np.zeros(k)
    np.maximum.at(n_max, pair_pid, pair_counts.astype(float))
    # usual provider: most visits, ties to the one seen first
    first_seen = np.full(len(pair_vals), np.iinfo(np.int64).max)
    pair_of_visit = np.searchsorted(pair_vals, pair)
    np.minimum.at(first_seen, pair_of_visit, np.arange(len(pair)))
    rank = np.lexsort((first_seen, -pair_counts, pair_pid))
    first_of_patient = rank[np.r_[True, pair_pid[rank][1:] != pair_pid[rank][:-1]]]
    usual = np.empty(k, dtype=object)
    usual[pair_pid[first_of_patient]] = np.asarray(prov_names, dtype=object)[
        pair_prov[first_of_patient]]

    same_patient = pid[1:] == pid[:-1]
    same = same_patient & (prov[1:] == prov[:-1])
    secon_pairs = np.bincount(pid[1:][same], minlength=k).astype(float)
    same_day = same_patient & (when[1:] == when[:-1]) & (prov[1:] != prov[:-1])
    tied_patients = int(np.unique(pid[1:][same_day]).size)

    eligible = n >= min_visits
    with np.errstate(divide="ignore", invalid="ignore"):
        upc = n_max / n
        coc = np.where(eligible, (sum_sq - n) / (n * (n - 1)), np.nan)
        secon = np.where(eligible, secon_pairs / (n - 1), np.nan)
        mmci = np.where(eligible, (1 - n_prov / (n + 0.1)) / (1 - 1 / (n + 0.1)), np.nan)

    # pid is sorted, and every code 0..k-1 occurs: each patient's visits are one run
    starts = np.r_[0, np.flatnonzero(~same_patient) + 1]
    ends = np.r_[starts[1:] - 1, len(pid) - 1]
    is_dates = when.dtype == np.int64

    def as_when(v: np.ndarray):
        return pd.to_datetime(v) if is_dates else v

    ids = uniques.to_frame(index=False)
    ids.columns = (["group"] if group is not None else []) + ["patient"]
    patients = ids.assign(n_visits=n.astype(int), n_providers=n_prov.astype(int),
                          usual_provider=usual, first_visit=as_when(when[starts]),
                          last_visit=as_when(when[ends]), upc=upc, coc=coc, secon=secon,
                          mmci=mmci, eligible=eligible)

    by = patients.assign(group=patients["group"] if group is not None else "all")
    agg: dict[str, tuple[str, str]] = {}
    for name in INDICES:
        agg[f"{name}_mean"] = (name, "mean")
        agg[f"{name}_median"] = (name, "median")
    counts = by.groupby("group", sort=False).agg(
        n_patients=("patient", "size"), n_eligible=("eligible", "sum"),
        n_visits=("n_visits", "sum"))
    summaries = by[by["eligible"]].groupby("group", sort=False).agg(**agg)
    groups = counts.join(summaries, how="left").reset_index()
    groups.insert(3, "n_excluded", groups["n_patients"] - groups["n_eligible"])

    warnings: list[str] = []
    excluded = int((~eligible).sum())
    if excluded:
        warnings.append(f"{excluded} patient(s) had fewer than {min_visits} visits and are "
                        "left out of the COC, SECON and MMCI summaries")
    if tied_patients:
        warnings.append(f"{tied_patients} patient(s) saw different providers on the same "
                        "date; their SECON follows the order of the rows")
    options = {"patient": patient, "provider": provider, "date": date, "group": group,
               "min_visits": min_visits, "file": file}
    return ContinuityResult(patients=patients, groups=groups, min_visits=min_visits,
                            warnings=tuple(warnings), options=options)
