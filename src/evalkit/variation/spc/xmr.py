"""XmR (individuals and moving range) charts, as NHS England's Making Data Count draws them.

The limits of each phase are the mean plus or minus 2.66 times the average moving
range (MR-bar); the two-sigma lines are at two thirds of that distance. By default
moving ranges above 3.267 times MR-bar are screened out and MR-bar recomputed once
(Nelson 1982, as NHSRplotthedots does by default); ``screen_outliers=False`` matches the
Making Data Count Excel tools, which do not screen. The whole calculation is array work
on the points sorted by group and time, so a national panel of practices runs in one
pass (see ``benchmarks/spc.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.inputs import listlike, takes_frame
from evalkit.errors import DesignError
from evalkit.variation.spc.prepare import prepare
from evalkit.variation.spc.result import SPCResult, build, check_improvement
from evalkit.variation.spc.rules import detect

__all__ = ["xmr", "xmr_limits", "LIMIT_FACTOR", "TWO_SIGMA_FACTOR", "SCREEN_FACTOR"]

#: Process limits: mean +/- 2.66 x MR-bar (3 / d2, d2 = 1.128 for ranges of two).
LIMIT_FACTOR = 2.66
#: Two-sigma lines: mean +/- (2 / 3) x 2.66 x MR-bar.
TWO_SIGMA_FACTOR = 2 * (LIMIT_FACTOR / 3)
#: Moving ranges of 3.267 x MR-bar or more are screened out (the MR chart's upper limit).
SCREEN_FACTOR = 3.267


def xmr_limits(y: np.ndarray, seg: np.ndarray, n_segments: int, base: np.ndarray, *,
               screen_outliers: bool = True
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and MR-bar of every segment at once.

    Parameters
    ----------
    y
        Values sorted by segment then time.
    seg
        Segment id per point, non-decreasing.
    n_segments
        The number of segments.
    base
        Points the limits are computed from (all, or the first ``fix_after`` of each
        segment).
    screen_outliers
        Drop moving ranges of at least 3.267 x MR-bar and recompute MR-bar. As in
        NHSRplotthedots, a moving range is kept when it is strictly below 3.267 x MR-bar
        (and all are kept when MR-bar is 0).

    Returns
    -------
    mean, mr_bar
        Per segment.
    moving_range
        Per point, ``|y[i] - y[i - 1]|`` within the segment (NaN at its first point).
    mr_in_limits
        Per point, whether that moving range entered MR-bar.

    Examples
    --------
    >>> y = np.array([1.0, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1])
    >>> mean, mr_bar, _, _ = xmr_limits(y, np.zeros(18, int), 1, np.ones(18, bool))
    >>> round(float(mean[0]), 3), float(mr_bar[0])
    (1.944, 1.0)
    """
    n = y.size
    same = np.r_[False, seg[1:] == seg[:-1]]
    mr = np.full(n, np.nan)
    mr[1:] = np.abs(y[1:] - y[:-1])
    mr[~same] = np.nan
    valid = same & base & np.r_[False, base[:-1]]
    n_base = np.bincount(seg, weights=base, minlength=n_segments)
    mean = np.bincount(seg, weights=np.where(base, y, 0.0), minlength=n_segments) / n_base

    def average(keep):
        total = np.bincount(seg, weights=np.where(keep, mr, 0.0), minlength=n_segments)
        return total / np.bincount(seg, weights=keep, minlength=n_segments)

    mr_bar = average(valid)
    if screen_outliers:
        valid = valid & ((mr < SCREEN_FACTOR * mr_bar[seg]) | (mr_bar[seg] == 0))
        mr_bar = average(valid)
    return mean, mr_bar, mr, valid


@takes_frame(also=(listlike, "a pandas DataFrame or a list of numbers"))
def xmr(data: pd.DataFrame | Sequence[float] | np.ndarray | pd.Series, *,
        value: str | None = None, time: str | Sequence[Any] | None = None,
        group: str | None = None, rebase: Any = None, fix_after: int | None = None,
        screen_outliers: bool = True, improvement: str | Mapping[Any, str] | None = None,
        target: float | Mapping[Any, float] | None = None,
        file: str | None = None) -> SPCResult:
    """An XmR chart with the Making Data Count rules, for one series or many groups.

    Parameters
    ----------
    data
        A DataFrame with the ``value`` column (and optional ``time`` and ``group``
        columns), or a 1-D sequence of values (then ``time`` may be a sequence of the
        same length).
    value
        The column charted (required with a DataFrame).
    time
        The time column: dates, months such as ``"2019-04"``, or period numbers.
        Without it, points are taken in row order within each group (1, 2, ...).
    group
        A column of groups (practices, outcomes): each gets its own chart, computed
        together in one pass.
    rebase
        A time, or a list of times, at which a new phase starts, each with its own
        limits; or a mapping ``{group: time(s)}``. Each time must be in the series.
    fix_after
        Compute each phase's limits from its first ``fix_after`` points and hold them
        for the rest of the phase (at least 6).
    screen_outliers
        Screen moving ranges of 3.267 x MR-bar or more out of MR-bar (the default, as
        NHSRplotthedots). ``False`` gives the Making Data Count Excel tools' limits.
    improvement
        ``"increase"`` if higher values are better, ``"decrease"`` if lower are (or
        ``{group: direction}``), or None: special-cause points are then "neither".
    target
        A number (or ``{group: number}``) for the assurance class of each phase.
    file
        The data's file name, for error messages.

    Returns
    -------
    SPCResult
        ``.limits``, ``.points`` (with the rule columns and ``variation``),
        ``.assurance``, ``.overview``, ``summary()``, ``to_frame()``, ``plot_data()``.

    Raises
    ------
    DataError
        Non-numeric or missing values (rows named), two rows for one group and time,
        or a phase whose limits would rest on fewer than 6 points. Below 15 points an
        :class:`~evalkit.variation.spc.SPCWarning` says the limits are trial limits. (Wheeler's
        "useful limits may be constructed with as few as five or six values", quoted in
        NHSRplotthedots' vignette "Number of points required", sets the floor.)
    DesignError
        A rebase time not in the series (the message names the nearest times), or a
        bad option.

    Notes
    -----
    Rules (see :mod:`evalkit.variation.spc.rules` for the conventions and their sources): a point
    beyond a process limit; a shift of 7 or more points on one side of the mean; a trend
    of 7 or more points each strictly higher (or lower) than the last, where a tie ends
    the trend; two of three consecutive points beyond two sigma on the same side, all
    three on that side of the mean. A point signalling both ways counts as improvement
    (labelled high when ``improvement`` is None).
    The variation icon of a group is that of its latest point, as in Making Data Count.

    Examples
    --------
    The NHSRplotthedots example (vignette "Deviations from Excel defaults"):

    >>> import warnings
    >>> with warnings.catch_warnings():  # 18 points: a warning that limits are trial limits
    ...     warnings.simplefilter("ignore")
    ...     res = xmr([1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1])
    >>> res.limits[["mean", "lower", "upper"]].round(2).values.tolist()
    [[1.94, -0.72, 4.6]]
    >>> res.overview["variation_icon"].iloc[0]
    'common_cause'
    """
    check_improvement(improvement, file)
    if isinstance(data, pd.Series) and value is None:
        value = data.name if data.name is not None else "value"
        data = data.to_frame(name=value)
    if isinstance(data, pd.DataFrame) and value is None:
        raise DesignError("name the value column", file=file,
                          fix="call xmr(frame, value='column', ...)")
    columns = {"value": value if isinstance(data, pd.DataFrame) else None}
    prep = prepare(data, columns=columns, time=time, group=group, rebase=rebase,
                   fix_after=fix_after, file=file)
    y = prep.values["value"]
    seg = prep.seg
    mean_s, mr_bar_s, mr, used = xmr_limits(y, seg, prep.n_segments, prep.base,
                                            screen_outliers=screen_outliers)
    upper_s = mean_s + LIMIT_FACTOR * mr_bar_s
    lower_s = mean_s - LIMIT_FACTOR * mr_bar_s
    upper2_s = mean_s + TWO_SIGMA_FACTOR * mr_bar_s
    lower2_s = mean_s - TWO_SIGMA_FACTOR * mr_bar_s
    mean, upper, lower = mean_s[seg], upper_s[seg], lower_s[seg]
    upper2, lower2 = upper2_s[seg], lower2_s[seg]
    signals = detect(y, seg, mean, upper, lower, upper2, lower2)
    n_base = np.bincount(seg, weights=prep.base, minlength=prep.n_segments).astype(int)
    options = {"value": value or "value", "time": time if isinstance(time, str) else None,
               "group": group, "rebase": rebase, "fix_after": fix_after,
               "screen_outliers": screen_outliers, "improvement": improvement,
               "target": target, "time_kind": prep.time_kind}
    return build(prep, chart="xmr", y=y, mean=mean, upper=upper, lower=lower,
                 upper_2sigma=upper2, lower_2sigma=lower2, signals=signals,
                 point_extra={"moving_range": mr, "mr_in_limits": used},
                 limits_extra={"n_baseline": n_base, "mean": mean_s, "upper": upper_s,
                               "lower": lower_s, "upper_2sigma": upper2_s,
                               "lower_2sigma": lower2_s, "mr_bar": mr_bar_s},
                 improvement=improvement, target=target, options=options, file=file)
