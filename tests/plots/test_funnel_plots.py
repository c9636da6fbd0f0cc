"""The funnel plot draws a result's stored frames; its alt text states the finding.

The results here are built by hand (flat limits at 6, 8, 12 and 14 around a target of
10), so every count and name the alt text states is known in advance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from evalkit.errors import DesignError
from evalkit.plots.funnel import funnel_plot
from evalkit.variation import FunnelResult, funnel

FLAGS = {"A": (10.0, "within"), "B": (11.0, "within"), "C": (13.0, "above 95%"),
         "D": (15.0, "above 99.8%"), "E": (7.0, "below 95%"), "F": (5.0, "below 99.8%")}


def _result(values: dict[str, tuple[float, str]] = FLAGS, tau2=None) -> FunnelResult:
    names = list(values)
    units = pd.DataFrame({
        "unit": names, "numerator": np.arange(len(names)) + 1.0,
        "denominator": np.linspace(100, 600, len(names)),
        "value": [v for v, _ in values.values()], "z": 0.0, "z_adjusted": 0.0,
        "lower_95": 8.0, "upper_95": 12.0, "lower_998": 6.0, "upper_998": 14.0,
        "flag": [f for _, f in values.values()]})
    grid = np.linspace(80, 660, 30)
    curve = pd.DataFrame({"denominator": grid, "lower_95": 8.0, "upper_95": 12.0,
                          "lower_998": 6.0, "upper_998": 14.0, "target": 10.0})
    return FunnelResult(units=units, curve=curve, target=10.0, kind="rate", multiplier=1000,
                        limits=(0.95, 0.998), phi=1.4, tau2=tau2,
                        options={"denominator": "list_size"})


def test_alt_text_states_target_and_units_beyond_each_limit():
    fig, alt = funnel_plot(_result(), label="Emergency admissions per 1,000")
    assert isinstance(fig, Figure)
    assert "target of 10 (the pooled value)" in alt
    assert "6 units against list size" in alt
    assert "2 above the upper 95% limit (C, D); 1 above the upper 99.8% limit (D)" in alt
    assert "2 below the lower 95% limit (E, F); 1 below the lower 99.8% limit (F)" in alt
    assert "2 units lie within all limits" in alt
    assert alt.startswith("Funnel plot of emergency admissions per 1,000")


def test_alt_text_stops_naming_units_when_there_are_many():
    many = {f"U{i}": (13.0, "above 95%") for i in range(7)} | {"W": (10.0, "within")}
    _, alt = funnel_plot(_result(many))
    assert "7 above the upper 95% limit;" in alt and "U3" not in alt
    assert "0 below the lower 95% limit" in alt and "1 unit lies within all limits" in alt


def test_limit_lines_have_distinct_styles_and_outliers_distinct_markers():
    fig, _ = funnel_plot(_result())
    ax = fig.axes[0]
    styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()
              if not line.get_label().startswith("_")}
    assert styles["scheme average 10"] == "-"  # the pooled value, as the caption says
    assert styles["95% limits"] == "--" and styles["99.8% limits"] == ":"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for text in ("within limits (2)", "above 95% limit (1)", "above 99.8% limit (1)",
                 "below 95% limit (1)", "below 99.8% limit (1)"):
        assert text in legend
    # one scatter per flag; shapes differ between directions (not colour alone)
    paths = [tuple(map(tuple, c.get_paths()[0].vertices.round(3)))
             for c in ax.collections]
    assert len(ax.collections) == 5 and len(set(paths)) == 3  # circle, up and down triangle
    fills = [c.get_facecolors()[0].tolist() for c in ax.collections]
    assert fills[0] != fills[1]  # above 99.8% filled, above 95% hollow
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == ["C", "D", "E", "F"]


def test_highlighted_units_are_ringed_labelled_and_described():
    fig, alt = funnel_plot(_result(), highlight=["A"])
    ax = fig.axes[0]
    assert "A" in [t.get_text() for t in ax.texts]
    assert "highlighted" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Highlighted: A 10 (within)." in alt
    with pytest.raises(DesignError) as info:
        funnel_plot(_result(), highlight="Z")
    assert "Z" in info.value.message


def test_overdispersion_is_described_when_asked_for():
    _, alt = funnel_plot(_result(tau2=0.002))
    assert "inflated for overdispersion" in alt and "between-unit variance 0.002" in alt
    _, alt = funnel_plot(_result(tau2=0.0))
    assert "Overdispersion ratio 1.40; the limits are not inflated." in alt


def test_draws_a_real_result_and_refuses_other_objects():
    df = pd.DataFrame({"practice": list("ABCDE"), "seen": [100, 125, 150, 75, 50],
                       "eligible": [1000] * 5})
    res = funnel(df, numerator="seen", denominator="eligible", unit="practice", target=10,
                 multiplier=100)
    fig, alt = funnel_plot(res)
    assert "percentage for 5 units against eligible" in alt
    assert "above the upper 99.8% limit (C)" in alt and "below the lower 99.8% limit (E)" in alt
    assert "a given target" in alt
    with pytest.raises(ValueError):
        funnel_plot(res.units)
