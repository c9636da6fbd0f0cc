"""Plain-English findings calibrated to certainty (evalkit.evidence.findings).

The wording follows the GRADE guidance on informative statements (Santesso et al., 2020,
J Clin Epidemiol 119:126-135): high certainty "reduces", moderate "probably reduces",
low "may reduce", very low "the evidence is very uncertain about the effect of ...", and
"little or no difference" when the interval includes no effect. The numbers below are
worked by hand: a rate ratio of 0.91 with interval 0.86 to 0.96 is a 9% fall with an
interval from a 4% to a 14% fall.
"""

from __future__ import annotations

import itertools
import re

import pandas as pd
import pytest

from evalkit.errors import DesignError
from evalkit.evidence.certainty import rate_certainty, triangulate
from evalkit.evidence.findings import finding, findings

CAUSAL = re.compile(r"\b(reduc\w*|increas\w*|caus\w*|improv\w*|leads? to|lead to|"
                    r"prevent\w*|results? in|makes? little|effect\w*|because|due to)\b",
                    re.IGNORECASE)

FALL = {"scale": "ratio", "estimate": 0.91, "ci_low": 0.86, "ci_high": 0.96}
RISE = {"scale": "ratio", "estimate": 1.10, "ci_low": 1.05, "ci_high": 1.15}
NULL = {"scale": "ratio", "estimate": 0.98, "ci_low": 0.95, "ci_high": 1.01}


def rec(level=4, design="its", estimand="level_change", **kw):
    out = {"outcome": "emergency_admissions", "design": design, "estimand": estimand,
           "conf_level": 0.95, "evidence_level": level, "domain": "outcome",
           "diagnostics": {}, **FALL}
    out.update(kw)
    return out


LABEL = "Emergency admissions"


@pytest.mark.parametrize("certainty,effect,expected", [
    ("high", FALL, "The scheme reduces emergency admissions, by an estimated 9% "
                   "(95% CI 4% to 14%); high certainty."),
    ("high", RISE, "The scheme increases emergency admissions, by an estimated 10% "
                   "(95% CI 5% to 15%); high certainty."),
    ("moderate", FALL, "The scheme probably reduces emergency admissions, by an estimated "
                       "9% (95% CI 4% to 14%); moderate certainty."),
    ("moderate", RISE, "The scheme probably increases emergency admissions, by an "
                       "estimated 10% (95% CI 5% to 15%); moderate certainty."),
    ("low", FALL, "The scheme may reduce emergency admissions, by an estimated 9% "
                  "(95% CI 4% to 14%); low certainty."),
    ("low", RISE, "The scheme may increase emergency admissions, by an estimated 10% "
                  "(95% CI 5% to 15%); low certainty."),
    ("very low", FALL, "The evidence is very uncertain about the effect of the scheme on "
                       "emergency admissions: an estimated 9% fall (95% CI 4% to 14%); "
                       "very low certainty."),
    ("very low", RISE, "The evidence is very uncertain about the effect of the scheme on "
                       "emergency admissions: an estimated 10% rise (95% CI 5% to 15%); "
                       "very low certainty."),
])
def test_wording_follows_certainty_and_direction(certainty, effect, expected):
    assert finding(rec(**effect), certainty, label=LABEL) == expected


@pytest.mark.parametrize("certainty,phrase", [
    ("high", "The scheme makes little or no difference to emergency admissions"),
    ("moderate", "The scheme probably makes little or no difference to emergency "
                 "admissions"),
    ("low", "The scheme may make little or no difference to emergency admissions"),
    ("very low", "The evidence is very uncertain about the effect of the scheme on "
                 "emergency admissions"),
])
def test_an_interval_including_no_effect_says_little_or_no_difference(certainty, phrase):
    text = finding(rec(**NULL), certainty, label=LABEL)
    assert text.startswith(phrase)
    assert "an estimated 2% fall (95% CI from a fall of 5% to a rise of 1%)" in text
    assert "reduces" not in text


def test_consistency_across_designs_is_stated():
    text = finding(rec(), "moderate", label=LABEL, consistent_designs=2)
    assert text.endswith("; moderate certainty; consistent across two designs.")
    assert "consistent" not in finding(rec(), "moderate", label=LABEL, consistent_designs=1)
    rows = [rec(scheme="s", **FALL),
            rec(scheme="s", design="prepost", estimand="before_after", level=1,
                estimate=0.9, ci_low=0.85, ci_high=0.95)]
    agree = triangulate(pd.DataFrame(rows), scheme="s", outcome="emergency_admissions")
    assert finding(rec(), "low", label=LABEL, consistent_designs=agree).endswith(
        "consistent across two designs.")
    rows[1].update(estimate=1.2, ci_low=1.1, ci_high=1.3)
    split = triangulate(pd.DataFrame(rows), scheme="s", outcome="emergency_admissions")
    assert finding(rec(), "low", label=LABEL, consistent_designs=split).endswith(
        "the two designs disagree.")
    with pytest.raises(DesignError):
        finding(rec(), "low", consistent_designs="two")


def test_differences_are_written_with_their_units():
    diff = rec(scale="difference", estimate=-3.5, ci_low=-5.8, ci_high=-1.2)
    assert finding(diff, "low", label="Bed days", units="bed days per 1,000") == (
        "The scheme may reduce bed days, by an estimated 3.5 bed days per 1,000 (95% CI 1.2 "
        "to 5.8 bed days per 1,000); low certainty.")
    cost = rec(domain="cost", scale="difference", estimate=-277.0, ci_low=-841.0,
               ci_high=295.0)
    assert finding(cost, "low", label="Cost per patient") == (
        "The scheme may make little or no difference to cost per patient: an estimated "
        "£277 fall (95% CI from a fall of £841 to a rise of £295); low certainty.")
    # A difference in proportions (binomial) is in percentage points.
    share = rec(scale="difference", estimate=0.071, ci_low=0.049, ci_high=0.094,
                diagnostics={"family": "binomial"})
    assert "by an estimated 7.1 percentage points (95% CI 4.9 to 9.4 percentage points)" in \
        finding(share, "moderate", label="Deaths at home")
    # A logit model's ratio is an odds ratio, and says so.
    odds = rec(estimate=1.39, ci_low=1.18, ci_high=1.64, diagnostics={"family": "binomial"})
    assert "by an estimated 39% in the odds (95% CI 18% to 64%)" in \
        finding(odds, "moderate", label="Deaths at home")


def test_a_missing_interval_is_said():
    text = finding(rec(ci_low=float("nan"), ci_high=float("nan")), "low", label=LABEL)
    assert "(no confidence interval)" in text


def test_level_3_and_above_use_causal_verbs():
    # The check below can fail: it catches the verbs a level 3+ finding uses.
    assert CAUSAL.search(finding(rec(level=3), "high", label=LABEL))
    assert CAUSAL.search(finding(rec(level=3, **NULL), "moderate", label=LABEL))


LOW_LEVEL_RECORDS = [
    dict(level=1, design="prepost", estimand="before_after"),
    dict(level=2, design="prepost", estimand="before_after_rtm_adjusted"),
    dict(level=2, design="matched", estimand="difference_in_means", scale="difference"),
    dict(level=1, design="engagement", estimand="share_referring", scale="percent"),
    dict(level=1, design="likert_change", estimand="proportional_odds_ratio"),
    dict(level=2, design="dose_response", estimand="dose_response_slope",
         scale="difference"),
]
EFFECTS = [FALL, RISE, NULL, {"estimate": 1.0, "ci_low": 0.9, "ci_high": 1.1},
           {"ci_low": float("nan"), "ci_high": float("nan")}]


@pytest.mark.parametrize("certainty,design,effect", list(itertools.product(
    ["high", "moderate", "low", "very low"], LOW_LEVEL_RECORDS, EFFECTS)))
def test_no_causal_language_for_maryland_level_1_and_2(certainty, design, effect):
    kw = {**effect, **design}
    if kw.get("scale") in ("difference", "percent"):  # put the effect on the difference scale
        for k in ("estimate", "ci_low", "ci_high"):
            kw[k] = (kw.get(k, FALL[k]) - 1) * 10
    for consistent in (None, 2):
        text = finding(rec(**kw), certainty, label=LABEL, consistent_designs=consistent)
        assert not CAUSAL.search(text), text
        assert f"{certainty} certainty" in text
        assert "shows what changed, not why" in text
        if design["design"] in ("prepost", "engagement", "likert_change"):
            assert "after the scheme began" in text
        else:
            assert "was associated with" in text


def test_level_1_wording():
    text = finding(rec(level=1, design="prepost", estimand="before_after"), "very low",
                   label=LABEL)
    assert text == ("The evidence is very uncertain: emergency admissions fell by an "
                    "estimated 9% (95% CI 4% to 14%) after the scheme began; very low "
                    "certainty. This design (Maryland level 1) shows what changed, not why.")
    adj = finding(rec(level=2, design="prepost", estimand="before_after_rtm_adjusted",
                      **RISE), "low", label=LABEL)
    assert adj.startswith("Emergency admissions rose by an estimated 10% (95% CI 5% to 15%) "
                          "after the scheme began, allowing for regression to the mean;")


def test_certainty_can_come_from_a_rating_row_and_is_checked():
    row = {"certainty": "moderate"}
    assert "probably reduces" in finding(rec(), row, label=LABEL)
    with pytest.raises(DesignError, match="not a GRADE level"):
        finding(rec(), "medium")


def test_acronyms_keep_their_capitals():
    assert "on A&E attendances" in finding(rec(), "very low", label="A&E attendances")
    assert "on QALYs" in finding(rec(), "very low", label="QALYs")
    assert "on x ray waits" in finding(rec(), "very low", label="X ray waits")


def test_a_matched_post_period_comparison_is_an_association():
    text = finding(rec(level=2, design="matched", estimand="difference_in_means",
                       domain="cost", scale="difference", estimate=-188.0, ci_low=-979.0,
                       ci_high=603.0), "very low", label="Cost per patient")
    assert text.startswith("The evidence is very uncertain: the scheme was associated with "
                           "cost per patient £188 lower than in comparison units (95% CI "
                           "from £979 lower to £603 higher, which includes no difference)")


def test_findings_for_a_certainty_rating():
    rows = [rec(scheme="s", **FALL),
            rec(scheme="s", design="prepost", estimand="before_after", level=1,
                estimate=0.9, ci_low=0.85, ci_high=0.95),
            rec(scheme="s", outcome="bed_days", design="prepost", estimand="before_after",
                level=1)]
    res = rate_certainty(pd.DataFrame(rows))
    out = findings(res, labels={"emergency_admissions": "Emergency admissions"})
    assert out["outcome"].tolist() == ["emergency_admissions", "bed_days"]
    assert out["certainty"].tolist() == ["moderate", "very low"]
    assert out.loc[0, "finding"] == ("The scheme probably reduces emergency admissions, by "
                                     "an estimated 9% (95% CI 4% to 14%); moderate certainty; "
                                     "consistent across two designs.")
    assert out.loc[1, "finding"].startswith("The evidence is very uncertain: bed days fell")
    with pytest.raises(DesignError):
        findings(res.table)
