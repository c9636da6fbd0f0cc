"""p-charts (proportions) and u-charts (rates per unit of exposure).

Each point has its own limits because its denominator differs: for a p-chart
p-bar +/- 3 sqrt(p-bar (1 - p-bar) / n_i), kept within 0 and 1; for a u-chart
u-bar +/- 3 sqrt(u-bar / n_i), kept at or above 0 (Montgomery, *Introduction to
Statistical Quality Control*, chapter 7; Provost & Murray, *The Health Care Data
Guide*, chapter 6). The centre line of a phase is its pooled rate, total numerator over
total denominator. The Making Data Count rules of :mod:`evalkit.variation.spc.rules` apply with
these per-point limits and two-sigma lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.inputs import takes_frame
from evalkit.errors import DataError, DesignError
from evalkit.variation.spc.prepare import prepare
from evalkit.variation.spc.result import SPCResult, build, check_improvement
from evalkit.variation.spc.rules import detect

__all__ = ["p_chart", "u_chart"]


def _checker(kind: str, numerator: str, denominator: str, file):
    def check(values: Mapping[str, np.ndarray]) -> None:
        num, den = values["numerator"], values["denominator"]
        bad = np.flatnonzero(num < 0)
        if bad.size:
            raise DataError("counts are negative", file=file, column=numerator,
                            rows=(bad + 2).tolist(), fix="counts must be 0 or more")
        bad = np.flatnonzero(den <= 0)
        if bad.size:
            raise DataError("denominators are zero or negative", file=file,
                            column=denominator, rows=(bad + 2).tolist(),
                            fix="drop periods with no one at risk, or correct the "
                                "denominator")
        if kind == "p":
            bad = np.flatnonzero(den < num)
            if bad.size:
                raise DataError(f"the denominator is smaller than the numerator "
                                f"({numerator})", file=file, column=denominator,
                                rows=(bad + 2).tolist(),
                                fix="a proportion counts people out of a total, so the "
                                    "total must be at least the count; use u_chart for "
                                    "rates that can exceed 1")
    return check


def _attribute(kind: str, data, *, numerator: str, denominator: str, time, group, rebase,
               improvement, target, per: float, file) -> SPCResult:
    check_improvement(improvement, file)
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"{kind}_chart needs a DataFrame with numerator and denominator "
                          f"columns, not a {type(data).__name__}", file=file,
                          fix="pass a DataFrame and name its columns")
    try:
        per = float(per)
    except (TypeError, ValueError):
        per = float("nan")
    if not np.isfinite(per) or per <= 0:
        raise DesignError("per must be a positive number", file=file,
                          fix="e.g. per=1000 for rates per 1,000, per=100 for percentages")
    prep = prepare(data, columns={"numerator": numerator, "denominator": denominator},
                   time=time, group=group, rebase=rebase, file=file,
                   check=_checker(kind, numerator, denominator, file))
    num, den, seg = prep.values["numerator"], prep.values["denominator"], prep.seg
    segs = prep.n_segments
    total_num = np.bincount(seg, weights=num, minlength=segs)
    total_den = np.bincount(seg, weights=den, minlength=segs)
    centre = total_num / total_den
    mean_den = total_den / prep.seg_count

    def sigma(c, n):
        return np.sqrt(c * (1 - c) / n) if kind == "p" else np.sqrt(c / n)

    def lines(c, n):
        s = sigma(c, n)
        hi = np.minimum(c + 3 * s, 1.0) if kind == "p" else c + 3 * s
        hi2 = np.minimum(c + 2 * s, 1.0) if kind == "p" else c + 2 * s
        return hi, np.maximum(c - 3 * s, 0.0), hi2, np.maximum(c - 2 * s, 0.0)

    # everything on the charted scale (the rules compare values, so scaling by a
    # positive ``per`` changes no flag)
    y = num / den * per
    mean = centre[seg] * per
    upper, lower, upper2, lower2 = (v * per for v in lines(centre[seg], den))
    signals = detect(y, seg, mean, upper, lower, upper2, lower2)
    s_upper, s_lower, s_upper2, s_lower2 = (v * per for v in lines(centre, mean_den))
    options = {"value": f"{numerator} per {denominator}" if per == 1
               else f"{numerator} per {per:,g} {denominator}", "numerator": numerator,
               "denominator": denominator, "time": time, "group": group, "rebase": rebase,
               "improvement": improvement, "target": target, "per": per,
               "time_kind": prep.time_kind}
    return build(prep, chart=kind, y=y, mean=mean, upper=upper, lower=lower,
                 upper_2sigma=upper2, lower_2sigma=lower2, signals=signals,
                 point_extra={"numerator": num, "denominator": den},
                 limits_extra={"n_baseline": prep.seg_count, "mean": centre * per,
                               "upper": s_upper, "lower": s_lower,
                               "upper_2sigma": s_upper2, "lower_2sigma": s_lower2,
                               "numerator": total_num, "denominator": total_den,
                               "mean_denominator": mean_den},
                 improvement=improvement, target=target, options=options, file=file)


@takes_frame
def p_chart(data: pd.DataFrame, *, numerator: str, denominator: str, time: str | None = None,
            group: str | None = None, rebase: Any = None, improvement: str | None = None,
            target: float | Mapping[Any, float] | None = None, per: float = 1.0,
            file: str | None = None) -> SPCResult:
    """A p-chart of a proportion with varying denominators, with the Making Data Count rules.

    Parameters
    ----------
    data
        A DataFrame with the ``numerator`` (people or events with the outcome) and
        ``denominator`` (people at risk) columns, and optional ``time`` and ``group``.
    numerator, denominator
        Column names. Each denominator must be positive and at least its numerator.
    time, group, rebase, improvement, file
        As in :func:`~evalkit.variation.spc.xmr`.
    target
        A proportion (on the charted scale: a percentage with ``per=100``), or
        ``{group: proportion}``. A phase passes or fails only when the target is outside
        the limits at every one of its points.
    per
        Chart ``per`` times the proportion (100 for percentages).

    Returns
    -------
    SPCResult
        Points carry their own limits (``upper``, ``lower``); ``.limits`` gives the
        pooled proportion of each phase and the limits at its mean denominator.

    Raises
    ------
    DataError
        Negative counts, zero or negative denominators, denominators smaller than the
        numerator (rows named); as :func:`~evalkit.variation.spc.xmr` otherwise.

    Examples
    --------
    >>> frame = pd.DataFrame({"month": pd.period_range("2022-01", periods=15, freq="M"),
    ...                       "seen": [40, 42, 38, 45, 41, 39, 44, 40, 43, 42, 41, 39, 44,
    ...                                40, 60],
    ...                       "referred": [100] * 15})
    >>> res = p_chart(frame, numerator="seen", denominator="referred", time="month",
    ...               improvement="increase")
    >>> res.points["variation"].iloc[-1]
    'special_cause_improvement'
    """
    return _attribute("p", data, numerator=numerator, denominator=denominator, time=time,
                      group=group, rebase=rebase, improvement=improvement, target=target,
                      per=per, file=file)


@takes_frame
def u_chart(data: pd.DataFrame, *, numerator: str, denominator: str, time: str | None = None,
            group: str | None = None, rebase: Any = None, improvement: str | None = None,
            target: float | Mapping[Any, float] | None = None, per: float = 1.0,
            file: str | None = None) -> SPCResult:
    """A u-chart of a rate per unit of exposure, with the Making Data Count rules.

    Parameters
    ----------
    data
        A DataFrame with the ``numerator`` (events) and ``denominator`` (exposure, e.g.
        list size or bed days) columns, and optional ``time`` and ``group``.
    numerator, denominator
        Column names. Counts must be 0 or more, exposures positive.
    time, group, rebase, improvement, file
        As in :func:`~evalkit.variation.spc.xmr`.
    target
        A rate on the charted scale (per ``per`` units), or ``{group: rate}``.
    per
        Chart rates per ``per`` units of exposure (e.g. 1000).

    Returns
    -------
    SPCResult

    Examples
    --------
    >>> frame = pd.DataFrame({"month": range(1, 16), "admissions": [30] * 14 + [70],
    ...                       "list_size": [10_000] * 15})
    >>> res = u_chart(frame, numerator="admissions", denominator="list_size",
    ...               time="month", per=1000, improvement="decrease")
    >>> res.points["variation"].iloc[-1], round(float(res.limits["mean"].iloc[0]), 3)
    ('special_cause_concern', 3.267)
    """
    return _attribute("u", data, numerator=numerator, denominator=denominator, time=time,
                      group=group, rebase=rebase, improvement=improvement, target=target,
                      per=per, file=file)
