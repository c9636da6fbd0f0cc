"""The forest, bubble and effect-funnel plots draw a meta-analysis' stored frames.

Each alt text must state the pooled effect, its interval, the prediction interval, I² and
the number of schemes, with the numbers the result holds; the checks below read those
numbers from the result, never from the plot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from evalkit.errors import DesignError
from evalkit.plots.synthesis import bubble_plot, effect_funnel_plot, forest_plot
from evalkit.synthesis import egger_test, meta_analysis


def _schemes() -> pd.DataFrame:
    return pd.DataFrame({
        "scheme": ["Ashford", "Bexley", "Crewe", "Dudley", "Exeter", "Frome", "Goole"],
        "estimate": [0.82, 0.70, 0.95, 0.60, 0.88, 1.05, 0.55],
        "se": [0.08, 0.15, 0.06, 0.20, 0.10, 0.12, 0.25],
        "scale": "ratio", "outcome": "emergency_admissions",
        "design": ["ITS", "ITS", "DiD", "DiD", "DiD", "ITS", "ITS"],
        "nation": ["England", "Wales", "England", "England", "Wales", "England", "Wales"],
        "list_size": [12.0, 8.0, 20.0, 6.0, 15.0, 18.0, 5.0],
        "evidence_level": [3, 3, 4, 3, 4, 3, 3]})


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _states_pooled(alt: str, res) -> None:
    assert f"pooled ratio {_fmt(res.estimate)}" in alt.lower()
    assert f"95% CI {_fmt(res.ci[0])} to {_fmt(res.ci[1])}" in alt
    lo, hi = res.prediction_interval
    assert f"95% prediction interval {_fmt(lo)} to {_fmt(hi)}" in alt
    assert f"I² = {res.i2:.1f}%" in alt
    assert f"{res.k} schemes" in alt


def test_forest_plot_states_the_finding_and_draws_log_axis():
    res = meta_analysis(_schemes(), se="se", hksj=True)
    fig, alt = forest_plot(res)
    assert isinstance(fig, Figure)
    assert alt.startswith("Forest plot of 7 schemes' effects on emergency admissions")
    _states_pooled(alt, res)
    assert "Hartung-Knapp-Sidik-Jonkman" in alt
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:7] == list(_schemes()["scheme"])
    assert labels[-2:] == ["Pooled (7 schemes)", "95% prediction interval"]
    # squares sized by weight: the scatter sizes follow the weights' order
    sizes = [c.get_sizes()[0] for c in ax.collections]
    assert np.argsort(sizes).tolist() == np.argsort(res.weights.to_numpy()).tolist()
    # one diamond (the pooled one), and the prediction interval is a dashed line
    diamonds = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == 1
    xs = diamonds[0].get_xy()[:, 0]
    assert (xs.min(), xs.max()) == pytest.approx(res.ci)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "prediction interval" in legend and "pooled estimate" in legend
    dashed = [line for line in ax.get_lines() if line.get_linestyle() not in ("-", "None")
              and len(line.get_xdata()) == 2 and line.get_xdata()[0] != line.get_xdata()[1]]
    assert any(tuple(line.get_xdata()) == pytest.approx(res.prediction_interval)
               for line in dashed)


def test_forest_plot_subgroup_diamonds_and_other_grouping():
    res = meta_analysis(_schemes(), se="se", group="design")
    fig, alt = forest_plot(res)
    ax = fig.axes[0]
    diamonds = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == 3                       # two subgroups and the pooled estimate
    assert sum(p.get_hatch() == "///" for p in diamonds) == 2   # subgroups hatched, not only
    sub = res.frames["subgroups"].set_index("group")             # coloured differently
    assert "By design: ITS " + _fmt(sub.loc["ITS", "estimate"]) in alt
    assert f"p = {res.subgroup_test['p']:.2g}" in alt
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "Design: ITS" in labels and "Design: DiD" in labels  # the column in words
    # grouping by a column the result did not pool within: rows grouped, no subgroup diamonds
    fig, alt = forest_plot(res, group="nation", labels={"Ashford": "Ashford PCN"})
    ax = fig.axes[0]
    assert sum(isinstance(p, Polygon) for p in ax.patches) == 1
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "Nation: Wales" in labels and "Ashford PCN" in labels
    assert "grouped by nation" in alt
    with pytest.raises(DesignError, match="'natoin' is not in"):
        forest_plot(res, group="natoin")


def test_forest_plot_on_a_difference_scale_and_fixed_effect():
    d = _schemes().drop(columns="scale").assign(estimate=lambda x: np.log(x["estimate"]))
    res = meta_analysis(d, se="se", method="fe")
    fig, alt = forest_plot(res)
    assert fig.axes[0].get_xscale() == "linear"
    assert "no prediction interval (a fixed-effect model" in alt
    assert f"pooled effect {_fmt(res.estimate)}" in alt
    with pytest.raises(DesignError, match="log axis needs positive"):
        forest_plot(res, ratio=True)


def test_bubble_plot_draws_the_fit_and_states_the_slope():
    res = meta_analysis(_schemes(), se="se", moderators=["list_size", "nation"])
    fig, alt = bubble_plot(res, "list_size")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    c = res.regression.coefficients.set_index("term").loc["list_size"]
    assert f"multiplies the ratio by {np.exp(c['coef']):.3g}" in alt
    assert f"Residual tau² = {res.regression.tau2:.3g}" in alt
    _states_pooled(alt, res)
    line = res.frames["lines"]
    fitted = [ln for ln in ax.get_lines() if ln.get_label() == "fitted effect"][0]
    assert fitted.get_ydata() == pytest.approx(line["fit"].to_numpy())
    styles = {ln.get_label(): ln.get_linestyle() for ln in ax.get_lines()
              if not ln.get_label().startswith("_")}
    assert styles["fitted effect"] == "-" and styles["95% confidence band"] == "--" \
        and styles["95% prediction band"] == ":"
    sizes = ax.collections[0].get_sizes()
    w = res.frames["studies"]["weight_regression"].to_numpy()
    assert np.argsort(sizes).tolist() == np.argsort(w).tolist()
    with pytest.raises(DesignError, match="categorical") as err:
        bubble_plot(res, "nation")
    assert "forest_plot" in err.value.fix
    with pytest.raises(DesignError, match="no meta-regression"):
        bubble_plot(meta_analysis(_schemes(), se="se"), "list_size")
    with pytest.raises(DesignError, match="did you mean 'list_size'"):
        bubble_plot(res, "list_sise")


def test_effect_funnel_plot_inverts_the_se_axis_and_states_egger():
    res = meta_analysis(_schemes(), se="se")
    eg = egger_test(res)
    fig, alt = effect_funnel_plot(res, egger=eg)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo > hi == 0.0                           # most precise schemes at the top
    assert ax.get_xscale() == "log"
    outside = int(res.frames["studies"]["outside_funnel"].sum())
    assert f"{outside} of 7 schemes lie outside them" in alt
    assert f"intercept {eg.intercept:.3g}" in alt and "little power" in alt
    _states_pooled(alt, res)
    labels = {ln.get_label() for ln in ax.get_lines()}
    assert {"pseudo 95% limits", "Egger regression line", "pooled ratio"} <= labels
    fig, alt = effect_funnel_plot(res)
    assert "Egger" not in alt
    with pytest.raises(DesignError, match="egger_test"):
        effect_funnel_plot(res, egger=True)


def test_plots_refuse_other_results():
    from evalkit.results import DesignResult, effects_frame

    other = DesignResult(design="its", effects=effects_frame([]))
    for plot in (forest_plot, effect_funnel_plot):
        with pytest.raises(DesignError, match="meta_analysis result"):
            plot(other)
    with pytest.raises(DesignError, match="meta_analysis result"):
        bubble_plot(other, "x")
