"""Figures and report text a reader can use: plain names, legends that match, readable
numbers (issue 23, points 3 and 4).

Each test is one example found in the rendered reports, checked as a class: no code name
(``att_did``, ``design_strength``) on a figure, every marker in the legend and the caption,
ratio axes with ticks a reader can use, consistent decimals with true minus signs, and
report sentences that never print "2 to 2", "0 unit(s)" or "reduces patients".
"""

from __future__ import annotations

import re

import matplotlib
import pandas as pd
import pytest
from figure_layout import markers_missing_from_legend
from matplotlib.backends.backend_agg import FigureCanvasAgg

from evalkit.plots.palette import PLAIN_TEXT

from conftest import SYNTHETIC

MINUS = "\u2212"
#: Words a caption may use for a marker shape.
SHAPES = {"o": "circle", "D": "diamond", "s": "square", "^": "triangle", "v": "triangle",
          "P": "plus", "X": "cross", "h": "hexagon", "*": "star", "p": "pentagon"}
#: A code name: a word with an underscore (att_did, design_strength, cost_y1).
CODE = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")


@pytest.fixture(scope="module")
def frailty():
    from evalkit.report.context import load_report

    return load_report("frailty-inequalities")


def _draw(ctx, label):
    with matplotlib.rc_context(PLAIN_TEXT):
        return getattr(ctx, ctx._DRAW[label])()


def _texts(fig) -> list[str]:
    FigureCanvasAgg(fig).draw()
    out = [t.get_text() for ax in fig.axes
           for t in ax.get_xticklabels() + ax.get_yticklabels()]
    out += [ax.get_xlabel() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes]
    for legend in list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        out += [t.get_text() for t in legend.get_texts()]
    return [t for t in out if t]


# -- Figure 8: the headline effects ---------------------------------------------------------
def test_effects_figure_names_estimands_in_words_not_code(frailty):
    """Figure 8 said "(att_did)" and "(difference_in_means)"."""
    fig, alt = _draw(frailty, "fig-effects")
    texts = _texts(fig)
    assert "att_did" not in alt and "difference_in_means" not in alt
    assert [t for t in texts if CODE.search(t)] == []
    assert any("Matched DiD: effect on the treated" in t for t in texts)


def test_effects_figure_legend_and_caption_cover_every_marker_shape(frailty):
    """Figure 8's caption explained circles and diamonds but not its squares and triangles."""
    from evalkit.report.figures import FIGURE_CAPTIONS

    fig, _ = _draw(frailty, "fig-effects")
    assert markers_missing_from_legend(fig) == []
    drawn = {line.get_marker() for ax in fig.axes for line in ax.lines
             if line.get_marker() not in (None, "None", "none", "")}
    assert len(drawn) >= 4  # circles, diamonds, squares, triangles (and the matched ones)
    caption = FIGURE_CAPTIONS["fig-effects"].lower()
    named = {m for m in drawn if SHAPES.get(m, "?") in caption}
    # the caption either names every shape drawn or sends the reader to the legend for all
    assert named == drawn or ("legend" in caption and not named)


# -- the forest plot of the comparative synthesis -------------------------------------------
def _meta(estimates, scale="ratio"):
    from evalkit.synthesis import meta_analysis

    d = pd.DataFrame({"scheme": [f"scheme {i}" for i in range(len(estimates))],
                      "estimate": estimates, "se": 0.03, "scale": scale,
                      "outcome": "emergency_admissions",
                      "design_strength": ["Maryland level 4"] * (len(estimates) - 1)
                      + ["Maryland level 3"]})
    return meta_analysis(d, se="se", group="design_strength")


def _value_column(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[1].texts
            if "(" in t.get_text() and " to " in t.get_text()]


def test_forest_plot_group_heading_is_not_a_column_name():
    """The group heading read "design_strength: Maryland level 4"."""
    from evalkit.plots.synthesis import forest_plot

    fig, alt = forest_plot(_meta([0.958, 1.0, 0.97, 0.91]), group="design_strength")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "Maryland level 4" in labels and "Maryland level 3" in labels
    assert not any("design_strength" in t for t in labels + [alt])


def test_forest_plot_ratio_axis_has_readable_ticks():
    """Its only x tick was "1"."""
    from evalkit.plots.synthesis import forest_plot

    fig, _ = forest_plot(_meta([0.958, 1.0, 0.97, 0.91]), group="design_strength")
    ax = fig.axes[0]
    FigureCanvasAgg(fig).draw()
    lo, hi = ax.get_xlim()
    shown = [t.get_text() for t, v in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True)
             if lo <= v <= hi and t.get_text()]
    assert len(shown) >= 3, shown
    assert "1" in shown


def test_forest_plot_values_have_one_number_of_decimals_and_true_minus_signs():
    """Values printed as "1 (0.958 to 1.05)"."""
    from evalkit.plots.synthesis import forest_plot

    fig, _ = forest_plot(_meta([0.958, 1.0, 0.97, 0.91]), group="design_strength")
    values = _value_column(fig)
    numbers = [n for v in values for n in re.findall(r"[\d.]+", v)]
    decimals = {len(n.split(".")[1]) if "." in n else 0 for n in numbers}
    assert len(decimals) == 1 and decimals != {0}, values
    assert any(v.startswith("1.00 (") for v in values), values  # not "1 ("
    fig, _ = forest_plot(_meta([-0.2, 0.05, -0.1, -0.3], scale="difference"),
                         group="design_strength")
    values = _value_column(fig)
    assert any(MINUS in v for v in values) and not any("-" in v for v in values), values


# -- report text ----------------------------------------------------------------------------
def test_one_period_windows_are_not_written_as_a_range(frailty):
    """"baseline 2 to 2, follow-up 3 to 3"."""
    text = frailty.design_markdown()
    assert not re.search(r"\b(\w+) to \1\b", text)
    assert "baseline year 2, follow-up year 3" in text


def test_unit_counts_are_words_not_unit_s(frailty):
    """"0 unit(s) referred more than the 95% limit allows"."""
    text = frailty.engagement_markdown()
    assert "unit(s)" not in text and "0 unit" not in text
    assert "no unit referred more than the 95% limit allows" in text


def test_a_percentage_outcome_is_a_share_in_a_finding():
    """"reduces patients rating their practice good (%)"."""
    from evalkit.evidence.findings import finding

    rec = {"outcome": "patient_experience", "design": "did", "estimand": "att_twfe",
           "scale": "difference", "estimate": -3.0, "ci_low": -5.0, "ci_high": -1.0,
           "evidence_level": 3, "diagnostics": {}}
    text = finding(rec, "moderate", label="Patients rating their practice good (%)")
    assert "reduces patients" not in text and "(%)" not in text
    assert "the share of patients rating their practice good" in text


def test_one_cost_has_one_label():
    """"…per patient per year (GBP)" and "…per patient a year (GBP)" for one cost."""
    import yaml

    for spec in sorted(SYNTHETIC.glob("*/spec.yaml")):
        outcomes = yaml.safe_load(spec.read_text(encoding="utf-8"))["outcomes"]
        costs = {o["label"] for o in outcomes.values()
                 if o.get("domain") == "cost" and "Resource-use cost" in o["label"]}
        assert len(costs) <= 1, (spec.parent.name, costs)


def test_dose_figure_caption_promises_only_what_is_drawn(frailty):
    """Figure 6's caption promised "each unit's change" over a fitted line alone, whose
    y axis said just "Effect"."""
    from evalkit.report.figures import FIGURE_CAPTIONS

    fig, _ = _draw(frailty, "fig-dose")
    ax = fig.axes[0]
    points = [c for c in ax.collections if type(c).__name__ == "PathCollection"]
    if not points:
        assert "each unit's change" not in FIGURE_CAPTIONS["fig-dose"]
    assert ax.get_ylabel().strip() not in ("Effect", "Effect (ratio)")
    assert "emergency admissions" in ax.get_ylabel().lower()


# -- the funnel plot ------------------------------------------------------------------------
def test_funnel_names_stay_inside_the_axes_and_legend_says_scheme_average(frailty):
    """"P109" sat on the x-axis numbers; the legend said "target 2.9" where the caption
    says the scheme average."""
    from evalkit.report.figures import FIGURE_CAPTIONS

    fig, _ = _draw(frailty, "fig-funnel")
    ax = fig.axes[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    inside = ax.get_window_extent(renderer)
    names = [t for t in ax.texts if t.get_text()]
    assert names, "the funnel names no unit"
    for t in names:
        box = t.get_window_extent(renderer)
        assert box.y0 >= inside.y0 and box.x1 <= inside.x1, t.get_text()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "scheme average" in FIGURE_CAPTIONS["fig-funnel"]
    assert any(t.startswith("scheme average ") for t in legend), legend
    assert not any(t.startswith("target ") for t in legend)


# -- the tornado chart ----------------------------------------------------------------------
def test_tornado_legend_is_not_crossed_by_the_base_case_line(frailty):
    """The tornado chart's legend was crossed by the base-case line."""
    fig, _ = _draw(frailty, "fig-tornado")
    ax = fig.axes[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    legend = ax.get_legend().get_window_extent(renderer)
    base = [line for line in ax.lines if len(set(line.get_xdata())) == 1]
    assert base, "no base-case line"
    x = base[0].get_transform().transform((base[0].get_xdata()[0], 0))[0]
    top_of_line = ax.get_window_extent(renderer).y1
    crosses = legend.x0 < x < legend.x1 and legend.y0 < top_of_line
    assert not crosses


def test_the_data_table_names_each_data_kind_in_words():
    """The report's data table wrote the MDT data as "Mdt": a code name, capitalised."""
    from evalkit.evaluation.spec import load_spec
    from evalkit.report.design import data_sources

    table = data_sources(load_spec(SYNTHETIC / "federation-mdt" / "spec.yaml"))
    shown = set(table["Data"]) | set(table["Kind"])
    assert "MDT meetings" in shown
    assert not {w for w in shown if re.fullmatch(r"[A-Z]?[a-z]{2,4}", w)
                and w.upper() in {"MDT", "GP", "PCN", "ICS", "SPC"}}, shown
