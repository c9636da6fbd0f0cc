"""Economic figures: the cost-effectiveness plane, the CEAC and the tornado diagram.

The plane and the CEAC draw an ``economic`` result's stored frames (``ce_draws``,
``ceac``); the tornado draws a :func:`~evalkit.economics.sensitivity.one_way` table.
Nothing is re-estimated. Every function returns ``(figure, alt_text)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from evalkit.evidence.narrative import format_gbp, format_number, format_sig
from evalkit.plots.palette import (
    ANALYSIS_FUNCTION,
    NHS_BLUE,
    NHS_DARK_BLUE,
    NHS_MID_GREY,
    apply_style,
)
from evalkit.results import DesignResult

__all__ = ["ce_plane_plot", "ceac_plot", "tornado_plot"]

_POUNDS = FuncFormatter(lambda x, _: f"£{x:,.0f}" if x >= 0 else f"-£{-x:,.0f}")


def _check(result) -> None:
    if not isinstance(result, DesignResult) or result.design != "economic" \
            or "ce_draws" not in result.frames:
        raise ValueError("this plot needs an 'economic' result with an effect (ce_draws)")


def ce_plane_plot(result: DesignResult, *, wtp: float = 20_000.0, label: str | None = None
                  ) -> tuple[Figure, str]:
    """Bootstrap replicates of incremental cost and effect, with the threshold line.

    Parameters
    ----------
    result
        An ``economic`` result with an effect.
    wtp
        The willingness to pay drawn as a dashed line (points below it are cost-effective).
    label
        The effect's unit for the axis (default: the result's ``effect_label``).
    """
    _check(result)
    draws = result.frames["ce_draws"]
    e = result.effects.set_index("estimand")
    unit = label or result.options.get("effect_label") or "effect"
    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.add_subplot()
    ax.scatter(draws["inc_effect"], draws["inc_cost"], s=6, alpha=0.35, color=NHS_BLUE,
               linewidths=0, label="bootstrap replicates")
    x0, y0 = e.loc["incremental_effect", "estimate"], e.loc["incremental_cost", "estimate"]
    ax.scatter([x0], [y0], marker="D", s=60, color=ANALYSIS_FUNCTION[3], edgecolor="black",
               zorder=3, label="estimate")
    ax.axhline(0, color=NHS_MID_GREY, linewidth=0.8)
    ax.axvline(0, color=NHS_MID_GREY, linewidth=0.8)
    span = np.nanmax(np.abs(draws["inc_effect"])) * 1.1 or 1.0
    xs = np.array([-span, span])
    ax.plot(xs, wtp * xs, linestyle="--", color=NHS_DARK_BLUE,
            label=f"£{wtp:,.0f} per {unit.rstrip('s') if unit.endswith('s') else unit}")
    ax.set_xlim(-span, span)
    ax.yaxis.set_major_formatter(_POUNDS)
    ax.set_xlabel(f"Incremental effect ({unit} per patient)")
    ax.set_ylabel("Incremental cost per patient")
    apply_style(ax)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    p = result.diagnostics.get(f"prob_cost_effective_{int(wtp)}")
    share_ne = float(np.mean((draws["inc_effect"] > 0) & (draws["inc_cost"] > 0)))
    share_se = float(np.mean((draws["inc_effect"] > 0) & (draws["inc_cost"] <= 0)))
    alt = (f"Cost-effectiveness plane: {len(draws):,} bootstrap replicates of the incremental "
           f"cost against the incremental {unit} per patient, around the estimate of "
           f"{format_gbp(y0)} and {format_number(x0, '+.3f')} {unit}. {share_se:.0%} of "
           f"replicates save money and gain "
           f"health, {share_ne:.0%} cost more and gain health"
           + (f"; {p:.0%} lie below the £{wtp:,.0f} threshold line." if p is not None
              else "."))
    return fig, alt


def ceac_plot(result: DesignResult, *, thresholds=(20_000.0, 30_000.0), label: str | None = None
              ) -> tuple[Figure, str]:
    """The probability that the scheme is cost-effective against willingness to pay."""
    _check(result)
    curve = result.frames["ceac"]
    unit = label or result.options.get("effect_label") or "effect"
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.add_subplot()
    ax.plot(curve["wtp"], curve["probability"], color=NHS_BLUE, linewidth=2,
            label="scheme cost-effective")
    for k, lv in enumerate(thresholds):
        ax.axvline(lv, color=NHS_MID_GREY, linestyle=(0, (4, 2 + 2 * k)), linewidth=1)
        ax.text(lv, 1.02, f"£{lv:,.0f}", ha="center", va="bottom", fontsize=8,
                color=NHS_MID_GREY)
    ax.set_ylim(0, 1.08)
    ax.set_xlim(curve["wtp"].min(), curve["wtp"].max())
    ax.xaxis.set_major_formatter(_POUNDS)
    ax.set_xlabel(f"Willingness to pay per {unit.rstrip('s') if unit.endswith('s') else unit}")
    ax.set_ylabel("Probability cost-effective")
    apply_style(ax)
    fig.tight_layout()
    at = {lv: float(np.interp(lv, curve["wtp"], curve["probability"])) for lv in thresholds}
    alt = ("Cost-effectiveness acceptability curve: the probability that the scheme is "
           "cost-effective rises or falls with the willingness to pay; it is "
           + " and ".join(f"{p:.0%} at £{lv:,.0f}" for lv, p in at.items()) + ".")
    return fig, alt


def tornado_plot(table: pd.DataFrame, *, output: str = "output") -> tuple[Figure, str]:
    """A tornado diagram of a one-way sensitivity table (largest swing at the top)."""
    need = {"label", "output_low", "output_high", "base_output"}
    if not need <= set(table.columns):
        raise ValueError("tornado_plot needs a one_way() table")
    t = table.iloc[::-1]
    base = float(t["base_output"].iloc[0])
    fig = Figure(figsize=(6.4, 0.5 * len(t) + 1.4))
    ax = fig.add_subplot()
    y = np.arange(len(t))
    lo = t["output_low"].to_numpy() - base
    hi = t["output_high"].to_numpy() - base
    ax.barh(y, lo, left=base, color=NHS_BLUE, label="parameter at its low value")
    ax.barh(y, hi, left=base, color=ANALYSIS_FUNCTION[1], hatch="//",
            label="parameter at its high value")
    ax.axvline(base, color="black", linewidth=1, label="base case")
    ax.set_yticks(y, t["label"])
    ax.set_xlabel(output)
    apply_style(ax)
    # Above the bars, outside the axes: a legend inside would sit across the base-case line
    # or the bars.
    ax.legend(frameon=False, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0),
              ncol=3, borderaxespad=0.2)
    fig.tight_layout()
    top = table.iloc[0]
    alt = (f"Tornado diagram of one-way sensitivity analysis around a base case of "
           f"{format_sig(base, 4)}: {top['label']} moves the {output} most, from "
           f"{format_sig(top['output_low'], 4)} to {format_sig(top['output_high'], 4)}.")
    return fig, alt
