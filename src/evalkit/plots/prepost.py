"""Before/after plot: the scheme group's series against other units."""

from __future__ import annotations

from matplotlib.figure import Figure

from evalkit.plots.axes import period_ticks
from evalkit.plots.palette import ANALYSIS_FUNCTION, NHS_PALE_GREY, apply_style
from evalkit.results import DesignResult

__all__ = ["prepost_plot"]


def prepost_plot(result: DesignResult, *, label: str | None = None):
    """The scheme group's outcome over time, with the baseline and follow-up windows.

    Parameters
    ----------
    result
        A ``prepost`` result.
    label
        The outcome's display name (y axis).

    Returns
    -------
    (matplotlib.figure.Figure, str)
        The figure and its alt text.
    """
    data = result.plot_data()
    series, windows = data["series"], data["windows"]
    outcome = result.effects["outcome"].iloc[0]
    label = label or outcome.replace("_", " ")
    ylabel = label
    if result.effects["scale"].iloc[0] == "ratio":
        per = result.effects["diagnostics"].iloc[0].get("rate_per", 1000)
        label = f"{label} per {per:,.0f} per period"
        ylabel = label.replace(" per ", "\nper ", 1)
    fig = Figure(figsize=(7.5, 3.6))
    ax = fig.subplots()
    order = sorted(series["t"].unique())
    period_at = dict(zip(series["period"], series["t"], strict=False))
    for (name, g), colour, style in zip(series.groupby("group", sort=False),
                                        ANALYSIS_FUNCTION, ("-", "--"), strict=False):
        ax.plot(g["t"], g["value"], linestyle=style, color=colour, linewidth=1.6,
                label=name)
    for _, w in windows.iterrows():
        lo, hi = period_at.get(w["from"]), period_at.get(w["to"])
        if lo is not None and hi is not None:
            ax.axvspan(lo - 0.5, hi + 0.5, color=NHS_PALE_GREY, alpha=0.9, zorder=0)
            ax.text((lo + hi) / 2, 1.0, w["window"], transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8)
    labels = series.drop_duplicates("t").set_index("t")["period"]
    at, names = period_ticks([labels[t] for t in order])
    ax.set_xticks([order[i] for i in at], names, rotation=0, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    apply_style(ax)
    fig.tight_layout()
    first = result.effects.iloc[0]
    scheme = series[series["group"] == "scheme"]
    alt = (f"Line chart of {label} for scheme units"
           + (" and other units" if series["group"].nunique() > 1 else "")
           + f" from {scheme['period'].iloc[0]} to {scheme['period'].iloc[-1]}, with the "
           f"baseline ({windows['from'].iloc[0]} to {windows['to'].iloc[0]}) and follow-up "
           f"({windows['from'].iloc[1]} to {windows['to'].iloc[1]}) windows shaded. The "
           f"before/after estimate is {first['estimate']:.3g} "
           f"(95% CI {first['ci_low']:.3g} to {first['ci_high']:.3g}).")
    return fig, alt


