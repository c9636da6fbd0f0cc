"""Funnel plots: exact limits, flags, overdispersion, coverage and refusals.

References used here, each computed independently in the test:

- Exact limits: Spiegelhalter (2005), Stat Med 24:1185-1202, Appendix A.1.1. The
  quantile ``r_p`` is found by scanning the binomial / Poisson CDF from 0 (not with
  ``ppf``), then ``alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1))`` and the limit is
  ``(r_p - alpha) / n``, set to 0 if negative.
- Large denominators: the normal approximation ``theta +/- z sqrt(theta (1 - theta) / n)``
  (proportions) and ``theta +/- z sqrt(theta / n)`` (rates).
- Overdispersion: Spiegelhalter (2005), Qual Saf Health Care 14:347-351, and the "CQC"
  method of FunnelPlotR: z on the arcsine-square-root (proportions) or square-root
  (rates) scale, Winsorised at the 10th/90th percentiles with linear interpolation (R's
  default ``quantile``), ``phi = mean(z_w^2)``,
  ``tau2 = (I phi - (I - 1)) / (sum w - sum w^2 / sum w)``, written out by hand below.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.errors import DataError, DesignError
from evalkit.variation import FunnelResult, funnel

Z975, Z999 = 1.959963984540054, 3.090232306167813  # normal quantiles (standard tables)


def _reference_limit(n: float, theta: float, p: float, kind: str) -> float:
    """Spiegelhalter's interpolated limit, with r_p found by scanning the CDF."""
    if kind == "proportion":
        support = np.arange(int(n) + 1)
        cdf = stats.binom.cdf(support, int(n), theta)
    else:
        mean = theta * n
        support = np.arange(int(mean + 20 * math.sqrt(mean) + 50))
        cdf = stats.poisson.cdf(support, mean)
    r_p = int(np.argmax(cdf >= p))  # the first r with F(r) >= p
    f_r = cdf[r_p]
    f_below = cdf[r_p - 1] if r_p > 0 else 0.0
    alpha = (f_r - p) / (f_r - f_below)
    return max((r_p - alpha) / n, 0.0)


def _frame(nums, dens, names=None) -> pd.DataFrame:
    names = names or [f"U{i}" for i in range(len(nums))]
    return pd.DataFrame({"unit": names, "x": nums, "n": dens})


# --------------------------------------------------------------------------- exact limits


@pytest.mark.parametrize("theta", [0.03, 0.12, 0.5])
def test_binomial_limits_match_spiegelhalter_interpolation(theta):
    dens = [5, 20, 57, 100, 333, 1000]
    res = funnel(_frame([1] * len(dens), dens), numerator="x", denominator="n", unit="unit",
                 target=theta)
    for row in res.units.itertuples():
        n = row.denominator
        assert row.lower_95 == pytest.approx(_reference_limit(n, theta, 0.025, "proportion"),
                                             abs=1e-12)
        assert row.upper_95 == pytest.approx(_reference_limit(n, theta, 0.975, "proportion"),
                                             abs=1e-12)
        assert row.lower_998 == pytest.approx(_reference_limit(n, theta, 0.001, "proportion"),
                                              abs=1e-12)
        assert row.upper_998 == pytest.approx(_reference_limit(n, theta, 0.999, "proportion"),
                                              abs=1e-12)


def test_poisson_limits_match_spiegelhalter_interpolation_with_multiplier():
    theta = 0.008  # 8 per 1,000
    dens = [120.5, 900, 2000, 12345, 40000]  # person-years need not be whole
    res = funnel(_frame([1] * len(dens), dens), numerator="x", denominator="n", unit="unit",
                 kind="rate", multiplier=1000, target=8)
    assert res.target == pytest.approx(8)
    for row in res.units.itertuples():
        n = row.denominator
        for col, p in (("lower_95", 0.025), ("upper_95", 0.975), ("lower_998", 0.001),
                       ("upper_998", 0.999)):
            assert getattr(row, col) == pytest.approx(
                1000 * _reference_limit(n, theta, p, "rate"), abs=1e-9)
        assert row.expected == pytest.approx(theta * n)


def test_standardised_ratio_funnel_is_a_rate_funnel_on_expected_counts():
    # O/E with target 1: the limits are Poisson(E) count limits divided by E.
    expected = [4.2, 17.5, 60.0]
    res = funnel(_frame([3, 25, 48], expected), numerator="x", denominator="n", unit="unit",
                 kind="rate", target=1)
    for row in res.units.itertuples():
        assert row.upper_95 == pytest.approx(_reference_limit(row.denominator, 1.0, 0.975,
                                                              "rate"), abs=1e-12)
        assert row.value == pytest.approx(row.numerator / row.denominator)


def test_curve_limits_use_the_same_formula_on_the_grid():
    res = funnel(_frame([10, 30], [80, 400]), numerator="x", denominator="n", unit="unit")
    theta = 40 / 480
    curve = res.curve
    assert list(curve.columns) == ["denominator", "lower_95", "upper_95", "lower_998",
                                   "upper_998", "target"]
    assert curve["denominator"].min() <= 80 and curve["denominator"].max() >= 400
    assert curve["target"].to_numpy() == pytest.approx(np.full(len(curve), theta))
    for row in curve.iloc[::37].itertuples():
        assert row.upper_998 == pytest.approx(
            _reference_limit(row.denominator, theta, 0.999, "proportion"), abs=1e-12)


@pytest.mark.parametrize("kind", ["proportion", "rate"])
def test_limits_approach_the_normal_approximation_for_large_denominators(kind):
    theta = 0.2
    dens = [1_000, 1_000_000]
    res = funnel(_frame([1, 1], dens), numerator="x", denominator="n", unit="unit", kind=kind,
                 target=theta)
    gaps = []
    for row in res.units.itertuples():
        var = theta * (1 - theta) if kind == "proportion" else theta
        se = math.sqrt(var / row.denominator)
        gap = max(abs(row.upper_95 - (theta + Z975 * se)), abs(row.lower_95 - (theta - Z975 * se)),
                  abs(row.upper_998 - (theta + Z999 * se)),
                  abs(row.lower_998 - (theta - Z999 * se)))
        gaps.append(gap / se)  # in standard errors
    assert gaps[1] < 0.01  # a million at risk: within 1% of a standard error
    assert gaps[1] < gaps[0]  # and closer than with a thousand


def test_lower_limit_is_zero_not_negative_for_tiny_denominators():
    res = funnel(_frame([0, 1], [3, 4]), numerator="x", denominator="n", unit="unit",
                 target=0.05)
    assert (res.units["lower_998"] == 0).all()
    assert (res.curve[["lower_95", "lower_998"]] >= 0).all().all()


# --------------------------------------------------------------------------- flags


def test_outliers_flagged_in_a_hand_built_example():
    # theta = 0.1 and n = 1000: se = sqrt(0.09 / 1000) = 0.009487, so the limits are close
    # to 0.1 +/- 1.96 se = (0.0814, 0.1186) and 0.1 +/- 3.09 se = (0.0707, 0.1293).
    # 0.125 lies between the upper limits, 0.150 above both; 0.075 between the lower ones,
    # 0.050 below both; 0.100 is on target.
    df = _frame([100, 125, 150, 75, 50], [1000] * 5, list("ABCDE"))
    res = funnel(df, numerator="x", denominator="n", unit="unit", target=0.1)
    assert res.units["flag"].tolist() == ["within", "above 95%", "above 99.8%", "below 95%",
                                          "below 99.8%"]
    assert res.counts() == {"above 99.8%": 1, "above 95%": 1, "within": 1, "below 95%": 1,
                            "below 99.8%": 1}
    assert res.outliers()["unit"].tolist() == ["B", "C", "D", "E"]
    assert res.outliers(0.998)["unit"].tolist() == ["C", "E"]
    text = res.summary()
    assert "above 99.8%: 1 (C)" in text and "below 95%: 1 (D)" in text
    # the same units in percentages, with the target given in percent
    pct = funnel(df, numerator="x", denominator="n", unit="unit", target=10, multiplier=100)
    assert pct.units["flag"].tolist() == res.units["flag"].tolist()
    assert pct.units["value"].tolist() == pytest.approx([10, 12.5, 15, 7.5, 5])
    assert pct.units["upper_95"].to_numpy() == pytest.approx(
        100 * res.units["upper_95"].to_numpy())


def test_default_target_is_the_pooled_proportion_and_rows_of_a_unit_are_summed():
    df = pd.DataFrame({"unit": ["A", "A", "B"], "x": [10, 5, 30], "n": [100, 50, 150]})
    res = funnel(df, numerator="x", denominator="n", unit="unit")
    assert res.target == pytest.approx(45 / 300)
    assert res.target_source == "pooled"
    a = res.units.set_index("unit").loc["A"]
    assert (a["numerator"], a["denominator"]) == (15, 150)
    assert any("summed" in w for w in res.warnings)


def test_z_scores_on_the_variance_stabilising_scale():
    df = _frame([12, 40], [100, 250])
    prop = funnel(df, numerator="x", denominator="n", unit="unit", target=0.1)
    for row in prop.units.itertuples():
        s = 1 / (2 * math.sqrt(row.denominator))
        z = (math.asin(math.sqrt(row.numerator / row.denominator)) - math.asin(math.sqrt(0.1))) / s
        assert row.z == pytest.approx(z, rel=1e-12)
    rate = funnel(df, numerator="x", denominator="n", unit="unit", kind="rate", target=0.1)
    for row in rate.units.itertuples():
        expected = 0.1 * row.denominator
        assert row.z == pytest.approx(2 * (math.sqrt(row.numerator) - math.sqrt(expected)),
                                      rel=1e-12)


# --------------------------------------------------------------------------- overdispersion


def test_overdispersion_phi_and_tau2_on_a_hand_computed_example():
    # Five units of 100 against theta = 0.25, so asin(sqrt(theta)) = pi/6 and s = 1/20.
    nums = [10, 20, 25, 30, 45]
    res = funnel(_frame(nums, [100] * 5), numerator="x", denominator="n", unit="unit",
                 target=0.25, overdispersion=True)
    z = sorted((math.asin(math.sqrt(x / 100)) - math.pi / 6) / 0.05 for x in nums)
    # 10th and 90th percentiles of five values: positions 0.4 and 3.6 of the sorted list
    lo = z[0] + 0.4 * (z[1] - z[0])
    hi = z[3] + 0.6 * (z[4] - z[3])
    winsorised = [min(max(v, lo), hi) for v in z]
    phi = sum(v * v for v in winsorised) / 5
    assert res.phi == pytest.approx(phi, rel=1e-12)
    assert 5 * phi > 4  # so the additive model applies
    # w = 1 / s^2 = 400 for every unit: sum w = 2000, sum w^2 / sum w = 400
    tau2 = (5 * phi - 4) / (2000 - 400)
    assert res.tau2 == pytest.approx(tau2, rel=1e-12)
    assert res.adjusted
    sd = math.sqrt(0.05**2 + tau2)
    row = res.units.iloc[0]
    assert row["upper_95"] == pytest.approx(math.sin(math.pi / 6 + Z975 * sd) ** 2, rel=1e-9)
    assert row["lower_998"] == pytest.approx(math.sin(math.pi / 6 - Z999 * sd) ** 2, rel=1e-9)
    z_first = (math.asin(math.sqrt(0.10)) - math.pi / 6) / sd
    assert row["z_adjusted"] == pytest.approx(z_first, rel=1e-12)
    assert "inflated for overdispersion" in res.summary()


def test_overdispersion_tau2_for_rates_with_unequal_weights():
    nums, dens = [5, 30, 22, 60, 11, 80], [1000, 2000, 3000, 4000, 5000, 6000]
    res = funnel(_frame(nums, dens), numerator="x", denominator="n", unit="unit", kind="rate",
                 target=0.01, overdispersion=True)
    z = np.array([2 * (math.sqrt(x) - math.sqrt(0.01 * d))
                  for x, d in zip(nums, dens, strict=True)])
    lo, hi = np.percentile(z, [10, 90])  # numpy's default is R's type 7
    phi = float(np.mean(np.clip(z, lo, hi) ** 2))
    w = np.array([4.0 * d for d in dens])  # 1 / s^2 with s = 1 / (2 sqrt(n))
    tau2 = (6 * phi - 5) / (w.sum() - (w**2).sum() / w.sum())
    assert res.phi == pytest.approx(phi, rel=1e-12)
    assert res.tau2 == pytest.approx(tau2, rel=1e-12)
    sd = math.sqrt(1 / (4 * 3000) + tau2)
    assert res.units.iloc[2]["upper_95"] == pytest.approx((0.1 + Z975 * sd) ** 2, rel=1e-9)


def test_no_inflation_when_units_agree_with_the_target():
    # Counts close to expectation: I * phi <= I - 1, so tau2 = 0 and the exact limits stand.
    df = _frame([50, 101, 149, 200], [500, 1000, 1500, 2000])
    plain = funnel(df, numerator="x", denominator="n", unit="unit", target=0.1)
    od = funnel(df, numerator="x", denominator="n", unit="unit", target=0.1,
                overdispersion=True)
    assert 4 * od.phi <= 3
    assert od.tau2 == 0 and not od.adjusted
    cols = ["lower_95", "upper_95", "lower_998", "upper_998"]
    pd.testing.assert_frame_equal(od.units[cols], plain.units[cols])
    assert plain.tau2 is None and plain.phi == pytest.approx(od.phi)


# --------------------------------------------------------------------------- coverage


@pytest.mark.parametrize("kind", ["proportion", "rate"])
def test_in_control_units_fall_outside_95_limits_about_5_percent_of_the_time(kind):
    rng = np.random.default_rng(20240501)
    theta = 0.1 if kind == "proportion" else 0.02
    n = rng.integers(200, 5000, size=5000)
    x = rng.binomial(n, theta) if kind == "proportion" else rng.poisson(theta * n)
    res = funnel(_frame(list(x), list(n)), numerator="x", denominator="n", unit="unit",
                 kind=kind, target=theta)
    u = res.units
    above = float((u["value"] > u["upper_95"]).mean())
    below = float((u["value"] < u["lower_95"]).mean())
    assert 0.04 < above + below < 0.06
    assert 0.015 < above < 0.035 and 0.015 < below < 0.035
    outer = float(((u["value"] > u["upper_998"]) | (u["value"] < u["lower_998"])).mean())
    assert outer < 0.006


# --------------------------------------------------------------------------- result object


def test_result_is_frozen_and_returns_copies():
    res = funnel(_frame([3, 8], [40, 50]), numerator="x", denominator="n", unit="unit")
    assert isinstance(res, FunnelResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.target = 0.5
    frame = res.to_frame()
    frame.loc[0, "value"] = -1
    assert res.units.loc[0, "value"] != -1
    data = res.plot_data()
    assert set(data) == {"units", "curve"}
    assert {"unit", "numerator", "denominator", "value", "z", "lower_95", "upper_95",
            "lower_998", "upper_998", "flag"} <= set(res.units.columns)


def test_other_limit_levels_name_their_columns_and_flags():
    res = funnel(_frame([100, 150], [1000, 1000]), numerator="x", denominator="n",
                 unit="unit", target=0.1, limits=(0.999, 0.9))
    assert res.limits == (0.9, 0.999)
    assert {"lower_90", "upper_90", "lower_999", "upper_999"} <= set(res.curve.columns)
    assert res.units["flag"].tolist() == ["within", "above 99.9%"]


# --------------------------------------------------------------------------- refusals


def _refuses(exc, df, **kw):
    opts = dict(numerator="x", denominator="n", unit="unit", file="practices.csv")
    opts.update(kw)
    with pytest.raises(exc) as info:
        funnel(df, **opts)
    return info.value


def test_refuses_numerator_above_denominator_for_proportions():
    err = _refuses(DataError, _frame([5, 12, 3], [10, 10, 2]))
    assert err.column == "x" and list(err.rows) == [3, 4]
    assert err.file == "practices.csv" and err.fix
    # the same counts are fine as rates (events can recur)
    funnel(_frame([5, 12, 3], [10, 10, 2]), numerator="x", denominator="n", unit="unit",
           kind="rate")


@pytest.mark.parametrize("dens, row", [([10, 0, 5], 3), ([10, 5, -5], 4)])
def test_refuses_zero_or_negative_denominators(dens, row):
    err = _refuses(DataError, _frame([1, 0, 1], dens))
    assert err.column == "n" and list(err.rows) == [row]


def test_refuses_negative_numerators():
    err = _refuses(DataError, _frame([1, -2, 1], [10, 10, 10]), kind="rate")
    assert err.column == "x" and list(err.rows) == [3]


@pytest.mark.parametrize("column", ["unit", "x", "n"])
def test_refuses_missing_values_naming_rows_and_column(column):
    df = _frame([1, 2, 3], [10, 10, 10])
    df[column] = df[column].astype(object)
    df.loc[2, column] = None
    err = _refuses(DataError, df)
    assert err.column == column and list(err.rows) == [4]


def test_refuses_text_fractions_and_missing_columns():
    df = _frame([1, "two", 3], [10, 10, 10])
    assert list(_refuses(DataError, df).rows) == [3]
    assert list(_refuses(DataError, _frame([1, 2.5], [10, 10])).rows) == [3]
    assert list(_refuses(DataError, _frame([1, 2], [10, 10.5])).rows) == [3]
    err = _refuses(DataError, _frame([1], [10]), numerator="events")
    assert err.column == "events"


@pytest.mark.parametrize("opts", [dict(kind="ratio"), dict(target=1.5), dict(target=0),
                                  dict(limits=(0.95, 1.2)), dict(limits=()),
                                  dict(multiplier=0), dict(overdispersion="yes")])
def test_refuses_bad_options(opts):
    _refuses(DesignError, _frame([1, 2, 3], [10, 10, 10]), **opts)


def test_refuses_overdispersion_with_too_few_units_and_no_events():
    _refuses(DesignError, _frame([1, 2], [10, 10]), overdispersion=True)
    _refuses(DataError, _frame([0, 0], [10, 10]))
