"""SPC charts (evalkit.variation.spc): limits, the four rules, classes, assurance, phases, groups.

References:

- The published NHSRplotthedots example (NHS-R Community, NHSRplotthedots package,
  vignette "Deviations from Excel defaults", vignettes/deviations.Rmd, version 0.2.2):
  series 1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1 has mean 1.94, limits 4.6
  and -0.72 with moving-range outliers screened, and 6.95 and -3.06 without (the
  Making Data Count Excel tools). Its figure captions say the fifth point (the 10) is
  the only special-cause point, an improvement, in both charts.
- Hand-built series whose answers are worked out in the comments.
- An independent, deliberately plain implementation of the rules in this file (sliding
  windows and loops, the way the conventions are written down), compared with the
  vectorised code on many random series.
- Direct formula computations of p- and u-chart limits, and binomial / Poisson data
  drawn with scipy for the 99.7% coverage of in-control points.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.errors import DataError, DesignError
from evalkit.variation.spc import SPCResult, SPCWarning, p_chart, u_chart, xmr
from evalkit.variation.spc.rules import RULE_COLUMNS, detect

pytestmark = pytest.mark.filterwarnings("ignore::evalkit.variation.spc.SPCWarning")

NHSR = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
# A hand-checkable baseline: 10, 12 alternating, 20 points. Mean 11, every moving range
# 2, so MR-bar 2 (none is screened: 2 < 3.267 x 2). Process limits 11 +/- 2.66 x 2 =
# 5.68 and 16.32; two-sigma lines 11 +/- (2/3) x 5.32 = 7.4533 and 14.5467. The baseline
# itself alternates about the mean, so it has no shift, trend or two-of-three signal.
BASE = [10.0, 12.0] * 10


def flagged(res: SPCResult, column: str) -> list[int]:
    """Positions (0-based) of the points where ``column`` is true."""
    return np.flatnonzero(res.points[column].to_numpy()).tolist()


# --- limits -------------------------------------------------------------------------


def test_nhsrplotthedots_example_screened():
    # NHSRplotthedots vignette "Deviations from Excel defaults": UPL 4.6, mean 1.94,
    # LPL -0.72 with screen_outliers = TRUE (the package default). By hand: mean 35/18;
    # moving ranges 1, 1, 1, 8, 9 and twelve 1s, MR-bar 32/17 = 1.88; 8 and 9 exceed
    # 3.267 x 1.88 = 6.15 and are screened, leaving MR-bar 1.
    res = xmr(NHSR, improvement="increase")
    lim = res.limits.iloc[0]
    assert lim["mean"] == pytest.approx(1.94, abs=0.01)
    assert lim["upper"] == pytest.approx(4.60, abs=0.01)
    assert lim["lower"] == pytest.approx(-0.72, abs=0.01)
    assert lim["mr_bar"] == pytest.approx(1.0)
    # the two screened moving ranges (into and out of the 10) did not enter MR-bar
    assert res.points["mr_in_limits"].tolist() == [False] + [True] * 3 + [False] * 2 \
        + [True] * 12
    # the vignette's figure: the fifth point is the only special cause, an improvement
    assert flagged(res, "special_cause") == [4]
    assert flagged(res, "rule_outside_limits") == [4]
    assert res.points["variation"].iloc[4] == "special_cause_improvement"


def test_nhsrplotthedots_example_excel_parity():
    # Same vignette, screen_outliers = FALSE ("the same output as Excel"): UPL 6.95,
    # mean 1.94, LPL -3.06 (1.944 +/- 2.66 x 32/17).
    res = xmr(NHSR, screen_outliers=False, improvement="increase")
    lim = res.limits.iloc[0]
    assert lim["mean"] == pytest.approx(1.94, abs=0.01)
    assert lim["upper"] == pytest.approx(6.95, abs=0.01)
    assert lim["lower"] == pytest.approx(-3.06, abs=0.01)
    assert res.points["mr_in_limits"].iloc[1:].all()
    assert flagged(res, "special_cause") == [4]


def test_two_sigma_lines_and_moving_ranges_of_the_baseline():
    res = xmr(BASE)
    lim = res.limits.iloc[0]
    assert (lim["mean"], lim["mr_bar"]) == (11.0, 2.0)
    assert lim["upper"] == pytest.approx(16.32) and lim["lower"] == pytest.approx(5.68)
    assert lim["upper_2sigma"] == pytest.approx(11 + 2 / 3 * 5.32)
    assert lim["lower_2sigma"] == pytest.approx(11 - 2 / 3 * 5.32)
    assert np.isnan(res.points["moving_range"].iloc[0])
    assert (res.points["moving_range"].iloc[1:] == 2).all()
    assert not res.points["special_cause"].any()


def reference_limits(y, screen=True):
    """Mean and MR-bar written out directly (no segments)."""
    y = np.asarray(y, float)
    mr = np.abs(np.diff(y))
    mr_bar = mr.mean()
    if screen:
        mr_bar = mr[mr < 3.267 * mr_bar].mean() if mr_bar > 0 else 0.0
    return y.mean(), mr_bar


@pytest.mark.parametrize("screen", [True, False])
def test_limits_match_direct_formula_on_random_series(screen):
    rng = np.random.default_rng(11)
    for _ in range(30):
        y = rng.normal(50, 5, rng.integers(15, 40))
        y[rng.integers(0, y.size)] += rng.choice([-30, 30])  # an outlier to screen
        lim = xmr(y, screen_outliers=screen).limits.iloc[0]
        mean, mr_bar = reference_limits(y, screen)
        assert lim["mean"] == pytest.approx(mean, rel=1e-12)
        assert lim["mr_bar"] == pytest.approx(mr_bar, rel=1e-12)
        assert lim["upper"] == pytest.approx(mean + 2.66 * mr_bar, rel=1e-12)
        assert lim["lower"] == pytest.approx(mean - 2.66 * mr_bar, rel=1e-12)


# --- the rules, by hand ---------------------------------------------------------------


def rules_on(y, mean=0.0, limit=3.0, two=2.0):
    """Apply the rules to one series with a given mean, limits and two-sigma lines."""
    y = np.asarray(y, float)
    n = y.size
    return detect(y, np.zeros(n, int), np.full(n, mean), np.full(n, mean + limit),
                  np.full(n, mean - limit), np.full(n, mean + two), np.full(n, mean - two))


def test_outside_limits_is_strict():
    # limits at +/-3: 3.5 and -3.2 are outside; 3.0 sits on the limit and is not
    s = rules_on([0.5, -0.5, 3.5, -0.5, 0.5, -3.2, 3.0])
    assert np.flatnonzero(s.outside_limits).tolist() == [2, 5]
    assert s.high[2] and s.low[5]


def test_shift_of_seven_flagged_and_six_not():
    # one point below the mean, seven above (each within 2 sigma, no monotone run),
    # one below: all seven are flagged
    y7 = [-1, 1, 1.5, 1, 1.5, 1, 1.5, 1, -1]
    assert np.flatnonzero(rules_on(y7).shift).tolist() == [1, 2, 3, 4, 5, 6, 7]
    # six above: no shift
    y6 = [-1, 1, 1.5, 1, 1.5, 1, 1.5, -1]
    assert not rules_on(y6).shift.any()
    # a point exactly on the mean ends a run: 3 + 4 above is no shift
    assert not rules_on([1, 1.5, 1, 0, 1, 1.5, 1, 1.5]).shift.any()
    # a run of 8 below the mean: all 8 flagged, direction low
    s = rules_on([1] + [-1, -1.5] * 4 + [1])
    assert np.flatnonzero(s.shift).tolist() == list(range(1, 9)) and s.low[1:9].all()


def test_trend_of_seven_flagged_and_six_not():
    # 0.5 then seven strictly increasing points crossing the mean (3 below, 4 above, so
    # no shift; none beyond 2 sigma), then a fall: the seven are flagged, the 0.5 is
    # not (the step into the run is a fall)
    y7 = [0.5, -1.5, -1, -0.5, 0.1, 0.5, 1, 1.5, 0.2]
    s = rules_on(y7)
    assert np.flatnonzero(s.trend).tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert s.high[1:8].all() and not s.low.any() and not s.shift.any()
    # six increasing points: no trend
    assert not rules_on([0.5, -1, -0.5, 0.1, 0.5, 1, 1.5, 0.2]).trend.any()
    # seven decreasing: flagged, direction low
    s = rules_on([-0.5, 1.5, 1, 0.5, -0.1, -0.5, -1, -1.5, -0.2])
    assert np.flatnonzero(s.trend).tolist() == [1, 2, 3, 4, 5, 6, 7] and s.low[1:8].all()


def test_a_tie_ends_a_trend():
    # NHSRplotthedots' convention: ptd_seven_point_trend(c(1:3, 3:6)) is no trend
    # (tests/testthat/test-ptd_calculate_point_type.R). Here eight points rise except
    # for one repeated value: runs of 2 and 4 rises, no trend.
    assert not rules_on([-1.5, -1, -0.5, -0.5, 0.1, 0.5, 1, 1.5]).trend.any()
    # ... and with 6 strict rises after the tie the trend is found again (7 points)
    s = rules_on([-1.5, -1, -1, -0.5, 0.1, 0.5, 1, 1.5, 1.8])
    assert np.flatnonzero(s.trend).tolist() == [2, 3, 4, 5, 6, 7, 8]


def test_trend_peak_belongs_to_both_runs():
    # seven up then seven down sharing the peak: all 13 flagged; the peak signals both
    # ways (high as the end of the rise, low as the start of the fall)
    up = [-1.5, -1, -0.5, 0.1, 0.5, 1, 1.5]
    s = rules_on(up + up[::-1][1:])
    assert s.trend.all()
    assert s.high[6] and s.low[6]


def test_two_of_three_beyond_two_sigma():
    # two-sigma at +/-2: window (2.5, 0.5, 2.5) is all above the mean with two points
    # beyond 2 sigma: the two 2.5s are flagged, the 0.5 between them is not
    s = rules_on([0.5, 2.5, 0.5, 2.5, -0.5])
    assert np.flatnonzero(s.two_of_three).tolist() == [1, 3]
    # two beyond 2 sigma on opposite sides of the mean: nothing
    assert not rules_on([2.5, -0.5, -2.5, 0.1]).two_of_three.any()
    # all three must be on the same side of the mean: (2.5, -0.5, 2.5) is not
    assert not rules_on([2.5, -0.5, 2.5, 0.1]).two_of_three.any()
    # one beyond 2 sigma only: nothing
    assert not rules_on([0.5, 2.5, 0.5, 0.5]).two_of_three.any()
    # below the mean, adjacent: flagged, direction low
    s = rules_on([0.1, -2.5, -2.2, -0.3])
    assert np.flatnonzero(s.two_of_three).tolist() == [1, 2] and s.low[1:3].all()


def test_two_of_three_counts_points_beyond_the_limit():
    # Making Data Count's rule since November 2023 (M. Callus, NHS England, in
    # NHSRplotthedots issue #194): points beyond three sigma count as beyond two sigma.
    # Window (0.5, 2.5, 3.5): the 2.5 and the 3.5 are flagged (the 3.5 is also outside).
    s = rules_on([0.5, 2.5, 3.5, -0.5])
    assert np.flatnonzero(s.two_of_three).tolist() == [1, 2]
    assert np.flatnonzero(s.outside_limits).tolist() == [2]


def test_runs_do_not_cross_segments():
    # four points above the mean in one segment and four in the next: no shift
    y = np.array([1, 1.5, 1, 1.5, 1, 1.5, 1, 1.5])
    seg = np.repeat([0, 1], 4)
    f = np.full(8, 1.0)
    s = detect(y, seg, 0 * f, 3 * f, -3 * f, 2 * f, -2 * f)
    assert not s.shift.any()
    # a rise of 4 + 4 across the boundary: no trend
    y = np.linspace(-1.5, 1.5, 8)
    assert not detect(y, seg, 0 * f, 3 * f, -3 * f, 2 * f, -2 * f).trend.any()


def plain_rules(y, mean, upper, lower, up2, lo2):
    """The rules as written, with sliding windows and loops (one series)."""
    n = len(y)
    side = [int(np.sign(y[i] - mean[i])) for i in range(n)]
    outside = [bool(y[i] > upper[i] or y[i] < lower[i]) for i in range(n)]
    shift, trend, two = [False] * n, [False] * n, [False] * n
    for i in range(n - 6):
        if side[i] != 0 and all(side[j] == side[i] for j in range(i, i + 7)):
            for j in range(i, i + 7):
                shift[j] = True
        steps = [y[j + 1] - y[j] for j in range(i, i + 6)]
        if all(d > 0 for d in steps) or all(d < 0 for d in steps):
            for j in range(i, i + 7):
                trend[j] = True
    for i in range(n - 2):
        w = range(i, i + 3)
        if side[i] != 0 and all(side[j] == side[i] for j in w):
            beyond = [j for j in w if (y[j] > up2[j] if side[i] > 0 else y[j] < lo2[j])]
            if len(beyond) >= 2:
                for j in beyond:
                    two[j] = True
    return outside, shift, trend, two


def test_vectorised_rules_match_the_plain_rules_on_random_series():
    # small-integer random walks: many runs, ties and two-sigma points
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(150):
        n = int(rng.integers(15, 45))
        y = np.cumsum(rng.integers(-2, 3, n)).astype(float) + rng.integers(0, 3, n)
        if np.ptp(y) == 0:
            continue
        res = xmr(y)
        p = res.points
        ref = plain_rules(y, *(p[c].to_numpy() for c in ("mean", "upper", "lower",
                                                          "upper_2sigma", "lower_2sigma")))
        for col, expected in zip(RULE_COLUMNS, ref, strict=True):
            assert p[col].tolist() == expected, col
        checked += int(p["special_cause"].sum())
    assert checked > 500  # the comparison exercised plenty of signals


# --- classes and assurance -------------------------------------------------------------


@pytest.mark.parametrize(("extra", "rule", "high"), [
    ([17.0], "rule_outside_limits", True),     # 17 > 16.32
    ([5.0], "rule_outside_limits", False),     # 5 < 5.68
    # after the baseline's last 12: a fall to 8, then 7 strict rises crossing the mean
    # (8, 9, 10, 10.5 below 11; 11.5, 12, 13 above; none beyond 7.45 or 14.55)
    ([8, 9, 10, 10.5, 11.5, 12, 13], "rule_trend", True),
    ([14, 13, 12, 11.5, 10.5, 10, 9], "rule_trend", False),
])
def test_improvement_and_concern_in_both_directions(extra, rule, high):
    y = BASE + list(extra)
    new = list(range(20, len(y)))
    if rule == "rule_trend":  # the rise (or fall) starts at the first appended point
        new = new[-7:]
    for improvement, cls in (("increase", "improvement" if high else "concern"),
                             ("decrease", "concern" if high else "improvement"),
                             (None, "neither")):
        res = xmr(y, fix_after=20, improvement=improvement)
        assert flagged(res, "special_cause") == new
        assert flagged(res, rule) == new
        assert set(res.points["variation"].iloc[new]) == {f"special_cause_{cls}"}
        assert set(res.points["direction"].iloc[new]) == {"high" if high else "low"}
        assert res.overview["variation"].iloc[0] == f"special_cause_{cls}"
        icon = res.overview["variation_icon"].iloc[0]
        assert icon == f"{cls}_{'high' if high else 'low'}"


def test_shift_and_two_of_three_through_xmr():
    # after the baseline (ending on 12): 10 (below), seven points above the mean that do
    # not rise or fall steadily and stay inside 2 sigma, then 10: the seven are a shift
    y = BASE + [10, 11.5, 12, 11.5, 12, 11.5, 12, 11.5, 10]
    res = xmr(y, fix_after=20, improvement="increase")
    assert flagged(res, "rule_shift") == list(range(21, 28))
    assert flagged(res, "special_cause") == list(range(21, 28))
    # with six above, no signal at all
    res = xmr(BASE + [10, 11.5, 12, 11.5, 12, 11.5, 12, 10], fix_after=20)
    assert not res.points["special_cause"].any()
    # 15 and 15 around 11.5, all above the mean 11, both beyond 14.55: two of three
    res = xmr(BASE + [10, 15, 11.5, 15, 10], fix_after=20, improvement="decrease")
    assert flagged(res, "rule_two_of_three") == [21, 23]
    assert set(res.points["variation"].iloc[[21, 23]]) == {"special_cause_concern"}


def test_a_point_signalling_both_ways_counts_as_improvement():
    # seven strict rises that are all below the mean: an increasing trend (high) and a
    # shift below the mean (low). The Making Data Count single-chart tool shows
    # improvement when both are triggered (NHSRplotthedots issue #194).
    y = BASE + [8, 8.2, 8.4, 8.6, 8.8, 9.0, 9.2]
    for improvement in ("increase", "decrease"):
        res = xmr(y, fix_after=20, improvement=improvement)
        pts = res.points.iloc[20:]
        assert pts["rule_trend"].all() and pts["rule_shift"].all()
        assert set(pts["variation"]) == {"special_cause_improvement"}


@pytest.mark.parametrize(("target", "improvement", "expected"), [
    (17, "increase", "fail"),          # target above the upper limit 16.32: always missed
    (17, "decrease", "pass"),          # lower is better: always met
    (5, "increase", "pass"),           # below the lower limit 5.68: always met
    (5, "decrease", "fail"),
    (11, "increase", "hit_and_miss"),  # between the limits
    (11, "decrease", "hit_and_miss"),
    (17, None, None),                  # no improvement direction: no assurance
])
def test_assurance(target, improvement, expected):
    res = xmr(BASE, target=target, improvement=improvement)
    assert res.assurance["assurance"].iloc[0] == expected
    assert res.overview["assurance"].iloc[0] == expected
    if expected is not None:
        assert res.overview["assurance_icon"].iloc[0] == expected
        assert str(target) in res.sentence()


def test_no_target_no_assurance():
    res = xmr(BASE, improvement="increase")
    assert res.assurance["assurance"].isna().all()
    assert "target" not in res.sentence()


def test_targets_by_group():
    df = pd.DataFrame({"g": np.repeat(["a", "b"], 20), "t": np.tile(np.arange(20), 2),
                       "y": BASE + [v + 10 for v in BASE]})
    res = xmr(df, value="y", time="t", group="g", improvement="increase",
              target={"a": 3, "b": 30})
    # a: limits 5.68-16.32, target 3 below: pass; b: limits 15.68-26.32, 30 above: fail
    assert res.assurance.set_index("group")["assurance"].to_dict() == {"a": "pass",
                                                                       "b": "fail"}


# --- phases --------------------------------------------------------------------------


def test_rebase_gives_each_phase_its_own_limits():
    rng = np.random.default_rng(2)
    a, b = rng.normal(20, 2, 20), rng.normal(26, 3, 22)
    months = pd.period_range("2020-01", periods=42, freq="M").strftime("%Y-%m")
    df = pd.DataFrame({"month": months, "y": np.r_[a, b]})
    res = xmr(df, value="y", time="month", rebase="2021-09", improvement="increase")
    first = xmr(pd.DataFrame({"month": months[:20], "y": a}), value="y", time="month",
                improvement="increase")
    second = xmr(pd.DataFrame({"month": months[20:], "y": b}), value="y", time="month",
                 improvement="increase")
    cols = ["n_points", "mean", "upper", "lower", "upper_2sigma", "lower_2sigma", "mr_bar"]
    assert res.limits["phase"].tolist() == [1, 2]
    pd.testing.assert_frame_equal(res.limits[cols].iloc[[0]], first.limits[cols])
    pd.testing.assert_frame_equal(res.limits[cols].iloc[[1]].reset_index(drop=True),
                                  second.limits[cols])
    both = pd.concat([first.points, second.points], ignore_index=True)
    for col in (*RULE_COLUMNS, "variation", "mean", "upper", "moving_range"):
        pd.testing.assert_series_equal(res.points[col], both[col], check_names=False)
    assert res.points["phase"].tolist() == [1] * 20 + [2] * 22


def test_rebase_list_and_fix_after():
    rng = np.random.default_rng(4)
    y = rng.normal(10, 1, 60)
    res = xmr(y, rebase=[21, 41], fix_after=15)
    assert res.limits["phase"].tolist() == [1, 2, 3]
    for k, start in enumerate((0, 20, 40)):
        alone = xmr(y[start:start + 15]).limits.iloc[0]
        lim = res.limits.iloc[k]
        assert (lim["n_points"], lim["n_baseline"]) == (20, 15)
        for col in ("mean", "upper", "lower", "mr_bar"):
            assert lim[col] == alone[col]
        held = res.points[res.points["phase"] == k + 1]["upper"]
        assert (held == alone["upper"]).all()


def test_fix_after_equals_computing_on_the_first_points():
    rng = np.random.default_rng(9)
    y = np.r_[rng.normal(10, 1, 20), rng.normal(14, 1, 10)]
    res = xmr(y, fix_after=20, improvement="increase")
    alone = xmr(y[:20])
    assert res.limits["mean"].iloc[0] == alone.limits["mean"].iloc[0]
    assert res.limits["mr_bar"].iloc[0] == alone.limits["mr_bar"].iloc[0]
    # the later points are judged against the held limits: the jump of 4 (about 4
    # standard deviations) is a special cause of improvement
    assert res.points["special_cause"].iloc[20:].all()
    assert res.overview["variation"].iloc[0] == "special_cause_improvement"


# --- groups: the vectorised pass equals one group at a time ----------------------------


def ragged_panel(seed=0, groups=25):
    rng = np.random.default_rng(seed)
    months = pd.period_range("2018-01", periods=60, freq="M").to_timestamp()
    parts = []
    for g in range(groups):
        n = int(rng.integers(15, 61))
        first = int(rng.integers(0, 61 - n))
        y = rng.normal(100, 10, n).round(1)
        if g % 3 == 0:
            y[n // 2:] += 25  # a shift
        if g % 4 == 0:
            y[n // 3] += 60   # an outlier
        parts.append(pd.DataFrame({"practice": f"P{g:03d}",
                                   "month": months[first:first + n], "adm": y}))
    panel = pd.concat(parts, ignore_index=True)
    return panel.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # shuffled


def test_grouped_equals_each_group_alone_with_ragged_lengths():
    panel = ragged_panel()
    assert panel.groupby("practice").size().nunique() > 5  # genuinely ragged
    opts = dict(value="adm", time="month", improvement="decrease", target=105)
    res = xmr(panel, group="practice", **opts)
    assert res.points["group"].is_monotonic_increasing
    for g, rows in panel.groupby("practice"):
        alone = xmr(rows, **opts)
        got = res.points[res.points["group"] == g].reset_index(drop=True)
        want = alone.points.drop(columns=["group", "row"])
        pd.testing.assert_frame_equal(got.drop(columns=["group", "row"]), want,
                                      check_exact=True)
        # row numbers point back at the input rows
        assert (panel.loc[got["row"] - 2, "adm"].to_numpy() == got["value"]).all()
        lim = res.limits[res.limits["group"] == g].drop(columns="group")
        pd.testing.assert_frame_equal(lim.reset_index(drop=True),
                                      alone.limits.drop(columns="group"), check_exact=True)
        ov = res.overview.set_index("group").loc[g]
        for col in ("variation", "variation_icon", "assurance", "n_special_cause"):
            assert ov[col] == alone.overview[col].iloc[0]


def test_improvement_by_group_equals_each_group_alone_with_its_direction():
    # several measures in one call, each with its own improvement direction (e.g.
    # admissions: lower is better; patient experience: higher is better)
    panel = ragged_panel(seed=3, groups=9)
    names = sorted(panel["practice"].unique())
    direction = {g: ("decrease", "increase", None)[i % 3] for i, g in enumerate(names)}
    res = xmr(panel, value="adm", time="month", group="practice", improvement=direction,
              target=105)
    for g, rows in panel.groupby("practice"):
        alone = xmr(rows, value="adm", time="month", improvement=direction[g], target=105)
        got = res.points[res.points["group"] == g].reset_index(drop=True)
        assert got["variation"].tolist() == alone.points["variation"].tolist()
        ov = res.overview.set_index("group").loc[g]
        for col in ("variation", "variation_icon", "assurance"):
            assert ov[col] == alone.overview[col].iloc[0], (g, col)
        # the sentence names the group; otherwise it is the one for the group alone
        assert ov["sentence"] == f"{g}: o" + alone.overview["sentence"].iloc[0][1:]
    with pytest.raises(DesignError, match="not in the data"):
        xmr(panel, value="adm", time="month", group="practice", improvement={"P999": "increase"})
    with pytest.raises(DesignError, match="not a direction"):
        xmr(panel, value="adm", time="month", group="practice", improvement={names[0]: "up"})
    assert "per group" in res.summary()


def test_grouped_rebase_by_group_and_globally():
    panel = ragged_panel(seed=3, groups=12)
    spans = panel.groupby("practice")["month"].agg(["min", "max"])
    g0 = spans.index[0]
    cut = spans.loc[g0, "min"] + pd.DateOffset(months=8)
    spans_ok = spans[(spans["max"] - spans["min"]).dt.days > 500]
    g1 = spans_ok.index[-1]
    cut1 = spans.loc[g1, "min"] + pd.DateOffset(months=7)
    res = xmr(panel, value="adm", time="month", group="practice",
              rebase={g0: cut.strftime("%Y-%m"), g1: [cut1]}, fix_after=12)
    for g, r in ((g0, cut), (g1, cut1)):
        alone = xmr(panel[panel["practice"] == g], value="adm", time="month", rebase=r,
                    fix_after=12)
        got = res.limits[res.limits["group"] == g].drop(columns="group")
        pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                      alone.limits.drop(columns="group"))
    others = res.limits[~res.limits["group"].isin([g0, g1])]
    assert (others["phase"] == 1).all()


def test_global_rebase_before_a_groups_first_time_leaves_it_one_phase():
    # a: times 0-39, b: times 20-59. Rebasing everyone at time 10 splits a into phases
    # of 10 and 30 points; b starts after it, so b keeps one phase, numbered 1, equal to
    # b charted without a rebase.
    rng = np.random.default_rng(12)
    df = pd.DataFrame({"g": np.repeat(["a", "b"], 40),
                       "t": np.r_[np.arange(40), np.arange(20, 60)],
                       "y": rng.normal(5, 1, 80)})
    res = xmr(df, value="y", time="t", group="g", rebase=10)
    assert res.limits[["group", "phase", "n_points"]].values.tolist() == [
        ["a", 1, 10], ["a", 2, 30], ["b", 1, 40]]
    alone = xmr(df[df["g"] == "b"], value="y", time="t")
    pd.testing.assert_frame_equal(res.limits.iloc[[2]].drop(columns="group")
                                  .reset_index(drop=True), alone.limits.drop(columns="group"))


def test_sequence_input_with_times():
    y = [3.0, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 9]
    res = xmr(y, time=list(range(2001, 2017)))
    assert res.points["time"].tolist() == list(range(2001, 2017))
    assert res.points["rule_outside_limits"].iloc[-1]
    named = xmr(pd.Series(y, name="waits"))
    assert named.options["value"] == "waits"
    assert named.limits["mean"].iloc[0] == res.limits["mean"].iloc[0]


# --- p- and u-charts --------------------------------------------------------------------


def test_p_chart_limits_match_the_formula():
    num = np.array([12, 15, 9, 20, 14, 11, 17, 13])
    den = np.array([100, 120, 80, 150, 110, 90, 130, 100])
    df = pd.DataFrame({"week": range(8), "seen": num, "referred": den})
    res = p_chart(df, numerator="seen", denominator="referred", time="week")
    pbar = num.sum() / den.sum()
    sigma = np.sqrt(pbar * (1 - pbar) / den)
    pts = res.points
    np.testing.assert_allclose(pts["value"], num / den, rtol=1e-12)
    np.testing.assert_allclose(pts["mean"], pbar, rtol=1e-12)
    np.testing.assert_allclose(pts["upper"], np.minimum(pbar + 3 * sigma, 1), rtol=1e-12)
    np.testing.assert_allclose(pts["lower"], np.maximum(pbar - 3 * sigma, 0), rtol=1e-12)
    np.testing.assert_allclose(pts["upper_2sigma"], pbar + 2 * sigma, rtol=1e-12)
    lim = res.limits.iloc[0]
    assert lim["mean"] == pytest.approx(pbar, rel=1e-12)
    assert lim["upper"] == pytest.approx(pbar + 3 * np.sqrt(pbar * (1 - pbar) / den.mean()))
    # percentages: the same chart times 100
    pct = p_chart(df, numerator="seen", denominator="referred", time="week", per=100)
    np.testing.assert_allclose(pct.points["upper"], 100 * pts["upper"], rtol=1e-12)


def test_p_chart_truncates_limits_at_zero_and_one():
    # p-bar 0.05 with denominators of 10: sigma 0.069, so p-bar - 3 sigma < 0
    df = pd.DataFrame({"t": range(8), "x": [0, 1, 0, 1, 0, 1, 0, 1], "n": [10] * 8})
    res = p_chart(df, numerator="x", denominator="n", time="t")
    assert (res.points["lower"] == 0).all()
    # p-bar 0.95: the upper limit is cut at 1
    df["x"] = 10 - df["x"]
    assert (p_chart(df, numerator="x", denominator="n", time="t").points["upper"] == 1).all()


def test_u_chart_limits_match_the_formula():
    events = np.array([30, 42, 25, 38, 51, 33, 29, 47, 36, 40])
    exposure = np.array([9000, 11000, 8000, 10000, 12500, 9500, 8500, 12000, 10000, 10500])
    df = pd.DataFrame({"month": range(10), "adm": events, "list_size": exposure})
    res = u_chart(df, numerator="adm", denominator="list_size", time="month", per=1000)
    ubar = events.sum() / exposure.sum()
    sigma = np.sqrt(ubar / exposure)
    pts = res.points
    np.testing.assert_allclose(pts["value"], 1000 * events / exposure, rtol=1e-12)
    np.testing.assert_allclose(pts["upper"], 1000 * (ubar + 3 * sigma), rtol=1e-12)
    np.testing.assert_allclose(pts["lower"], 1000 * np.maximum(ubar - 3 * sigma, 0),
                               rtol=1e-12)
    assert res.limits["mean"].iloc[0] == pytest.approx(1000 * ubar, rel=1e-12)


def test_p_chart_assurance_needs_the_target_outside_every_points_limits():
    # p-bar = 0.2 exactly (every numerator is a fifth of its denominator). At n = 25 the
    # limits are 0.2 +/- 3 x 0.08 = 0 (cut) to 0.44; at n = 400, 0.2 +/- 3 x 0.02 = 0.14
    # to 0.26. Lower is better. A target of 0.3 is above the upper limit at the n = 400
    # points but inside at the n = 25 point: hit and miss. 0.5 is above every upper
    # limit: the process consistently meets it.
    den = np.array([25, 400, 400, 400, 400, 400, 400, 400])
    df = pd.DataFrame({"t": range(8), "x": den // 5, "n": den})
    for target, expected in ((0.3, "hit_and_miss"), (0.5, "pass")):
        res = p_chart(df, numerator="x", denominator="n", time="t", improvement="decrease",
                      target=target)
        assert res.points["upper"].iloc[0] == pytest.approx(0.44)
        assert res.points["upper"].iloc[1] == pytest.approx(0.26)
        assert res.assurance["assurance"].iloc[0] == expected
    assert "at every point of the latest phase" in res.sentence()


def test_attribute_charts_are_computed_per_group():
    rng = np.random.default_rng(8)
    df = pd.DataFrame({"g": np.repeat(["a", "b", "c"], 20), "t": np.tile(range(20), 3),
                       "n": rng.integers(200, 400, 60)})
    df["x"] = rng.binomial(df["n"], np.repeat([0.1, 0.2, 0.3], 20))
    res = p_chart(df, numerator="x", denominator="n", time="t", group="g")
    for g, rows in df.groupby("g"):
        alone = p_chart(rows, numerator="x", denominator="n", time="t")
        got = res.points[res.points["group"] == g].reset_index(drop=True)
        pd.testing.assert_frame_equal(got.drop(columns=["group", "row"]),
                                      alone.points.drop(columns=["group", "row"]))


def test_p_chart_in_control_points_fall_inside_limits_997_in_1000():
    # binomial data with one true proportion per group and large, varying denominators:
    # about 99.73% of points lie within p-bar +/- 3 sigma_i (normal approximation)
    rng = np.random.default_rng(20240601)
    groups, months = 60, 100
    n = rng.integers(2_000, 20_000, groups * months)
    p = np.repeat(rng.uniform(0.05, 0.3, groups), months)
    x = stats.binom.rvs(n, p, random_state=rng)
    df = pd.DataFrame({"g": np.repeat(np.arange(groups), months),
                       "t": np.tile(np.arange(months), groups), "x": x, "n": n})
    pts = p_chart(df, numerator="x", denominator="n", time="t", group="g").points
    inside = float(np.mean(~pts["rule_outside_limits"]))
    assert abs(inside - 0.9973) < 0.003


def test_u_chart_in_control_points_fall_inside_limits_997_in_1000():
    rng = np.random.default_rng(77)
    groups, months = 60, 100
    exposure = rng.integers(5_000, 40_000, groups * months)
    rate = np.repeat(rng.uniform(0.005, 0.02, groups), months)
    x = stats.poisson.rvs(exposure * rate, random_state=rng)
    df = pd.DataFrame({"g": np.repeat(np.arange(groups), months),
                       "t": np.tile(np.arange(months), groups), "x": x, "e": exposure})
    pts = u_chart(df, numerator="x", denominator="e", time="t", group="g").points
    inside = float(np.mean(~pts["rule_outside_limits"]))
    assert abs(inside - 0.9973) < 0.003


# --- refusals -----------------------------------------------------------------------


def test_fewer_than_six_points_is_refused():
    with pytest.raises(DataError, match="too few points") as err:
        xmr([1, 2, 3, 2, 1], file="waits.csv")
    assert list(err.value.rows) == [2, 3, 4, 5, 6]
    assert err.value.file == "waits.csv"
    # also per phase: a rebase that leaves 5 points
    with pytest.raises(DataError, match="phase 2"):
        xmr(list(range(20)), rebase=16)


def test_fewer_than_fifteen_points_warns():
    with pytest.warns(SPCWarning, match="fewer than 15 points"):
        res = xmr([1, 2, 1, 2, 1, 3, 1, 2, 1, 2])
    assert res.warnings and "trial limits" in res.warnings[0]
    assert "Warnings:" in res.summary()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xmr(BASE)  # 20 points: no warning


def test_rebase_date_not_in_the_series_is_refused_naming_nearest_dates():
    months = pd.period_range("2020-01", periods=24, freq="M").strftime("%Y-%m")
    df = pd.DataFrame({"month": months, "y": np.arange(24.0) % 5})
    with pytest.raises(DesignError) as err:
        xmr(df, value="y", time="month", rebase="2020-06-15")
    text = str(err.value)
    assert "2020-06-15" in text and "2020-06 and 2020-07" in text
    assert err.value.column == "month"
    with pytest.raises(DesignError, match="2030-01"):
        xmr(df, value="y", time="month", rebase=["2021-01", "2030-01"])


def test_rebase_by_group_checks_each_groups_own_series():
    df = pd.DataFrame({"g": np.repeat(["a", "b"], 20),
                       "t": np.r_[np.arange(20), np.arange(30, 50)],
                       "y": BASE + BASE})
    with pytest.raises(DesignError, match="of g a"):
        xmr(df, value="y", time="t", group="g", rebase={"a": 35})
    with pytest.raises(DataError, match="not in the data: z"):
        xmr(df, value="y", time="t", group="g", rebase={"z": 5})


def test_non_numeric_and_missing_values_name_rows():
    df = pd.DataFrame({"t": range(20), "y": [str(v) for v in BASE]})
    df.loc[3, "y"] = "n/a"
    df.loc[7, "y"] = "12 patients"
    with pytest.raises(DataError) as err:
        xmr(df, value="y", time="t", file="data.csv")
    assert list(err.value.rows) == [5, 9] and err.value.column == "y"
    assert "data.csv" in str(err.value)
    df = pd.DataFrame({"t": range(20), "y": BASE})
    df.loc[10, "y"] = np.nan
    with pytest.raises(DataError, match="missing") as err:
        xmr(df, value="y", time="t")
    assert list(err.value.rows) == [12]


def test_other_data_refusals():
    df = pd.DataFrame({"t": list(range(19)) + [5], "y": BASE})
    with pytest.raises(DataError, match="share a group and time") as err:
        xmr(df, value="y", time="t")
    assert list(err.value.rows) == [7, 21]
    with pytest.raises(DataError, match="no value column 'x'"):
        xmr(df, value="x", time="t")
    with pytest.raises(DataError, match="cannot read"):
        xmr(pd.DataFrame({"t": ["2020-01"] * 19 + ["soon"], "y": BASE}), value="y",
            time="t")


def test_option_refusals():
    with pytest.raises(DesignError, match="fix_after"):
        xmr(BASE, fix_after=4)
    with pytest.raises(DesignError, match="improvement"):
        xmr(BASE, improvement="up")
    with pytest.raises(DesignError, match="name the value column"):
        xmr(pd.DataFrame({"y": BASE}))
    with pytest.raises(DesignError, match="group"):
        xmr(BASE, group="practice")


def attribute_frame():
    return pd.DataFrame({"t": range(8), "x": [5, 6, 4, 7, 5, 6, 5, 4],
                         "n": [50, 60, 40, 70, 50, 60, 50, 40]})


def test_denominator_smaller_than_numerator_is_refused():
    df = attribute_frame()
    df.loc[2, "n"] = 3
    df.loc[5, "n"] = 5
    with pytest.raises(DataError, match="smaller than the numerator") as err:
        p_chart(df, numerator="x", denominator="n", time="t")
    assert list(err.value.rows) == [4, 7] and err.value.column == "n"
    # a u-chart allows rates above 1
    u_chart(df, numerator="x", denominator="n", time="t")


def test_zero_denominators_and_negative_counts_are_refused():
    df = attribute_frame()
    df.loc[1, "n"] = 0
    for chart in (p_chart, u_chart):
        with pytest.raises(DataError, match="zero or negative") as err:
            chart(df, numerator="x", denominator="n", time="t")
        assert list(err.value.rows) == [3]
    df = attribute_frame()
    df.loc[6, "x"] = -2
    with pytest.raises(DataError, match="negative") as err:
        u_chart(df, numerator="x", denominator="n", time="t")
    assert list(err.value.rows) == [8] and err.value.column == "x"
    with pytest.raises(DataError, match="DataFrame"):
        p_chart([1, 2, 3], numerator="x", denominator="n")


# --- the result object ------------------------------------------------------------------


def test_result_shape_and_text():
    res = xmr(BASE + [17.0], fix_after=20, improvement="increase", target=14)
    assert isinstance(res, SPCResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.chart = "p"
    expected = {"group", "time", "value", "phase", "mean", "upper", "lower",
                "upper_2sigma", "lower_2sigma", "moving_range", "mr_in_limits",
                *RULE_COLUMNS, "special_cause", "direction", "variation", "row"}
    assert set(res.points.columns) == expected
    assert {"group", "phase", "start", "end", "n_points", "mean", "upper", "lower",
            "mr_bar"} <= set(res.limits.columns)
    frame = res.to_frame()
    frame.loc[0, "value"] = -99
    assert res.points.loc[0, "value"] == 10
    assert set(res.plot_data()) == {"points", "limits", "assurance", "overview"}
    text = res.summary()
    assert "mean" in text and "11" in text and "16.32" in text
    assert "improving" in res.sentence() and "hit" in res.overview["assurance"].iloc[0]
    assert res.overview["variation_label"].iloc[0].startswith("Special cause improvement")
