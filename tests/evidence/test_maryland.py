"""Maryland levels are derived from each design's diagnostics (evalkit.evidence.maryland)."""

from __future__ import annotations

import pytest

from evalkit.evidence.maryland import maryland_level


@pytest.mark.parametrize("design,estimand,diag,level", [
    ("synthetic_control", "gap_mean", {"fit_ok": True}, 4),
    ("synthetic_control", "gap_mean", {"fit_ok": False}, 3),
    ("synthetic_control", "att_sdid", {}, 3),  # fit not shown to be good: not level 4
    ("matched", "att_did", {"balance_ok": True}, 4),
    ("matched", "att_did", {"balance_ok": False}, 3),
    ("matched", "difference_in_means", {"balance_ok": True}, 2),  # post-only comparison
    ("prepost", "before_after", {}, 1),
    ("prepost", "before_after_rtm_adjusted", {}, 2),
])
def test_levels_follow_the_design_and_its_diagnostics(design, estimand, diag, level):
    assert maryland_level(design, estimand, diag) == level


def test_an_unknown_design_has_no_rule():
    with pytest.raises(KeyError, match="no evidence rule"):
        maryland_level("astrology", "att", {})


def test_engagement_designs_have_rules():
    # descriptive engagement and an uncontrolled survey: level 1; dose-response by form
    assert maryland_level("engagement", "share_referring") == 1
    assert maryland_level("likert_change", "proportional_odds_ratio") == 1
    assert maryland_level("dose_response", "dose_response_slope", {"form": "panel"}) == 3
    assert maryland_level("dose_response", "dose_response_slope",
                          {"form": "cross_sectional", "covariates": ["imd_score"]}) == 2
    assert maryland_level("dose_response", "dose_response_slope",
                          {"form": "cross_sectional", "covariates": []}) == 1
