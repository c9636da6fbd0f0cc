"""Forest-style plot of effect records."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from evalkit.evidence.narrative import format_number, format_sig
from evalkit.evidence.selection import variant_words
from evalkit.naming import estimand_label
from evalkit.plots.palette import ANALYSIS_FUNCTION, apply_style
from evalkit.results import DesignResult, headline_effects

__all__ = ["effects_plot"]

#: Each estimand's marker and colour (shape and colour together: colour never alone).
#: Estimands not listed get the last style; every style drawn has a legend entry.
STYLES = {"before_after": ("o", ANALYSIS_FUNCTION[0]),
          "before_after_rtm_adjusted": ("D", ANALYSIS_FUNCTION[1]),
          "level_change": ("s", ANALYSIS_FUNCTION[2]),
          "effect_at_12": ("^", ANALYSIS_FUNCTION[3]),
          "att_did": ("v", ANALYSIS_FUNCTION[4]),
          "difference_in_means": ("P", ANALYSIS_FUNCTION[5]),
          "difference_in_proportions": ("P", ANALYSIS_FUNCTION[5]),
          "att_twfe": ("X", ANALYSIS_FUNCTION[0]),
          "rate_ratio": ("X", ANALYSIS_FUNCTION[0]),
          "att_simple": ("h", ANALYSIS_FUNCTION[1]),
          "gap_mean": ("*", ANALYSIS_FUNCTION[2]),
          "att_sdid": ("p", ANALYSIS_FUNCTION[3])}
_OTHER = ("<", ANALYSIS_FUNCTION[4])


def _finite(value) -> bool:
    """True for a finite number (an effect without an interval has None or NaN)."""
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _num(value) -> str:
    """A number to three significant figures (a true minus sign), or 'not estimated'."""
    return format_sig(float(value)) if _finite(value) else "not estimated"


def _outcome(row, labels) -> str:
    return labels.get(row["outcome"], str(row["outcome"]).replace("_", " "))


def _label(row, labels) -> str:
    return f"{_outcome(row, labels)}\n({_estimand(row)})"


def _estimand(row) -> str:
    """The estimand in words, saying when it is a variant robust to selection at a peak."""
    variant = variant_words(row.get("diagnostics"))
    text = estimand_label(row["estimand"])
    return f"{text}, {variant}" if variant else text


def effects_plot(effects: DesignResult | pd.DataFrame, *, labels: dict | None = None,
                 title: str | None = None):
    """Point estimates with confidence intervals, one row per effect.

    Ratios and differences are drawn in separate panels, each with its line of
    no effect.

    Parameters
    ----------
    effects
        A result or a frame of effect records.
    labels
        Display names of outcomes.
    title
        Figure title.

    Returns
    -------
    (matplotlib.figure.Figure, str)
        The figure and its alt text.
    """
    frame = effects.effects if isinstance(effects, DesignResult) else effects
    frame = headline_effects(frame)
    labels = labels or {}
    # Ratios share one axis; differences get one panel per outcome as the reader names it
    # (two outcomes with one label are one measure in the same units).
    names = frame.apply(lambda r: _outcome(r, labels), axis=1) if len(frame) else \
        pd.Series(dtype=str)
    key = np.where(frame["scale"] == "ratio", "ratio", "difference:" + names.astype(str))
    groups = [(k.split(":")[0], g) for k, g in frame.groupby(key, sort=False)]
    heights = [0.42 * len(g) + 0.75 for _, g in groups]
    styles = {est: STYLES.get(est, _OTHER) for est in dict.fromkeys(frame["estimand"])}
    legend_rows = -(-len(styles) // 2)
    fig = Figure(figsize=(7.5, sum(heights) + 0.25 * legend_rows + 0.3))
    axes = fig.subplots(len(groups), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (scale, g) in zip(axes[:, 0], groups, strict=True):
        g = g.iloc[::-1]
        ypos = np.arange(len(g))
        for y, (_, row) in zip(ypos, g.iterrows(), strict=True):
            marker, colour = styles[row["estimand"]]
            ax.plot([row["ci_low"], row["ci_high"]], [y, y], color=colour, linewidth=2)
            ax.plot(row["estimate"], y, marker=marker, color=colour, markersize=7,
                    linestyle="none")
        ax.axvline(1.0 if scale == "ratio" else 0.0, color="#3D3D3D", linestyle="--",
                   linewidth=1)
        ax.set_yticks(ypos, [_label(r, labels) for _, r in g.iterrows()], fontsize=8)
        ax.set_ylim(-0.6, len(g) - 0.4)
        name = _outcome(g.iloc[0], labels)
        ax.set_xlabel("ratio (1 = no change)" if scale == "ratio"
                      else f"{name}: difference (0 = no change)", fontsize=8)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v, ",g")))
        apply_style(ax)
    # Every marker drawn is in the legend, below the panels (never over the data).
    handles = [Line2D([], [], marker=m, color=c, linestyle="-", linewidth=2, markersize=7,
                      label=estimand_label(est)) for est, (m, c) in styles.items()]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, (0.22 * legend_rows + 0.05) / fig.get_figheight(), 1, 1))
    parts = []
    for _, row in frame.iterrows():
        name = _outcome(row, labels)
        ci = (f" (95% CI {_num(row['ci_low'])} to {_num(row['ci_high'])})"
              if _finite(row["ci_low"]) and _finite(row["ci_high"]) else " (no interval)")
        parts.append(f"{name} ({_estimand(row)}): "
                     f"{_num(row['estimate'])}{ci}")
    alt = ("Chart of estimated effects with 95% confidence intervals. " + "; ".join(parts)
           + ".")
    return fig, alt
