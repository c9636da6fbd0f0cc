"""Readable figures: point labels that overlap nothing, and ratio-axis ticks.

:func:`place_labels` writes point labels (a funnel plot's outlying units) where each
stays inside the axes, clear of the tick labels and of the labels already placed.
:func:`ratio_ticks` chooses ticks a reader can use on a log (ratio) axis that spans less
than a factor of ten, where matplotlib's own log ticks would show only ``1``.
:func:`interval_decimals` gives the decimals that show a set of intervals consistently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import Bbox

__all__ = ["place_labels", "ratio_ticks", "interval_decimals"]

#: Offsets (points) tried in order for a point's label: above right, below right, above
#: left, below left, then further out.
_OFFSETS = ((4, 4), (4, -4), (-4, 4), (-4, -4), (8, 10), (8, -10), (-8, 10), (-8, -10),
            (0, 14), (0, -14))


def _overlaps(a: Bbox, b: Bbox, pad: float = 1.0) -> bool:
    return a.x0 - pad < b.x1 and b.x0 - pad < a.x1 and a.y0 - pad < b.y1 and b.y0 - pad < a.y1


def place_labels(ax, x: Sequence[float], y: Sequence[float], texts: Sequence[str],
                 *, bold: Sequence[bool] | None = None, fontsize: float = 7.5) -> list:
    """Label points so that no label leaves the axes or overlaps another label.

    Each label is tried at the offsets of ``_OFFSETS`` around its point and put at the
    first where it lies inside the axes (so never on the tick labels) and clear of the
    labels placed before it; a label with no such place is put at its first offset
    pulled inside the axes. Call after the axes' limits are final.

    Returns
    -------
    list of matplotlib.text.Annotation
    """
    fig = ax.figure
    renderer = FigureCanvasAgg(fig).get_renderer() if fig.canvas is None or not hasattr(
        fig.canvas, "get_renderer") else fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    placed: list[Bbox] = []
    out = []
    bold = list(bold) if bold is not None else [False] * len(texts)
    for xi, yi, text, strong in zip(x, y, texts, bold, strict=True):
        weight = "bold" if strong else "normal"
        chosen = None
        for dx, dy in _OFFSETS:
            ann = ax.annotate(text, (xi, yi), xytext=(dx, dy), textcoords="offset points",
                              fontsize=fontsize, fontweight=weight,
                              ha="left" if dx >= 0 else "right",
                              va="bottom" if dy >= 0 else "top")
            box = ann.get_window_extent(renderer)
            fits = (box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0
                    and box.y1 <= inside.y1)
            if fits and not any(_overlaps(box, other) for other in placed):
                chosen = (ann, box)
                break
            ann.remove()
        if chosen is None:  # nowhere clear: the first place, kept inside the axes
            dx, dy = _OFFSETS[0]
            ann = ax.annotate(text, (xi, yi), xytext=(dx, dy), textcoords="offset points",
                              fontsize=fontsize, fontweight=weight, ha="left", va="bottom")
            box = ann.get_window_extent(renderer)
            shift_x = min(0.0, inside.x1 - box.x1) + max(0.0, inside.x0 - box.x0)
            shift_y = min(0.0, inside.y1 - box.y1) + max(0.0, inside.y0 - box.y0)
            if shift_x or shift_y:
                scale = 72.0 / fig.dpi
                ann.set_position((dx + shift_x * scale, dy + shift_y * scale))
            chosen = (ann, ann.get_window_extent(renderer))
        placed.append(chosen[1])
        out.append(chosen[0])
    return out


_STEPS = (0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)


def ratio_ticks(lo: float, hi: float, *, most: int = 5) -> list[float]:
    """Tick values for a ratio (log) axis from ``lo`` to ``hi``, always including 1.

    Over less than a factor of ten, evenly spaced round values (0.8, 0.9, 1, 1.1); over
    more, 1, 2 and 5 times powers of ten. No more than ``most`` ticks (plus 1).

    Examples
    --------
    >>> ratio_ticks(0.76, 1.05)
    [0.8, 0.9, 1.0]
    >>> ratio_ticks(0.55, 1.3)
    [0.6, 0.8, 1.0, 1.2]
    >>> ratio_ticks(0.2, 3.0)
    [0.2, 0.5, 1.0, 2.0]
    """
    lo, hi = min(lo, 1.0), max(hi, 1.0)
    if not (lo > 0 and math.isfinite(hi)):
        return [1.0]
    if hi / lo >= 10:
        ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)),
                                              math.ceil(math.log10(hi)) + 1)
                 for m in (1.0, 2.0, 5.0)]
        ticks = [float(f"{t:.6g}") for t in ticks if lo <= t <= hi]
        if len(ticks) > most:  # powers of ten alone
            ticks = [t for t in ticks if math.isclose(math.log10(t), round(math.log10(t)))]
        return ticks
    for step in _STEPS:
        first = math.ceil(lo / step - 1e-9)
        last = math.floor(hi / step + 1e-9)
        if last - first + 1 <= most:
            return [float(f"{k * step:.6g}") for k in range(first, last + 1)]
    return [1.0]


def interval_decimals(low: Sequence[float], high: Sequence[float], *, least: int = 0,
                      most: int = 3) -> int:
    """Decimals that show a set of intervals consistently, each with its width readable.

    The narrowest interval's half-width (its margin of error) is shown to one significant
    figure, and every
    estimate and interval end of the figure or table gets the same decimals (``1.00
    (0.95 to 1.05)``, not ``1 (0.958 to 1.05)``), between ``least`` and ``most``.

    Examples
    --------
    >>> interval_decimals([0.958, 0.95], [1.05, 1.05])
    2
    >>> interval_decimals([-1707.0, -162.0], [-163.0, 1197.0])
    0
    >>> interval_decimals([0.41], [0.93])
    1
    >>> interval_decimals([-0.26, -0.36], [-0.14, -0.24])
    2
    """
    lo = np.asarray([float(x) for x in low], dtype=float)
    hi = np.asarray([float(x) for x in high], dtype=float)
    half = np.abs(hi - lo) / 2
    half = half[np.isfinite(half) & (half > 0)]
    if half.size == 0:
        return least
    return int(min(most, max(least, -math.floor(math.log10(float(half.min()))))))
