"""Balance of a matched or weighted comparison group: the Love plot.

Draws stored standardised mean differences (the ``love`` frame of a ``matched``
result, or ``MatchResult.love``); nothing is re-estimated.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evalkit.naming import column_label
from evalkit.plots.palette import ANALYSIS_FUNCTION, NHS_BLUE, NHS_MID_GREY, apply_style
from evalkit.results import DesignResult

__all__ = ["love_plot"]


def _love_frame(result) -> pd.DataFrame:
    if isinstance(result, DesignResult):
        if "love" not in result.frames:
            raise ValueError(f"a {result.design!r} result has no balance to plot; "
                             "use a 'matched' result")
        return result.frames["love"]
    love = getattr(result, "love", None)
    if isinstance(love, pd.DataFrame):
        return love
    raise ValueError(f"love_plot needs a 'matched' result or a MatchResult, not a "
                     f"{type(result).__name__}")


def love_plot(result, *, threshold: float = 0.1, absolute: bool = True,
              labels: Mapping[str, str] | None = None) -> tuple[Figure, str]:
    """Standardised mean differences of each covariate before and after matching.

    Parameters
    ----------
    result
        A ``matched`` DesignResult or a ``MatchResult``.
    threshold
        The balance threshold drawn as a dashed line (0.1, the usual rule).
    absolute
        Plot |SMD| (default) or the signed SMD.
    labels
        Display names of covariates (default: the label registry's, see
        :func:`evalkit.naming.column_label`, so no column's code name is shown).

    Returns
    -------
    (Figure, str)
        The figure and its alt text.
    """
    love = _love_frame(result)
    wide = love.pivot_table(index="covariate", columns="stage", values="smd", sort=False)
    if absolute:
        wide = wide.abs()
    wide = wide.sort_values("before", key=lambda s: s.abs())
    labels = labels or {}
    wide.index = [labels.get(str(c)) or column_label(str(c)) for c in wide.index]
    n = len(wide)
    fig = Figure(figsize=(6.5, max(2.5, 0.32 * n + 1.2)))
    ax = fig.subplots()
    apply_style(ax)
    y = np.arange(n)
    ax.scatter(wide["before"], y, marker="o", facecolors="none", edgecolors=NHS_MID_GREY,
               linewidths=1.5, s=40, label="before", zorder=3)
    if "after" in wide:
        ax.scatter(wide["after"], y, marker="s", color=NHS_BLUE, s=32, label="after",
                   zorder=4)
    for i, t in enumerate([threshold] if absolute else [-threshold, threshold]):
        ax.axvline(t, color=ANALYSIS_FUNCTION[3], linestyle="--", linewidth=1,
                   label=f"balance threshold ({'±' if not absolute else ''}{threshold:g})"
                   if i == 0 else None)
    ax.axvline(0, color=NHS_MID_GREY, linewidth=0.8)
    ax.set_yticks(y, [str(c) for c in wide.index])
    ax.set_xlabel(("absolute " if absolute else "") + "standardised mean difference")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    after = wide["after"] if "after" in wide else pd.Series(dtype=float)
    above = [str(c) for c, v in after.items() if abs(v) > threshold]
    worst_before = wide["before"].abs().idxmax()
    alt = (f"Dot plot of {'absolute ' if absolute else ''}standardised mean differences for "
           f"{n} covariates before matching (hollow grey circles) and after (filled blue "
           f"squares), with a dashed line at {threshold}. Before matching the largest is "
           f"{worst_before} ({wide['before'].abs().max():.2f}).")
    if len(after):
        alt += (f" After matching the largest is {after.abs().idxmax()} "
                f"({after.abs().max():.2f}); "
                + (f"{len(above)} covariate{' remains' if len(above) == 1 else 's remain'} "
                   f"above {threshold}: {', '.join(above)}."
                   if above else f"all are within {threshold}."))
    return fig, alt
