"""Cost-effectiveness: ICER frontier, NMB, CEAC, EVPI and the CE bootstrap.

References checked
------------------
- The HERC (VA Health Economics Resource Center) teaching example used by the R package
  dampack (``calculate_icers``; Alarid-Escudero, Krijkamp, Enns et al., dampack
  documentation): strategies UC, B, A, C, D, E with costs 5,000 / 10,000 / 12,000 /
  25,000 / 35,000 / 55,000 and effects 1 / 2 / 1.5 / 3 / 4 / 5. Published frontier UC ->
  B (ICER 5,000) -> D (12,500) -> E (20,000); C extendedly dominated; A dominated.
- A cost-saving strategy (cheaper and more effective than usual care), frontier worked by
  hand below; peers that start the frontier from the lowest-effect strategy get it wrong.
- An independent frontier algorithm (Drummond et al. 2015, ch. 4): from the least costly
  strategy, repeatedly step to the strategy with the lowest ICER among those that gain
  more. Same frontier as evalkit's elimination algorithm on 300 random sets.
- CEAC and EVPI for two strategies against their closed forms when the incremental net
  benefit is normal, ``INB ~ N(m, s^2)``: ``P(INB > 0) = Phi(m / s)`` and
  ``EVPI = s phi(m / s) + m Phi(m / s) - max(m, 0)`` (the unit normal loss integral;
  Wilson 2015, PharmacoEconomics 33:105-121), with 400,000 draws (tolerances stated at
  each check, several Monte Carlo SEs).
- ``ce_bootstrap`` against a plain loop over replicates that resamples rows with the same
  generator calls (equal to 1e-9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.economics import cost_effectiveness as ce
from evalkit.errors import DataError, DesignError

HERC = pd.DataFrame({"strategy": ["UC", "B", "A", "C", "D", "E"],
                     "cost": [5000, 10000, 12000, 25000, 35000, 55000],
                     "effect": [1, 2, 1.5, 3, 4, 5]})


def test_herc_example_reproduces_published_frontier():
    out = ce.icer(HERC)
    assert out["strategy"].tolist() == ["UC", "A", "B", "C", "D", "E"]  # order of effect
    status = dict(zip(out["strategy"], out["status"], strict=True))
    assert status == {"UC": "reference", "A": "dominated", "B": "frontier",
                      "C": "extended_dominated", "D": "frontier", "E": "frontier"}
    icers = out.set_index("strategy")["icer"]
    assert icers["B"] == pytest.approx(5000)
    assert icers["D"] == pytest.approx(12500)
    assert icers["E"] == pytest.approx(20000)
    assert icers[["UC", "A", "C"]].isna().all()
    row = out.set_index("strategy").loc["D"]
    assert (row["inc_cost"], row["inc_effect"], row["compared_with"]) == (25000, 2, "B")
    assert "B" in out.set_index("strategy").loc["A", "note"]


def test_cost_saving_strategy_becomes_reference():
    # S costs less than UC and gains more: UC is dominated and S is the reference.
    # By hand: B vs S = (10000 - 4000) / (2 - 1.2) = 7500; C vs B = 15000 > D vs C = 10000,
    # so C is extendedly dominated; D vs B = 25000 / 2 = 12500; E vs D = 20000.
    t = pd.concat([HERC, pd.DataFrame({"strategy": ["S"], "cost": [4000], "effect": [1.2]})])
    out = ce.icer(t).set_index("strategy")
    assert out.loc["S", "status"] == "reference"
    assert out.loc["UC", "status"] == "dominated"
    assert out.loc["B", "icer"] == pytest.approx(7500)
    assert out.loc["C", "status"] == "extended_dominated"
    assert out.loc["D", "icer"] == pytest.approx(12500)
    assert out.loc["E", "icer"] == pytest.approx(20000)


def test_scheme_dominant_over_usual_care_two_strategies():
    out = ce.icer(pd.DataFrame({"strategy": ["usual care", "scheme"], "cost": [900, 850],
                                "effect": [0.70, 0.72]})).set_index("strategy")
    assert out.loc["scheme", "status"] == "reference"
    assert out.loc["usual care", "status"] == "dominated"
    assert np.isinf(out["icer"]).sum() == 0


def _frontier_by_steps(cost: np.ndarray, effect: np.ndarray) -> list[int]:
    """Least costly start (ties: most effective), then the lowest-ICER step each time."""
    start = min(range(len(cost)), key=lambda i: (cost[i], -effect[i]))
    path = [start]
    while True:
        cur = path[-1]
        up = [j for j in range(len(cost)) if effect[j] > effect[cur]]
        if not up:
            return path
        ratios = {j: (cost[j] - cost[cur]) / (effect[j] - effect[cur]) for j in up}
        best = min(ratios.values())
        # among ties in ratio, the nearest (least effective) keeps intermediate points
        path.append(min((j for j in up if ratios[j] == best), key=lambda j: effect[j]))


def test_frontier_matches_independent_algorithm_on_random_sets():
    rng = np.random.default_rng(7)
    for _ in range(300):
        k = rng.integers(2, 9)
        cost = rng.integers(0, 60, k) * 500.0
        effect = rng.integers(0, 40, k) / 10
        t = pd.DataFrame({"strategy": [f"S{i}" for i in range(k)], "cost": cost,
                          "effect": effect})
        out = ce.icer(t)
        ours = set(out.loc[out["status"].isin(["reference", "frontier"]), "strategy"])
        path = _frontier_by_steps(cost, effect)
        # the stepping algorithm treats identical points once; compare as (cost, effect)
        theirs = {(cost[i], effect[i]) for i in path}
        mine = {(c, e) for c, e in zip(out.loc[out["strategy"].isin(ours), "cost"],
                                       out.loc[out["strategy"].isin(ours), "effect"],
                                       strict=True)}
        assert mine == theirs, t
        front = out[out["status"] == "frontier"]
        assert (np.diff(front["icer"].to_numpy()) >= 0).all()  # ICERs rise


def test_incremental_zero_effect_is_undefined_not_infinite():
    r = ce.incremental(1200.0, 0.0)
    assert np.isnan(r["icer"]) and r["quadrant"] == "no difference in effect"
    assert "undefined" in r["note"]
    assert ce.incremental(1000.0, 0.05)["icer"] == pytest.approx(20000)
    assert ce.incremental(-100.0, 0.01)["quadrant"] == "dominant"
    assert ce.incremental(100.0, -0.01)["quadrant"] == "dominated"
    sw = ce.incremental(-3000.0, -0.1)
    assert sw["quadrant"] == "south-west" and sw["icer"] == pytest.approx(30000)


def test_nmb_hand_values():
    t = pd.DataFrame({"strategy": ["usual care", "scheme"], "cost": [1000.0, 1500.0],
                      "effect": [0.50, 0.52]})
    out = ce.nmb(t)
    at20 = out[out["wtp"] == 20000].set_index("strategy")
    assert at20.loc["usual care", "nmb"] == pytest.approx(20000 * 0.50 - 1000)
    assert at20.loc["scheme", "nmb"] == pytest.approx(20000 * 0.52 - 1500)
    assert at20.loc["scheme", "inc_nmb"] == pytest.approx(400 - 500)
    assert at20.loc["usual care", "optimal"]
    at30 = out[out["wtp"] == 30000].set_index("strategy")
    assert at30.loc["scheme", "inc_nmb"] == pytest.approx(600 - 500)
    assert at30.loc["scheme", "optimal"]


def _normal_increments(m_cost, m_eff, sd_cost, sd_eff, rho, n, seed=3):
    rng = np.random.default_rng(seed)
    cov = [[sd_cost ** 2, rho * sd_cost * sd_eff], [rho * sd_cost * sd_eff, sd_eff ** 2]]
    d = rng.multivariate_normal([m_cost, m_eff], cov, n)
    return pd.DataFrame({"inc_cost": d[:, 0], "inc_effect": d[:, 1]}), cov


def test_ceac_and_evpi_match_normal_closed_forms():
    n = 400_000
    draws, cov = _normal_increments(400.0, 0.02, 300.0, 0.015, 0.3, n)
    lam = np.array([0.0, 10000.0, 20000.0, 30000.0, 50000.0])
    curve = ce.ceac(draws, wtp=lam)
    scheme = curve[curve["strategy"] == "scheme"].set_index("wtp")
    value = ce.evpi(draws, wtp=lam).set_index("wtp")
    for lv in lam:
        m = lv * 0.02 - 400.0
        s = np.sqrt(lv ** 2 * cov[1][1] + cov[0][0] - 2 * lv * cov[0][1])
        p = stats.norm.cdf(m / s)
        # Monte Carlo SE of a proportion is at most 0.5 / sqrt(n) = 0.0008
        assert scheme.loc[lv, "probability"] == pytest.approx(p, abs=0.004)
        loss = s * stats.norm.pdf(m / s) + m * stats.norm.cdf(m / s) - max(m, 0.0)
        # MC SE of the mean of max(INB, 0) is below s / sqrt(n); allow 5 SEs
        assert value.loc[lv, "evpi_per_person"] == pytest.approx(loss, abs=5 * s / np.sqrt(n))
        if abs(m) > 5 * s / np.sqrt(n):  # at 20,000 the expected INB is 0: a coin toss
            assert bool(scheme.loc[lv, "frontier"]) == (m > 0)
    assert ce.evpi(draws, wtp=[20000], population=1000)["evpi_population"].iloc[0] == \
        pytest.approx(1000 * value.loc[20000.0, "evpi_per_person"])


def test_ceac_probabilities_sum_to_one_over_several_strategies():
    rng = np.random.default_rng(1)
    rows = []
    for d in range(500):
        for k, (c, e) in enumerate([(1000, 1.0), (1500, 1.03), (2500, 1.05)]):
            rows.append({"draw": d, "strategy": f"S{k}", "cost": c + rng.normal(0, 200),
                         "effect": e + rng.normal(0, 0.02)})
    draws = pd.DataFrame(rows)
    curve = ce.ceac(draws)
    total = curve.groupby("wtp")["probability"].sum()
    assert np.allclose(total, 1.0)
    assert (curve.groupby("wtp")["frontier"].sum() == 1).all()
    with_nmb = ce.nmb(draws, wtp=[20000], draw="draw")
    assert with_nmb["prob_cost_effective"].sum() == pytest.approx(1.0)
    lo, hi = with_nmb.loc[with_nmb["strategy"] == "S1", ["inc_nmb_low", "inc_nmb_high"]].iloc[0]
    assert lo < with_nmb.loc[with_nmb["strategy"] == "S1", "inc_nmb"].iloc[0] < hi


def test_ce_bootstrap_equals_plain_loop():
    rng = np.random.default_rng(5)
    n0, n1 = 60, 45
    data = pd.DataFrame({"arm": ["control"] * n0 + ["scheme"] * n1,
                         "cost": rng.gamma(0.8, 1500, n0 + n1),
                         "qaly": rng.normal(0.7, 0.1, n0 + n1)})
    reps = ce.ce_bootstrap(data, group="arm", cost="cost", effect="qaly",
                           reference="control", n_resamples=200, seed=11)
    gen = np.random.default_rng(11)
    c0 = data.loc[data["arm"] == "control", ["cost", "qaly"]].to_numpy()
    c1 = data.loc[data["arm"] == "scheme", ["cost", "qaly"]].to_numpy()
    i0 = gen.integers(0, n0, (200, n0))
    i1 = gen.integers(0, n1, (200, n1))
    for b in range(200):
        m0, m1 = c0[i0[b]].mean(axis=0), c1[i1[b]].mean(axis=0)
        assert reps["inc_cost"].iloc[b] == pytest.approx(m1[0] - m0[0], rel=1e-9)
        assert reps["inc_effect"].iloc[b] == pytest.approx(m1[1] - m0[1], rel=1e-9)
    assert reps.attrs["inc_cost"] == pytest.approx(c1[:, 0].mean() - c0[:, 0].mean())
    assert reps.attrs["groups"] == ["control", "scheme"]


def test_bad_input_is_refused_clearly():
    with pytest.raises(DataError, match="more than once"):
        ce.icer(pd.concat([HERC, HERC.iloc[:1]]))
    with pytest.raises(DataError, match="'qaly' is missing"):
        ce.icer(HERC, effect="qaly")
    bad = HERC.astype({"cost": object})
    bad.loc[2, "cost"] = "n/a"
    with pytest.raises(DataError, match="non-numeric"):
        ce.icer(bad)
    draws = pd.DataFrame({"draw": [1, 1, 2], "strategy": ["a", "b", "a"],
                          "cost": [1.0, 2.0, 1.0], "effect": [0.1, 0.2, 0.1]})
    with pytest.raises(DataError, match="exactly one row per strategy"):
        ce.ceac(draws)
    with pytest.raises(DesignError, match="wtp"):
        ce.nmb(HERC, wtp=[-5])
    with pytest.raises(DesignError, match="no strategy 'X'"):
        ce.nmb(HERC, reference="X")
