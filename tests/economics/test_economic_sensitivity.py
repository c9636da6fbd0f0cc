"""PSA distributions, one-way sensitivity, net cost, ROI and break-even.

References checked
------------------
- Method-of-moments PSA distributions (Briggs, Claxton and Sculpher 2006, ch. 4): the
  draws' mean and SD against the requested mean and SE (Monte Carlo tolerance stated),
  and the parameters against scipy's own moments of the fitted distribution.
- One-way analysis and net cost / ROI / break-even against hand-computed values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.economics import cost_effectiveness as ce
from evalkit.economics.net_cost import break_even_year, net_cost
from evalkit.economics.sensitivity import draw_parameters, one_way, psa
from evalkit.errors import DesignError

N = 200_000


@pytest.mark.parametrize("spec", [
    {"dist": "gamma", "mean": 3000.0, "se": 450.0},
    {"dist": "beta", "mean": 0.15, "se": 0.03},
    {"dist": "lognormal", "mean": 0.85, "se": 0.07},
    {"dist": "normal", "mean": -0.01, "se": 0.004},
])
def test_moment_matched_draws_have_the_requested_mean_and_se(spec):
    x = draw_parameters({"p": spec}, N, seed=4)["p"].to_numpy()
    # MC SE of the mean is se / sqrt(N); of the SD about se / sqrt(2N) for these shapes
    assert x.mean() == pytest.approx(spec["mean"], abs=5 * spec["se"] / np.sqrt(N))
    assert x.std(ddof=1) == pytest.approx(spec["se"], rel=0.02)


def test_moment_formulas_agree_with_scipy_distributions():
    m, se = 0.15, 0.03
    a = m * (m * (1 - m) / se ** 2 - 1)
    b = a * (1 - m) / m
    mean, var = stats.beta(a, b).stats(moments="mv")
    assert (float(mean), float(np.sqrt(var))) == pytest.approx((m, se), rel=1e-12)
    shape, scale = 3000.0 ** 2 / 450.0 ** 2, 450.0 ** 2 / 3000.0
    mean, var = stats.gamma(shape, scale=scale).stats(moments="mv")
    assert (float(mean), float(np.sqrt(var))) == pytest.approx((3000.0, 450.0), rel=1e-12)
    s2 = np.log1p(0.07 ** 2 / 0.85 ** 2)
    mean, var = stats.lognorm(np.sqrt(s2), scale=np.exp(np.log(0.85) - s2 / 2)).stats("mv")
    assert (float(mean), float(np.sqrt(var))) == pytest.approx((0.85, 0.07), rel=1e-12)


def test_lognormal_from_a_ratio_interval():
    x = draw_parameters({"rr": {"dist": "lognormal", "mean": 0.8, "ci": [0.64, 1.0]}},
                        N, seed=2)["rr"].to_numpy()
    lo, hi = np.quantile(x, [0.025, 0.975])
    width = np.log(1.0) - np.log(0.64)
    assert np.log(hi) - np.log(lo) == pytest.approx(width, rel=0.02)


def test_psa_runs_a_vectorised_model_and_feeds_ceac():
    def model(admissions, rr, unit_cost, scheme_cost, qaly_per_admission):
        avoided = admissions * (1 - rr)
        return {"usual care": (admissions * unit_cost, 0.0),
                "scheme": (scheme_cost + admissions * rr * unit_cost,
                           avoided * qaly_per_admission)}

    params = {"admissions": 0.4, "rr": {"dist": "lognormal", "mean": 0.85, "se": 0.05},
              "unit_cost": {"dist": "gamma", "mean": 3000, "se": 300},
              "scheme_cost": 250.0,
              "qaly_per_admission": {"dist": "beta", "mean": 0.05, "se": 0.01}}
    draws = psa(model, params, n=2000, seed=9)
    assert len(draws) == 4000
    assert set(draws["strategy"]) == {"usual care", "scheme"}
    p = draws.attrs["parameters"]
    sch = draws[draws["strategy"] == "scheme"]["cost"].to_numpy()
    assert np.allclose(sch, 250 + 0.4 * p["rr"] * p["unit_cost"])
    curve = ce.ceac(draws)
    assert curve.groupby("wtp")["probability"].sum().round(12).eq(1).all()
    again = psa(model, params, n=2000, seed=9)
    pd.testing.assert_frame_equal(draws, again)  # seeded: identical


def test_one_way_orders_by_swing_hand_values():
    def model(scheme_cost, admissions_avoided, unit_cost):
        return scheme_cost - admissions_avoided * unit_cost

    base = {"scheme_cost": 100_000, "admissions_avoided": 30, "unit_cost": 3000}
    out = one_way(model, base, {"unit_cost": (2000, 4000), "scheme_cost": (90_000, 110_000),
                                "admissions_avoided": (10, 50)})
    assert out["parameter"].tolist() == ["admissions_avoided", "unit_cost", "scheme_cost"]
    row = out.set_index("parameter").loc["admissions_avoided"]
    assert (row["output_low"], row["output_high"], row["base_output"]) == (70_000, -50_000,
                                                                           10_000)
    assert row["swing"] == 120_000
    with pytest.raises(DesignError, match="no base value"):
        one_way(model, base, {"rate": (0, 1)})


def test_net_cost_roi_and_break_even_hand_values():
    r = net_cost(100_000, 60_000, unit_cost=2_500, activity_avoided=24,
                 activity="emergency admissions")
    assert r["net_cost"] == 40_000
    assert r["roi"] == pytest.approx(-0.4)
    assert r["benefit_cost_ratio"] == pytest.approx(0.6)
    assert r["break_even_activity"] == 40
    assert r["activity_avoided"] == 24
    assert any("no draws" in w for w in r.warnings)
    rng = np.random.default_rng(1)
    savings = rng.normal(120_000, 30_000, 5000)
    r = net_cost(100_000, savings)
    assert r.probability_saving == pytest.approx(np.mean(savings > 100_000))
    lo, hi = r.to_frame().set_index("quantity").loc["net_cost", ["ci_low", "ci_high"]]
    assert (lo, hi) == pytest.approx(tuple(np.quantile(100_000 - savings, [0.025, 0.975])))
    # a full-sample point estimate beside its replicates: the estimate is the one given,
    # the interval still comes from the draws
    r = net_cost(100_000, savings, savings_estimate=110_000, unit_cost=2_500,
                 activity_avoided=savings / 2_500, activity_estimate=44.0)
    t = r.to_frame().set_index("quantity")
    assert t.loc["net_cost", "estimate"] == -10_000
    assert t.loc["roi", "estimate"] == pytest.approx(0.1)
    assert t.loc["benefit_cost_ratio", "estimate"] == pytest.approx(1.1)
    assert t.loc["activity_avoided", "estimate"] == 44.0
    assert tuple(t.loc["net_cost", ["ci_low", "ci_high"]]) == pytest.approx((lo, hi))


def test_break_even_year_discounted_by_hand():
    # costs 100 then 20 a year, savings 50 a year from year 1, at 3.5% (start of year):
    # cumulative net: -100, -100 + 30/1.035 = -71.01, + 30/1.035^2 = -43.00,
    # + 30/1.035^3 = -15.94, + 30/1.035^4 = 10.20 -> year 4
    assert break_even_year([100, 20, 20, 20, 20], [0, 50, 50, 50, 50]) == 4.0
    assert np.isnan(break_even_year([100, 20], [0, 50]))
    with pytest.raises(DesignError, match="cover 2 years"):
        break_even_year([1, 2], [1, 2, 3])
