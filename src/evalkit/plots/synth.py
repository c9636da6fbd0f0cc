"""Synthetic control figures: treated against synthetic, gaps with placebos, leave-one-out.

Each function draws a ``synthetic_control`` result's stored frames (``path``,
``placebos``, ``rmspe``, ``loo``); nothing is re-estimated. Every function returns
``(figure, alt_text)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from evalkit.evidence.narrative import format_sig
from evalkit.plots.palette import ANALYSIS_FUNCTION, NHS_BLUE, NHS_MID_GREY, apply_style
from evalkit.results import DesignResult

__all__ = ["synth_path_plot", "synth_gap_plot", "synth_loo_plot"]

SYNTH_COLOUR = ANALYSIS_FUNCTION[3]  # orange, dashed: never told from the blue by colour alone
PLACEBO_GREY = "#AEB7BD"  # between NHS mid and pale grey: visible, but behind the treated line


def _check(result) -> None:
    if not isinstance(result, DesignResult) or result.design != "synthetic_control":
        got = (f"a {result.design!r} result" if isinstance(result, DesignResult)
               else f"a {type(result).__name__}")
        raise ValueError(f"this plot needs a 'synthetic_control' result, not {got}")


def _axis(ax, labels: list) -> dict:
    """Positions for period labels (in the order given) and tick labels to match."""
    pos = {lab: i for i, lab in enumerate(labels)}
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda x, _: str(labels[int(x)]) if 0 <= int(x) < len(labels) and x == int(x) else ""))
    return pos


def _start_line(ax, path: pd.DataFrame, pos: dict) -> str:
    """A vertical line between the last pre and first post period; returns the start label."""
    post = path.loc[path["post"].astype(bool), "time"]
    if post.empty:
        return ""
    first = post.iloc[0]
    ax.axvline(pos[first] - 0.5, color=NHS_MID_GREY, linestyle=":", linewidth=1.2)
    return str(first)


def _label(result: DesignResult, label: str | None) -> str:
    return label or str(result.effects["outcome"].iloc[0]).replace("_", " ")


def _treated_name(result: DesignResult) -> str:
    unit = result.options.get("treated_unit")
    if isinstance(unit, (list, tuple)):
        return f"the {len(unit)} treated units"
    return str(unit) if unit is not None else "the treated unit"


def synth_path_plot(result: DesignResult, *, label: str | None = None
                    ) -> tuple[Figure, str]:
    """The treated unit's outcome against its synthetic control, before and after the start.

    Parameters
    ----------
    result
        A ``synthetic_control`` result.
    label
        The outcome's display name (default: the outcome column).

    Returns
    -------
    (Figure, str)
        The figure and its alt text.
    """
    _check(result)
    path = result.frames["path"]
    labels = list(path["time"])
    label, name = _label(result, label), _treated_name(result)
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    apply_style(ax)
    pos = _axis(ax, labels)
    x = np.array([pos[t] for t in labels])
    ax.plot(x, path["treated"], color=NHS_BLUE, linewidth=2, marker="o", markersize=3,
            label=name)
    ax.plot(x, path["synthetic"], color=SYNTH_COLOUR, linewidth=2, linestyle="--",
            label="synthetic control")
    start = _start_line(ax, path, pos)
    ax.set_ylabel(label)
    ax.set_xlabel("period")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    pre = path.loc[~path["post"].astype(bool)]
    post = path.loc[path["post"].astype(bool)]
    d = result.diagnostics
    alt = (f"Line chart of {label} for {name} (solid blue line with dots) and its synthetic "
           f"control (dashed orange line), {labels[0]} to {labels[-1]}; a dotted vertical "
           f"line marks the start ({start}). Before the start the two lines differ by "
           f"{_rmspe_words(pre['gap'])} on average (root mean squared). After it, the treated "
           f"unit is {_gap_words(post['gap'].mean())} its synthetic control on average, ending "
           f"{_gap_words(post['gap'].iloc[-1]) if len(post) else 'n/a'} it in {labels[-1]}.")
    if d.get("p_value") is not None:
        alt += f" Placebo p-value {d['p_value']:.3f}."
    return fig, alt


def _rmspe_words(gaps: pd.Series) -> str:
    return f"{float(np.sqrt(np.mean(np.square(gaps)))):.3g}" if len(gaps) else "n/a"


def _gap_words(gap: float) -> str:
    return f"{abs(gap):.3g} {'below' if gap < 0 else 'above'}"


def synth_gap_plot(result: DesignResult, *, label: str | None = None,
                   include_poor_fits: bool = False) -> tuple[Figure, str]:
    """Gaps (treated minus synthetic) for the treated unit and every placebo.

    Placebos whose pre-period fit is poor (``included`` False in the ``placebos`` frame)
    are left out unless ``include_poor_fits`` is True.

    Parameters
    ----------
    result
        A ``synthetic_control`` result fitted with ``placebos=True``.
    label
        The outcome's display name.
    include_poor_fits
        Draw the excluded placebos too.

    Returns
    -------
    (Figure, str)
        The figure and its alt text.
    """
    _check(result)
    if "placebos" not in result.frames:
        raise ValueError("this result has no placebos; fit it with placebos=True")
    path, plac = result.frames["path"], result.frames["placebos"]
    if not include_poor_fits:
        plac = plac[plac["included"].astype(bool)]
    labels = list(path["time"])
    label, name = _label(result, label), _treated_name(result)
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    apply_style(ax)
    pos = _axis(ax, labels)
    for _, g in plac.groupby("unit", sort=True):
        ax.plot([pos[t] for t in g["time"]], g["gap"], color=PLACEBO_GREY, linewidth=0.9,
                zorder=1)
    ax.plot([pos[t] for t in labels], path["gap"], color=NHS_BLUE, linewidth=2.2,
            marker="o", markersize=3, zorder=3, label=name)
    ax.plot([], [], color=PLACEBO_GREY, linewidth=0.9,
            label="placebos (each donor as if treated)")
    ax.axhline(0, color=NHS_MID_GREY, linewidth=0.8)
    start = _start_line(ax, path, pos)
    ax.set_ylabel(f"gap in {label}\n(treated minus synthetic)")
    ax.set_xlabel("period")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    n_plac = plac["unit"].nunique()
    d = result.diagnostics
    rank, total = d.get("rank"), d.get("n_placebos")
    ranking = (f" Ranked by the ratio of post- to pre-start fit error, the treated unit is "
               f"{rank} of {total + 1}." if rank is not None and total is not None else "")
    excluded = d.get("excluded_placebos")
    excl = (f" {len(excluded)} placebo(s) with a poor pre-start fit are not drawn."
            if excluded and not include_poor_fits else "")
    alt = (f"Line chart of the gap in {label} between {name} and its synthetic control "
           f"(thick blue line) and the same gap for {n_plac} placebo units (thin grey lines), "
           f"{labels[0]} to {labels[-1]}; a dotted vertical line marks the start ({start}). "
           f"After the start the treated unit's average gap is "
           f"{format_sig(path.loc[path['post'].astype(bool), 'gap'].mean())}.{ranking}{excl}")
    return fig, alt


def synth_loo_plot(result: DesignResult, *, label: str | None = None
                   ) -> tuple[Figure, str]:
    """Leave-one-out: the synthetic control refitted without each donor that had weight.

    Parameters
    ----------
    result
        A ``synthetic_control`` result fitted with ``leave_one_out=True``.
    label
        The outcome's display name.

    Returns
    -------
    (Figure, str)
        The figure and its alt text.
    """
    _check(result)
    if "loo" not in result.frames or result.frames["loo"].empty:
        raise ValueError("this result has no leave-one-out fits; fit it with "
                         "leave_one_out=True")
    path, loo = result.frames["path"], result.frames["loo"]
    labels = list(path["time"])
    label, name = _label(result, label), _treated_name(result)
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    apply_style(ax)
    pos = _axis(ax, labels)
    for _, g in loo.groupby("dropped_unit", sort=True):
        ax.plot([pos[t] for t in g["time"]], g["synthetic"], color=NHS_MID_GREY,
                linewidth=1, linestyle="-.", zorder=1)
    x = [pos[t] for t in labels]
    ax.plot(x, path["treated"], color=NHS_BLUE, linewidth=2, marker="o", markersize=3,
            zorder=3, label=name)
    ax.plot(x, path["synthetic"], color=SYNTH_COLOUR, linewidth=2, linestyle="--", zorder=2,
            label="synthetic control")
    ax.plot([], [], color=NHS_MID_GREY, linewidth=1, linestyle="-.",
            label="leaving out one donor")
    start = _start_line(ax, path, pos)
    ax.set_ylabel(label)
    ax.set_xlabel("period")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    post = set(path.loc[path["post"].astype(bool), "time"])
    means = loo[loo["time"].isin(post)].groupby("dropped_unit")["gap"].mean()
    dropped = ", ".join(map(str, means.index))
    alt = (f"Line chart of {label} for {name} (solid blue), its synthetic control (dashed "
           f"orange) and the synthetic controls refitted leaving out, in turn, each donor "
           f"with weight ({dropped}; grey dash-dot lines), {labels[0]} to {labels[-1]}; a "
           f"dotted vertical line marks the start ({start}). Leaving out one donor gives "
           f"average post-start gaps from {means.min():.3g} to {means.max():.3g}, against "
           f"{path.loc[path['post'].astype(bool), 'gap'].mean():.3g} with all donors.")
    return fig, alt
