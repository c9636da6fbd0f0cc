"""Funnel plot: units' values against their denominators, with the target and limits.

Draws a :func:`~evalkit.variation.funnel` result's stored frames (``units`` and
``curve``); nothing is recomputed. Limits at each level have their own line style, and
units beyond them their own marker shape (triangles pointing up or down; filled beyond
the widest limits, hollow beyond the others), so colour never carries meaning alone.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from matplotlib.figure import Figure

from evalkit.data.contract import nearest
from evalkit.errors import DesignError
from evalkit.evidence.narrative import format_number, format_sig
from evalkit.plots.layout import place_labels
from evalkit.plots.palette import (
    ANALYSIS_FUNCTION,
    NHS_BLUE,
    NHS_DARK_BLUE,
    NHS_MID_GREY,
    apply_style,
)
from evalkit.variation.funnel import FunnelResult, _level_tag, _level_text

__all__ = ["funnel_plot"]

_LINESTYLES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))
_NAMED = 5          # name the units in the alt text when this many or fewer
_MAX_LABELS = 12    # label units beyond the inner limits on the chart up to this many


def _names(names: list[str]) -> str:
    if not names or len(names) > _NAMED:
        return ""
    return " (" + ", ".join(names) + ")"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _units(k: int) -> str:
    return f"{k} unit" + ("" if k == 1 else "s")


def _highlighted(result: FunnelResult, highlight) -> list[str]:
    if highlight is None:
        return []
    wanted = [highlight] if isinstance(highlight, str) or not isinstance(highlight, Iterable) \
        else list(highlight)
    have = result.units["unit"].astype(str).tolist()
    unknown = [str(w) for w in wanted if str(w) not in have]
    if unknown:
        guess = nearest(unknown[0], have)
        raise DesignError(f"highlight names unit(s) not in the funnel: {', '.join(unknown)}",
                          fix=f"did you mean '{guess}'?" if guess else
                          "name units as they appear in the result's 'unit' column")
    return [str(w) for w in wanted]


def _default_label(result: FunnelResult) -> str:
    m = result.multiplier
    if result.kind == "proportion":
        return "Percentage" if m == 100 else ("Proportion" if m == 1 else f"Per {m:,g}")
    return "Rate" if m == 1 else f"Rate per {m:,g}"


def _target_label(result: FunnelResult) -> str:
    """The legend's name for the centre line: the scheme average (the pooled value) or the
    target given, with its value."""
    value = format_number(result.target, ".3g")
    return (f"scheme average {value}" if result.target_source == "pooled"
            else f"target {value}")


def funnel_plot(result: FunnelResult, *, label: str | None = None,
                highlight: str | Iterable[str] | None = None) -> tuple[Figure, str]:
    """Each unit's value against its denominator, inside the funnel limits.

    Parameters
    ----------
    result
        A :func:`~evalkit.variation.funnel` result.
    label
        The indicator's name for the y axis and the alt text (default from the kind and
        multiplier, e.g. "Rate per 1,000").
    highlight
        Unit(s) to ring and label whatever their position, e.g. the scheme's practices.

    Returns
    -------
    (matplotlib.figure.Figure, str)
        The figure and its alt text, which states the target and how many units lie
        beyond each limit (naming them when there are few).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.variation import funnel
    >>> df = pd.DataFrame({"unit": list("ABCD"), "x": [30, 45, 80, 12],
    ...                    "n": [100, 120, 160, 90]})
    >>> fig, alt = funnel_plot(funnel(df, numerator="x", denominator="n", unit="unit"))
    """
    if not isinstance(result, FunnelResult):
        raise ValueError("funnel_plot needs a result from evalkit.variation.funnel")
    data = result.plot_data()
    units, curve = data["units"], data["curve"]
    levels = result.limits
    marked = _highlighted(result, highlight)
    label = label or _default_label(result)
    den_name = str(result.options.get("denominator") or "denominator").replace("_", " ")

    fig = Figure(figsize=(7.0, 4.6))
    ax = fig.add_subplot()
    ax.plot(curve["denominator"], curve["target"], color=NHS_MID_GREY, linewidth=1.4,
            linestyle="-", label=_target_label(result))
    for i, level in enumerate(levels):
        tag, style = _level_tag(level), _LINESTYLES[i % len(_LINESTYLES)]
        colour = NHS_DARK_BLUE if i == len(levels) - 1 else NHS_BLUE
        ax.plot(curve["denominator"], curve[f"upper_{tag}"], color=colour, linestyle=style,
                linewidth=1.2, label=f"{_level_text(level)} limits")
        ax.plot(curve["denominator"], curve[f"lower_{tag}"], color=colour, linestyle=style,
                linewidth=1.2)

    x, y = units["denominator"].to_numpy(float), units["value"].to_numpy(float)
    if "hidden" in units:  # disclosure control: a point gives its numerator away
        hide = units["hidden"].to_numpy(bool)
        x, y = np.where(hide, np.nan, x), np.where(hide, np.nan, y)
    flag = units["flag"].to_numpy()
    styles = {"within": dict(marker="o", s=28, facecolors=NHS_BLUE, edgecolors=NHS_BLUE,
                             alpha=0.75)}
    for i, level in enumerate(levels):
        outer = i == len(levels) - 1
        size = 46 + 22 * i
        for side, marker, colour in (("above", "^", ANALYSIS_FUNCTION[2]),
                                     ("below", "v", ANALYSIS_FUNCTION[3])):
            styles[f"{side} {_level_text(level)}"] = dict(
                marker=marker, s=size, edgecolors=colour, linewidths=1.4,
                facecolors=colour if outer else "white")
    for name in result.flag_labels():
        mask = flag == name
        if not mask.any():
            continue
        text = "within limits" if name == "within" else f"{name} limit"
        ax.scatter(x[mask], y[mask], zorder=3, label=f"{text} ({int(mask.sum())})",
                   **styles[name])
    if np.isnan(x).any():
        ax.plot([], [], linestyle="none", label=f"not drawn: {int(np.isnan(x).sum())} "
                                            "(small numbers)")

    names = units["unit"].astype(str).to_numpy()
    outer_flags = {f"above {_level_text(levels[-1])}", f"below {_level_text(levels[-1])}"}
    beyond = flag != "within"
    to_label = np.isin(flag, list(outer_flags))
    if beyond.sum() <= _MAX_LABELS:
        to_label = beyond
    ring = np.isin(names, marked)
    if ring.any():
        ax.scatter(x[ring], y[ring], marker="s", s=130, facecolors="none", edgecolors="black",
                   linewidths=1.3, zorder=4, label="highlighted")
    ax.set_xlabel(den_name[:1].upper() + den_name[1:])
    ax.set_ylabel(label)
    span = np.r_[y[np.isfinite(y)], curve[[f"upper_{_level_tag(levels[0])}",
                           f"lower_{_level_tag(levels[0])}"]].to_numpy().ravel()]
    lo, hi = float(np.nanmin(span)), float(np.nanmax(span))
    pad = 0.08 * (hi - lo or 1.0)
    ax.set_ylim(max(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad)
    apply_style(ax)
    handles, texts = ax.get_legend_handles_labels()
    ax.legend(handles, texts, frameon=False, fontsize=7.5, loc="upper left",
              bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    # Names last, when the axes have their final size: each inside the axes (never on the
    # tick labels) and clear of the others.
    named = np.flatnonzero((to_label | ring) & np.isfinite(x))
    place_labels(ax, x[named], y[named], names[named].tolist(), bold=ring[named].tolist())

    alt = _alt_text(result, label, den_name, marked)
    return fig, alt


def _alt_text(result: FunnelResult, label: str, den_name: str, marked: list[str]) -> str:
    u = result.units
    levels = result.limits
    names = u["unit"].astype(str)
    value = u["value"]
    target = f"{result.target:.3g}"
    source = "the pooled value" if result.target_source == "pooled" else "a given target"
    shown = label[:1].lower() + label[1:] if label[1:2].islower() else label
    parts = [f"Funnel plot of {shown} for "
             f"{_units(result.n_units)} against {den_name}, with a target of {target} "
             f"({source}) and {_and([_level_text(lv) for lv in levels])} limits"
             + (" inflated for overdispersion" if result.adjusted else "") + "."]
    for side, word in (("upper", "above"), ("lower", "below")):
        bits = []
        for level in levels:
            lim = u[f"{side}_{_level_tag(level)}"]
            out = (value > lim) if side == "upper" else (value < lim)
            who = names[out.to_numpy()].tolist()
            bits.append(f"{len(who)} {word} the {side} {_level_text(level)} limit"
                        f"{_names(who)}")
        sentence = "; ".join(bits)
        parts.append(sentence[:1].upper() + sentence[1:] + ".")
    within = int((u["flag"] == "within").sum())
    parts.append(f"{_units(within)} lie within all limits." if within != 1
                 else "1 unit lies within all limits.")
    if marked:
        rows = u.set_index(u["unit"].astype(str)).loc[marked]
        parts.append("Highlighted: " + ", ".join(
            f"{n} {'*' if h else format_sig(v)} ({f})" for n, v, f, h in zip(
                marked, rows["value"], rows["flag"],
                rows["hidden"] if "hidden" in rows else [False] * len(rows),
                                                     strict=True)) + ".")
    if "hidden" in u and u["hidden"].any():
        k = int(u["hidden"].sum())
        parts.append(f"{_units(k)} with a small count {'is' if k == 1 else 'are'} not drawn "
                     "(disclosure control).")
    if result.tau2 is not None:
        parts.append(f"Overdispersion ratio {result.phi:.2f}"
                     + (f", between-unit variance {format_sig(result.tau2)}." if result.adjusted
                        else "; the limits are not inflated."))
    return " ".join(parts)

