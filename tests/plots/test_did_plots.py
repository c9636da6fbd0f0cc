"""Difference-in-differences figures draw the result's own numbers, and say what they show.

Results come from the real estimators on the committed synthetic federation panel
(three waves, monthly) and on small simulated staggered panels.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

import evalkit as ek
from evalkit.evidence.narrative import format_effect, format_sig
from evalkit.plots.did import bacon_plot, cohort_trajectories_plot, event_study_plot
from evalkit.synthetic.staggered import simulate_staggered

from conftest import SYNTHETIC, make_panel

RATE = dict(outcome="emergency_admissions", denominator="list_size", unit="practice",
            time="month")
SIM = dict(outcome="y", unit="unit", time="period", cohort="cohort")


@pytest.fixture(scope="module")
def federation() -> pd.DataFrame:
    return pd.read_csv(SYNTHETIC / "federation-mdt" / "panel.csv")


@pytest.fixture(scope="module")
def cs_boot(federation):
    return ek.staggered_did(federation, cohort="cohort", n_boot=199, seed=7, **RATE)


@pytest.fixture(scope="module")
def twfe_event(federation):
    return ek.event_study(federation, cohort="cohort", leads=6, lags=6, n_boot=199, seed=7,
                          **RATE)


@pytest.fixture(scope="module")
def twfe(federation):
    return ek.did(federation, treated="treated", **RATE)


@pytest.fixture(scope="module")
def cs_short():
    """Three cohorts over ten periods, analytic standard errors only (no band)."""
    truth = simulate_staggered(units=120, periods=10, cohorts=(4, 6, 8), seed=2)
    return ek.staggered_did(truth.panel, n_boot=0, **SIM)


@pytest.fixture(scope="module")
def cs_many():
    truth = simulate_staggered(units=180, periods=10, cohorts=(3, 4, 5, 6, 7, 8), seed=3)
    return ek.staggered_did(truth.panel, n_boot=0, **SIM)


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def errorbars(ax) -> dict[str, ErrorbarContainer]:
    return {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}


def saves_png(fig, path) -> None:
    fig.savefig(path, dpi=60)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def points_and_intervals(containers):
    """x, y and interval ends of the error-bar containers, in event-time order."""
    x, y, lo, hi = [], [], [], []
    for c in containers:
        data_line, _caps, (bars,) = c.lines
        x.extend(data_line.get_xdata())
        y.extend(data_line.get_ydata())
        for seg in bars.get_segments():
            lo.append(seg[:, 1].min())
            hi.append(seg[:, 1].max())
    order = np.argsort(x)
    return tuple(np.asarray(v, float)[order] for v in (x, y, lo, hi))


def band_edges(collection, xs):
    """The band's lower and upper edge at each x, read from the polygon."""
    v = collection.get_paths()[0].vertices
    return (np.array([v[v[:, 0] == x, 1].min() for x in xs]),
            np.array([v[v[:, 0] == x, 1].max() for x in xs]))


# ------------------------------------------------------------------ event study


def test_event_study_plot_of_staggered_did_draws_att_event_records(cs_boot, tmp_path):
    fig, alt = event_study_plot(cs_boot, label="Emergency admissions")
    ax = fig.axes[0]
    bars = errorbars(ax)
    assert set(bars) == {"before adoption (95% CI)", "after adoption (95% CI)"}
    assert bars["before adoption (95% CI)"].lines[0].get_marker() == "o"
    assert bars["after adoption (95% CI)"].lines[0].get_marker() == "s"
    eff = cs_boot.effects[cs_boot.effects["estimand"].str.startswith("att_event:")].copy()
    eff["e"] = eff["estimand"].str.split(":").str[1].astype(int)
    eff = eff.sort_values("e")
    x, y, lo, hi = points_and_intervals(bars.values())
    np.testing.assert_array_equal(x, eff["e"])
    np.testing.assert_allclose(y, eff["estimate"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lo, eff["ci_low"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(hi, eff["ci_high"], rtol=0, atol=1e-12)
    pre_x = bars["before adoption (95% CI)"].lines[0].get_xdata()
    assert (np.asarray(pre_x) < 0).all()
    # the simultaneous band is the result's aggregated event-time band
    (band,) = by_gid(ax, "simultaneous-band")
    event = cs_boot.frames["event"].sort_values("event_time")
    low, high = band_edges(band, event["event_time"].to_numpy())
    np.testing.assert_allclose(low, event["band_low"], atol=1e-12)
    np.testing.assert_allclose(high, event["band_high"], atol=1e-12)
    assert (high - low > hi - lo).all()  # wider than the pointwise intervals
    (zero,) = by_gid(ax, "zero-line")
    assert list(zero.get_ydata()) == [0, 0]
    (adoption,) = by_gid(ax, "adoption-line")
    assert list(adoption.get_xdata()) == [-0.5, -0.5]
    e = cs_boot.effects.set_index("estimand")
    p = cs_boot.diagnostics["pretrend_p"]
    assert f"p = {p:.3f}" in alt
    assert format_effect(e.loc["att_dynamic"]) in alt
    assert format_effect(e.loc["att_event:0"]) in alt
    assert "per 1,000" in alt and "simultaneous band" in alt and "months" in alt
    saves_png(fig, tmp_path / "event_study_cs.png")


def test_event_study_plot_of_twfe_event_study(twfe_event, tmp_path):
    fig, alt = event_study_plot(twfe_event)
    ax = fig.axes[0]
    frame = twfe_event.frames["event_study"]
    est = frame[frame["event_time"] != -1].sort_values("event_time")
    x, y, lo, hi = points_and_intervals(errorbars(ax).values())
    np.testing.assert_array_equal(x, est["event_time"])
    np.testing.assert_allclose(y, est["estimate"], atol=1e-12)
    np.testing.assert_allclose(lo, est["ci_low"], atol=1e-12)
    np.testing.assert_allclose(hi, est["ci_high"], atol=1e-12)
    (ref,) = by_gid(ax, "reference")
    assert list(ref.get_xdata()) == [-1] and list(ref.get_ydata()) == [0.0]
    assert ref.get_marker() == "D"
    (band,) = by_gid(ax, "simultaneous-band")
    low, high = band_edges(band, est["event_time"].to_numpy())
    np.testing.assert_allclose(low, est["band_low"], atol=1e-12)
    np.testing.assert_allclose(high, est["band_high"], atol=1e-12)
    p = twfe_event.diagnostics["pretrend_p"]
    assert f"p = {p:.3f}" in alt and "the 5 pre-adoption coefficients" in alt
    assert "Event time \u22121 is the reference period" in alt and "sup-t" in alt
    post = est[est["event_time"] >= 0]["estimate"]
    assert f"average {format_sig(post.mean())}" in alt
    e0 = twfe_event.effects.set_index("estimand").loc["event:0"]
    assert format_effect(e0) in alt
    saves_png(fig, tmp_path / "event_study_twfe.png")


def test_event_study_plot_without_bootstrap_draws_pointwise_intervals_only(cs_short,
                                                                          tmp_path):
    fig, alt = event_study_plot(cs_short)
    ax = fig.axes[0]
    assert by_gid(ax, "simultaneous-band") == []
    assert len(errorbars(ax)) == 2
    assert "No simultaneous band" in alt and "only pointwise intervals" in alt
    saves_png(fig, tmp_path / "event_study_pointwise.png")


def test_event_study_plot_window(cs_boot):
    fig, alt = event_study_plot(cs_boot, window=(-3, 3))
    x, *_ = points_and_intervals(errorbars(fig.axes[0]).values())
    assert list(x) == [-3, -2, -1, 0, 1, 2, 3]
    assert "from \u22123 to 3 (the result has \u221280 to 35)" in alt
    with pytest.raises(ValueError, match="no event times in window"):
        event_study_plot(cs_boot, window=(100, 200))


def test_universal_base_period_draws_the_reference():
    truth = simulate_staggered(units=120, periods=10, cohorts=(4, 6, 8), seed=2)
    res = ek.staggered_did(truth.panel, n_boot=0, base_period="universal", **SIM)
    fig, alt = event_study_plot(res)
    (ref,) = by_gid(fig.axes[0], "reference")
    assert list(ref.get_xdata()) == [-1]
    assert "Event time \u22121 is the reference period" in alt


# ------------------------------------------------------------------ cohort trajectories


def cohort_lines(ax):
    return [a for a in ax.lines if str(a.get_gid()).startswith("cohort:")]


def test_cohort_trajectories_one_panel(cs_short, tmp_path):
    fig, alt = cohort_trajectories_plot(cs_short, label="Outcome")
    assert len([a for a in fig.axes if a.get_visible()]) == 1
    ax = fig.axes[0]
    lines = cohort_lines(ax)
    assert [ln.get_label() for ln in lines] == ["cohort 4", "cohort 6", "cohort 8"]
    # distinct colour, marker and line style
    for attr in ("get_color", "get_marker", "get_linestyle"):
        assert len({getattr(ln, attr)() for ln in lines}) == 3
    gt = cs_short.frames["att_gt"]
    for ln in lines:
        g = gt[gt["cohort"] == ln.get_label().split()[1]].sort_values("event_time")
        np.testing.assert_array_equal(ln.get_xdata(), g["time"].astype(int))
        np.testing.assert_allclose(ln.get_ydata(), g["att"], atol=1e-12)
    for cohort in (4, 6, 8):
        (adopt,) = by_gid(ax, f"adoption:cohort {cohort}")
        assert list(adopt.get_xdata()) == [cohort - 0.5, cohort - 0.5]
    e = cs_short.effects.set_index("estimand")
    for cohort in (4, 6, 8):
        assert f"cohort {cohort}: {format_effect(e.loc[f'att_group:{cohort}'])}" in alt
    assert format_effect(e.loc["att_simple"]) in alt
    assert f"p = {cs_short.diagnostics['pretrend_p']:.3f}" in alt
    assert "3 adoption cohorts (4, 6, 8)" in alt and "never-treated units" in alt
    saves_png(fig, tmp_path / "trajectories.png")


def test_cohort_trajectories_facets_long_monthly_series(cs_boot, tmp_path):
    fig, alt = cohort_trajectories_plot(cs_boot)
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title(loc="left") for a in axes] == [
        "cohort 2019-04", "cohort 2020-10", "cohort 2022-01"]
    gt = cs_boot.frames["att_gt"]
    for ax in axes:
        (line,) = cohort_lines(ax)
        g = gt[gt["cohort"] == ax.get_title(loc="left").split()[1]]
        np.testing.assert_allclose(line.get_ydata(), g["att"], atol=1e-12)
        assert len(by_gid(ax, "zero-line")) == 1
    assert "Small multiples" in alt
    saves_png(fig, tmp_path / "trajectories_monthly.png")


def test_cohort_trajectories_facets_many_cohorts(cs_many, tmp_path):
    fig, alt = cohort_trajectories_plot(cs_many)
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == 6
    markers = set()
    for ax in axes:
        (line,) = cohort_lines(ax)
        markers.add(line.get_marker())
        assert len(by_gid(ax, f"adoption:{line.get_label()}")) == 1
    assert len(markers) == 6
    assert "6 adoption cohorts" in alt
    saves_png(fig, tmp_path / "trajectories_many.png")


def test_cohort_trajectories_draw_the_stored_numbers(cs_short):
    """Change the stored group-time effects: the figure follows (nothing is refitted)."""
    frames = dict(cs_short.frames)
    frames["att_gt"] = frames["att_gt"].assign(att=frames["att_gt"]["att"] + 100)
    shifted = dataclasses.replace(cs_short, frames=frames)
    fig, _ = cohort_trajectories_plot(shifted)
    line = cohort_lines(fig.axes[0])[0]
    g = frames["att_gt"][frames["att_gt"]["cohort"] == "4"]
    np.testing.assert_allclose(line.get_ydata(), g["att"], atol=1e-12)


# ------------------------------------------------------------------ Bacon decomposition


def test_bacon_plot(twfe, tmp_path):
    fig, alt = bacon_plot(twfe, label="Emergency admissions")
    ax = fig.axes[0]
    bacon = twfe.frames["bacon"]
    markers = {}
    for kind, part in bacon.groupby("type"):
        (points,) = by_gid(ax, f"bacon:{kind}")
        np.testing.assert_allclose(points.get_xdata(), part["weight"], atol=1e-12)
        np.testing.assert_allclose(points.get_ydata(), part["estimate"], atol=1e-12)
        markers[kind] = (points.get_marker(), points.get_color())
    assert len(markers) == 3
    assert len({m for m, _ in markers.values()}) == 3
    assert len({c for _, c in markers.values()}) == 3
    twfe_row = twfe.effects.set_index("estimand").loc["att_twfe"]
    (line,) = by_gid(ax, "twfe-line")
    assert list(line.get_ydata()) == [twfe_row["estimate"]] * 2
    assert line.get_linestyle() == "--"
    forbidden = twfe.diagnostics["bacon_forbidden_weight"]
    assert forbidden == pytest.approx(
        bacon.loc[bacon["type"] == "later vs earlier treated", "weight"].sum())
    assert format_effect(twfe_row) in alt
    assert f"already-treated units as controls carry {forbidden:.1%} of the weight" in alt
    assert "9 points" in alt and "Emergency admissions per 1,000" in alt
    saves_png(fig, tmp_path / "bacon.png")


def test_bacon_plot_needs_staggered_adoption():
    res = ek.did(make_panel(), outcome="admissions", unit="practice", time="month",
                 treated="treated", start="2019-01", inference="cluster")
    with pytest.raises(ValueError, match="staggered adoption"):
        bacon_plot(res)


# ------------------------------------------------------------------ wrong results


@pytest.mark.parametrize("plot, fixture, message", [
    (event_study_plot, "twfe", "needs a result of 'event_study' or 'staggered_did', not a "
                               "'did' result"),
    (cohort_trajectories_plot, "twfe_event", "needs a result of 'staggered_did', not a "
                                             "'event_study' result"),
    (bacon_plot, "cs_short", "needs a result of 'did', not a 'staggered_did' result"),
])
def test_wrong_result_is_refused(plot, fixture, message, request):
    with pytest.raises(ValueError, match=message):
        plot(request.getfixturevalue(fixture))


@pytest.mark.parametrize("plot", [event_study_plot, cohort_trajectories_plot, bacon_plot])
def test_non_result_is_refused(plot):
    with pytest.raises(ValueError, match="not a DataFrame"):
        plot(pd.DataFrame())


def test_evidence_summary_states_the_sensitivity_and_why_the_level_is_held():
    """The federation spec asks for the Rambachan-Roth analysis; the report's event-study
    paragraph must state the breakdown value it found, and explain the Maryland level when
    that value is below 1 (level 4 needs a result robust to pre-period-sized violations)."""
    from evalkit.report.context import load_report

    report = load_report("federation-mdt")
    analysis, res = report._event_analysis()
    mbar = res.diagnostics["honest_breakdown_mbar"]
    text = report.event_markdown()
    assert f"Mbar = {mbar:.2g}" in text or f"{mbar:.3f}" in text
    assert "Rambachan and Roth" in text
    level = res.effects.set_index("estimand").loc["att_simple", "evidence_level"]
    if mbar < 1:
        assert level == 3 and "does not reach Maryland level 4" in text
    else:
        assert "does not reach" not in text
