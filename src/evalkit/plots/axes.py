"""Time axes shared by the plots: where the ticks go and what they say."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

__all__ = ["calendar_ticks", "period_ticks"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def calendar_ticks(span: np.ndarray, kind: str, most: int) -> np.ndarray:
    """At most ``most`` tick positions on an axis of period numbers.

    Months (``kind="month"``, numbered ``12 * year + month - 1``) over two years or more
    get Januaries, every ``k`` years when there are more than ``most``; other axes get
    every ``ceil(n / most)``-th period from the first.
    """
    lo, hi = int(span.min()), int(span.max())
    if kind == "month" and hi - lo >= 24:
        years = math.ceil((hi - lo + 1) / 12 / most)
        return np.arange(math.ceil(lo / 12) * 12, hi + 1, 12 * years)
    step = max(1, math.ceil((hi - lo + 1) / most))
    return np.arange(lo, hi + 1, step)


def period_ticks(periods: Sequence[str], most: int = 7) -> tuple[list[int], list[str]]:
    """Ticks for an axis of period labels, one position per label in order.

    Returns the positions (indices into ``periods``) and their labels. Consecutive
    monthly labels (``YYYY-MM``) over two years or more are ticked at each January and
    labelled with the year alone, so that the labels never run into each other; any other
    labels are ticked every ``ceil(n / most)``-th and shown as written.

    Examples
    --------
    >>> period_ticks([f"{y}-{m:02d}" for y in (2019, 2020, 2021) for m in range(1, 13)])
    ([0, 12, 24], ['2019', '2020', '2021'])
    >>> period_ticks(["Q1", "Q2", "Q3", "Q4"], most=2)
    ([0, 2], ['Q1', 'Q3'])
    """
    labels = [str(p) for p in periods]
    if not labels:
        return [], []
    found = [_MONTH.match(p) for p in labels]
    if all(found):
        numbers = np.array([12 * int(m[1]) + int(m[2]) - 1 for m in found])
        if np.all(np.diff(numbers) == 1) and numbers[-1] - numbers[0] >= 24:
            ticks = calendar_ticks(numbers, "month", most)
            at = [int(t - numbers[0]) for t in ticks]
            return at, [labels[i][:4] for i in at]
    step = max(1, math.ceil(len(labels) / most))
    at = list(range(0, len(labels), step))
    return at, [labels[i] for i in at]
