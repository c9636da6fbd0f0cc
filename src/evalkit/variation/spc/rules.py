"""The four Making Data Count special-cause rules, vectorised over segments.

Points arrive as flat arrays sorted by group and time, with a segment id per point
(one segment per group and phase). Runs never cross a segment boundary, so one pass
over the arrays applies the rules to every practice and phase at once. Run lengths come
from a cumulative sum over "a new run starts here" flags and a ``bincount`` of the run
ids, which replaces a loop over series with a handful of array operations.

Conventions (NHS England Making Data Count, as implemented in the NHS-R Community's
NHSRplotthedots 0.2.2, ``R/ptd_calculate_point_type.R`` and ``R/ptd_spc_standard.R``):

* **Outside the limits**: a value strictly above the upper or below the lower process
  limit.
* **Shift**: 7 or more consecutive points all strictly above, or all strictly below, the
  mean; every point of the run is flagged. A point exactly on the mean ends a run.
* **Trend**: 7 or more consecutive points each strictly higher (or each strictly lower)
  than the one before; every point of the run is flagged. *A tie ends a trend*: two
  equal consecutive values neither continue nor break-and-restart it in the same
  direction, so 1, 2, 3, 3, 4, 5, 6 is not a trend. This is NHSRplotthedots' rule
  (``ptd_seven_point_trend`` uses ``sign(diff(y))``, and its test
  ``ptd_seven_point_trend(c(1:3, 3:6))`` expects no trend).
* **Two of three**: in a window of three consecutive points that are all on the same
  side of the mean, at least two lie beyond the two-sigma line on that side; the points
  beyond two sigma in such a window are flagged (the third point, nearer the mean, is
  not). Points beyond the process limit count as beyond two sigma. This follows the
  Making Data Count team's statement of their tool's logic (M. Callus, NHS England,
  NHSRplotthedots issue #194, November 2023: "all points beyond two-sigma are counted
  ... all three points still need to be on the same side of the mean, and the third
  point would not trigger this rule if it is not beyond two-sigma itself").
  NHSRplotthedots 0.2.2 itself still counts only points *between* two and three sigma,
  so a window of one 2-3 sigma point and one point beyond the limit flags the former
  here but not there.

Each point also gets a direction: *high* if a rule flags it above the mean (outside,
shift, two of three) or as part of an increasing trend, *low* likewise. A point can be
both (for example the peak where an increasing trend turns into a decreasing one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RULE_COLUMNS", "RUN_LENGTH", "Signals", "run_lengths", "detect"]

#: The boolean rule columns of a chart's points, in order.
RULE_COLUMNS = ("rule_outside_limits", "rule_shift", "rule_trend", "rule_two_of_three")
#: Points in a run that signal a shift or a trend.
RUN_LENGTH = 7


@dataclass(frozen=True)
class Signals:
    """Rule flags and directions per point (boolean arrays)."""

    outside_limits: np.ndarray
    shift: np.ndarray
    trend: np.ndarray
    two_of_three: np.ndarray
    high: np.ndarray
    low: np.ndarray

    @property
    def special_cause(self) -> np.ndarray:
        return self.outside_limits | self.shift | self.trend | self.two_of_three

    def columns(self) -> dict[str, np.ndarray]:
        """The rule flags under their column names."""
        return dict(zip(RULE_COLUMNS, (self.outside_limits, self.shift, self.trend,
                                       self.two_of_three), strict=True))


def run_lengths(key: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Length of the run of equal ``key`` values (within a segment) each point is in.

    Examples
    --------
    >>> run_lengths(np.array([1, 1, 0, 1, 1, 1]), np.array([0, 0, 0, 0, 1, 1]))
    array([2, 2, 1, 1, 2, 2])
    """
    if key.size == 0:
        return np.zeros(0, np.int64)
    start = np.r_[True, (key[1:] != key[:-1]) | (seg[1:] != seg[:-1])]
    run = np.cumsum(start) - 1
    return np.bincount(run)[run]


def detect(y: np.ndarray, seg: np.ndarray, mean: np.ndarray, upper: np.ndarray,
           lower: np.ndarray, upper_2sigma: np.ndarray, lower_2sigma: np.ndarray
           ) -> Signals:
    """Apply the four rules to every segment at once.

    Parameters
    ----------
    y
        The plotted values, sorted by segment then time.
    seg
        Segment id per point (non-decreasing); runs and windows stay within a segment.
    mean, upper, lower, upper_2sigma, lower_2sigma
        Centre line, process limits and two-sigma lines per point (constant within an
        XmR segment; varying with the denominator on p- and u-charts).

    Returns
    -------
    Signals

    Examples
    --------
    A shift: seven points above a mean of 0 (limits far away).

    >>> y = np.array([1.0] * 7 + [-1.0])
    >>> s = detect(y, np.zeros(8, int), *(np.full(8, v) for v in (0, 9, -9, 6, -6)))
    >>> s.shift.tolist()
    [True, True, True, True, True, True, True, False]
    """
    n = y.size
    side = np.sign(y - mean).astype(np.int8)
    outside = (y > upper) | (y < lower)
    shift = (side != 0) & (run_lengths(side, seg) >= RUN_LENGTH)

    same = np.r_[False, seg[1:] == seg[:-1]]           # point i continues from i - 1
    step = np.zeros(n, np.int8)                        # sign of y[i] - y[i - 1]
    step[1:] = np.sign(y[1:] - y[:-1])
    step[~same] = 0
    # a trend of 7 points is a run of 6 equal non-zero steps; a step belongs to the
    # point it ends at, so the run's first point is the one before the run's first step
    long_run = (step != 0) & (run_lengths(step, seg) >= RUN_LENGTH - 1)
    up_step, down_step = long_run & (step > 0), long_run & (step < 0)
    up = up_step | np.r_[up_step[1:], False]
    down = down_step | np.r_[down_step[1:], False]

    beyond = np.where(side > 0, y > upper_2sigma, (side < 0) & (y < lower_2sigma))
    in_window = np.zeros(n, bool)
    if n >= 3:                                         # the window of points i, i+1, i+2
        window = ((seg[:-2] == seg[2:]) & (side[:-2] != 0)
                  & (side[:-2] == side[1:-1]) & (side[1:-1] == side[2:])
                  & (beyond[:-2].astype(np.int8) + beyond[1:-1] + beyond[2:] >= 2))
        in_window[:-2] |= window
        in_window[1:-1] |= window
        in_window[2:] |= window
    two_of_three = beyond & in_window

    sided = outside | shift | two_of_three
    return Signals(outside_limits=outside, shift=shift, trend=up | down,
                   two_of_three=two_of_three, high=(sided & (side > 0)) | up,
                   low=(sided & (side < 0)) | down)
