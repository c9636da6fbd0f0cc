"""GRADE-style certainty and triangulation (evalkit.evidence.certainty).

Every record here is built by hand, so each expected rating follows from the rules in
the module docstring: start from the Maryland level (5 high, 4 moderate, 3 low, 1-2 very
low) and rate down one level per domain with a serious problem, never below very low.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evalkit.errors import DataError, DesignError
from evalkit.evidence.certainty import (
    CERTAINTY_LEVELS,
    START_LEVELS,
    rate_certainty,
    triangulate,
)


def rec(**kw):
    base = {"scheme": "s", "domain": "outcome", "outcome": "admissions", "design": "its",
            "estimand": "level_change", "scale": "ratio", "estimate": 0.85, "ci_low": 0.80,
            "ci_high": 0.90, "conf_level": 0.95, "evidence_level": 3, "diagnostics": {}}
    base.update(kw)
    return base


def rate(*records, **kw):
    return rate_certainty(pd.DataFrame(list(records)), **kw)


def only(result):
    assert len(result.table) == 1
    return result.table.iloc[0]


@pytest.mark.parametrize("level,design,estimand,start", [
    (5, "trial", "att", "high"),
    (4, "its", "level_change", "moderate"),
    (3, "did", "att_twfe", "low"),
    (2, "prepost", "before_after_rtm_adjusted", "very low"),
    (1, "prepost", "before_after", "very low"),
])
def test_the_start_follows_the_maryland_level(level, design, estimand, start):
    row = only(rate(rec(evidence_level=level, design=design, estimand=estimand)))
    assert row["start_level"] == start == START_LEVELS[level]
    assert row["downgrades"] == [] and row["certainty"] == start
    assert f"Maryland level {level}" in row["reasons"]
    assert "No reason to rate down" in row["reasons"]


def test_the_start_levels_can_be_changed():
    custom = {**START_LEVELS, 3: "moderate"}
    assert only(rate(rec(), start_levels=custom))["certainty"] == "moderate"
    with pytest.raises(DesignError, match="start_levels"):
        rate(rec(), start_levels={**START_LEVELS, 3: "excellent"})


def test_failed_pretrends_rate_down_a_did():
    row = only(rate(rec(design="did", estimand="att_twfe", scale="difference",
                        estimate=-3.0, ci_low=-5.0, ci_high=-1.0,
                        diagnostics={"pretrend_p": 0.012})))
    assert row["downgrades"] == ["risk of bias"]
    assert row["certainty"] == "very low"  # low, less one
    assert "risk of bias" in row["reasons"] and "p = 0.012" in row["reasons"]


def test_a_failure_that_already_lowered_the_level_is_not_counted_twice():
    diag = {"controlled": True, "pretrend_p": 0.01}
    # A controlled ITS whose pre-trends differ is level 3 (evalkit.evidence.maryland), not 4.
    row = only(rate(rec(evidence_level=3, diagnostics=diag)))
    assert row["downgrades"] == [] and row["certainty"] == "low"
    assert "already lowered the Maryland level from 4 to 3" in row["reasons"]
    # A hand-entered level 4 ignores the failure, so the rating counts it.
    row = only(rate(rec(evidence_level=4, diagnostics=diag)))
    assert row["downgrades"] == ["risk of bias"] and row["certainty"] == "low"


def test_matching_that_did_not_balance_rates_down():
    # A DiD on a matched comparison is level 4 whatever the balance (evalkit.evidence.maryland):
    # imbalance is a risk of bias the level does not show.
    row = only(rate(rec(design="did", estimand="att_twfe", evidence_level=4,
                        diagnostics={"matched": True, "balance_ok": False})))
    assert row["downgrades"] == ["risk of bias"] and row["certainty"] == "low"
    assert "did not balance" in row["reasons"]
    # A matched DiD that did not balance is already level 3.
    row = only(rate(rec(design="matched", estimand="att_did", evidence_level=3,
                        diagnostics={"balance_ok": False})))
    assert row["downgrades"] == []


def test_a_synthetic_control_that_does_not_fit_rates_down():
    row = only(rate(rec(design="synthetic_control", estimand="gap_mean", evidence_level=4,
                        scale="difference", estimate=-2.0, ci_low=-3.0, ci_high=-1.0,
                        diagnostics={"fit_ok": False})))
    assert row["downgrades"] == ["risk of bias"] and row["certainty"] == "low"
    assert "did not track" in row["reasons"]


def test_selection_on_baseline_rates_down_an_uncontrolled_before_after():
    ba = rec(design="prepost", estimand="before_after", evidence_level=1,
             diagnostics={"rtm_selected_on_baseline": True})
    row = only(rate(ba))
    assert row["downgrades"] == ["risk of bias"]
    assert row["certainty"] == "very low" and "cannot go lower" in row["reasons"]
    assert "regression to the mean" in row["reasons"]
    # Started higher, the downgrade shows.
    assert only(rate(ba, start_levels={**START_LEVELS, 1: "low"}))["certainty"] == "very low"
    assert only(rate(ba, start_levels={**START_LEVELS, 1: "moderate"}))["certainty"] == "low"
    # The adjusted record deals with it: no downgrade.
    adj = rec(design="prepost", estimand="before_after_rtm_adjusted", evidence_level=2,
              diagnostics={"rtm_selected_on_baseline": True})
    assert only(rate(adj, start_levels={**START_LEVELS, 2: "low"}))["downgrades"] == []


@pytest.mark.parametrize("lo,hi,mid,down", [
    (0.85, 1.02, None, True),    # includes no effect and a 15% fall (default MID 5%)
    (0.97, 1.03, None, False),   # includes no effect, rules out 5% either way
    (0.80, 0.90, None, False),   # excludes no effect
    (0.97, 1.03, 0.02, True),    # a 2% MID: the interval includes a 3% fall
    (0.90, 1.12, 0.15, False),   # a 15% MID: within it
])
def test_imprecision_for_ratios(lo, hi, mid, down):
    r = rec(evidence_level=4, estimate=(lo * hi) ** 0.5, ci_low=lo, ci_high=hi)
    row = only(rate(r, mid=None if mid is None else {"admissions": mid}))
    assert (row["downgrades"] == ["imprecision"]) is down
    assert row["certainty"] == ("low" if down else "moderate")
    if not down and lo <= 1 <= hi:
        assert "rules out a change" in row["reasons"]


@pytest.mark.parametrize("lo,hi,mid,down,note", [
    (-5.0, 2.0, None, True, "no minimal important difference was given"),
    (1.0, 3.0, None, False, None),
    (-5.0, 2.0, 10.0, False, "rules out a change of 10"),
    (-12.0, 2.0, 10.0, True, "both no effect and a change of 10"),
    (-12.0, 2.0, {"difference": 10.0}, True, "both no effect"),
])
def test_imprecision_for_differences(lo, hi, mid, down, note):
    r = rec(scale="difference", estimate=(lo + hi) / 2, ci_low=lo, ci_high=hi)
    row = only(rate(r, mid=None if mid is None else {"admissions": mid}))
    assert ("imprecision" in row["downgrades"]) is down
    if note:
        assert note in row["reasons"]


def test_no_interval_is_imprecise():
    row = only(rate(rec(ci_low=float("nan"), ci_high=float("nan"))))
    assert row["downgrades"] == ["imprecision"]
    assert "no confidence interval" in row["reasons"]


def test_designs_whose_intervals_do_not_overlap_are_inconsistent():
    its = rec(evidence_level=4, estimate=0.84, ci_low=0.80, ci_high=0.88)
    pre = rec(design="prepost", estimand="before_after", evidence_level=1, estimate=1.0,
              ci_low=0.95, ci_high=1.05)
    row = only(rate(its, pre))
    assert row["design"] == "its"  # the higher Maryland level leads
    assert row["downgrades"] == ["inconsistency"] and row["certainty"] == "low"
    assert "do not overlap" in row["reasons"]
    assert row["designs_agree"] is False


def test_opposite_clear_effects_on_different_scales_are_inconsistent():
    its = rec(evidence_level=4)  # ratio 0.85 (0.80 to 0.90): a clear fall
    did = rec(design="did", estimand="att_twfe", scale="difference", estimate=3.0,
              ci_low=1.0, ci_high=5.0)  # a clear rise
    res = rate(its, did)
    assert only(res)["downgrades"] == ["inconsistency"]
    tri = res.triangulations[0]
    assert tri.overlap is None and tri.clear_disagreement
    assert "opposite directions" in tri.statement


def test_agreeing_designs_are_not_inconsistent():
    its = rec(evidence_level=4)
    pre = rec(design="prepost", estimand="before_after", evidence_level=1, estimate=0.88,
              ci_low=0.84, ci_high=0.93)
    row = only(rate(its, pre))
    assert row["downgrades"] == [] and row["designs_agree"] is True
    assert row["n_designs"] == 2


@pytest.mark.parametrize("i2,down", [(72.0, True), (50.0, False), (30.0, False),
                                     ({"admissions": 64.0}, True), ({"other": 90.0}, False),
                                     ({("s", "admissions"): 80.0}, True)])
def test_heterogeneity_across_schemes(i2, down):
    row = only(rate(rec(evidence_level=4), pooled_i2=i2))
    assert ("inconsistency" in row["downgrades"]) is down
    if down:
        assert "I² =" in row["reasons"]


def test_certainty_never_goes_below_very_low():
    bad = rec(design="did", estimand="att_twfe", evidence_level=3, estimate=0.9, ci_low=0.7,
              ci_high=1.1, diagnostics={"pretrend_p": 0.001})
    row = only(rate(bad, pooled_i2=90))
    assert row["downgrades"] == ["risk of bias", "imprecision", "inconsistency"]
    assert row["certainty"] == "very low"
    assert row["certainty"] in CERTAINTY_LEVELS


def test_the_headline_record_is_the_highest_level_headline_estimand():
    records = [
        rec(design="prepost", estimand="before_after", evidence_level=1),
        rec(design="its", estimand="slope_change", evidence_level=4, estimate=0.99,
            ci_low=0.98, ci_high=1.0),
        rec(design="its", estimand="level_change", evidence_level=4),
        rec(design="its", estimand="level_change", evidence_level=4, estimate=2.0,
            ci_low=1.5, ci_high=2.5, diagnostics={"batch": True}),  # a batch row
        rec(outcome="bed_days", design="prepost", estimand="before_after",
            evidence_level=1),
    ]
    res = rate(*records)
    assert res.table["outcome"].tolist() == ["admissions", "bed_days"]
    first = res.rating("s", "admissions")
    assert (first["design"], first["estimand"]) == ("its", "level_change")
    assert "highest Maryland level (4)" in first["chosen"] and "prepost" in first["chosen"]
    assert res.records.loc[0, "estimate"] == 0.85  # not the batch row
    assert "s / admissions: moderate certainty" in res.summary()
    assert set(res.plot_data()) == {"certainty", "records"}


def test_diagnostics_as_json_text_are_read():
    r = rec(design="did", estimand="att_twfe", diagnostics=json.dumps({"pretrend_p": 0.01}))
    assert only(rate(r))["downgrades"] == ["risk of bias"]


def test_records_without_a_scheme():
    r = rec()
    del r["scheme"]
    res = rate(r)
    assert res.table.loc[0, "scheme"] is None
    assert triangulate(pd.DataFrame([r]), scheme=None, outcome="admissions").n_designs == 1


def test_bad_input_is_refused():
    with pytest.raises(DataError, match="no column 'ci_low'"):
        rate_certainty(pd.DataFrame([rec()]).drop(columns="ci_low"))
    with pytest.raises(DataError, match="Maryland level") as err:
        rate(rec(), rec(outcome="b", evidence_level=7))
    assert list(err.value.rows) == [3]
    with pytest.raises(DesignError, match="no effect records"):
        rate(rec(), mid={"admissons": 0.05})
    with pytest.raises(DesignError, match="not a positive number"):
        rate(rec(), mid={"admissions": -1})
    with pytest.raises(DesignError, match="between 0 and 100"):
        rate(rec(), pooled_i2=150)
    with pytest.raises(DesignError):
        rate_certainty([rec()])


# ----------------------------------------------------------------- triangulation
def tri_of(*records):
    return triangulate(pd.DataFrame(list(records)), scheme="s", outcome="admissions")


def test_triangulation_agrees():
    t = tri_of(rec(evidence_level=4),
               rec(design="prepost", estimand="before_after_rtm_adjusted", evidence_level=2,
                   estimate=0.9, ci_low=0.82, ci_high=0.98))
    assert t.agree and t.same_direction and t.overlap and not t.clear_disagreement
    assert t.statement.startswith("The two designs agree: all point to a fall")
    assert t.table["design"].tolist() == ["its", "prepost"]
    assert t.to_frame()["direction"].tolist() == ["fall", "fall"]


def test_triangulation_opposite_directions_with_overlap():
    t = tri_of(rec(estimate=0.95, ci_low=0.85, ci_high=1.05),
               rec(design="did", estimand="att_twfe", estimate=1.03, ci_low=0.9,
                   ci_high=1.18))
    assert t.agree is False and t.overlap is True and not t.clear_disagreement
    assert "do not agree on the direction" in t.statement


def test_triangulation_disagrees_when_intervals_do_not_overlap():
    t = tri_of(rec(estimate=0.85, ci_low=0.8, ci_high=0.9),
               rec(design="did", estimand="att_twfe", estimate=0.97, ci_low=0.93,
                   ci_high=1.01))
    assert t.agree is False and t.overlap is False and t.clear_disagreement
    assert "do not overlap" in t.statement


def test_triangulation_puts_a_ratio_on_the_difference_scale_where_the_design_reports_it():
    its_level = rec(evidence_level=4, estimate=1.39, ci_low=1.18, ci_high=1.64)
    its_12 = rec(evidence_level=4, estimand="effect_at_12", estimate=1.46, ci_low=1.27,
                 ci_high=1.67, diagnostics={"absolute_difference": 0.079,
                                            "absolute_difference_ci": [0.051, 0.108]})
    pre = rec(design="prepost", estimand="before_after_rtm_adjusted", evidence_level=2,
              scale="difference", estimate=0.069, ci_low=0.048, ci_high=0.091)
    t = tri_of(its_level, its_12, pre)
    assert t.table["compared_scale"].tolist() == ["difference", "difference"]
    assert t.table["estimand"].tolist() == ["effect_at_12", "before_after_rtm_adjusted"]
    assert t.table["compared_estimate"].tolist() == [0.079, 0.069]
    assert t.overlap is True and t.agree is True
    assert any("absolute difference" in n for n in t.notes)


def test_triangulation_across_scales_compares_direction_only():
    t = tri_of(rec(estimate=1.2, ci_low=1.1, ci_high=1.3),
               rec(design="prepost", estimand="before_after", evidence_level=1,
                   scale="difference", estimate=0.05, ci_low=0.02, ci_high=0.08))
    assert t.overlap is None and t.agree is None and t.same_direction is True
    assert "could not be compared" in t.statement
    assert any("direction only" in n for n in t.notes)
    assert "Note:" in t.summary()


def test_triangulation_of_one_design():
    t = tri_of(rec())
    assert t.agree is None and t.same_direction is None and t.n_designs == 1
    assert t.statement.startswith("Only one design")


def test_triangulation_refuses_an_unknown_outcome():
    with pytest.raises(DesignError, match="no effect records"):
        triangulate(pd.DataFrame([rec()]), scheme="s", outcome="deaths")


def test_a_real_evaluation_is_rated(root):
    import warnings

    import evalkit as ek
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = ek.run_spec(root / "data/synthetic/palliative-care/spec.yaml")
    res = rate_certainty(ev.effects)
    pairs = ev.effects[["scheme", "outcome"]].drop_duplicates()
    assert len(res.table) == len(pairs)
    assert res.table["certainty"].isin(CERTAINTY_LEVELS).all()
    # each headline record is a real record of its scheme and outcome
    for (_, row), (_, r) in zip(res.table.iterrows(), res.records.iterrows(), strict=True):
        assert (r["outcome"], r["design"], r["estimand"]) == (row["outcome"], row["design"],
                                                             row["estimand"])
        assert int(r["evidence_level"]) == row["evidence_level"]
