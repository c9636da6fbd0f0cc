"""Engagement indices and the composite index, each against an independent reference.

References:

- per-unit totals, rates, periods active, time to first referral: hand-built tables whose
  answers are worked out in the comments (or computed here with numpy from the inputs);
- Wilson intervals: ``statsmodels.stats.proportion.proportion_confint(method="wilson")``;
- the pooled rate per 1,000 and its interval: statsmodels ``GLM`` (Poisson, log exposure
  offset, Pearson-scaled: ``scale="X2"``), fitted here;
- Gini: the O(n^2) definition sum_i sum_j |x_i - x_j| / (2 n^2 mean) written out with
  numpy broadcasting; the top-20% share and Lorenz curve: hand-computed cases;
- Kaplan-Meier, its median and the median's interval: statsmodels ``SurvfuncRight``
  (``surv_prob``, ``surv_prob_se``, ``quantile(0.5)``, ``quantile_ci(0.5)``);
- per-unit referral totals on the rapid-response case study: the existing
  ``evalkit.engagement.describe_engagement`` (an independent implementation);
- composite: a hand-computed example, scipy ``zscore`` (ddof=1) for the z scaling and
  scipy ``spearmanr`` for the rank correlations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.stats.proportion import proportion_confint

from evalkit.engagement import engagement, gini, kaplan_meier, lorenz_curve, top_share
from evalkit.engagement.composite import composite_index, weight_sensitivity
from evalkit.errors import DataError, DesignError
from evalkit.results import EFFECT_FIELDS

SYNTH = "data/synthetic/rapid-response/"


def small():
    """Three practices, four months from 2020-01.

    A refers 2, 0, 1, 0 (list size 2,000); B 0, 0, 3 (row for 2020-04 absent: counts as
    0; list size 4,000); C never (1,000). With window=3: A total 3, active 2, first
    referral in period 1; B total 3, active 1, first in period 3; C none (censored at 3).
    """
    ref = pd.DataFrame({"practice": ["A"] * 4 + ["B"] * 3 + ["C"] * 4,
                        "month": ["2020-01", "2020-02", "2020-03", "2020-04"] +
                                 ["2020-01", "2020-02", "2020-03"] +
                                 ["2020-01", "2020-02", "2020-03", "2020-04"],
                        "referrals": [2, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0]})
    sizes = pd.DataFrame({"practice": ["A", "B", "C"], "list_size": [2000, 4000, 1000]})
    return ref, sizes


def test_by_unit_and_by_period_on_a_hand_built_table():
    ref, sizes = small()
    res = engagement(ref, sizes=sizes, window=3)
    u = res.by_unit.set_index("practice")
    assert u["referrals"].tolist() == [3, 3, 0]
    assert u["periods_active"].tolist() == [2, 1, 0]
    # referrals per 1,000 over the 3-month window: 3 / 2 = 1.5, 3 / 4 = 0.75, 0
    assert u["per_1000"].tolist() == pytest.approx([1.5, 0.75, 0.0])
    assert u.loc["A", "time_to_first_referral"] == 1 and u.loc["B", "time_to_first_referral"] == 3
    assert np.isnan(u.loc["C", "time_to_first_referral"]) and u.loc["C", "censored"]
    assert u.loc["C", "censor_time"] == 3
    p = res.by_period
    assert len(p) == 12  # 3 units x 4 months: B's absent 2020-04 is filled
    b4 = p[(p["practice"] == "B") & (p["month"] == "2020-04")].iloc[0]
    assert b4["referrals"] == 0 and not b4["in_window"] and b4["period"] == 4
    a1 = p[(p["practice"] == "A") & (p["month"] == "2020-01")].iloc[0]
    assert a1["per_1000"] == pytest.approx(1.0) and a1["referred"]
    # share referring per month: Jan 1/3 (A), Feb 0/3, Mar 2/3 (A, B), Apr 0/3
    s = res.share_referring
    assert s["referring"].tolist() == [1, 0, 2, 0]
    lo, hi = proportion_confint(s["referring"], s["units"], method="wilson")
    np.testing.assert_allclose(s["ci_low"], lo, atol=1e-12)
    np.testing.assert_allclose(s["ci_high"], hi, atol=1e-12)


def test_effect_records_are_tidy_engagement_records():
    ref, sizes = small()
    res = engagement(ref, sizes=sizes, window=3, scheme="demo")
    e = res.to_frame()
    assert list(e.columns) == list(EFFECT_FIELDS)
    assert set(e["domain"]) == {"engagement"} and set(e["design"]) == {"engagement"}
    assert set(e["evidence_level"]) == {1} and set(e["scheme"]) == {"demo"}
    r = e.set_index("estimand")
    assert r.loc["share_referring", "scale"] == "percent"
    assert r.loc["share_referring", "estimate"] == pytest.approx(100 * 2 / 3)
    lo, hi = proportion_confint(2, 3, method="wilson")
    assert r.loc["share_referring", "ci_low"] == pytest.approx(100 * lo)
    assert r.loc["share_referring", "ci_high"] == pytest.approx(100 * hi)
    assert {"per_1000", "gini", "top20_share", "median_time_to_first_referral"} <= set(r.index)
    assert "2 of the 3" not in res.headline() and "67% of the 3 scheme units" in res.headline()
    assert "censored" in res.summary()


def test_pooled_rate_interval_equals_a_quasi_poisson_glm():
    rng = np.random.default_rng(3)
    n = 30
    size = rng.integers(2000, 15000, n)
    months = 12
    lam = size / 1000 * rng.gamma(2.0, 0.25, n)  # over-dispersed monthly rates
    counts = rng.poisson(np.repeat(lam, months))
    ref = pd.DataFrame({"practice": np.repeat([f"P{i:02d}" for i in range(n)], months),
                        "month": np.tile([f"2021-{m:02d}" for m in range(1, 13)], n),
                        "referrals": counts})
    sizes = pd.DataFrame({"practice": [f"P{i:02d}" for i in range(n)], "list_size": size})
    res = engagement(ref, sizes=sizes)
    r = res.effects.set_index("estimand").loc["per_1000"]
    y = counts.reshape(n, months).sum(1)
    exposure = size / 1000  # per 1,000 patients over the 12-month window
    fit = sm.GLM(y, np.ones((n, 1)), family=sm.families.Poisson(),
                 offset=np.log(exposure)).fit(scale="X2")
    assert r["estimate"] == pytest.approx(np.exp(fit.params[0]), rel=1e-9)
    lo, hi = np.exp(fit.conf_int()[0])
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), rel=1e-6)


def test_gini_equals_the_pairwise_definition():
    rng = np.random.default_rng(0)
    for x in (rng.poisson(3, 50).astype(float), rng.gamma(0.5, 10, 200), np.ones(7)):
        pairwise = np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size**2 * x.mean())
        assert gini(x) == pytest.approx(pairwise, abs=1e-12)
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)  # (n - 1) / n: one unit refers
    assert np.isnan(gini([0, 0, 0]))


def test_top_share_handles_fractional_units_and_ties():
    # 10 units 1..10 (total 55): the top 2 units hold 10 + 9 = 19.
    assert top_share(np.arange(1, 11)) == pytest.approx(19 / 55)
    # 12 units 1..12 (total 78): the top 2.4 units hold 12 + 11 + 0.4 * 10 = 27.
    assert top_share(np.arange(1, 13)) == pytest.approx(27 / 78)
    # Ties: whichever tied unit is 'top' the share is the same.
    a = np.array([5, 5, 5, 1, 1, 0, 0, 0, 0, 0.0])
    assert top_share(a) == pytest.approx(top_share(a[::-1])) == pytest.approx(10 / 17)
    curve = lorenz_curve([1, 3])
    assert curve.iloc[0].tolist() == [0, 0] and curve.iloc[-1].tolist() == [1, 1]


def test_concentration_frames_in_the_result():
    ref, sizes = small()
    res = engagement(ref, sizes=sizes, window=3)
    c = res.concentration.iloc[0]
    x = np.array([3.0, 3.0, 0.0])
    assert c["gini"] == pytest.approx(np.abs(x[:, None] - x).sum() / (2 * 9 * x.mean()))
    # Top 20% of 3 units = 0.6 of a unit with 3 referrals: 1.8 of 6.
    assert c["top20_share"] == pytest.approx(0.3)
    assert res.lorenz["share_of_total"].tolist() == pytest.approx([0, 0, 0.5, 1])


def censored_referrals(seed=1, n=41):
    """Monthly referrals where about 40% of units never refer in 12 months."""
    rng = np.random.default_rng(seed)
    rate = np.where(rng.random(n) < 0.4, 0.0, rng.gamma(1.0, 0.3, n))
    counts = rng.poisson(np.repeat(rate, 12))
    ref = pd.DataFrame({"practice": np.repeat([f"P{i:02d}" for i in range(n)], 12),
                        "month": np.tile(np.arange(1, 13), n), "referrals": counts})
    sizes = pd.DataFrame({"practice": [f"P{i:02d}" for i in range(n)], "list_size": 5000})
    return ref, sizes


@pytest.mark.parametrize("seed", [1, 3])  # median reached (9) and not reached
def test_time_to_first_referral_equals_statsmodels_survfunc(seed):
    ref, sizes = censored_referrals(seed)
    res = engagement(ref, sizes=sizes)
    u = res.by_unit
    assert u["censored"].mean() > 0.3
    # statsmodels takes the first time with S < 0.5; this data never has S = 0.5 exactly
    assert not np.isclose(res.time_to_first["survival"], 0.5).any()
    time = np.where(u["censored"], u["censor_time"], u["time_to_first_referral"])
    sf = SurvfuncRight(time, (~u["censored"]).astype(int).to_numpy())
    km = res.time_to_first
    np.testing.assert_allclose(km["time"], sf.surv_times)
    np.testing.assert_allclose(km["survival"], sf.surv_prob, atol=1e-12)
    finite = np.isfinite(sf.surv_prob_se) & (sf.surv_prob > 0)
    np.testing.assert_allclose(km["se"][finite], sf.surv_prob_se[finite], rtol=1e-10)
    d = res.diagnostics
    med = sf.quantile(0.5)
    assert (d["median_time_to_first"] == med) or (np.isnan(med)
                                                  and np.isnan(d["median_time_to_first"]))
    lo, hi = sf.quantile_ci(0.5)
    assert d["median_time_to_first_ci"] == pytest.approx([lo, hi], nan_ok=True)


def test_kaplan_meier_median_with_ties_equals_statsmodels():
    t = np.array([1, 2, 2, 3, 5, 5, 12, 12, 4, 7, 7, 2, 9])
    e = np.array([1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 1])
    curve, med = kaplan_meier(t, e)
    sf = SurvfuncRight(t, e)
    np.testing.assert_allclose(curve["survival"], sf.surv_prob)
    assert not np.isclose(sf.surv_prob, 0.5).any()
    assert med["median"] == sf.quantile(0.5)
    assert (med["ci_low"], med["ci_high"]) == tuple(float(v) for v in sf.quantile_ci(0.5))


def test_kaplan_meier_median_at_exactly_one_half_is_the_midpoint():
    # Where S(t) = 0.5 exactly, SAS PROC LIFETEST and R's survival take the midpoint of
    # that time and the next event time (statsmodels' strict S < 0.5 depends on rounding).
    # Without censoring this is the ordinary sample median.
    for t in ([1, 2, 3, 4], [1, 1, 2, 5, 6, 8], [2, 2, 3, 3]):
        _, med = kaplan_meier(t, np.ones(len(t)))
        assert med["median"] == np.median(t)


def test_mdt_by_profession_and_unit_with_wilson_intervals():
    ref, sizes = small()
    mdt = pd.DataFrame({"practice": ["A", "A", "B", "B", "C", "A"],
                        "month": ["2020-01", "2020-02", "2020-01", "2020-03", "2020-02",
                                  "2020-01"],
                        "profession": ["GP", "GP", "GP", "GP", "GP", "pharmacist"],
                        "invited": [1, 1, 2, 1, 1, 1], "attended": [1, 0, 1, 1, 0, 1]})
    res = engagement(ref, sizes=sizes, window=3, mdt=mdt)
    m = res.mdt.set_index("profession")
    # GP: invited 1 + 1 + 2 + 1 + 1 = 6, attended 1 + 0 + 1 + 1 + 0 = 3
    assert (m.loc["GP", "invited"], m.loc["GP", "attended"]) == (6, 3)
    lo, hi = proportion_confint(3, 6, method="wilson")
    assert (m.loc["GP", "ci_low"], m.loc["GP", "ci_high"]) == pytest.approx((lo, hi))
    u = res.by_unit.set_index("practice")
    assert u.loc["A", "mdt_attendance"] == pytest.approx(2 / 3)
    assert u.loc["B", "mdt_attendance"] == pytest.approx(2 / 3)
    bu = res.mdt_by_unit
    assert len(bu) == 4 and set(bu["profession"]) == {"GP", "pharmacist"}
    # 4 of 7 and 3 of 6 are small counts: withheld under the default disclosure rules
    r = res.effects.set_index("estimand").loc["attendance_rate"]
    assert np.isnan(r["estimate"]) and r["diagnostics"]["suppressed"]
    assert "lowest for GPs (its share is not shown: small numbers)" in res.headline()
    # and published under rules that hide none of these counts
    from evalkit.evidence.disclosure import DisclosureRules

    res = engagement(ref, sizes=sizes, window=3, mdt=mdt,
                     disclosure=DisclosureRules(low=100, high=100))
    r = res.effects.set_index("estimand").loc["attendance_rate"]
    assert r["estimate"] == pytest.approx(100 * 4 / 7)
    assert "lowest for GPs (50%)" in res.headline()


def test_care_plans_completion_by_period_and_unit():
    ref, sizes = small()
    cp = pd.DataFrame({"practice": ["A", "A", "B", "C"],
                       "month": ["2020-01", "2020-02", "2020-03", "2020-04"],
                       "eligible": [10, 10, 5, 4], "completed": [4, 6, 5, 1]})
    res = engagement(ref, sizes=sizes, window=3, care_plans=cp)
    p = res.by_period.set_index(["practice", "month"])
    assert p.loc[("A", "2020-01"), "completion_share"] == pytest.approx(0.4)
    assert np.isnan(p.loc[("A", "2020-03"), "completion_share"])
    u = res.by_unit.set_index("practice")
    assert u.loc["A", "completed"] == 10 and u.loc["A", "completion_share"] == 0.5
    assert u.loc["C", "eligible"] == 0  # its one row is outside the 3-month window
    r = res.effects.set_index("estimand").loc["completion_share"]
    assert r["estimate"] == pytest.approx(100 * 15 / 25)


def test_units_without_rows_count_as_never_referring():
    ref, sizes = small()
    sizes = pd.concat([sizes, pd.DataFrame({"practice": ["D"], "list_size": [3000]})])
    res = engagement(ref, sizes=sizes, window=3, start="2020-01", units=["A", "B", "C", "D"])
    u = res.by_unit.set_index("practice")
    assert u.loc["D", "referrals"] == 0 and u.loc["D", "censored"]
    assert res.diagnostics["share_referring"] == 0.5
    assert any("no referral rows" in w for w in res.warnings)


def test_staggered_launches_by_default_and_aligned_shares():
    ref = pd.DataFrame({"practice": ["A", "A", "A", "B", "B"],
                        "month": ["2020-01", "2020-02", "2020-03", "2020-02", "2020-03"],
                        "referrals": [0, 1, 1, 1, 0]})
    sizes = pd.DataFrame({"practice": ["A", "B"], "list_size": [1000, 1000]})
    res = engagement(ref, sizes=sizes, window=2, align="launch")
    u = res.by_unit.set_index("practice")
    assert u["launch"].tolist() == ["2020-01", "2020-02"]
    assert u["time_to_first_referral"].tolist() == [2, 1]
    s = res.share_referring.set_index("period")
    assert s.loc[1, "referring"] == 1 and s.loc[1, "units"] == 2  # B in its first month
    assert s.loc[3, "units"] == 1  # only A has a third month


def test_list_sizes_from_a_panel_by_period():
    ref, _ = small()
    panel = pd.DataFrame({"practice": np.repeat(["A", "B", "C"], 4),
                          "month": ["2020-01", "2020-02", "2020-03", "2020-04"] * 3,
                          "list_size": [1000, 2000, 2000, 2000] + [4000] * 4 + [1000] * 4})
    res = engagement(ref, sizes=panel, window=3)
    p = res.by_period.set_index(["practice", "month"])
    assert p.loc[("A", "2020-01"), "per_1000"] == pytest.approx(2.0)  # 2 / 1,000
    a = res.by_unit.set_index("practice").loc["A"]
    # 3 referrals over 5,000 patient-months in 3 months: 1000 * 3 / 5000 * 3
    assert a["per_1000"] == pytest.approx(1.8)


# --------------------------------------------------------------------------- refusals


def test_refuses_a_missing_column_with_a_suggestion():
    ref, sizes = small()
    with pytest.raises(DataError) as e:
        engagement(ref.rename(columns={"referrals": "referals"}), sizes=sizes,
                   file="referrals.csv")
    assert e.value.column == "referrals" and "referals" in e.value.fix
    assert e.value.file == "referrals.csv"


def test_refuses_negative_and_fractional_counts_naming_rows():
    ref, sizes = small()
    bad = ref.copy()
    bad.loc[2, "referrals"] = -1
    with pytest.raises(DataError) as e:
        engagement(bad, sizes=sizes)
    assert list(e.value.rows) == [4] and "negative" in e.value.message
    bad = ref.copy()
    bad["referrals"] = bad["referrals"].astype(float)
    bad.loc[0, "referrals"] = 1.5
    with pytest.raises(DataError) as e:
        engagement(bad, sizes=sizes)
    assert list(e.value.rows) == [2]


def test_refuses_duplicate_unit_periods():
    ref, sizes = small()
    with pytest.raises(DataError) as e:
        engagement(pd.concat([ref, ref.iloc[[0]]], ignore_index=True), sizes=sizes)
    assert list(e.value.rows) == [2, 13]


def test_refuses_attended_above_invited_with_the_mdt_file():
    ref, sizes = small()
    mdt = pd.DataFrame({"practice": ["A"], "month": ["2020-01"], "profession": ["GP"],
                        "invited": [1], "attended": [2]})
    with pytest.raises(DataError) as e:
        engagement(ref, sizes=sizes, mdt=mdt, file={"referrals": "r.csv", "mdt": "m.csv"})
    assert e.value.file == "m.csv" and e.value.column == "attended"
    assert list(e.value.rows) == [2]


def test_refuses_units_without_list_sizes_and_bad_options():
    ref, sizes = small()
    with pytest.raises(DataError) as e:
        engagement(ref, sizes=sizes[sizes["practice"] != "B"])
    assert "B" in e.value.message
    with pytest.raises(DataError):
        engagement(ref, sizes=sizes.assign(list_size=[2000, 0, 1000]))
    with pytest.raises(DesignError):
        engagement(ref, sizes=sizes, window=0)
    with pytest.raises(DesignError):
        engagement(ref, sizes=sizes, units=["A"])
    with pytest.raises(DesignError):
        engagement(ref, sizes=sizes, align="weekly")


# --------------------------------------------------------------------------- composite


def by_unit():
    return pd.DataFrame({"practice": ["A", "B", "C", "D"],
                         "per_1000": [1.0, 4.0, 2.0, 3.0],
                         "mdt_attendance": [0.9, 0.2, 0.5, 0.6],
                         "time_to_first_referral": [1.0, 4.0, 2.0, 2.0]})


def test_composite_by_hand():
    # minmax: per_1000 -> (x - 1) / 3 = 0, 1, 1/3, 2/3; time to first (lower is better)
    # -> (4 - x) / 3 = 1, 0, 2/3, 2/3. Weights 3 and 1 -> 0.75 and 0.25:
    # A 0.25, B 0.75, C 0.25 + 1/6 = 5/12, D 0.5 + 1/6 = 2/3: ranks 4, 1, 3, 2.
    res = composite_index(by_unit(), measures={"per_1000": 3, "time_to_first_referral": 1},
                          direction={"time_to_first_referral": "lower"}, scaling="minmax")
    s = res.scores
    assert s["composite"].tolist() == pytest.approx([0.25, 0.75, 5 / 12, 2 / 3])
    assert s["rank"].tolist() == [4, 1, 3, 2]
    assert res.weights["weight"].tolist() == pytest.approx([0.75, 0.25])
    # rank scaling: per_1000 ranks 1, 4, 2, 3 -> 0, 1, 1/3, 2/3; time to first (lower
    # better, ties averaged): -x ranks 4, 1, 2.5, 2.5 -> 1, 0, 0.5, 0.5.
    res = composite_index(by_unit(), measures={"per_1000": 1, "time_to_first_referral": 1},
                          direction={"time_to_first_referral": "lower"}, scaling="rank")
    assert res.scores["composite"].tolist() == pytest.approx([0.5, 0.5, 5 / 12, 7 / 12])
    assert res.scores["rank"].tolist() == [2, 2, 4, 1]  # A and B tie for second


def test_equal_weights_z_scaling_is_the_mean_z_score():
    df = by_unit()
    res = composite_index(df, measures={"per_1000": 1, "mdt_attendance": 1,
                                        "time_to_first_referral": 1},
                          direction={"time_to_first_referral": "lower"}, scaling="z")
    z = np.column_stack([stats.zscore(df["per_1000"], ddof=1),
                         stats.zscore(df["mdt_attendance"], ddof=1),
                         stats.zscore(-df["time_to_first_referral"], ddof=1)])
    np.testing.assert_allclose(res.scores["composite"], z.mean(1), atol=1e-12)


def test_sensitivity_with_one_measure_changes_no_rank():
    ws = weight_sensitivity(by_unit(), measures={"per_1000": 1}, n_draws=50, seed=3)
    assert (ws.ranks["rank_range"] == 0).all()
    assert (ws.scenarios["spearman"] == 1).all()
    assert (ws.scenarios["max_rank_change"] == 0).all()


def test_sensitivity_rank_ranges_and_spearman_equal_scipy():
    ws = weight_sensitivity(by_unit(), measures={"per_1000": 1, "mdt_attendance": 1},
                            n_draws=200, seed=7, scaling="z")
    base = ws.base.scores["rank"].to_numpy()
    sc = ws.scenarios
    W = sc[["w_per_1000", "w_mdt_attendance"]].to_numpy()
    np.testing.assert_allclose(W.sum(1), 1)
    assert (sc["kind"] == "one_at_a_time").sum() == 4 and (sc["kind"] == "dirichlet").sum() == 200
    df = by_unit()
    S = np.column_stack([stats.zscore(df["per_1000"], ddof=1),
                         stats.zscore(df["mdt_attendance"], ddof=1)])
    for i in (0, 3, 10, 150):
        ranks = stats.rankdata(-(S @ W[i]), method="min")
        expected = stats.spearmanr(ranks, base).statistic
        assert sc["spearman"].iloc[i] == pytest.approx(expected)
    # The two measures rank the units in opposite orders, so weights move every rank.
    assert (ws.ranks["rank_range"] >= 1).all()
    assert ws.ranks["max_rank"].max() == 4 and ws.ranks["min_rank"].min() == 1
    assert "Spearman" in ws.summary()


def test_sensitivity_draws_are_seeded():
    a = weight_sensitivity(by_unit(), measures={"per_1000": 1, "mdt_attendance": 2}, seed=5)
    b = weight_sensitivity(by_unit(), measures={"per_1000": 1, "mdt_attendance": 2}, seed=5)
    pd.testing.assert_frame_equal(a.scenarios, b.scenarios)


def test_composite_refusals():
    df = by_unit()
    with pytest.raises(DesignError):
        composite_index(df, measures={"per_1000": -1, "mdt_attendance": 1})
    with pytest.raises(DataError) as e:
        composite_index(df, measures={"per_100": 1})
    assert "per_1000" in e.value.fix
    with pytest.raises(DesignError):
        composite_index(df, measures={"per_1000": 1}, direction={"per_1000": "up"})
    with pytest.raises(DataError) as e:
        composite_index(df.assign(per_1000=[1.0, np.nan, 2.0, 3.0]), measures={"per_1000": 1})
    assert list(e.value.rows) == [3]
    with pytest.raises(DesignError):
        composite_index(df, measures={"per_1000": 1}, scaling="log")


def test_composite_accepts_an_engagement_result():
    ref, sizes = small()
    res = engagement(ref, sizes=sizes, window=3)
    comp = composite_index(res, measures={"per_1000": 1, "periods_active": 1})
    assert comp.unit == "practice" and comp.scores["rank"].tolist() == [1, 2, 3]
