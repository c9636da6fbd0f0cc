"""Engagement indices from a scheme's referral, MDT and care-plan tables.

:func:`engagement` measures how much scheme units (usually GP practices) took part:

- per unit and period: referrals, list size, referrals per 1,000 registered patients,
  whether the unit referred at all, and (with ``care_plans``) care plans completed;
- per unit over the first ``window`` periods from its launch: total referrals, referrals
  per 1,000 patients, periods active, time to first referral and MDT attendance;
- the share of units referring in each period, with Wilson (1927) score intervals;
- MDT attendance by profession and by unit and profession, with Wilson intervals;
- how concentrated referrals are: the share from the top 20% of units, the Gini
  coefficient and the Lorenz curve;
- time to first referral as a Kaplan-Meier curve, with its median and the
  Brookmeyer-Crowley interval, treating units that never referred as censored.

Every measure is descriptive: it says how much units took part, not what the scheme
did, so the effect records are Maryland level 1.

Conventions
-----------
Periods
    A unit's launch is ``start`` (one period for every unit) or, by default, the unit's
    first row in ``referrals``. Period 1 is the launch period; a unit is observed from
    its launch to the last period of the referral table. A unit-period absent from the
    table counts as no referrals (extracts often list only months with referrals), so
    every scheme unit needs at least one row (zeros allowed), or list it in ``units``.
Time to first referral
    The period (1 = the launch period) of the unit's first referral within the window.
    A unit that did not refer in the window is censored at the number of periods it
    was observed: its time is ``NaN`` in ``by_unit`` and the Kaplan-Meier curve, not
    a mean of observed times, summarises the group.
Top 20% share
    ``1 - L(0.8)`` on the piecewise-linear Lorenz curve ``L``: the referrals of the
    ``0.2 n`` units with most referrals, where a fractional unit at the boundary
    contributes that fraction of its referrals (with 12 units, the top 2.4 units: the
    two largest and 0.4 of the third). Tied units have the same value, so which of them
    counts as "top" does not change the share.
Gini coefficient
    ``G = sum_i sum_j |x_i - x_j| / (2 n^2 mean(x))`` over units' referrals in the
    window, computed in O(n log n) from the sorted values as
    ``G = sum_i (2 i - n - 1) x_(i) / (n sum(x))`` (i = 1..n ascending). 0 when every
    unit refers equally; (n - 1) / n when one unit makes every referral.

References
----------
Wilson EB. Probable inference, the law of succession, and statistical inference. *J Am
Stat Assoc* 1927;22:209-212.
Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. *J Am Stat
Assoc* 1958;53:457-481.
Brookmeyer R, Crowley J. A confidence interval for the median survival time.
*Biometrics* 1982;38:29-41.
Gini C. Variabilità e mutabilità. Bologna; 1912. (The mean-difference form above.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_choice, check_conf_level, check_whole
from evalkit.data.contract import nearest
from evalkit.data.inputs import takes_frame
from evalkit.data.periods import PeriodAxis, parse_period, parse_periods
from evalkit.errors import DataError, DesignError
from evalkit.evidence.disclosure import DisclosureRules, proportions, share_hidden, small_counts
from evalkit.evidence.maryland import maryland_level
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["engagement", "EngagementResult", "gini", "lorenz_curve", "top_share",
           "kaplan_meier", "ALIGN"]

DESIGN = "engagement"
ALIGN = ("calendar", "launch")


# --------------------------------------------------------------------------- helpers


def _file_for(file: str | Mapping[str, str] | None, table: str) -> str | None:
    """The file to name in an error about ``table`` (``file`` may map table -> path)."""
    if isinstance(file, Mapping):
        return file.get(table)
    return file if table == "referrals" else None


def need_columns(data: pd.DataFrame, columns: Mapping[str, str], *, file: str | None = None,
                 table: str | None = None) -> None:
    """Refuse a missing column, suggesting the nearest existing name.

    ``columns`` maps each column name to what it holds (for the message).
    """
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"the {table or 'data'} must be a pandas DataFrame, not "
                          f"{type(data).__name__}", fix="pass a table (e.g. from ek.read)")
    for name, what in columns.items():
        if name not in data.columns:
            guess = nearest(str(name), map(str, data.columns))
            where = f" from the {table} table" if table else ""
            raise DataError(f"the {what} column '{name}' is missing{where}", file=file,
                            column=str(name),
                            fix=f"did you mean '{guess}'?" if guess else
                            f"name an existing column ({', '.join(map(str, data.columns))})")


def whole_counts(data: pd.DataFrame, column: str, *, file: str | None = None,
                 what: str = "count") -> np.ndarray:
    """The column as floats, refusing blanks, text, fractions and negatives (rows named)."""
    raw = data[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    blank = raw.isna().to_numpy()
    if blank.any():
        raise DataError(f"{what} is missing", file=file, column=column,
                        rows=[int(r) + 2 for r in np.flatnonzero(blank)],
                        fix="fill it in (0 if there were none)")
    finite = np.isfinite(values)
    checks = [(~finite, "is not a number", "remove text such as '*' or '<5'"),
              (finite & (values != np.round(values)), "must be a whole number",
               "use the raw counts"),
              (finite & (values < 0), "is negative",
               "counts cannot be negative; correct the extract")]
    for bad, message, fix in checks:
        if bad.any():
            shown = ", ".join(pd.unique(raw[bad].astype(str))[:3])
            raise DataError(f"{what} {message} (found {shown})", file=file, column=column,
                            rows=[int(r) + 2 for r in np.flatnonzero(bad)], fix=fix)
    return values


def _duplicates(keys: pd.DataFrame, *, file: str | None, column: str, what: str) -> None:
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataError(f"{int(dup.sum())} rows share a {what}", file=file, column=column,
                        rows=[int(r) + 2 for r in np.flatnonzero(dup)],
                        fix="keep one row per unit and period (aggregate or de-duplicate)")


def _periods(data: pd.DataFrame, time: str, axis: PeriodAxis | None, *, file: str | None,
             table: str) -> np.ndarray:
    codes, ax = parse_periods(data[time], file=file, column=time)
    if axis is not None and ax.kind != axis.kind:
        raise DataError(f"the {table} table's periods are {ax.kind} periods but the "
                        f"referrals' are {axis.kind} periods", file=file, column=time,
                        fix="write every table's periods in the same form (e.g. 2019-04)")
    return codes


def wilson_interval(successes, n, conf_level: float = 0.95):
    """Wilson (1927) score interval for a proportion (vectorised).

    Examples
    --------
    >>> lo, hi = wilson_interval(8, 10)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.4902, 0.9433)
    """
    successes, n = np.asarray(successes, float), np.asarray(n, float)
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def _wilson(successes, n, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = wilson_interval(successes, n, conf_level)
    return np.asarray(lo, float), np.asarray(hi, float)


def _share(successes, n) -> np.ndarray:
    s, n = np.asarray(successes, float), np.asarray(n, float)
    return np.divide(s, n, out=np.full(s.shape, np.nan), where=n > 0)


# --------------------------------------------------------------------------- measures


def gini(values) -> float:
    """The Gini coefficient of non-negative values, by sorting (O(n log n)).

    ``G = sum_i sum_j |x_i - x_j| / (2 n^2 mean(x))``, computed as
    ``sum_i (2 i - n - 1) x_(i) / (n sum(x))`` with ``x_(i)`` ascending. NaN when the
    values sum to zero.

    Examples
    --------
    >>> gini([0, 0, 0, 10])
    0.75
    """
    x = np.sort(np.asarray(values, dtype=float))
    n, total = x.size, x.sum()
    if n == 0 or total <= 0:
        return float("nan")
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * x) / (n * total))


def lorenz_curve(values) -> pd.DataFrame:
    """The Lorenz curve: cumulative share of units (smallest first) against of the total.

    Returns a frame with ``share_of_units`` and ``share_of_total`` from (0, 0) to (1, 1).

    Examples
    --------
    >>> lorenz_curve([1, 3])["share_of_total"].tolist()
    [0.0, 0.25, 1.0]
    """
    x = np.sort(np.asarray(values, dtype=float))
    total = x.sum()
    cum = np.concatenate([[0.0], np.cumsum(x)]) / (total if total > 0 else np.nan)
    return pd.DataFrame({"share_of_units": np.arange(x.size + 1) / max(x.size, 1),
                         "share_of_total": cum})


def top_share(values, fraction: float = 0.2) -> float:
    """Share of the total held by the top ``fraction`` of units, ``1 - L(1 - fraction)``.

    The Lorenz curve is linear between units, so a fractional unit at the boundary
    contributes that fraction of its value; ties do not change the share.

    Examples
    --------
    >>> top_share([0, 0, 0, 0, 10])
    1.0
    >>> round(top_share([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), 4)
    0.2
    """
    curve = lorenz_curve(values)
    return float(1 - np.interp(1 - fraction, curve["share_of_units"], curve["share_of_total"]))


def kaplan_meier(time, event, *, conf_level: float = 0.95) -> tuple[pd.DataFrame, dict]:
    """Kaplan-Meier curve (at event times) with Greenwood SEs, and the median.

    Parameters
    ----------
    time
        Event or censoring times.
    event
        1 (or True) for an event, 0 for censored.
    conf_level
        Level of the median's interval.

    Returns
    -------
    curve, median
        ``curve``: ``time``, ``at_risk``, ``events``, ``survival``, ``se`` at each event
        time. ``median``: ``{"median", "ci_low", "ci_high"}``. The median is the first
        event time at which the survival falls below 0.5 (NaN if it never does); where
        the curve equals 0.5 exactly (common with whole periods) it is the midpoint of
        that event time and the next, as in SAS PROC LIFETEST and R's survival; the
        interval inverts z-tests of S(t) = 0.5 on the complementary log-log scale
        (Brookmeyer and Crowley, 1982, as in SAS PROC LIFETEST and statsmodels), with an
        infinite upper limit when the curve stays near 0.5 to the last event.

    Examples
    --------
    >>> curve, med = kaplan_meier([1, 2, 3, 4, 6], [1, 1, 1, 0, 1])
    >>> med["median"]
    3.0
    """
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    utime, inv = np.unique(t, return_inverse=True)
    events = np.bincount(inv, weights=d, minlength=utime.size)
    at_risk = np.cumsum(np.bincount(inv, minlength=utime.size)[::-1])[::-1].astype(float)
    keep = events > 0
    utime, events, at_risk = utime[keep], events[keep], at_risk[keep]
    surv = np.cumprod(1 - events / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(events / (at_risk * (at_risk - events)))
        se = surv * np.sqrt(greenwood)
    curve = pd.DataFrame({"time": utime, "at_risk": at_risk, "events": events,
                          "survival": surv, "se": se})
    half = np.flatnonzero(np.abs(surv - 0.5) < 1e-10)
    below = np.flatnonzero(surv < 0.5 - 1e-10)
    if half.size and half[0] + 1 < utime.size:  # S = 0.5 exactly until the next event
        median = float((utime[half[0]] + utime[half[0] + 1]) / 2)
    else:
        median = float(utime[below[0]]) if below.size else float("nan")
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.log(-np.log(surv))
        gprime = -1 / (surv * np.log(surv))
        r = (g - np.log(-np.log(0.5))) / (gprime * se)
    inside = np.flatnonzero(np.abs(r) <= z)
    if inside.size == 0:
        lo = hi = float("nan")
    else:
        lo = float(utime[inside[0]])
        hi = float("inf") if inside[-1] == utime.size - 1 else float(utime[inside[-1] + 1])
    return curve, {"median": median, "ci_low": lo, "ci_high": hi}


def _pooled_rate(y: np.ndarray, exposure: np.ndarray, conf_level: float) -> dict[str, float]:
    """Pooled rate sum(y)/sum(E) with a quasi-Poisson (Pearson-scaled) log interval."""
    total, e = float(y.sum()), float(exposure.sum())
    rate = total / e if e > 0 else float("nan")
    out = {"estimate": rate, "se": float("nan"), "ci_low": float("nan"),
           "ci_high": float("nan"), "dispersion": float("nan")}
    if total <= 0 or y.size < 2:
        return out
    mu = exposure * rate
    phi = float(np.sum((y - mu) ** 2 / mu) / (y.size - 1))
    se_log = np.sqrt(phi / total)
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    out.update(se=rate * se_log, ci_low=rate * np.exp(-z * se_log),
               ci_high=rate * np.exp(z * se_log), dispersion=phi, se_log=float(se_log))
    return out


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class EngagementResult(DesignResult):
    """What :func:`engagement` returns: a :class:`~evalkit.results.DesignResult`.

    ``effects`` holds the headline measures as effect records (domain ``engagement``,
    design ``engagement``, Maryland level 1); ``to_frame()`` returns them. The frames,
    also attributes (``result.by_unit``), are:

    ``by_period``
        Unit, time, ``period`` (1 = launch), ``in_window``, ``referrals``, ``list_size``,
        ``per_1000``, ``referred``; with care plans ``eligible``, ``completed``,
        ``completion_share``.
    ``by_unit``
        Unit, ``launch``, ``periods_observed``, ``referrals``, ``list_size`` (mean over
        the window), ``per_1000`` (referrals per 1,000 patients per ``window`` periods),
        ``periods_active``, ``share_active``, ``time_to_first_referral`` (NaN: never
        referred, censored), ``censored``, ``censor_time``; with MDT data ``invited``,
        ``attended``, ``mdt_attendance`` (over ``mdt_window``: by default every MDT row
        from launch); with care plans ``eligible``, ``completed``, ``completion_share``.
    ``share_referring``
        Per period: ``units``, ``referring``, ``share``, ``ci_low``, ``ci_high``.
    ``mdt``, ``mdt_by_unit``
        ``profession`` (and unit), ``invited``, ``attended``, ``rate``, ``ci_low``,
        ``ci_high`` (empty without MDT data).
    ``concentration``
        One row: ``units``, ``referrals``, ``gini``, ``top20_share``, ``top20_units``.
    ``lorenz``
        ``share_of_units``, ``share_of_total``.
    ``time_to_first``
        The Kaplan-Meier curve: ``time``, ``at_risk``, ``events``, ``survival``, ``se``.
    """

    def headline(self) -> str:
        """One plain-English sentence on engagement, with numbers."""
        d = self.diagnostics
        per = d["period_word"]
        text = (f"{d['share_referring']:.0%} of the {d['n_units']} scheme units referred at "
                f"least once in their first {d['window']} {per}s "
                f"(median {d['median_per_1000']:.1f} referrals per 1,000 patients)")
        if not np.isnan(d["gini"]):
            text += (f"; referrals were concentrated, with the top 20% of units making "
                     f"{d['top20_share']:.0%} of them (Gini {d['gini']:.2f})")
        if d.get("lowest_mdt_profession"):
            rate = ("its share is not shown: small numbers" if d.get("lowest_mdt_hidden")
                    else f"{d['lowest_mdt_rate']:.0%}")
            text += (f"; MDT attendance was lowest for {d['lowest_mdt_profession']}s "
                     f"({rate})")
        return text + "."

    def summary(self) -> str:
        """The headline, the measures and any warnings, as plain text."""
        d = self.diagnostics
        lines = [self.headline(), "", super().summary()]
        if d["n_never"]:
            med = d["median_time_to_first"]
            lines.append(f"{d['n_never']} unit(s) never referred in the window; they are "
                         "censored in the time to first referral, whose Kaplan-Meier median "
                         + (f"is {med:g} {d['period_word']}s." if not np.isnan(med) else
                            "is not reached (fewer than half the units referred)."))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<EngagementResult: {self.diagnostics['n_units']} units>"


# --------------------------------------------------------------------------- main


@takes_frame
def engagement(referrals: pd.DataFrame, *, sizes: pd.DataFrame, unit: str = "practice",
               time: str = "month", start: Any = None, mdt: pd.DataFrame | None = None,
               care_plans: pd.DataFrame | None = None, window: int = 12,
               mdt_window: int | None = None, count: str = "referrals",
               size: str | None = None,
               units: Sequence[Any] | None = None, align: str = "calendar",
               conf_level: float = 0.95, scheme: str | None = None,
               file: str | Mapping[str, str] | None = None,
               disclosure: DisclosureRules | None = None) -> EngagementResult:
    """Measure scheme units' engagement: referrals, MDT attendance, care plans.

    Parameters
    ----------
    referrals
        One row per scheme unit and period: ``unit``, ``time``, ``count`` (referrals).
        Absent unit-periods count as zero.
    sizes
        List sizes (or populations): ``unit``, ``size`` and, optionally, ``time`` (a
        panel: the list size of each period; without it, one size per unit). Periods
        missing for a unit use that unit's mean size, with a warning.
    unit, time
        Column names, shared by every table.
    start
        The launch period for every unit (as the time column writes periods); default:
        each unit's first row in ``referrals``.
    mdt
        Optional MDT meetings: ``unit``, ``time``, ``profession``, ``invited``,
        ``attended`` (counts, attended <= invited).
    care_plans
        Optional care plans: ``unit``, ``time``, ``eligible``, ``completed`` (counts,
        completed <= eligible).
    window
        Periods from launch that the unit-level referral and care-plan measures cover
        (12 months by default).
    mdt_window
        Periods from launch that MDT attendance covers; default every MDT row from the
        unit's launch on (MDT records usually cover a fixed early period already).
    count, size
        The referral-count column; the list-size column of ``sizes`` (default
        ``list_size``, or ``population`` if that is what ``sizes`` has).
    units
        All scheme units, so that units with no rows at all count as never referring
        (needs ``start``).
    align
        ``share_referring`` by ``"calendar"`` period or by period since ``"launch"``.
    conf_level
        Level of the Wilson and other intervals.
    scheme
        The scheme's name, for the effect records.
    file
        The file to name in errors: a path (the referrals) or a mapping from table name
        (``referrals``, ``sizes``, ``mdt``, ``care_plans``) to path.
    disclosure
        The disclosure-control rules (default: NHS HES small numbers). Measures are
        computed on every count; what may be published is marked: ``hidden`` in the
        ``mdt`` frames (attendance by profession, suppressed with its totals so that the
        overall rate gives no hidden profession away), ``referrals_hidden`` in
        ``by_unit``, and overall shares whose count is hidden are NaN in the effect
        records with ``suppressed`` in their diagnostics
        (:mod:`evalkit.evidence.disclosure`).

    Returns
    -------
    EngagementResult

    Raises
    ------
    DataError
        Missing columns, unreadable periods, negative or fractional counts, duplicate
        unit-periods, attended above invited, units without a list size.
    DesignError
        A window below 1, ``units`` without ``start``, an unknown ``align``.

    Examples
    --------
    >>> import pandas as pd
    >>> ref = pd.DataFrame({"practice": ["A", "A", "B", "B"],
    ...                     "month": ["2019-04", "2019-05"] * 2, "referrals": [3, 1, 0, 0]})
    >>> sizes = pd.DataFrame({"practice": ["A", "B"], "list_size": [8000, 4000]})
    >>> res = engagement(ref, sizes=sizes, window=2)
    >>> res.by_unit[["practice", "referrals", "per_1000"]].values.tolist()
    [['A', 4.0, 0.5], ['B', 0.0, 0.0]]
    """
    check_whole("window", window, 1)
    check_whole("mdt_window", mdt_window, 1, optional=True)
    check_choice("align", align, ALIGN)
    check_conf_level(conf_level)
    rules = disclosure or DisclosureRules()
    f_ref = _file_for(file, "referrals")
    need_columns(referrals, {unit: "unit", time: "time", count: "referral count"},
                 file=f_ref, table="referrals")
    warnings: list[str] = []
    if len(referrals) == 0 and units is None:
        raise DataError("the referrals table has no rows", file=f_ref,
                        fix="give one row per scheme unit and period (zeros allowed)")
    codes, axis = parse_periods(referrals[time], file=f_ref, column=time)
    y_rows = whole_counts(referrals, count, file=f_ref, what="the referral count")
    _duplicates(pd.DataFrame({"u": referrals[unit].to_numpy(), "t": codes}), file=f_ref,
                column=time, what=f"{unit} and {time}")
    uidx, labels = pd.factorize(referrals[unit], sort=True)
    labels = list(labels)
    if units is not None:
        if start is None:
            raise DesignError("units= needs start= (units with no rows have no launch "
                              "period otherwise)", fix="give the scheme's start period")
        extra = sorted(set(units) - set(labels), key=str)
        labels = sorted(set(labels) | set(units), key=str)
        uidx = pd.Index(labels).get_indexer(referrals[unit])
        if extra:
            warnings.append(f"{len(extra)} unit(s) have no referral rows and count as never "
                            f"referring: {', '.join(map(str, extra[:5]))}"
                            + (" and more" if len(extra) > 5 else ""))
    n_units = len(labels)
    end = int(codes.max()) if codes.size else parse_period(start, axis)
    if start is None:
        launch = np.full(n_units, np.iinfo(np.int64).max)
        np.minimum.at(launch, uidx, codes)
    else:
        s = parse_period(start, axis)
        if s > end:
            raise DataError(f"the start {axis.label(s)} is after the last period of the "
                            f"referrals ({axis.label(end)})", file=f_ref, column=time,
                            fix="check the start, or extend the referral data")
        launch = np.full(n_units, s, dtype=np.int64)
        early = codes < s
        if early.any():
            warnings.append(f"{int(early.sum())} referral row(s) before the start "
                            f"{axis.label(s)} were left out")
            keep = ~early
            codes, y_rows, uidx = codes[keep], y_rows[keep], uidx[keep]

    # The dense unit x period grid from each unit's launch to the end of the data.
    n_per = end - launch + 1
    first_row = np.concatenate([[0], np.cumsum(n_per)[:-1]])
    g_unit = np.repeat(np.arange(n_units), n_per)
    g_since = np.arange(int(n_per.sum())) - np.repeat(first_row, n_per)  # 0 = launch
    g_code = launch[g_unit] + g_since
    y = np.zeros(g_unit.size)
    y[first_row[uidx] + codes - launch[uidx]] = y_rows
    in_window = g_since < window
    grid = pd.DataFrame({"_u": g_unit, "_t": g_code})

    list_size = _sizes(sizes, grid, labels, unit=unit, time=time, size=size, axis=axis,
                       file=_file_for(file, "sizes"), warnings=warnings)
    unit_labels = np.asarray(labels, dtype=object)
    time_labels = np.asarray(axis.labels(np.unique(g_code)), dtype=object)
    t_label = time_labels[np.searchsorted(np.unique(g_code), g_code)]
    by_period = pd.DataFrame({unit: unit_labels[g_unit], time: t_label,
                              "period": g_since + 1, "in_window": in_window,
                              "referrals": y, "list_size": list_size,
                              "per_1000": 1000 * y / list_size, "referred": y > 0})

    # Per unit over the window.
    w = in_window.astype(float)
    observed = np.bincount(g_unit, weights=w, minlength=n_units)
    total = np.bincount(g_unit, weights=y * w, minlength=n_units)
    patient_periods = np.bincount(g_unit, weights=list_size * w, minlength=n_units)
    active = np.bincount(g_unit, weights=(y > 0) * w, minlength=n_units)
    first = np.full(n_units, np.inf)
    hit = (y > 0) & in_window
    np.minimum.at(first, g_unit[hit], g_since[hit] + 1.0)
    never = ~np.isfinite(first)
    by_unit = pd.DataFrame({
        unit: unit_labels, "launch": axis.labels(launch), "periods_observed": observed,
        "referrals": total, "list_size": patient_periods / observed,
        "per_1000": 1000 * total / patient_periods * window, "periods_active": active,
        "share_active": active / observed,
        "time_to_first_referral": np.where(never, np.nan, first), "censored": never,
        "censor_time": np.where(never, observed, np.nan),
        "referrals_hidden": small_counts(total, rules)})
    short = observed < window
    if short.any():
        warnings.append(f"{int(short.sum())} unit(s) were observed for fewer than {window} "
                        f"periods after launch; their per_1000 is scaled up to {window} "
                        "periods and their time to first referral is censored earlier")

    # Care plans.
    if care_plans is not None:
        by_period, by_unit = _care_plans(care_plans, grid, by_period, by_unit, g_unit,
                                         in_window, labels, unit=unit, time=time, axis=axis,
                                         file=_file_for(file, "care_plans"),
                                         warnings=warnings, conf_level=conf_level)

    # Share referring per period.
    key = g_code if align == "calendar" else g_since + 1
    ukey, kinv = np.unique(key, return_inverse=True)
    n_at = np.bincount(kinv, minlength=ukey.size).astype(float)
    n_ref = np.bincount(kinv, weights=(y > 0).astype(float), minlength=ukey.size)
    lo, hi = _wilson(n_ref, n_at, conf_level)
    share = pd.DataFrame({(time if align == "calendar" else "period"):
                          axis.labels(ukey) if align == "calendar" else ukey,
                          "units": n_at.astype(int), "referring": n_ref.astype(int),
                          "share": n_ref / n_at, "ci_low": lo, "ci_high": hi})

    # MDT attendance.
    mdt_prof = pd.DataFrame(columns=["profession", "invited", "attended", "rate", "ci_low",
                                     "ci_high", "hidden"])
    mdt_unit = pd.DataFrame(columns=[unit, *mdt_prof.columns])
    overall_mdt = None
    mdt_total_hidden = False
    if mdt is not None:
        mdt_prof, mdt_unit, overall_mdt, per_unit_mdt = _mdt(
            mdt, labels, launch, mdt_window, unit=unit, time=time, axis=axis,
            file=_file_for(file, "mdt"), warnings=warnings, conf_level=conf_level)
        if len(mdt_prof):
            shown = proportions(mdt_prof["attended"], mdt_prof["invited"],
                                mdt_prof["profession"], rules=rules,
                                total_label="all professions").suppressed["numerator"]
            mdt_prof = mdt_prof.assign(hidden=shown.to_numpy()[:-1])
            mdt_total_hidden = bool(shown.iloc[-1])
        mdt_unit = mdt_unit.assign(hidden=share_hidden(
            mdt_unit["attended"].to_numpy(float), mdt_unit["invited"].to_numpy(float), rules))
        by_unit = by_unit.assign(invited=per_unit_mdt[0], attended=per_unit_mdt[1],
                                 mdt_attendance=_share(per_unit_mdt[1], per_unit_mdt[0]))

    # Concentration.
    g = gini(total)
    t20 = top_share(total, 0.2)
    concentration = pd.DataFrame({"units": [n_units], "referrals": [total.sum()],
                                  "gini": [g], "top20_share": [t20],
                                  "top20_units": [0.2 * n_units]})
    if total.sum() == 0:
        warnings.append("no unit referred in the window: the Gini coefficient and the top "
                        "20% share are undefined")

    # Time to first referral (never-referring units censored).
    km_time = np.where(never, observed, first)
    km, km_median = kaplan_meier(km_time, (~never).astype(float), conf_level=conf_level)

    records = _records(
        n_units=n_units, referring=int((~never).sum()), total=total,
        exposure=patient_periods / (1000 * window), gini_value=g, top20=t20,
        km_median=km_median, overall_mdt=overall_mdt, care=by_unit if care_plans is not None
        else None, window=window, conf_level=conf_level, scheme=scheme, warnings=warnings,
        mdt_hidden=mdt_total_hidden, rules=rules)
    lowest = (mdt_prof.sort_values("rate", kind="stable").iloc[0] if len(mdt_prof)
              else None)
    diagnostics = {
        "n_units": n_units, "n_referring": int((~never).sum()), "n_never": int(never.sum()),
        "share_referring": float((~never).mean()), "window": window,
        "median_per_1000": float(np.median(by_unit["per_1000"])), "gini": g,
        "top20_share": t20, "top20_units": 0.2 * n_units,
        "median_time_to_first": km_median["median"],
        "median_time_to_first_ci": [km_median["ci_low"], km_median["ci_high"]],
        "period_word": "month" if axis.kind == "month" else "period",
        "lowest_mdt_profession": None if lowest is None else str(lowest["profession"]),
        "lowest_mdt_rate": None if lowest is None else float(lowest["rate"]),
        "lowest_mdt_hidden": None if lowest is None else bool(lowest["hidden"]),
        "unit": unit, "time": time, "align": align,
    }
    options = {"unit": unit, "time": time, "start": start, "window": window,
               "mdt_window": mdt_window, "count": count,
               "size": size, "align": align, "conf_level": conf_level, "scheme": scheme}
    frames = {"by_period": by_period, "by_unit": by_unit, "share_referring": share,
              "mdt": mdt_prof.reset_index(drop=True),
              "mdt_by_unit": mdt_unit.reset_index(drop=True),
              "concentration": concentration, "lorenz": lorenz_curve(total),
              "time_to_first": km}
    return EngagementResult(design=DESIGN, effects=effects_frame(records),
                            diagnostics=diagnostics, warnings=tuple(warnings),
                            options=options, frames=frames)


# --------------------------------------------------------------------------- pieces


def _sizes(sizes: pd.DataFrame, grid: pd.DataFrame, labels: list, *, unit: str, time: str,
           size: str | None, axis: PeriodAxis, file: str | None,
           warnings: list[str]) -> np.ndarray:
    """The list size of every grid row (unit x period)."""
    if size is None:
        size = "population" if ("population" in getattr(sizes, "columns", ())
                                and "list_size" not in sizes.columns) else "list_size"
    need_columns(sizes, {unit: "unit", size: "list size"}, file=file, table="sizes")
    sub = sizes[sizes[unit].isin(labels)]
    rows = np.flatnonzero(sizes[unit].isin(labels).to_numpy())
    values = pd.to_numeric(sub[size], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise DataError("list sizes must be positive numbers", file=file, column=size,
                        rows=[int(r) + 2 for r in rows[bad]],
                        fix="correct or fill in the list sizes of scheme units")
    u_of = pd.Index(labels).get_indexer(sub[unit])
    missing = sorted(set(range(len(labels))) - set(u_of.tolist()))
    if missing:
        names = [str(labels[i]) for i in missing]
        raise DataError(f"no list size for {len(names)} scheme unit(s): "
                        f"{', '.join(names[:5])}" + (" and more" if len(names) > 5 else ""),
                        file=file, column=unit,
                        fix="add these units to the sizes table (the panel with list sizes)")
    mean_size = np.bincount(u_of, weights=values, minlength=len(labels)) / \
        np.bincount(u_of, minlength=len(labels))
    if time not in sizes.columns:
        return mean_size[grid["_u"].to_numpy()]
    codes = _periods(sub, time, axis, file=file, table="sizes")
    keys = pd.DataFrame({"_u": u_of, "_t": codes})
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataError(f"{int(dup.sum())} rows share a {unit} and {time}", file=file,
                        column=time, rows=[int(r) + 2 for r in rows[dup]],
                        fix="keep one list size per unit and period")
    merged = grid.merge(keys.assign(_size=values), on=["_u", "_t"], how="left")
    out = merged["_size"].to_numpy(dtype=float)
    gap = np.isnan(out)
    if gap.any():
        out[gap] = mean_size[grid["_u"].to_numpy()[gap]]
        warnings.append(f"{int(gap.sum())} unit-period(s) had no list size; each used its "
                        "unit's mean list size")
    return out


def _check_within(data: pd.DataFrame, part: str, whole: str, part_v, whole_v, *,
                  file: str | None, table: str) -> None:
    over = part_v > whole_v
    if over.any():
        raise DataError(f"'{part}' is larger than '{whole}' in the {table} table", file=file,
                        column=part, rows=[int(r) + 2 for r in np.flatnonzero(over)],
                        fix=f"'{part}' counts some of '{whole}'; correct the extract")


def _care_plans(care_plans, grid, by_period, by_unit, g_unit, in_window, labels, *, unit,
                time, axis, file, warnings, conf_level):
    need_columns(care_plans, {unit: "unit", time: "time", "eligible": "eligible count",
                              "completed": "completed count"}, file=file, table="care_plans")
    codes = _periods(care_plans, time, axis, file=file, table="care plans")
    eligible = whole_counts(care_plans, "eligible", file=file, what="the eligible count")
    completed = whole_counts(care_plans, "completed", file=file, what="the completed count")
    _check_within(care_plans, "completed", "eligible", completed, eligible, file=file,
                  table="care plans")
    _duplicates(pd.DataFrame({"u": care_plans[unit].to_numpy(), "t": codes}), file=file,
                column=time, what=f"{unit} and {time}")
    u_of = pd.Index(labels).get_indexer(care_plans[unit])
    known = u_of >= 0
    if not known.all():
        warnings.append(f"{int((~known).sum())} care-plan row(s) of units not in the "
                        "referrals were left out")
    cp = pd.DataFrame({"_u": u_of[known], "_t": codes[known], "eligible": eligible[known],
                       "completed": completed[known]})
    merged = grid.merge(cp, on=["_u", "_t"], how="left")
    outside = len(cp) - int(merged["eligible"].notna().sum())
    if outside:
        warnings.append(f"{outside} care-plan row(s) fall outside the units' observed "
                        "periods and were left out")
    e = merged["eligible"].to_numpy(dtype=float)
    c = merged["completed"].to_numpy(dtype=float)
    by_period = by_period.assign(eligible=e, completed=c, completion_share=_share(c, e))
    wv = in_window & np.isfinite(e)
    n = len(labels)
    e_u = np.bincount(g_unit[wv], weights=e[wv], minlength=n)
    c_u = np.bincount(g_unit[wv], weights=c[wv], minlength=n)
    by_unit = by_unit.assign(eligible=e_u, completed=c_u, completion_share=_share(c_u, e_u))
    return by_period, by_unit


def _mdt(mdt, labels, launch, window, *, unit, time, axis, file, warnings, conf_level):
    need_columns(mdt, {unit: "unit", time: "time", "profession": "profession",
                       "invited": "invited count", "attended": "attended count"},
                 file=file, table="mdt")
    codes = _periods(mdt, time, axis, file=file, table="MDT")
    invited = whole_counts(mdt, "invited", file=file, what="the invited count")
    attended = whole_counts(mdt, "attended", file=file, what="the attended count")
    _check_within(mdt, "attended", "invited", attended, invited, file=file, table="MDT")
    u_of = pd.Index(labels).get_indexer(mdt[unit])
    known = u_of >= 0
    if not known.all():
        warnings.append(f"{int((~known).sum())} MDT row(s) of units not in the referrals "
                        "were left out")
    since = np.where(known, codes - launch[np.maximum(u_of, 0)], -1)
    keep = known & (since >= 0) & (since < (window if window is not None else np.inf))
    dropped = int((known & ~keep).sum())
    if dropped:
        where = "before launch" if window is None else f"outside the units' first {window} " \
            "periods"
        warnings.append(f"{dropped} MDT row(s) {where} were left out")
    sub = pd.DataFrame({unit: np.asarray(labels, dtype=object)[u_of[keep]],
                        "profession": mdt["profession"].to_numpy()[keep],
                        "invited": invited[keep], "attended": attended[keep]})

    def rates(frame: pd.DataFrame) -> pd.DataFrame:
        lo, hi = _wilson(frame["attended"], frame["invited"], conf_level)
        return frame.assign(rate=_share(frame["attended"], frame["invited"]), ci_low=lo,
                            ci_high=hi)

    prof = rates(sub.groupby("profession", sort=True)[["invited", "attended"]].sum()
                 .reset_index())
    by_up = rates(sub.groupby([unit, "profession"], sort=True)[["invited", "attended"]].sum()
                  .reset_index())
    n = len(labels)
    per_unit = (np.bincount(u_of[keep], weights=invited[keep], minlength=n),
                np.bincount(u_of[keep], weights=attended[keep], minlength=n))
    overall = (float(attended[keep].sum()), float(invited[keep].sum()))
    return prof, by_up, overall, per_unit


def _records(*, n_units, referring, total, exposure, gini_value, top20, km_median,
             overall_mdt, care, window, conf_level, scheme, warnings, mdt_hidden=False,
             rules=None) -> list[EffectRecord]:
    common = {"design": DESIGN, "conf_level": conf_level, "p_value": float("nan"),
              "n_units": n_units, "pre_periods": 0, "post_periods": window,
              "evidence_level": maryland_level(DESIGN, "descriptive"), "scheme": scheme,
              "domain": "engagement",
              "warnings": tuple(warnings)}
    nan = float("nan")

    def percent(outcome, estimand, k, n, diag, hidden=False) -> EffectRecord:
        p = k / n if n > 0 else nan
        lo, hi = _wilson(np.array([k]), np.array([n]), conf_level)
        se = np.sqrt(p * (1 - p) / n) if n > 0 else nan
        if hidden:  # disclosure control: the share would give a hidden count away
            p = se = nan
            lo = hi = np.array([nan])
            diag = {**diag, "suppressed": "small numbers"}
        return EffectRecord(outcome=outcome, estimand=estimand, scale="percent",
                            estimate=100 * p, se=100 * se, ci_low=100 * float(lo[0]),
                            ci_high=100 * float(hi[0]), diagnostics=diag, **common)

    rate = _pooled_rate(total, exposure, conf_level)
    out = [
        percent("referrals", "share_referring", referring, n_units,
                {"interval": "wilson", "referring": referring}),
        EffectRecord(outcome="referrals", estimand="per_1000", scale="difference",
                     estimate=rate["estimate"], se=rate["se"], ci_low=rate["ci_low"],
                     ci_high=rate["ci_high"],
                     diagnostics={"interval": "quasi-Poisson (Pearson-scaled), log scale",
                                  "dispersion": rate["dispersion"],
                                  "rate_per": 1000, "per_periods": window},
                     **common),
        EffectRecord(outcome="referrals", estimand="gini", scale="difference",
                     estimate=gini_value, se=nan, ci_low=nan, ci_high=nan,
                     diagnostics={"note": "descriptive of these units; no interval"},
                     **common),
        EffectRecord(outcome="referrals", estimand="top20_share", scale="percent",
                     estimate=100 * top20, se=nan, ci_low=nan, ci_high=nan,
                     diagnostics={"top_units": 0.2 * n_units,
                                  "note": "fractional boundary unit; ties irrelevant"},
                     **common),
        EffectRecord(outcome="referrals", estimand="median_time_to_first_referral",
                     scale="difference", estimate=km_median["median"], se=nan,
                     ci_low=km_median["ci_low"], ci_high=km_median["ci_high"],
                     diagnostics={"method": "Kaplan-Meier; never-referring units censored",
                                  "interval": "Brookmeyer-Crowley, complementary log-log"},
                     **common),
    ]
    if overall_mdt is not None:
        out.append(percent("mdt_attendance", "attendance_rate", overall_mdt[0],
                           overall_mdt[1], {"interval": "wilson",
                                            "note": "meetings treated as independent"},
                           hidden=mdt_hidden))
    if care is not None:
        done, eligible = float(care["completed"].sum()), float(care["eligible"].sum())
        out.append(percent("care_plans", "completion_share", done, eligible,
                           {"interval": "wilson"},
                           hidden=bool(share_hidden(done, eligible, rules)[0])))
    return out
