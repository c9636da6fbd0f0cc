"""SPC figures draw the result's own numbers, mark classes by colour and shape, and say
what they show.

Results are hand-built: the NHSRplotthedots vignette series (NHS-R Community,
NHSRplotthedots, vignette "Deviations from Excel defaults": mean 1.94, limits -0.72 to
4.6 with screened moving ranges; by hand 35/18 = 1.944 and 1.944 +/- 2.66 x 1 = -0.7156
and 4.604), and a baseline alternating 10, 12 (mean 11, limits 5.68 to 16.32) followed by
a chosen last point.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex

from evalkit.plots.palette import NHS_BLUE, NHS_DARK_BLUE
from evalkit.plots.spc import VARIATION_STYLE, spc_facets, spc_plot
from evalkit.variation.spc import p_chart, xmr

pytestmark = pytest.mark.filterwarnings("ignore::evalkit.variation.spc.SPCWarning")

NHSR = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
BASE = [10.0, 12.0] * 10


def scatters(ax) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def by_colour(ax) -> dict[str, int]:
    """Number of points drawn in each marker colour."""
    return {to_hex(c.get_facecolor()[0]): len(c.get_offsets()) for c in scatters(ax)}


def render(fig) -> None:
    fig.savefig(io.BytesIO(), format="png", dpi=40)


@pytest.fixture(scope="module")
def nhsr():
    return xmr(NHSR, improvement="increase", target=3)


def test_single_chart_artists_and_alt_text(nhsr):
    fig, alt = spc_plot(nhsr, annotations={5: "scheme starts"})
    ax = fig.axes[0]
    # values, mean, two limits, two two-sigma lines, the target and the event line
    assert len(ax.get_lines()) == 8
    blue = [ln for ln in ax.get_lines() if to_hex(ln.get_color()) == NHS_DARK_BLUE.lower()]
    styles = sorted(ln.get_linestyle() for ln in blue)
    assert styles == ["-", "--", "--", ":", ":"]  # mean solid, limits dashed, 2 sigma dotted
    np.testing.assert_allclose(blue[0].get_ydata(), 35 / 18)
    assert [ln.get_linestyle() for ln in ax.get_lines()].count("-.") == 1  # the target
    # 17 grey common-cause points and one blue improvement point (the 10)
    counts = by_colour(ax)
    assert counts == {to_hex(VARIATION_STYLE["common_cause"]["color"]): 17,
                      to_hex(NHS_BLUE): 1}
    improvement = next(c for c in scatters(ax) if len(c.get_offsets()) == 1)
    assert improvement.get_offsets()[0].tolist() == [5.0, 10.0]
    assert any("scheme starts" in t.get_text() for t in ax.texts)
    assert any("Assurance" in t.get_text() for t in ax.texts)
    for text in ("mean 1.944", "-0.7156 to 4.604", "18 points", "1 special-cause point",
                 "1 improvement, 0 concern", "common cause variation", "Target 3",
                 "hit and miss", "scheme starts (5)"):
        assert text in alt, text
    render(fig)


def test_colour_never_carries_the_class_alone():
    markers = [s["marker"] for s in VARIATION_STYLE.values()]
    colours = [s["color"] for s in VARIATION_STYLE.values()]
    assert len(set(markers)) == len(markers) == 4
    assert len(set(colours)) == 4
    assert VARIATION_STYLE["special_cause_improvement"]["color"] == NHS_BLUE


def test_phases_are_drawn_apart_with_a_break():
    rng = np.random.default_rng(1)
    months = pd.period_range("2020-01", periods=40, freq="M").strftime("%Y-%m")
    df = pd.DataFrame({"month": months, "y": np.r_[rng.normal(20, 1, 20),
                                                   rng.normal(30, 1, 20)]})
    res = xmr(df, value="y", time="month", rebase="2021-09", improvement="decrease")
    fig, alt = spc_plot(res, two_sigma=False, annotations=[("2021-03", "pilot")])
    ax = fig.axes[0]
    # per phase: values, mean, two limits (4 x 2), one phase break and one event line
    assert len(ax.get_lines()) == 10
    lim = res.limits
    for r in lim.itertuples():
        assert f"mean {r.mean:.4g}" in alt
    assert "2 phases" in alt and "phase 2 from 2021-09" in alt and "pilot (2021-03)" in alt
    assert "from 2020-01 to 2023-04" in alt
    render(fig)


def test_concern_and_neither_are_marked_differently():
    low = xmr(BASE + [5.0], fix_after=20, improvement="increase")  # below 5.68: concern
    fig, alt = spc_plot(low)
    counts = by_colour(fig.axes[0])
    assert counts[to_hex(VARIATION_STYLE["special_cause_concern"]["color"])] == 1
    assert "1 special-cause point (0 improvement, 1 concern)" in alt
    assert "special cause concern (lower values)" in alt
    neither = xmr(BASE + [5.0], fix_after=20)
    fig, alt = spc_plot(neither)
    counts = by_colour(fig.axes[0])
    assert counts[to_hex(VARIATION_STYLE["special_cause_neither"]["color"])] == 1
    assert "(0 high, 1 low)" in alt


def test_p_chart_limits_are_steps_and_alt_text_says_average_denominator():
    df = pd.DataFrame({"week": range(10), "x": [12, 15, 9, 20, 14, 11, 17, 13, 12, 40],
                       "n": [100, 120, 80, 150, 110, 90, 130, 100, 100, 110]})
    res = p_chart(df, numerator="x", denominator="n", time="week", per=100,
                  improvement="decrease")
    fig, alt = spc_plot(res, title="Did not attend (%)")
    ax = fig.axes[0]
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 2 and all(ln.get_drawstyle() == "steps-mid" for ln in dashed)
    np.testing.assert_allclose(dashed[0].get_ydata(), res.points["upper"])
    assert ax.get_title(loc="left") == "Did not attend (%)"
    assert "limits at the average denominator" in alt and "1 concern" in alt
    render(fig)


def test_spc_plot_needs_a_group_when_there_are_several():
    res = grouped()
    with pytest.raises(ValueError, match="choose one with group="):
        spc_plot(res)
    with pytest.raises(ValueError, match="no group"):
        spc_plot(res, group="zz")
    fig, alt = spc_plot(res, group="b")
    assert "for b" in alt
    with pytest.raises(ValueError, match="annotations"):
        spc_plot(res, group="b", annotations=[(1, "x", "y")])
    with pytest.raises(ValueError, match="SPC result"):
        spc_plot(res.points)


def grouped(target=None):
    """a ends on 17 (improvement), b on 5 (concern), c on 11 (common cause)."""
    ys = {"a": BASE + [17.0], "b": BASE + [5.0], "c": BASE + [11.0]}
    df = pd.DataFrame({"team": np.repeat(list(ys), 21), "t": np.tile(range(21), 3),
                       "y": np.concatenate(list(ys.values()))})
    return xmr(df, value="y", time="t", group="team", fix_after=20, improvement="increase",
               target=target)


def test_facets_label_each_group_and_count_classes():
    res = grouped(target=11)
    fig, alt = spc_facets(res, ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3 and len(fig.axes) == 4
    titles = [ax.get_title(loc="left") for ax in visible]
    assert titles == ["a\nimprovement (high); hit and miss",
                      "b\nconcern (low); hit and miss", "c\ncommon cause; hit and miss"]
    # every facet draws its 21 points: 20 grey plus one coloured, or 21 grey
    for ax in visible:
        assert sum(len(c.get_offsets()) for c in scatters(ax)) == 21
    assert ("3 teams" in alt and "1 show special cause improvement, 1 concern and 1 common "
            "cause" in alt)
    assert "0 consistently meet it, 0 consistently miss it and 3 hit and miss" in alt
    assert "Improvement: a." in alt and "Concern: b." in alt
    render(fig)


def test_facets_select_groups_and_classes():
    res = grouped()
    fig, alt = spc_facets(res, variation="special_cause_concern")
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1
    assert "for 1 team," in alt and "0 show special cause improvement, 1 concern" in alt
    fig, alt = spc_facets(res, groups=["c", "a"])
    assert [ax.get_title(loc="left").split("\n")[0] for ax in fig.axes] == ["c", "a"]
    with pytest.raises(ValueError, match="reclassify"):
        spc_facets(res, improvement="decrease")
    spc_facets(res, improvement="increase")  # the direction it was computed with
    with pytest.raises(ValueError, match="too many facets"):
        spc_facets(res, max_facets=2)
    with pytest.raises(ValueError, match="no group"):
        spc_facets(res, groups=["a", "zz"])
    with pytest.raises(ValueError, match="variation classes"):
        spc_facets(res, variation="bad")
