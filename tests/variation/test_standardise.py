"""Standardised rates: Dobson intervals for DSRs, Byar/exact intervals for SMRs and ISRs.

References, each computed independently in the test:

- Exact Poisson limits are checked by their defining tail probabilities with
  ``scipy.stats.poisson`` (lower L: P(X >= O | L) = a/2; upper U: P(X <= O | U) = a/2),
  and by the chi-square quantiles ``chi2.ppf(a/2, 2 O) / 2`` and
  ``chi2.ppf(1 - a/2, 2 O + 2) / 2`` (PHE Technical Guide: Confidence Intervals,
  Appendix 2).
- Byar's approximation (Breslow & Day 1987; PHE Technical Guide, Appendix 1) is written
  out by hand; PHE states that at 95% it is within 0.2% of the exact limits from 10
  events upward.
- Dobson et al. (1991), Stat Med 10:457-462 (PHE Technical Guide, Appendix 4):
  ``DSR + sqrt(var(DSR) / O) * (O_limit - O)`` with
  ``var(DSR) = sum(O_i (w_i / n_i)^2) / (sum w_i)^2``; the small worked examples below are
  hand arithmetic (no published worked example was available to type in).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.errors import DataError, DesignError
from evalkit.variation import StandardisedRates, poisson_limits, standardised_rates

Z975 = 1.959963984540054
AGES = ["0-44", "45-64", "65+"]


def _exact(o: float, conf: float = 0.95) -> tuple[float, float]:
    a = 1 - conf
    lo = 0.0 if o == 0 else stats.chi2.ppf(a / 2, 2 * o) / 2
    return lo, stats.chi2.ppf(1 - a / 2, 2 * o + 2) / 2


def _byar(o: float, z: float = Z975) -> tuple[float, float]:
    lo = o * (1 - 1 / (9 * o) - z / (3 * math.sqrt(o))) ** 3
    hi = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * math.sqrt(o + 1))) ** 3
    return lo, hi


def _data() -> pd.DataFrame:
    return pd.DataFrame({
        "practice": ["A"] * 3 + ["B"] * 3,
        "age_band": AGES * 2,
        "deaths": [10, 30, 60, 4, 15, 50],
        "people": [5000, 3000, 1000, 2000, 1500, 800],
    })


STANDARD = pd.DataFrame({"age_band": AGES, "people": [6000, 3000, 1000]})


# --------------------------------------------------------------------------- Poisson limits


@pytest.mark.parametrize("o", [1, 4, 9, 10, 37, 250])
@pytest.mark.parametrize("conf", [0.95, 0.998])
def test_exact_limits_have_the_defining_tail_probabilities(o, conf):
    lo, hi = poisson_limits(o, conf, method="exact")
    a = 1 - conf
    assert stats.poisson.sf(o - 1, lo[0]) == pytest.approx(a / 2, rel=1e-8)  # P(X >= o | lo)
    assert stats.poisson.cdf(o, hi[0]) == pytest.approx(a / 2, rel=1e-8)     # P(X <= o | hi)
    assert (lo[0], hi[0]) == pytest.approx(_exact(o, conf), rel=1e-12)


def test_zero_events_have_lower_limit_zero_and_the_exact_upper_limit():
    lo, hi = poisson_limits([0], 0.95, method="byar")
    assert lo[0] == 0
    lo, hi = poisson_limits([0], 0.95, method="exact")
    assert lo[0] == 0 and hi[0] == pytest.approx(-math.log(0.025), rel=1e-10)  # exp(-U) = a/2


def test_byar_formula_and_its_agreement_with_exact_limits():
    counts = np.arange(10, 1001)
    lo, hi = poisson_limits(counts, 0.95, method="byar")
    for o in (10, 65, 1000):
        assert (lo[o - 10], hi[o - 10]) == pytest.approx(_byar(o), rel=1e-12)
    ex_lo = np.array([_exact(o)[0] for o in counts])
    ex_hi = np.array([_exact(o)[1] for o in counts])
    # PHE Technical Guide: at 95%, Byar's method is within 0.2% of exact from 10 events
    assert np.max(np.abs(lo / ex_lo - 1)) < 0.002
    assert np.max(np.abs(hi / ex_hi - 1)) < 0.002


def test_phe_rule_switches_from_exact_to_byar_at_ten_events():
    lo, hi = poisson_limits([9, 10], 0.95, method="phe")
    assert (lo[0], hi[0]) == pytest.approx(_exact(9), rel=1e-12)
    assert (lo[1], hi[1]) == pytest.approx(_byar(10), rel=1e-12)


# --------------------------------------------------------------------------- direct


def test_direct_rates_and_dobson_intervals_by_hand():
    res = standardised_rates(_data(), events="deaths", population="people", group="practice",
                             strata="age_band", standard=STANDARD)
    assert isinstance(res, StandardisedRates) and res.method == "direct"
    rates = res.rates.set_index("group")
    # A: rates 10/5000, 30/3000, 60/1000 weighted by 6000, 3000, 1000 (total 10,000):
    #    (12 + 30 + 60) / 10000 = 0.0102, i.e. 1020 per 100,000.
    #    var = (10 * (6000/5000)^2 + 30 * 1^2 + 60 * 1^2) / 10000^2 = 104.4 / 1e8.
    # B: (6000 * 0.002 + 3000 * 0.01 + 1000 * 0.0625) / 10000 = 104.5 / 10000.
    #    var = (4 * 3^2 + 15 * 2^2 + 50 * 1.25^2) / 1e8 = 174.125 / 1e8.
    for g, dsr, var, o in (("A", 0.0102, 104.4e-8, 100), ("B", 0.01045, 174.125e-8, 69)):
        row = rates.loc[g]
        assert row["rate"] == pytest.approx(dsr * 1e5, rel=1e-12)
        assert row["events"] == o
        o_lo, o_hi = _exact(o)
        assert row["ci_low"] == pytest.approx((dsr + math.sqrt(var / o) * (o_lo - o)) * 1e5,
                                              rel=1e-10)
        assert row["ci_high"] == pytest.approx((dsr + math.sqrt(var / o) * (o_hi - o)) * 1e5,
                                               rel=1e-10)
    assert rates.loc["A", "crude_rate"] == pytest.approx(100 / 9000 * 1e5)
    assert (res.rates["ci_method"] == "dobson_exact").all()


def test_direct_with_byar_limits_as_phe_dsr():
    res = standardised_rates(_data(), events="deaths", population="people", group="practice",
                             strata="age_band", standard=STANDARD, count_limits="byar",
                             multiplier=1000, conf_level=0.95)
    row = res.rates.set_index("group").loc["A"]
    o_lo, o_hi = _byar(100)
    sd = math.sqrt(104.4e-8 / 100)
    assert row["ci_low"] == pytest.approx((0.0102 + sd * (o_lo - 100)) * 1000, rel=1e-10)
    assert row["ci_high"] == pytest.approx((0.0102 + sd * (o_hi - 100)) * 1000, rel=1e-10)


def test_direct_rate_is_the_weighted_mean_of_stratum_rates():
    rng = np.random.default_rng(7)
    strata = [f"{a}-{s}" for a in range(8) for s in "FM"]
    groups = [f"G{i}" for i in range(12)]
    df = pd.DataFrame([(g, s) for g in groups for s in strata], columns=["pcn", "stratum"])
    df["pop"] = rng.integers(200, 5000, len(df))
    df["events"] = rng.poisson(df["pop"] * 0.01)
    std = pd.DataFrame({"stratum": strata, "pop": rng.integers(1000, 9000, len(strata))})
    res = standardised_rates(df, events="events", population="pop", group="pcn",
                             strata="stratum", standard=std, multiplier=1)
    w = df["stratum"].map(std.set_index("stratum")["pop"])
    r = df["events"] / df["pop"]
    expected = (w * r).groupby(df["pcn"]).sum() / w.groupby(df["pcn"]).sum()
    got = res.rates.set_index("group")["rate"]
    assert got.loc[groups].to_numpy() == pytest.approx(expected.loc[groups].to_numpy(),
                                                       rel=1e-12)


def test_default_direct_standard_is_the_pooled_population():
    res = standardised_rates(_data(), events="deaths", population="people", group="practice",
                             strata="age_band")
    assert res.standard_source == "pooled"
    assert res.standard.set_index("age_band")["weight"].loc[AGES].tolist() == [7000, 4500,
                                                                                1800]
    # A with pooled weights: (7000 * 0.002 + 4500 * 0.01 + 1800 * 0.06) / 13300
    a = res.rates.set_index("group").loc["A", "rate"]
    assert a == pytest.approx((14 + 45 + 108) / 13300 * 1e5, rel=1e-12)


def test_two_strata_columns_and_summed_duplicate_rows():
    df = pd.DataFrame({"g": ["A"] * 4 + ["A"], "age": ["y", "y", "o", "o", "o"],
                       "sex": ["F", "M", "F", "M", "M"], "x": [1, 2, 3, 4, 6],
                       "n": [100, 100, 50, 50, 50]})
    std = pd.DataFrame({"age": ["y", "y", "o", "o"], "sex": ["F", "M", "F", "M"],
                        "standard_population": [1, 1, 1, 1]})
    res = standardised_rates(df, events="x", population="n", group="g", strata=["age", "sex"],
                             standard=std, multiplier=1)
    # stratum (o, M) sums to 10 / 100; equal weights: mean of 0.01, 0.02, 0.06, 0.1
    assert res.rates["rate"].iloc[0] == pytest.approx((0.01 + 0.02 + 0.06 + 0.10) / 4)
    assert any("summed" in w for w in res.warnings)


def test_dobson_interval_covers_the_true_dsr_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    n_groups, weights = 3000, np.array([4000.0, 3000, 2000, 1000])
    true_rates = np.array([0.0005, 0.002, 0.006, 0.02])
    pops = rng.integers(500, 3000, size=(n_groups, 4))
    counts = rng.poisson(pops * true_rates)
    df = pd.DataFrame({"g": np.repeat(np.arange(n_groups), 4), "s": np.tile(range(4), n_groups),
                       "x": counts.ravel(), "n": pops.ravel()})
    std = pd.DataFrame({"s": range(4), "n": weights})
    res = standardised_rates(df, events="x", population="n", group="g", strata="s",
                             standard=std, multiplier=1)
    truth = float((weights * true_rates).sum() / weights.sum())
    r = res.rates
    covered = ((r["ci_low"] <= truth) & (truth <= r["ci_high"])).mean()
    assert 0.93 < covered < 0.97


def test_few_events_warn_as_phe_would_not_publish():
    df = _data()
    df.loc[df["practice"] == "B", "deaths"] = [0, 1, 2]
    res = standardised_rates(df, events="deaths", population="people", group="practice",
                             strata="age_band", standard=STANDARD)
    assert any("fewer than 10 events" in w for w in res.warnings)
    assert "Warnings" in res.summary()


# --------------------------------------------------------------------------- indirect

REFERENCE = pd.DataFrame({"age_band": AGES, "deaths": [100, 300, 500],
                          "people": [50000, 30000, 10000]})


def test_indirect_ratio_byar_limits_and_rate_by_hand():
    df = pd.DataFrame({"practice": ["A"] * 3 + ["C"] * 3, "age_band": AGES * 2,
                       "deaths": [10, 30, 60, 1, 2, 3], "people": [5000, 3000, 1000, 1000,
                                                                   500, 100]})
    res = standardised_rates(df, events="deaths", population="people", group="practice",
                             strata="age_band", method="indirect", standard=REFERENCE)
    rates = res.rates.set_index("group")
    # reference rates 0.002, 0.01, 0.05; crude reference rate 900 / 90000 = 0.01
    # A: E = 5000*0.002 + 3000*0.01 + 1000*0.05 = 10 + 30 + 50 = 90, O = 100 (Byar)
    a = rates.loc["A"]
    assert (a["observed"], a["expected"]) == pytest.approx((100, 90), rel=1e-12)
    assert a["ratio"] == pytest.approx(100 / 90, rel=1e-12)
    lo, hi = _byar(100)
    assert (a["ratio_ci_low"], a["ratio_ci_high"]) == pytest.approx((lo / 90, hi / 90),
                                                                    rel=1e-12)
    assert a["reference_rate"] == pytest.approx(1000.0)
    assert a["rate"] == pytest.approx(100 / 90 * 0.01 * 1e5, rel=1e-12)
    assert a["ci_low"] == pytest.approx(lo / 90 * 0.01 * 1e5, rel=1e-12)
    assert a["ci_method"] == "byar"
    # C: E = 2 + 5 + 5 = 12, O = 6 < 10, so exact limits (PHE)
    c = rates.loc["C"]
    assert c["expected"] == pytest.approx(12, rel=1e-12) and c["ratio"] == pytest.approx(0.5)
    lo, hi = _exact(6)
    assert (c["ratio_ci_low"], c["ratio_ci_high"]) == pytest.approx((lo / 12, hi / 12),
                                                                    rel=1e-12)
    assert c["ci_method"] == "exact"
    # Byar approximates the exact limits closely at 100 events
    ex_lo, ex_hi = _exact(100)
    assert a["ratio_ci_low"] == pytest.approx(ex_lo / 90, rel=0.002)
    assert a["ratio_ci_high"] == pytest.approx(ex_hi / 90, rel=0.002)


def test_indirect_default_standard_is_the_pooled_rates():
    res = standardised_rates(_data(), events="deaths", population="people", group="practice",
                             strata="age_band", method="indirect")
    # pooled rates: 14/7000, 45/4500, 110/1800; A's expected 10 + 30 + 61.11
    expected_a = 5000 * 14 / 7000 + 3000 * 45 / 4500 + 1000 * 110 / 1800
    a = res.rates.set_index("group").loc["A"]
    assert a["expected"] == pytest.approx(expected_a, rel=1e-12)
    # with the pooled standard the observed and expected totals agree
    assert res.rates["observed"].sum() == pytest.approx(res.rates["expected"].sum())


def test_indirect_with_published_rates():
    std = pd.DataFrame({"age_band": AGES, "rate": [200.0, 1000.0, 5000.0],
                        "people": [50000, 30000, 10000]})  # per 100,000
    res = standardised_rates(_data(), events="deaths", population="people", group="practice",
                             strata="age_band", method="indirect", standard=std)
    a = res.rates.set_index("group").loc["A"]
    assert a["expected"] == pytest.approx(90, rel=1e-12)
    assert a["rate"] == pytest.approx(100 / 90 * 1000, rel=1e-12)  # crude 1,000 per 100,000
    no_pop = standardised_rates(_data(), events="deaths", population="people",
                                group="practice", strata="age_band", method="indirect",
                                standard=std.drop(columns="people"))
    assert no_pop.rates["ratio"].iloc[0] == pytest.approx(100 / 90)
    assert np.isnan(no_pop.rates["rate"]).all()
    assert no_pop.warnings


def test_result_object():
    res = standardised_rates(_data(), events="deaths", population="people", group="practice",
                             strata="age_band")
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.method = "indirect"
    frame = res.to_frame()
    frame.loc[0, "rate"] = -1
    assert res.rates.loc[0, "rate"] != -1
    assert set(res.plot_data()) == {"rates", "strata"}
    assert "Directly standardised rates per 100,000" in res.summary()


# --------------------------------------------------------------------------- refusals


def _refuses(exc, df, **kw):
    opts = dict(events="deaths", population="people", group="practice", strata="age_band",
                file="deaths.csv")
    opts.update(kw)
    with pytest.raises(exc) as info:
        standardised_rates(df, **opts)
    return info.value


@pytest.mark.parametrize("column", ["deaths", "people"])
def test_refuses_negative_counts(column):
    df = _data()
    df.loc[4, column] = -3
    err = _refuses(DataError, df)
    assert err.column == column and list(err.rows) == [6] and err.file == "deaths.csv"


def test_refuses_more_events_than_people():
    df = _data()
    df.loc[1, "deaths"] = 3001
    err = _refuses(DataError, df)
    assert err.column == "deaths" and list(err.rows) == [3]


@pytest.mark.parametrize("method", ["direct", "indirect"])
def test_refuses_zero_standard_population(method):
    std = STANDARD.copy() if method == "direct" else REFERENCE.copy()
    std.loc[1, "people"] = 0
    if method == "indirect":
        std.loc[1, "deaths"] = 0
    err = _refuses(DataError, _data(), standard=std, method=method)
    assert "zero standard population" in err.message and list(err.rows) == [3]


@pytest.mark.parametrize("method", ["direct", "indirect"])
def test_refuses_strata_missing_from_the_standard(method):
    std = (STANDARD if method == "direct" else REFERENCE).iloc[:2]
    err = _refuses(DataError, _data(), standard=std, method=method)
    assert "65+" in err.message and err.column == "age_band"
    assert list(err.rows) == [4, 7]


def test_refuses_a_group_without_a_stratum_for_direct_standardisation():
    df = _data().drop(index=5)
    err = _refuses(DataError, df, standard=STANDARD)
    assert "B" in err.message and "65+" in err.message
    zero = _data()
    zero.loc[2, ["deaths", "people"]] = 0
    assert list(_refuses(DataError, zero, standard=STANDARD).rows) == [4]


@pytest.mark.parametrize("column", ["practice", "age_band", "deaths", "people"])
def test_refuses_missing_values(column):
    df = _data()
    df[column] = df[column].astype(object)
    df.loc[3, column] = None
    err = _refuses(DataError, df)
    assert err.column == column and list(err.rows) == [5]


def test_refuses_missing_columns_and_bad_options():
    err = _refuses(DataError, _data(), strata=["age_band", "sex"])
    assert err.column == "sex"
    _refuses(DesignError, _data(), method="crude")
    _refuses(DesignError, _data(), strata=["age_band", "practice"])
    _refuses(DesignError, _data(), conf_level=95)
    _refuses(DesignError, _data(), count_limits="wilson")
    _refuses(DesignError, _data(), multiplier=-1)
    _refuses(DataError, _data(), standard=STANDARD.rename(columns={"people": "pop"}))
    dup = pd.concat([STANDARD, STANDARD.iloc[:1]], ignore_index=True)
    assert list(_refuses(DataError, _data(), standard=dup).rows) == [2, 5]
