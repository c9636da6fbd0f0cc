"""Statistical process control figures in the Making Data Count style.

:func:`spc_plot` draws one chart: the values joined by a line, the mean (solid), the
process limits (dashed), the two-sigma lines (dotted), the target, phase breaks and
marked events. :func:`spc_facets` draws small multiples, one per practice or outcome.
Points are coloured *and* shaped by their variation class: grey circles for common
cause, blue squares for improvement, orange diamonds for concern and purple crosses for
special cause with no improvement direction (Making Data Count uses blue for
improvement and orange for concern). Both draw an :class:`~evalkit.variation.spc.SPCResult`'s own
frames and compute nothing; each returns ``(figure, alt_text)``.

Disclosure control: a point marked ``hidden`` in the result's ``points`` (its numerator
is a small count; see :mod:`evalkit.engagement.profile`) is not drawn, and for p- and
u-charts neither are its own limits (they would give its denominator away); the alt text
says how many points are not shown and states no hidden value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from evalkit.plots.palette import (
    ANALYSIS_FUNCTION,
    NHS_BLUE,
    NHS_DARK_BLUE,
    NHS_MID_GREY,
    apply_style,
)
from evalkit.variation.spc.prepare import label as time_label
from evalkit.variation.spc.result import VARIATION_CLASSES, SPCResult, fmt_number

__all__ = ["spc_plot", "spc_facets", "VARIATION_STYLE"]

#: Marker colour, shape and legend label of each variation class.
VARIATION_STYLE = {
    "common_cause": {"color": NHS_MID_GREY, "marker": "o", "label": "common cause"},
    "special_cause_improvement": {"color": NHS_BLUE, "marker": "s",
                                  "label": "special cause: improvement"},
    "special_cause_concern": {"color": ANALYSIS_FUNCTION[3], "marker": "D",
                              "label": "special cause: concern"},
    "special_cause_neither": {"color": "#6B4FA0", "marker": "X",
                              "label": "special cause (no improvement direction)"},
}
_TARGET_COLOR = ANALYSIS_FUNCTION[2]
_EVENT_COLOR = ANALYSIS_FUNCTION[4]
_CHART_NAMES = {"xmr": "XmR chart", "p": "p-chart", "u": "u-chart"}
_SHORT = {"common_cause": "common cause", "special_cause_improvement": "improvement",
          "special_cause_concern": "concern", "special_cause_neither": "special cause"}


def _check(result) -> None:
    if not isinstance(result, SPCResult):
        raise ValueError("this plot needs an SPC result (from evalkit.variation.spc.xmr, "
                         "p_chart or "
                         "u_chart)")


def _pick_group(result: SPCResult, group):
    groups = result.overview["group"].tolist()
    if group is None:
        if len(groups) != 1:
            shown = ", ".join(map(str, groups[:5]))
            raise ValueError(f"the result has {len(groups)} groups; choose one with "
                             f"group= (e.g. {shown}), or draw them with spc_facets")
        return groups[0]
    if group not in groups:
        raise ValueError(f"no group {group!r} in the result")
    return group


def _dates(kind: str) -> bool:
    return kind in ("datetime", "month")


def _as_x(value, kind: str):
    """An annotation time on the chart's x scale."""
    if _dates(kind):
        return np.datetime64(pd.Timestamp(value).as_unit("ns"))
    return float(value)


def _events(annotations) -> list[tuple[Any, str]]:
    if annotations is None:
        return []
    if isinstance(annotations, Mapping):
        return [(t, str(text)) for t, text in annotations.items()]
    out = []
    for item in annotations:
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            raise ValueError("annotations are a {time: label} dict or (time, label) pairs")
        out.append((item[0], str(item[1])))
    return out


def _break_at(prev, nxt, kind: str):
    """Where to draw a phase break: halfway between two points."""
    if _dates(kind):
        a, b = np.datetime64(prev, "ns"), np.datetime64(nxt, "ns")
        return a + (b - a) / 2
    return (float(prev) + float(nxt)) / 2


def published(pts: pd.DataFrame, chart: str) -> pd.DataFrame:
    """The points as they may be drawn: hidden points' values (and, for p- and u-charts,
    their own limits) blanked."""
    if "hidden" not in pts or not pts["hidden"].any():
        return pts
    out = pts.copy()
    hide = out["hidden"].to_numpy(bool)
    cols = ["value"] + ([c for c in ("upper", "lower", "upper_2sigma", "lower_2sigma",
                                     "numerator", "denominator") if c in out]
                        if chart != "xmr" else [])
    out.loc[hide, cols] = np.nan
    out.loc[hide, "variation"] = "hidden"
    return out


def _draw(ax, pts: pd.DataFrame, chart: str, *, two_sigma: bool, legend: bool,
          size: float = 22.0) -> None:
    """The lines and points of one group (its phases drawn apart)."""
    pts = published(pts, chart)
    step = chart != "xmr"  # p- and u-chart limits vary point to point
    draw = {"drawstyle": "steps-mid"} if step else {}
    for k, (_, ph) in enumerate(pts.groupby("phase", sort=True)):
        first = legend and k == 0
        x = ph["time"].to_numpy()
        ax.plot(x, ph["value"], color=NHS_MID_GREY, linewidth=1.1, zorder=2,
                label="values" if first else None)
        ax.plot(x, ph["mean"], color=NHS_DARK_BLUE, linewidth=1.4, zorder=1,
                label="mean" if first else None)
        for col, lab in (("upper", "process limits"), ("lower", None)):
            ax.plot(x, ph[col], color=NHS_DARK_BLUE, linestyle="--", linewidth=1.0,
                    zorder=1, label=lab if first else None, **draw)
        if two_sigma:
            for col, lab in (("upper_2sigma", "two-sigma lines"), ("lower_2sigma", None)):
                ax.plot(x, ph[col], color=NHS_DARK_BLUE, linestyle=":", linewidth=0.8,
                        alpha=0.8, zorder=1, label=lab if first else None, **draw)
    for cls in VARIATION_CLASSES:
        sel = pts[pts["variation"] == cls]
        if sel.empty:
            continue
        st = VARIATION_STYLE[cls]
        ax.scatter(sel["time"].to_numpy(), sel["value"], s=size, marker=st["marker"],
                   color=st["color"], edgecolors="white", linewidths=0.4, zorder=3,
                   label=st["label"] if legend else None)


def _time_axis(ax, kind: str) -> None:
    if _dates(kind):
        loc = AutoDateLocator()
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(loc))


def _phase_lines(pts: pd.DataFrame, kind: str) -> list:
    starts = pts.index[pts["phase"].ne(pts["phase"].shift()) & (pts.index != pts.index[0])]
    pos = [pts.index.get_loc(i) for i in starts]
    t = pts["time"].to_numpy()
    return [_break_at(t[p - 1], t[p], kind) for p in pos]


def spc_plot(result: SPCResult, *, group=None, title: str | None = None,
             annotations: Mapping[Any, str] | Sequence[tuple[Any, str]] | None = None,
             two_sigma: bool = True, label: str | None = None) -> tuple[Figure, str]:
    """One SPC chart with its limits, classes, target, phases and events.

    Parameters
    ----------
    result
        An :class:`~evalkit.variation.spc.SPCResult`.
    group
        The group to draw (required when the result has more than one).
    title
        The figure title (default: the measure, and the group).
    annotations
        Events to mark, e.g. ``{"2019-10": "scheme starts"}`` or a list of
        ``(time, label)`` pairs: a vertical line and a label each.
    two_sigma
        Draw the two-sigma lines (dotted).
    label
        The measure's display name for the axis (default: the value column).

    Returns
    -------
    (matplotlib.figure.Figure, str)
        The figure and its alt text, which states the mean, the limits, the number of
        special-cause points and the variation and assurance classes.

    Examples
    --------
    >>> import warnings
    >>> from evalkit.variation.spc import xmr
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     res = xmr([1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1],
    ...               improvement="increase")
    >>> fig, alt = spc_plot(res)
    >>> "mean 1.944" in alt
    True
    """
    _check(result)
    g = _pick_group(result, group)
    data = result.plot_data()
    pts = data["points"]
    pts = pts[pts["group"] == g].reset_index(drop=True)
    lim = data["limits"]
    lim = lim[lim["group"] == g]
    ov = data["overview"].set_index("group").loc[g]
    opts = result.options
    kind = opts.get("time_kind", "number")
    grouped = opts.get("group") is not None
    measure = label or str(opts.get("value", "value")).replace("_", " ")
    chart = _CHART_NAMES.get(result.chart, result.chart)

    fig = Figure(figsize=(7.5, 3.9))
    ax = fig.subplots()
    _draw(ax, pts, result.chart, two_sigma=two_sigma, legend=True, size=26)
    target = ov["target"]
    if pd.notna(target):
        ax.axhline(target, color=_TARGET_COLOR, linestyle="-.", linewidth=1.2,
                   label=f"target {fmt_number(target)}")
    breaks = _phase_lines(pts, kind)
    for b in breaks:
        ax.axvline(b, color="#3D3D3D", linewidth=1.0, zorder=1)
    events = _events(annotations)
    for t, text in events:
        x = _as_x(t, kind)
        ax.axvline(x, color=_EVENT_COLOR, linestyle=(0, (2, 2)), linewidth=1.0, zorder=1)
        ax.annotate(text, xy=(x, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -3), textcoords="offset points", rotation=90, ha="left",
                    va="top", fontsize=7, color=_EVENT_COLOR)
    icon = f"Variation: {ov['variation_label']}"
    if isinstance(ov["assurance_label"], str):
        icon += f"\nAssurance: {ov['assurance_label']}"
    ax.text(1.02, 0.0, icon.replace(": ", ":\n", 1).replace("\nAssurance: ",
                                                               "\nAssurance:\n"),
            transform=ax.transAxes, ha="left", va="bottom", fontsize=7, wrap=True,
            bbox={"facecolor": "white", "edgecolor": NHS_MID_GREY, "boxstyle": "round",
                  "linewidth": 0.6})
    _time_axis(ax, kind)
    ax.set_ylabel(measure, fontsize=9)
    if opts.get("time"):
        ax.set_xlabel(str(opts["time"]).replace("_", " "), fontsize=9)
    ax.set_title(title or (f"{measure}: {g}" if grouped else measure), fontsize=10,
                 loc="left")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    apply_style(ax)
    fig.tight_layout()

    n_special = int(pts["special_cause"].sum())
    counts = pts["variation"].value_counts()
    if opts.get("improvement") is not None:
        kinds = (f"{int(counts.get('special_cause_improvement', 0))} improvement, "
                 f"{int(counts.get('special_cause_concern', 0))} concern")
    else:
        high = int((pts["direction"] == "high").sum())
        kinds = f"{high} high, {n_special - high} low"
    limits_word = "process limits" if result.chart == "xmr" else \
        "process limits at the average denominator"
    phases = "; ".join(
        (f"phase {int(r.phase)} from {time_label(r.start, kind)}: " if len(lim) > 1 else "")
        + (f"mean {fmt_number(r.mean)}, {limits_word} {fmt_number(r.lower)} to "
           f"{fmt_number(r.upper)}" if not getattr(r, "hidden", False) else
           "mean and limits not shown (small numbers)") for r in lim.itertuples())
    first, last = (time_label(pts["time"].iloc[i], kind) for i in (0, -1))
    n_hidden = int(pts["hidden"].sum()) if "hidden" in pts else 0
    alt = (f"{chart} of {measure}" + (f" for {g}" if grouped else "")
           + f" from {first} to {last} ({len(pts)} points"
           + (f", {n_hidden} not shown: small numbers" if n_hidden else "")
           + (f", {len(lim)} phases" if len(lim) > 1 else "")
           + f"): {phases}. {n_special} special-cause point{'s' if n_special != 1 else ''}"
           + (f" ({kinds})" if n_special else "")
           + f". The latest point shows {ov['variation_label'].lower()}.")
    if pd.notna(target):
        alt += f" Target {fmt_number(target)}: " + (
            f"{ov['assurance_label'].lower()}." if isinstance(ov["assurance_label"], str)
            else "no assurance class without an improvement direction.")
    if events:
        alt += " Marked: " + "; ".join(f"{text} ({time_label(_as_x(t, kind), kind)})"
                                       for t, text in events) + "."
    return fig, alt


def spc_facets(result: SPCResult, *, groups: Sequence | None = None, ncols: int = 4,
               improvement: str | None = None, variation: str | Sequence[str] | None = None,
               max_facets: int = 48) -> tuple[Figure, str]:
    """Small multiples: one SPC chart per group, each labelled with its class.

    Parameters
    ----------
    result
        A grouped :class:`~evalkit.variation.spc.SPCResult` (practices, outcomes).
    groups
        The groups to draw, in order (default: all, up to ``max_facets``).
    ncols
        Facets per row.
    improvement
        The improvement direction the reader expects (``"increase"`` or
        ``"decrease"``). Plots do not reclassify points, so this must match the
        direction the result was computed with; it guards against drawing, say, a
        "lower is better" measure classified the other way.
    variation
        Draw only groups whose latest point has this class (or classes), e.g.
        ``"special_cause_concern"``.
    max_facets
        Refuse more facets than this (choose ``groups`` or ``variation``).

    Returns
    -------
    (matplotlib.figure.Figure, str)
        The figure and alt text saying how many groups show improvement, concern and
        common cause at their latest point (and their assurance, with a target).
    """
    _check(result)
    opts = result.options
    if improvement is not None and improvement != opts.get("improvement"):
        raise ValueError(f"the result was computed with improvement="
                         f"{opts.get('improvement')!r}, not {improvement!r}; plots do not "
                         "reclassify points, so rerun the chart with the direction wanted")
    data = result.plot_data()
    ov = data["overview"]
    if groups is not None:
        missing = [g for g in groups if g not in set(ov["group"])]
        if missing:
            raise ValueError(f"no group(s) {', '.join(map(str, missing[:5]))} in the result")
        ov = ov.set_index("group").loc[list(groups)].reset_index()
    if variation is not None:
        wanted = [variation] if isinstance(variation, str) else list(variation)
        unknown = [v for v in wanted if v not in VARIATION_CLASSES]
        if unknown:
            raise ValueError(f"variation classes are {', '.join(VARIATION_CLASSES)}")
        ov = ov[ov["variation"].isin(wanted)]
    if ov.empty:
        raise ValueError("no groups to draw")
    if len(ov) > max_facets:
        raise ValueError(f"{len(ov)} groups is too many facets to read (max_facets="
                         f"{max_facets}); choose some with groups= or variation=")
    n = len(ov)
    ncols = max(1, min(int(ncols), n))
    nrows = -(-n // ncols)
    kind = opts.get("time_kind", "number")
    measure = str(opts.get("value", "value")).replace("_", " ")
    fig = Figure(figsize=(2.6 * ncols + 0.4, 2.0 * nrows + 0.9))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, squeeze=False)).ravel()
    pts_all = data["points"]
    by_group = {g: p for g, p in pts_all[pts_all["group"].isin(ov["group"])].groupby(
        "group", sort=False)}
    for ax, row in zip(axes, ov.itertuples(), strict=False):
        pts = by_group[row.group].reset_index(drop=True)
        _draw(ax, pts, result.chart, two_sigma=False, legend=False, size=10)
        for b in _phase_lines(pts, kind):
            ax.axvline(b, color="#3D3D3D", linewidth=0.8)
        if pd.notna(row.target):
            ax.axhline(row.target, color=_TARGET_COLOR, linestyle="-.", linewidth=1.0)
        st = VARIATION_STYLE[row.variation]
        cls = _SHORT[row.variation] + ("" if row.variation == "common_cause"
                                       else f" ({row.variation_icon.rsplit('_', 1)[-1]})")
        if isinstance(row.assurance, str):
            cls += f"; {row.assurance.replace('_', ' ')}"
        ax.set_title(f"{row.group}\n{cls}", fontsize=7.5, loc="left", color="black")
        ax.plot([0.985], [1.06], marker=st["marker"], color=st["color"],
                transform=ax.transAxes, clip_on=False, markersize=6)
        ax.tick_params(labelsize=6.5)
        _time_axis(ax, kind)
        apply_style(ax)
    for ax in axes[n:]:
        ax.set_visible(False)
    handles = [axes[0].scatter([], [], marker=s["marker"], color=s["color"], s=18,
                               label=s["label"]) for s in VARIATION_STYLE.values()]
    fig.legend(handles=handles, loc="lower center", ncols=4, frameon=False, fontsize=7)
    fig.suptitle(f"{_CHART_NAMES.get(result.chart, result.chart)} of {measure} by "
                 f"{str(opts.get('group') or 'group').replace('_', ' ')}", fontsize=10,
                 x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.06, 1, 1))

    counts = ov["variation"].value_counts()

    def count(cls: str) -> int:
        return int(counts.get(cls, 0))

    who = str(opts.get("group") or "group").replace("_", " ")
    alt = (f"Small multiples of the {_CHART_NAMES.get(result.chart, result.chart)} of "
           f"{measure} for {n} {who}{'s' if n != 1 else ''}, each with its mean and process "
           f"limits. At the latest point, {count('special_cause_improvement')} show special "
           f"cause improvement, {count('special_cause_concern')} concern and "
           f"{count('common_cause')} common cause")
    neither = int(counts.get("special_cause_neither", 0))
    alt += (f"; {neither} show special cause with no improvement direction" if neither
            else "") + "."
    if ov["assurance"].notna().any():
        ac = ov["assurance"].value_counts()
        alt += (f" Against the target: {int(ac.get('pass', 0))} consistently meet it, "
                f"{int(ac.get('fail', 0))} consistently miss it and "
                f"{int(ac.get('hit_and_miss', 0))} hit and miss.")
    for cls, word in (("special_cause_improvement", "Improvement"),
                      ("special_cause_concern", "Concern")):
        names = ov.loc[ov["variation"] == cls, "group"].astype(str).tolist()
        if 0 < len(names) <= 6:
            alt += f" {word}: {', '.join(names)}."
    return fig, alt
