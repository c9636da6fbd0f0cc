"""Layout checks of drawn figures: text over text, and legends over data.

:func:`layout_problems` draws a matplotlib figure and returns, in words, every pair of
visible texts whose boxes overlap (tick labels, axis labels, titles, annotations, legend
entries) and every legend whose box is crossed by plotted data (lines, markers, bars).
An empty list is a figure a reader can read.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

#: Pixels two boxes may share (anti-aliasing, glyph side bearings) before they overlap.
TOLERANCE = 1.0


def _texts(fig: Figure) -> list[Text]:
    seen: dict[int, Text] = {}
    for artist in fig.findobj(Text):
        if not artist.get_visible() or not artist.get_text().strip():
            continue
        if artist.axes is not None and not artist.axes.get_visible():
            continue
        if artist.get_alpha() != 0:
            seen[id(artist)] = artist
    return list(seen.values())


def _shrink(box: Bbox, by: float = TOLERANCE) -> Bbox:
    return Bbox.from_extents(box.x0 + by, box.y0 + by, box.x1 - by, box.y1 - by)


def _overlap(a: Bbox, b: Bbox) -> bool:
    a, b = _shrink(a), _shrink(b)
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _clipped_out(text: Text, box: Bbox) -> bool:
    """A tick label matplotlib would not draw (outside its axes' view)."""
    return box.width <= 0 or box.height <= 0


def text_overlaps(fig: Figure, renderer=None) -> list[str]:
    """Pairs of visible texts whose boxes overlap."""
    renderer = renderer or FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # lay out as saved (ticks chosen, legends placed)
    boxes = []
    drawn_ticks = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():  # the ticks actually drawn
                for label in (tick.label1, tick.label2):
                    drawn_ticks.add(id(label))
    for text in _texts(fig):
        is_tick = any(text is t for ax in fig.axes for t in
                      ax.get_xticklabels() + ax.get_yticklabels())
        if is_tick and id(text) not in drawn_ticks:
            continue
        box = text.get_window_extent(renderer)
        if _clipped_out(text, box):
            continue
        boxes.append((text, box))
    problems = []
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1:]:
            if _overlap(a, b):
                problems.append(f"text {ta.get_text()!r} overlaps {tb.get_text()!r}")
    return problems


def _segments_cross(points: np.ndarray, box: Bbox, steps: int = 40) -> bool:
    """Whether a polyline in display coordinates passes through a box."""
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        return False
    if len(points) == 1:
        samples = points
    else:
        t = np.linspace(0.0, 1.0, steps)[:, None, None]
        samples = (points[:-1][None] * (1 - t) + points[1:][None] * t).reshape(-1, 2)
    inner = _shrink(box, 2.0)
    inside = ((samples[:, 0] > inner.x0) & (samples[:, 0] < inner.x1)
              & (samples[:, 1] > inner.y0) & (samples[:, 1] < inner.y1))
    return bool(inside.any())


def legend_overlaps(fig: Figure, renderer=None) -> list[str]:
    """Legends whose box is crossed by a plotted line, marker or bar."""
    renderer = renderer or FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    legends = [lg for lg in fig.legends if lg.get_visible()]
    legends += [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None
                and ax.get_legend().get_visible()]
    problems = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            for line in ax.lines:
                if not line.get_visible():
                    continue
                xy = line.get_transform().transform(line.get_xydata())
                if line.get_linestyle() in ("None", "none", "", " ") and \
                        line.get_marker() in (None, "None", "none", ""):
                    continue
                if line.get_linestyle() in ("None", "none", "", " "):
                    half = line.get_markersize() / 2
                    hit = any(_overlap(box, Bbox.from_extents(x - half, y - half,
                                                               x + half, y + half))
                              for x, y in xy if np.isfinite([x, y]).all())
                else:
                    hit = _segments_cross(xy, box)
                if hit:
                    problems.append(f"legend crossed by line {line.get_label()!r} in "
                                    f"{ax.get_title() or ax.get_ylabel()!r}")
            for coll in ax.collections:
                if not coll.get_visible() or not isinstance(coll, Collection):
                    continue
                offsets = coll.get_offsets()
                if len(offsets) == 0 or type(coll).__name__ != "PathCollection":
                    continue
                xy = coll.get_offset_transform().transform(offsets)
                inner = _shrink(box, 2.0)
                inside = ((xy[:, 0] > inner.x0) & (xy[:, 0] < inner.x1)
                          & (xy[:, 1] > inner.y0) & (xy[:, 1] < inner.y1))
                if inside.any():
                    problems.append(f"legend covers {int(inside.sum())} markers in "
                                    f"{ax.get_title() or ax.get_ylabel()!r}")
            for patch in ax.patches:
                if not isinstance(patch, Rectangle) or not patch.get_visible() \
                        or isinstance(patch.axes, Legend):
                    continue
                if _overlap(box, patch.get_window_extent(renderer)):
                    problems.append(f"legend covers a bar in "
                                    f"{ax.get_title() or ax.get_ylabel()!r}")
    return problems


def layout_problems(fig: Figure) -> list[str]:
    """Every text overlap and every legend crossed by data, in words."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    return text_overlaps(fig, renderer) + legend_overlaps(fig, renderer)


def _legend_markers(fig: Figure) -> set[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes
                                   if ax.get_legend() is not None]
    found = set()
    for legend in legends:  # every line the legend draws (an error bar's is nested)
        for line in legend.findobj(Line2D):
            marker = line.get_marker()
            if marker not in (None, "None", "none", ""):
                found.add(str(marker))
    return found


def markers_missing_from_legend(fig: Figure) -> list[str]:
    """Marker shapes drawn on lines (points of an estimate, a series) with no legend entry.

    Marks drawn by error bars' caps and the like (``|``, ``_``) are ends of lines, not
    shapes a reader looks up, and are left out.
    """
    drawn = set()
    for ax in fig.axes:
        for line in ax.lines:
            marker = line.get_marker()
            if line.get_visible() and marker not in (None, "None", "none", "", "|", "_") \
                    and len(line.get_xdata()):
                drawn.add(str(marker))
    return sorted(drawn - _legend_markers(fig))
