"""Network maturity on the ten building blocks: hand-worked scores, changes, ranks, refusals.

The ten blocks and their order are those of Bodenheimer T, Ghorob A, Willard-Grace R,
Grumbach K. The 10 building blocks of high-performing primary care. Ann Fam Med
2014;12:166-171, with the names used in the project's issue (typed below).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.engagement.maturity import BUILDING_BLOCKS, maturity
from evalkit.errors import DataError, DesignError

ISSUE_NAMES = ["leadership and vision", "data infrastructure", "matching resources to need",
               "team-based care", "person-centred care", "population health management",
               "continuity", "flexibility", "a network of comprehensive care",
               "creating the future of care"]


def assessments() -> pd.DataFrame:
    """Two networks, two waves, two raters each.

    North, wave 1: raters give every block 2 and 3 (mean 2.5), except teams 4 and 5
    (4.5). North, wave 2: every block 3 and 4 (3.5), except data 1 and 1 (1.0).
    South, wave 1: every block 3 (both raters); wave 2: every block 4, teams 5.
    Overall: North 1 = (9 * 2.5 + 4.5) / 10 = 2.7; North 2 = (9 * 3.5 + 1) / 10 = 3.25;
    South 1 = 3.0; South 2 = (9 * 4 + 5) / 10 = 4.1.
    """
    rows = []
    for b in BUILDING_BLOCKS:
        n1 = (4, 5) if b == "team_based_care" else (2, 3)
        n2 = (1, 1) if b == "data" else (3, 4)
        s2 = (5, 5) if b == "team_based_care" else (4, 4)
        for r in range(2):
            rows += [("North", 1, b, n1[r]), ("North", 2, b, n2[r]),
                     ("South", 1, b, 3), ("South", 2, b, s2[r])]
    return pd.DataFrame(rows, columns=["network", "wave", "block", "score"])


def test_building_blocks_are_the_ten_of_the_issue():
    assert len(BUILDING_BLOCKS) == 10
    assert [v.lower() for v in BUILDING_BLOCKS.values()] == ISSUE_NAMES
    assert all(k.isidentifier() and k.islower() for k in BUILDING_BLOCKS)


def test_scores_overall_change_and_ranks_by_hand():
    res = maturity(assessments().sample(frac=1, random_state=2))
    s = res.scores.set_index(["network", "wave", "block"])
    assert s.loc[("North", 1, "team_based_care"), "score"] == 4.5
    assert s.loc[("North", 1, "team_based_care"), "raters"] == 2
    assert s.loc[("North", 1, "team_based_care"), "sd"] == pytest.approx(np.sqrt(0.5))
    assert s.loc[("North", 2, "data"), "change_from_first"] == pytest.approx(1.0 - 2.5)
    assert s.loc[("North", 1, "team_based_care"), "rank"] == 1  # 4.5 against South's 3
    assert s.loc[("North", 1, "data"), "rank"] == 2   # 2.5 against 3
    o = res.overall.set_index(["network", "wave"])
    assert o["score"].to_dict() == pytest.approx({("North", 1): 2.7, ("North", 2): 3.25,
                                                  ("South", 1): 3.0, ("South", 2): 4.1})
    assert o.loc[("North", 2), "change_from_first"] == pytest.approx(0.55)
    assert o.loc[("South", 2), "change_from_first"] == pytest.approx(1.1)
    assert o.loc[("North", 1), "rank"] == 2 and o.loc[("South", 1), "rank"] == 1
    assert o.loc[("North", 1), "strongest"] == "team_based_care"
    assert o.loc[("North", 2), "weakest"] == "data"
    assert o.loc[("South", 1), "strongest"] == "leadership"  # all tied: first block
    assert o["complete"].all() and res.waves == (1, 2)
    ch = res.change.set_index(["network", "block"])
    assert ch.loc[("South", "team_based_care"), "change"] == 2.0
    assert ch.loc[("North", "overall"), "from_score"] == pytest.approx(2.7)


def test_to_frame_is_tidy_with_overall_rows():
    t = maturity(assessments()).to_frame()
    assert len(t) == 2 * 2 * 10 + 4
    assert (t["block"] == "overall").sum() == 4
    assert list(t.columns) == ["network", "wave", "block", "label", "score", "raters", "sd",
                               "rank", "change_from_first"]


def test_labels_and_wave_order():
    a = assessments()
    a["block"] = a["block"].map(BUILDING_BLOCKS).str.upper()
    a["wave"] = a["wave"].map({1: "baseline", 2: "year one"})
    res = maturity(a, wave_order=["baseline", "year one"])
    assert set(res.scores["block"]) == set(BUILDING_BLOCKS)
    assert res.waves == ("baseline", "year one")
    b = assessments().assign(wave=lambda d: d["wave"].map({1: "before", 2: "after"}))
    assert maturity(b.iloc[::-1]).waves == ("before", "after")


def test_refuses_unknown_blocks_naming_them_and_the_valid_ones():
    a = assessments()
    a.loc[5, "block"] = "governance"
    with pytest.raises(DataError) as e:
        maturity(a, file="maturity.csv")
    assert "governance" in e.value.message and list(e.value.rows) == [7]
    assert all(b in e.value.fix for b in BUILDING_BLOCKS)
    assert e.value.file == "maturity.csv"


def test_refuses_scores_outside_the_scale():
    a = assessments()
    a.loc[[0, 3], "score"] = [6, -1]
    with pytest.raises(DataError) as e:
        maturity(a)
    assert list(e.value.rows) == [2, 5] and "1 to 5" in e.value.message
    assert "6" in e.value.message
    assert maturity(assessments(), scale=(0, 10)).scale == (0, 10)
    with pytest.raises(DesignError):
        maturity(assessments(), missing="ignore")


def test_missing_blocks_warn_or_refuse_and_say_which():
    a = assessments()
    a = a[~((a["network"] == "South") & (a["wave"] == 2) & a["block"].isin(["data",
                                                                            "continuity"]))]
    with pytest.warns(UserWarning, match="South in wave 2 lacks data, continuity"):
        res = maturity(a)
    o = res.overall.set_index(["network", "wave"])
    assert not o.loc[("South", 2), "complete"] and o.loc[("South", 2), "blocks"] == 8
    assert o.loc[("South", 2), "score"] == pytest.approx((7 * 4 + 5) / 8)
    assert res.warnings
    with pytest.raises(DataError) as e:
        maturity(a, missing="refuse")
    assert "South in wave 2 lacks data, continuity" in e.value.message


def test_refuses_blank_waves_and_networks():
    a = assessments().astype({"wave": object})
    a.loc[4, "wave"] = None
    with pytest.raises(DataError) as e:
        maturity(a)
    assert e.value.column == "wave" and list(e.value.rows) == [6]
    with pytest.raises(DataError):
        maturity(assessments().iloc[:0])
