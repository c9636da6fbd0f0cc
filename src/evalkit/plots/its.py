"""The interrupted-time-series figure."""

from __future__ import annotations

from matplotlib.figure import Figure

from evalkit.evidence.narrative import format_effect
from evalkit.plots.axes import period_ticks
from evalkit.plots.palette import ANALYSIS_FUNCTION, NHS_PALE_GREY, apply_style
from evalkit.results import DesignResult

__all__ = ["its_plot"]


def its_plot(result: DesignResult, *, label: str | None = None):
    """Observed points, the fitted line and the counterfactual with its band.

    The interruption is a vertical line, any washout is shaded, and the level change
    is annotated. A controlled ITS also shows the comparison series.

    Parameters
    ----------
    result
        A single-series or controlled ``its`` result (not a batch result).
    label
        The outcome's display name.

    Returns
    -------
    (matplotlib.figure.Figure, str)
        The figure and its alt text.
    """
    data = result.plot_data()
    if "series" not in data:
        raise ValueError("its_plot needs a single-series ITS result, not a batch result")
    s, cuts = data["series"], data["interruptions"]
    per = float(data["scale"]["rate_per"].iloc[0])
    outcome = result.effects["outcome"].iloc[0]
    label = label or outcome.replace("_", " ")
    ylabel = label + (f"\nper {per:,.0f}" if per != 1 else "")
    blue, teal, pink = ANALYSIS_FUNCTION[0], ANALYSIS_FUNCTION[1], ANALYSIS_FUNCTION[2]
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    for _, w in s[s["washout"]].iterrows():
        ax.axvspan(w["t"] - 0.5, w["t"] + 0.5, color=NHS_PALE_GREY, zorder=0)
    if "comparison" in data:
        c = data["comparison"]
        ax.plot(c["t"], c["observed"], "s", markersize=3.5, markerfacecolor="none",
                color=pink, label="comparison (observed)")
        ax.plot(c["t"], c["fitted"], color=pink, linewidth=1.2, label="comparison (fitted)")
    ax.plot(s["t"], s["observed"], "o", markersize=3.5, color=blue, label="observed")
    ax.plot(s["t"], s["fitted"], color=blue, linewidth=1.8, label="fitted")
    post = s["counterfactual"].notna()
    ax.plot(s.loc[post, "t"], s.loc[post, "counterfactual"], "--", color=teal, linewidth=1.8,
            label="counterfactual (no scheme)")
    ax.fill_between(s.loc[post, "t"], s.loc[post, "counterfactual_low"],
                    s.loc[post, "counterfactual_high"], color=teal, alpha=0.2, linewidth=0)
    for _, cut in cuts.iterrows():
        ax.axvline(cut["t"] - 0.5, color="#3D3D3D", linewidth=1)
    eff = result.effects.set_index("estimand")
    headline = None
    if "level_change" in eff.index:
        headline = f"level change {format_effect(eff.loc['level_change'])}"
        ax.text(0.01, 0.97, headline, transform=ax.transAxes, va="top", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    at, names = period_ticks(s["period"].tolist())
    ax.set_xticks(s["t"].to_numpy()[at], names, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    apply_style(ax)
    fig.tight_layout()
    start = ", ".join(cuts["period"])
    alt = (f"Interrupted time series of {label}{' per ' + format(per, ',.0f') if per != 1 else ''}"
           f" from {s['period'].iloc[0]} to {s['period'].iloc[-1]}, with the scheme starting "
           f"{start}. Dots are observed values, the solid line the fitted model and the dashed "
           "line the counterfactual without the scheme, with its 95% band"
           + (" ; a comparison series is shown in pink" if "comparison" in data else "")
           + (f". Estimated {headline}." if headline else "."))
    return fig, alt.replace(" ;", ";")


