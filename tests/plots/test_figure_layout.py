"""Every report figure as a reader sees it: no text over text, no legend over data.

Each figure type is drawn from a scheme's own results (the evidence summary's figures for
two schemes between them drawing every type, and the comparative synthesis' forest, bubble
and effect-funnel plots from a meta-analysis) and checked with
:func:`figure_layout.layout_problems`: text boxes against each other and against the tick
labels, and legends against the plotted lines, markers and bars.
"""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest
from figure_layout import layout_problems, markers_missing_from_legend
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evalkit.plots.palette import PLAIN_TEXT

#: Between them, every figure of the evidence summary: frailty-inequalities has the
#: matched comparison, the economics and the engagement figures, virtual-wards the
#: synthetic control and federation-mdt the event study.
FIGURES = {"frailty-inequalities": None, "virtual-wards": ("fig-synth", "fig-synth-gaps"),
           "federation-mdt": ("fig-event", "fig-funnel")}

_CONTEXTS: dict = {}


def _context(scheme: str):
    if scheme not in _CONTEXTS:
        from evalkit.report.context import load_report

        _CONTEXTS[scheme] = load_report(scheme)
    return _CONTEXTS[scheme]


def _report_figures():
    from evalkit.report.context import ReportContext

    return [(scheme, label) for scheme, labels in FIGURES.items()
            for label in (labels or ReportContext._DRAW)]


def _draw(scheme: str, label: str):
    ctx = _context(scheme)
    with matplotlib.rc_context(PLAIN_TEXT):
        return getattr(ctx, ctx._DRAW[label])()


@pytest.mark.parametrize(("scheme", "label"), _report_figures())
def test_report_figure_has_no_overlapping_text_and_no_legend_over_data(scheme, label):
    drawn = _draw(scheme, label)
    if drawn is None:
        pytest.skip(f"{scheme} has no {label}")
    _check_can_fail()
    assert layout_problems(drawn[0]) == []


@pytest.mark.parametrize(("scheme", "label"), _report_figures())
def test_every_marker_shape_of_a_report_figure_is_in_its_legend(scheme, label):
    drawn = _draw(scheme, label)
    if drawn is None:
        pytest.skip(f"{scheme} has no {label}")
    assert markers_missing_from_legend(drawn[0]) == []


def _meta(group: bool = True):
    from evalkit.synthesis import meta_analysis

    d = pd.DataFrame({
        "scheme": ["rapid-response", "virtual-wards", "frailty-inequalities",
                   "federation-mdt", "gp-at-scale"],
        "estimate": [0.958, 1.0, 0.91, 0.97, 0.88], "se": [0.03, 0.025, 0.04, 0.02, 0.05],
        "scale": "ratio", "outcome": "emergency_admissions",
        "referrals_per_1000": [2.0, 3.5, 2.9, 4.1, 1.2],
        "design_strength": ["Maryland level 4", "Maryland level 4", "Maryland level 3",
                            "Maryland level 4", "Maryland level 3"]})
    return meta_analysis(d, se="se", group="design_strength" if group else None,
                         moderators="referrals_per_1000" if not group else None)


def _check_can_fail() -> None:
    """The check itself can fail: a label on the tick labels, a legend across a line, a
    marker shape with no legend entry."""
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="a line across the middle")
    ax.set_xticks([0.0, 0.4, 0.8])
    ax.annotate("P109", (0.4, 0.0), xytext=(0, -8), textcoords="offset points", ha="center",
                va="top")
    ax.legend(loc="center")
    found = layout_problems(fig)
    assert any("P109" in p for p in found)
    assert any(p.startswith("legend crossed") for p in found)
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], marker="s", linestyle="none")
    ax.plot([0, 1], [1, 0], marker="o", label="circles")
    ax.legend()
    assert markers_missing_from_legend(fig) == ["s"]


def _ratio_ticks_shown(ax, axis: str) -> list[str]:
    FigureCanvasAgg(ax.figure).draw()
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    lo, hi = min(lo, hi), max(lo, hi)
    ticks = ax.get_xticks() if axis == "x" else ax.get_yticks()
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t, v in zip(labels, ticks, strict=True)
            if lo <= v <= hi and t.get_text()]


def test_comparative_figures_are_readable():
    """The forest, bubble and effect-funnel plots: no overlaps, no legend over data, and a
    ratio axis with ticks a reader can use (it showed "1" alone)."""
    from evalkit.plots.synthesis import bubble_plot, effect_funnel_plot, forest_plot

    _check_can_fail()
    for fig, axis in ((forest_plot(_meta(), group="design_strength")[0], "x"),
                      (bubble_plot(_meta(group=False), "referrals_per_1000")[0], "y"),
                      (effect_funnel_plot(_meta(group=False))[0], "x")):
        assert layout_problems(fig) == []
        shown = _ratio_ticks_shown(fig.axes[0], axis)
        assert len(shown) >= 3, shown
