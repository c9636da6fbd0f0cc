"""Forest-style plot of effect records."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..results import DesignResult, headline_effects
from ..selection_check import variant_words
from .palette import ANALYSIS_FUNCTION, apply_style

__all__ = ["effects_plot"]

ESTIMAND_LABELS = {"before_after": "before/after",
                   "before_after_rtm_adjusted": "adjusted for regression to the mean",
                   "level_change": "ITS level change", "effect_at_12": "ITS effect at 12 months"}


def _finite(value) -> bool:
    """True for a finite number (an effect without an interval has None or NaN)."""
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _num(value) -> str:
    """A number to three significant figures, or 'not estimated'."""
    return f"{float(value):.3g}" if _finite(value) else "not estimated"


def _label(row, labels) -> str:
    name = labels.get(row["outcome"], str(row["outcome"]).replace("_", " "))
    return f"{name}\n({_estimand(row)})"


def _estimand(row) -> str:
    """The estimand in words, saying when it is a variant robust to selection at a peak."""
    variant = variant_words(row.get("diagnostics"))
    text = ESTIMAND_LABELS.get(row["estimand"], row["estimand"])
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
    # Ratios share one axis; differences get one panel per outcome (their units differ).
    key = np.where(frame["scale"] == "ratio", "ratio", "difference:" + frame["outcome"])
    groups = [(k.split(":")[0], g) for k, g in frame.groupby(key, sort=False)]
    heights = [max(1.2, 0.55 * len(g) + 0.8) for _, g in groups]
    fig = Figure(figsize=(7.5, sum(heights) + 0.4))
    axes = fig.subplots(len(groups), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)
    markers = {"before_after": "o", "before_after_rtm_adjusted": "D", "level_change": "s",
               "effect_at_12": "^"}
    colours = {"before_after": ANALYSIS_FUNCTION[0], "before_after_rtm_adjusted":
               ANALYSIS_FUNCTION[1], "level_change": ANALYSIS_FUNCTION[2],
               "effect_at_12": ANALYSIS_FUNCTION[3]}
    for ax, (scale, g) in zip(axes[:, 0], groups, strict=True):
        g = g.iloc[::-1]
        ypos = np.arange(len(g))
        for y, (_, row) in zip(ypos, g.iterrows(), strict=True):
            colour = colours.get(row["estimand"], ANALYSIS_FUNCTION[4])
            ax.plot([row["ci_low"], row["ci_high"]], [y, y], color=colour, linewidth=2)
            ax.plot(row["estimate"], y, marker=markers.get(row["estimand"], "s"), color=colour,
                    markersize=7)
        ax.axvline(1.0 if scale == "ratio" else 0.0, color="#3D3D3D", linestyle="--",
                   linewidth=1)
        ax.set_yticks(ypos, [_label(r, labels) for _, r in g.iterrows()], fontsize=8)
        name = labels.get(g["outcome"].iloc[0], g["outcome"].iloc[0])
        ax.set_xlabel("ratio (1 = no change)" if scale == "ratio"
                      else f"{name}: difference (0 = no change)", fontsize=8)
        apply_style(ax)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    parts = []
    for _, row in frame.iterrows():
        name = labels.get(row["outcome"], str(row["outcome"]).replace("_", " "))
        ci = (f" (95% CI {_num(row['ci_low'])} to {_num(row['ci_high'])})"
              if _finite(row["ci_low"]) and _finite(row["ci_high"]) else " (no interval)")
        parts.append(f"{name} ({_estimand(row)}): "
                     f"{_num(row['estimate'])}{ci}")
    alt = ("Chart of estimated effects with 95% confidence intervals. " + "; ".join(parts)
           + ".")
    return fig, alt
