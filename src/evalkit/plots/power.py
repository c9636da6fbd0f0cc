"""The minimum detectable effect (MDE) over follow-up length, for an evaluation plan."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evalkit.evidence.narrative import format_sig
from evalkit.plots.palette import ANALYSIS_FUNCTION, NHS_MID_GREY, apply_style

__all__ = ["mde_curve_plot"]

_MARKERS = ("o", "s", "^", "D", "v", "P")
_STYLES = ("-", "--", "-.", ":", "-", "--")


def mde_curve_plot(curves: Mapping[str, pd.DataFrame], *, target: float | None = None,
                   planned: int | None = None):
    """The smallest change each analysis could detect, by months of follow-up.

    Parameters
    ----------
    curves
        By line label (text, drawn as typed): a frame with ``followup`` (months) and
        ``percent`` (the MDE as a percentage of the baseline, at 80% power and two-sided
        5%). Lines without a finite percentage are left out.
    target
        The target effect in percent, drawn as a horizontal line.
    planned
        The planned follow-up in months, drawn as a vertical line.

    Returns
    -------
    (matplotlib.figure.Figure, str) or None
        The figure and its alt text (numbers at the shortest and longest follow-up of each
        line); None when no line can be drawn.

    Examples
    --------
    >>> frame = pd.DataFrame({"followup": [3, 12, 36], "percent": [12.0, 9.6, 7.6]})
    >>> fig, alt = mde_curve_plot({"Emergency admissions": frame}, target=5.0)
    >>> alt.split(": ")[1]
    'Emergency admissions'
    """
    lines = {}
    for label, frame in curves.items():
        f = frame[np.isfinite(pd.to_numeric(frame["percent"], errors="coerce"))]
        if len(f):
            lines[label] = f.sort_values("followup")
    if not lines:
        return None
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    said = []
    for i, (label, f) in enumerate(lines.items()):
        ax.plot(f["followup"], f["percent"], color=ANALYSIS_FUNCTION[i % 6],
                marker=_MARKERS[i % 6], linestyle=_STYLES[i % 6], markersize=4, label=label)
        a, b = f.iloc[0], f.iloc[-1]
        said.append(f"{label}: {format_sig(a['percent'], 2)}% at {int(a['followup'])} months, "
                    f"{format_sig(b['percent'], 2)}% at {int(b['followup'])} months")
    if target is not None:
        ax.axhline(target, color=NHS_MID_GREY, linestyle="--", linewidth=1)
        ax.annotate(f"target: {format_sig(target, 2)}%", (0.99, target),
                    xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8,
                    color="#3D3D3D")
    if planned is not None:
        ax.axvline(planned, color=NHS_MID_GREY, linestyle=":", linewidth=1)
    ax.set_xlabel("Months of follow-up")
    ax.set_ylabel("Smallest detectable change\n(% of the baseline)")
    ax.set_xlim(0, 37)
    ax.set_ylim(bottom=0)
    apply_style(ax)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    fig.tight_layout()
    alt = ("Line chart of the smallest change the evaluation could detect (80% power, "
           "two-sided 5%) against months of follow-up, one line per analysis: "
           + "; ".join(said) + "."
           + (f" A dashed line marks the target of {format_sig(target, 2)}%."
              if target is not None else ""))
    return fig, alt
