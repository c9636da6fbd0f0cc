"""Engagement plots draw the results' stored frames and state the numbers.

Inputs are hand-built so each number the alt text states is known in advance (worked out
in the comments).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from evalkit.engagement import engagement
from evalkit.engagement.dose_response import dose_response, dose_response_panel
from evalkit.engagement.maturity import BUILDING_BLOCKS, maturity
from evalkit.engagement.survey import likert_summary
from evalkit.evidence.disclosure import DisclosureRules
from evalkit.evidence.narrative import format_sig
from evalkit.plots.engagement import (
    dose_response_plot,
    likert_plot,
    lorenz_plot,
    maturity_radar,
    mdt_attendance_plot,
    referral_share_plot,
)


def eng_result():
    """Five practices over two months (window 2), list size 1,000 each.

    Referrals: A 8 + 8 = 16, B 2 + 0 = 2, C 1 + 1 = 2, D 0, E 0: total 20.
    Month 1: A, B, C refer (3 of 5 = 60%); month 2: A, C (40%). 3 of 5 ever refer.
    Sorted referrals 0, 0, 2, 2, 16. Gini from pairs: |x_i - x_j| over i < j is
    4 pairs of 0 and 2 (8), 2 of 0 and 16 (32), 2 of 2 and 16 (28): 68, so
    sum_i sum_j = 136 and G = 136 / (2 * 25 * 4) = 0.68.
    Top 20% = the top 1 unit: 16 of 20 = 80%.
    MDT: GPs attend 1 of 4 (25%), nurses 3 of 4 (75%).
    """
    ref = pd.DataFrame({"practice": np.repeat(list("ABCDE"), 2),
                        "month": ["2021-01", "2021-02"] * 5,
                        "referrals": [8, 8, 2, 0, 1, 1, 0, 0, 0, 0]})
    sizes = pd.DataFrame({"practice": list("ABCDE"), "list_size": 1000})
    mdt = pd.DataFrame({"practice": list("ABCD") * 2, "month": "2021-01",
                        "profession": ["GP"] * 4 + ["nurse"] * 4, "invited": 1,
                        "attended": [1, 0, 0, 0, 1, 1, 1, 0]})
    return engagement(ref, sizes=sizes, mdt=mdt, window=2, disclosure=NO_SMALL_COUNTS)


#: Rules that hide none of these toy counts (the defaults would hide them all), so that
#: the measures' numbers can be checked by hand.
NO_SMALL_COUNTS = DisclosureRules(low=10**6, high=10**6)


def test_referral_share_plot_states_shares():
    fig, alt = referral_share_plot(eng_result())
    assert isinstance(fig, Figure)
    assert "60% in 2021-01" in alt and "40% in 2021-02" in alt
    assert "60% of units referred at least once" in alt
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 1 and len(ax.collections) == 1  # line and Wilson band
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.6, 0.4])


def test_lorenz_plot_states_gini_and_top_share():
    fig, alt = lorenz_plot(eng_result())
    assert "Gini coefficient 0.68" in alt and "made 80% of the 20 referrals" in alt
    curve = fig.axes[0].get_lines()[1]
    np.testing.assert_allclose(curve.get_ydata(), [0, 0, 0, 0.1, 0.2, 1.0])


def test_mdt_plot_sorted_with_intervals():
    fig, alt = mdt_attendance_plot(eng_result())
    assert "highest for nurse (75%" in alt and "lowest for GP (25%" in alt
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["GP", "nurse"]  # lowest at the bottom


def test_mdt_plot_needs_mdt_data():
    ref = pd.DataFrame({"practice": ["A"], "month": ["2021-01"], "referrals": [1]})
    res = engagement(ref, sizes=pd.DataFrame({"practice": ["A"], "list_size": [100]}))
    with pytest.raises(ValueError):
        mdt_attendance_plot(res)


def test_likert_plot_diverges_and_states_agreement():
    # before: 1, 2, 4, 5 (agree 50%); after: 3, 4, 4, 5 (agree 75%)
    sv = pd.DataFrame({"item": "understand_aims", "wave": ["before"] * 4 + ["after"] * 4,
                       "response": [1, 2, 4, 5, 3, 4, 4, 5]})
    fig, alt = likert_plot(likert_summary(sv, disclosure=NO_SMALL_COUNTS))
    assert "understand aims 50% before and 75% after" in alt
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 2 * 5  # two bars of five levels
    hatched = [b for b in bars if b.get_hatch()]
    assert hatched and all(b.get_x() < 0 for b in hatched if b.get_width() > 0)
    texts = {t.get_text() for t in ax.texts}
    assert {"50%", "75%", "0%"} <= texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "Strongly disagree" and legend[-1] == "Strongly agree"


def test_dose_response_plot_states_the_slope():
    rng = np.random.default_rng(0)
    eng = pd.DataFrame({"practice": list("ABCDEFGH"),
                        "per_1000": [1, 2, 3, 4, 5, 6, 7, 8.0]})
    eff = pd.DataFrame({"practice": list("ABCDEFGH"), "se": 0.1,
                        "estimate": -0.1 * eng["per_1000"] + rng.normal(0, 0.01, 8)})
    res = dose_response(eff, eng, se="se")
    fig, alt = dose_response_plot(res)
    e = res.effects.iloc[0]
    assert format_sig(e["estimate"], sign=True) in alt and "referrals per 1,000 patients" in alt
    assert "\u2212" in format_sig(e["estimate"], sign=True)  # a true minus, not a hyphen
    assert "8 units" in alt and "confounding" in alt
    assert len(fig.axes[0].collections) == 2  # points and the band
    u = np.repeat(np.arange(12), 6)
    t = np.tile(np.arange(6), 12)
    post = ((u < 8) & (t >= 3)).astype(int)
    dose = np.where(u < 8, u % 4, np.nan)
    y = rng.normal(0, 0.1, u.size) + post * (1 + 0.5 * np.nan_to_num(dose))
    pres = dose_response_panel(pd.DataFrame({"p": u, "m": t, "y": y, "post": post,
                                             "dose": dose}),
                               outcome="y", unit="p", time="m", treated_post="post",
                               dose="dose")
    fig, alt = dose_response_plot(pres)
    assert "panel model" in alt and "12 units" in alt


def test_maturity_radar_line_styles_and_alt_text():
    # North: every block 2 in wave 1; wave 2 every block 3 except teams 5 and data 1.
    rows = [("North", 1, b, 2) for b in BUILDING_BLOCKS]
    rows += [("North", 2, b, 5 if b == "team_based_care" else 1 if b == "data" else 3)
             for b in BUILDING_BLOCKS]
    rows += [("South", w, b, 4) for w in (1, 2) for b in BUILDING_BLOCKS]
    res = maturity(pd.DataFrame(rows, columns=["network", "wave", "block", "score"]))
    fig, alt = maturity_radar(res)
    ax = fig.axes[0]
    assert ax.name == "polar"
    lines = ax.get_lines()
    assert len(lines) == 4
    styles = {(ln.get_linestyle(), ln.get_marker()) for ln in lines}
    assert len(styles) == 4  # never colour alone
    # North wave 2 overall (8 * 3 + 5 + 1) / 10 = 3.0, +1.00 since wave 1
    assert "North scores 3.00 overall in wave 2" in alt
    assert "strongest on team-based care" in alt and "weakest on data infrastructure" in alt
    assert "+1.00 since wave 1" in alt and "most on team-based care (+3.00)" in alt
    fig, alt = maturity_radar(res, networks=["South"], waves=[2])
    assert len(fig.axes[0].get_lines()) == 1 and "North" not in alt
    with pytest.raises(ValueError):
        maturity_radar(res, networks=["West"])
