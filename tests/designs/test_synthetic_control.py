"""Classic synthetic control: the solver, Proposition 99, pysyncon, coverage and refusals.

Published numbers: Abadie, Diamond and Hainmueller (2010), J Am Stat Assoc 105:493-505,
Table 2 (synthetic California weights) and section 3.4 (California has the largest
post/pre RMSPE ratio of the 39 states, p = 1/39), as listed in
``../shared/validation/README.md``.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from evalkit.designs import synth_solver
from evalkit.designs.synth_solver import fit_synth, simplex_least_squares
from evalkit.designs.synthetic_control import synthetic_control
from evalkit.errors import DataError, DesignError

#: ADH (2010) Table 2; optimisers differ, so the README allows +/-0.02.
PUBLISHED_WEIGHTS = {"Utah": 0.334, "Nevada": 0.234, "Montana": 0.199, "Colorado": 0.164,
                     "Connecticut": 0.069}
PROP99_PREDICTORS = [
    {"variable": "lnincome", "window": [1980, 1988], "op": "mean"},
    {"variable": "retprice", "window": [1980, 1988], "op": "mean"},
    {"variable": "age15to24", "window": [1980, 1988], "op": "mean"},
    {"variable": "beer", "window": [1984, 1988], "op": "mean"},
    {"variable": "cigsale", "window": [1975, 1975], "op": "mean"},
    {"variable": "cigsale", "window": [1980, 1980], "op": "mean"},
    {"variable": "cigsale", "window": [1988, 1988], "op": "mean"},
]


@pytest.fixture(scope="module")
def smoking(validation_dir) -> pd.DataFrame:
    return pd.read_csv(validation_dir / "smoking.csv")


@pytest.fixture(scope="module")
def prop99(smoking):
    return synthetic_control(smoking, outcome="cigsale", unit="state", time="year",
                             treated_unit="California", start=1989,
                             predictors=PROP99_PREDICTORS, placebo_time=1980, n_jobs=2)


# --------------------------------------------------------------------------- solver


def test_simplex_least_squares_matches_slsqp():
    """The active-set solution equals a general-purpose constrained optimiser's."""
    rng = np.random.default_rng(42)
    for _ in range(40):
        m, n = rng.integers(3, 9), rng.integers(2, 40)
        A = rng.normal(size=(m, n))
        b = rng.normal(size=m) * 2
        w, ok = simplex_least_squares(A, b)
        assert ok and w.min() >= 0 and w.sum() == pytest.approx(1, abs=1e-12)
        f = lambda x, A=A, b=b: float(((A @ x - b) ** 2).sum())  # noqa: E731
        ref = minimize(f, np.full(n, 1 / n), jac=lambda x, A=A, b=b: 2 * A.T @ (A @ x - b),
                       method="SLSQP", bounds=[(0, None)] * n,
                       constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
                       options={"ftol": 1e-15, "maxiter": 2000})
        assert f(w) <= ref.fun + 1e-9 * (1 + ref.fun)


def test_warm_start_gives_the_same_optimum():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(6, 30))
    b = rng.normal(size=6)
    cold, _ = simplex_least_squares(A, b)
    warm, ok = simplex_least_squares(A, b, w0=rng.dirichlet(np.ones(30)))
    f = lambda x: float(((A @ x - b) ** 2).sum())  # noqa: E731
    assert ok and f(warm) == pytest.approx(f(cold), rel=1e-10, abs=1e-12)


def test_exact_combination_is_recovered():
    rng = np.random.default_rng(3)
    X0 = rng.normal(size=(4, 12))
    Z0 = rng.normal(size=(15, 12))
    w = np.r_[0.6, 0.3, 0.1, np.zeros(9)]
    fit = fit_synth(X0 @ w, X0, Z0 @ w, Z0)
    assert fit.loss_v == pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(fit.weights, w, atol=1e-6)


def test_gradient_in_v_matches_finite_differences():
    """The implicit-differentiation gradient used by the V search is the true gradient."""
    rng = np.random.default_rng(5)
    X1, X0 = rng.normal(size=5), rng.normal(size=(5, 20))
    Z1, Z0 = rng.normal(size=12), rng.normal(size=(12, 20))
    X1s, X0s = synth_solver.scale_predictors(X1, X0)
    prob = synth_solver._Problem(X1s, X0s, Z1, Z0)
    theta = np.sqrt(rng.dirichlet(np.ones(5)))
    _, grad = prob.loss_and_grad(theta)
    h = 1e-6
    num = []
    for i in range(5):
        e = np.zeros(5)
        e[i] = h
        num.append((prob.loss_and_grad(theta + e)[0] - prob.loss_and_grad(theta - e)[0])
                   / (2 * h))
    np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-7)


# --------------------------------------------------------------------------- Prop 99


def test_prop99_reproduces_published_weights(prop99):
    w = prop99.weights
    for state, published in PUBLISHED_WEIGHTS.items():
        assert w[state] == pytest.approx(published, abs=0.02), state
    others = w.drop(list(PUBLISHED_WEIGHTS))
    assert others.max() < 0.02
    assert w.sum() == pytest.approx(1, abs=1e-9) and w.min() >= 0


def test_prop99_california_ranks_first_of_39(prop99):
    d = prop99.diagnostics
    assert d["rank"] == 1 and d["n_placebos"] == 38
    assert prop99.p_value == pytest.approx(1 / 39)
    rm = prop99.frames["rmspe"]
    assert len(rm) == 39 and rm.loc[rm["treated"], "ratio"].iloc[0] == rm["ratio"].max()


def test_prop99_gap_and_fit(prop99):
    e = prop99.effects.set_index("estimand")
    # ADH (2010): a gap of about -26 packs per capita by 2000 (the 12th post year).
    assert e.loc["gap_at:12", "estimate"] == pytest.approx(-26, abs=2.5)
    assert e.loc["gap_at:12", "diagnostics"]["period"] == "2000"
    # ADH (2010) report a pre-period RMSPE of about 1.76 packs.
    assert prop99.diagnostics["pre_rmspe"] == pytest.approx(1.76, abs=0.1)
    assert prop99.diagnostics["fit_ok"] and e.loc["gap_mean", "evidence_level"] == 4
    lo, hi = e.loc["gap_mean", ["ci_low", "ci_high"]]
    assert lo < e.loc["gap_mean", "estimate"] < hi < 0


def test_prop99_leave_one_out_and_placebo_in_time(prop99):
    loo = prop99.frames["loo"]
    nonzero = set(prop99.weights[prop99.weights > 1e-3].index)
    assert set(loo["dropped_unit"]) == nonzero
    lo, hi = prop99.diagnostics["loo_gap_mean_range"]
    assert lo < 0 and hi < 0  # no single donor drives the sign
    pt = prop99.frames["placebo_time"]
    assert list(pt["time"])[-1] == "1988" and pt["post"].sum() == 9  # 1980-1988
    # backdated to 1980 (only the 1975 sales predictor survives): no effect of that size
    assert abs(prop99.diagnostics["placebo_time"]["gap_mean"]) < 8


def test_prop99_weights_match_pysyncon_at_the_same_v(smoking):
    """Like for like: the same predictors and V, so the same convex problem for W.

    V is fixed (equal weights) because pysyncon's own search over V is not the same
    search as evalkit's (see docs/benchmarks.md: on these data it stops at a much worse
    fit after about three minutes)."""
    pysyncon = pytest.importorskip("pysyncon")
    prep = pysyncon.Dataprep(
        foo=smoking, predictors=["lnincome", "retprice", "age15to24"], predictors_op="mean",
        time_predictors_prior=range(1980, 1989),
        special_predictors=[("beer", range(1984, 1989), "mean"),
                            ("cigsale", [1975], "mean"), ("cigsale", [1980], "mean"),
                            ("cigsale", [1988], "mean")],
        dependent="cigsale", unit_variable="state", time_variable="year",
        treatment_identifier="California",
        controls_identifier=[s for s in smoking["state"].unique() if s != "California"],
        time_optimize_ssr=range(1970, 1989))
    synth = pysyncon.Synth()
    # pysyncon solves for W with SLSQP at its default tolerance, which stops near its
    # uniform starting point when V sums to one (weights of about 0.02 everywhere).
    # Scaling V by a constant does not change the problem's solution, only the scale of
    # its objective, and lets SLSQP converge.
    synth.fit(dataprep=prep, custom_V=np.full(7, 1e4 / 7))
    theirs = pd.Series(np.asarray(synth.W), index=prep.controls_identifier)
    res = synthetic_control(smoking, outcome="cigsale", unit="state", time="year",
                            treated_unit="California", start=1989,
                            predictors=PROP99_PREDICTORS, v=[1] * 7, placebos=False,
                            leave_one_out=False)
    ours = res.weights.reindex(theirs.index)
    assert np.abs(ours - theirs).max() < 0.01
    assert res.diagnostics["v_search"] == "fixed"


# --------------------------------------------------------------------------- coverage


def _factor_panel(rng, n=30, T=30, T0=20, effect=-2.0):
    """Units share two common factors; unit 0 (in the donors' hull) gets the effect."""
    load = rng.dirichlet(np.ones(3), size=n) @ rng.normal(0, 1, (3, 2))
    f = np.cumsum(rng.normal(0, 0.5, (T, 2)), axis=0)
    Y = 20 + f @ load.T + rng.normal(0, 0.5, (T, n))
    Y[T0:, 0] += effect
    return pd.DataFrame({"unit": np.repeat([f"U{i:02d}" for i in range(n)], T),
                         "t": np.tile(np.arange(1, T + 1), n), "y": Y.T.ravel()})


def test_permutation_interval_covers_the_truth_as_often_as_it_claims():
    """200 replications with a known effect and exchangeable units: the 90% constant-
    effect interval (Firpo and Possebom, 2018) covers the truth at 90% +/- 3 SE."""
    rng = np.random.default_rng(2026)
    reps, cover, bias = 200, 0, []
    for _ in range(reps):
        df = _factor_panel(rng)
        res = synthetic_control(df, outcome="y", unit="unit", time="t", treated_unit="U00",
                                start=21, leave_one_out=False, conf_level=0.9)
        r = res.effects.set_index("estimand").loc["gap_mean"]
        # an empty set (no constant effect accepted) counts as not covering
        cover += bool(pd.notna(r["ci_low"]) and r["ci_low"] <= -2.0 <= r["ci_high"])
        bias.append(r["estimate"] + 2.0)
    se = np.sqrt(0.9 * 0.1 / reps)
    assert abs(cover / reps - 0.9) < 3 * se
    assert abs(np.mean(bias)) < 3 * np.std(bias) / np.sqrt(reps)


# --------------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def small():
    return _factor_panel(np.random.default_rng(0), n=12, T=20, T0=14)


def test_treated_unit_in_donor_pool_is_refused(small):
    with pytest.raises(DesignError, match="also in the donor pool"):
        synthetic_control(small, outcome="y", unit="unit", time="t", treated_unit="U00",
                          start=15, donors=["U00", "U01", "U02"])


def test_predictor_window_outside_the_data_is_refused(small):
    with pytest.raises(DataError, match="outside the data"):
        synthetic_control(small, outcome="y", unit="unit", time="t", treated_unit="U00",
                          start=15, predictors=[{"variable": "y", "window": [-5, 3]}])
    with pytest.raises(DesignError, match="before the scheme started"):
        synthetic_control(small, outcome="y", unit="unit", time="t", treated_unit="U00",
                          start=15, predictors=[{"variable": "y", "window": [10, 16]}])


def test_fewer_donors_than_predictors_warns(small):
    preds = [{"variable": "y", "window": [t, t]} for t in range(1, 15)]
    res = synthetic_control(small, outcome="y", unit="unit", time="t", treated_unit="U00",
                            start=15, predictors=preds, donors=[f"U{i:02d}" for i in
                                                                range(1, 6)],
                            placebos=False, leave_one_out=False)
    assert any("Fewer donors (5) than predictors (14)" in w for w in res.warnings)


def test_unconverged_weights_are_reported_not_returned(small, monkeypatch):
    sc = importlib.import_module("evalkit.designs.synthetic_control")

    monkeypatch.setattr(sc, "simplex_least_squares",
                        lambda A, b: (np.full(A.shape[1], 1 / A.shape[1]), False))
    with pytest.raises(DesignError, match="did not reach an optimum"):
        synthetic_control(small, outcome="y", unit="unit", time="t", treated_unit="U00",
                          start=15)


def test_unit_outside_the_donors_range_is_flagged_and_held_at_level_3(small):
    df = small.copy()
    df.loc[df["unit"] == "U00", "y"] += 50  # far above every donor
    res = synthetic_control(df, outcome="y", unit="unit", time="t", treated_unit="U00",
                            start=15, placebos=False, leave_one_out=False)
    d = res.diagnostics
    assert d["outside_hull"] and not d["fit_ok"]
    assert any("outside the donors' range" in w for w in res.warnings)
    assert set(res.effects["evidence_level"]) == {3}


def test_missing_periods_and_unknown_units_get_clear_messages(small):
    with pytest.raises(DataError, match="lack some periods"):
        synthetic_control(small.iloc[1:], outcome="y", unit="unit", time="t",
                          treated_unit="U00", start=15)
    with pytest.raises(DataError, match="treated unit 'U99' is not in the data"):
        synthetic_control(small, outcome="y", unit="unit", time="t", treated_unit="U99",
                          start=15)
    with pytest.raises(DesignError, match="one"):
        synthetic_control(small, outcome="y", unit="unit", time="t",
                          treated_unit=["U00", "U01"], start=15)


def test_spec_run_writes_results_and_the_report_describes_it(small, tmp_path):
    import json

    import yaml

    from evalkit.evaluation.pipeline import run_spec
    from evalkit.report.context import ReportContext

    small.to_csv(tmp_path / "areas.csv", index=False)
    spec = {"scheme": "one-area", "title": "One area", "synthetic": True,
            "data": {"areas": {"path": "areas.csv", "kind": "panel"}},
            "outcomes": {"y": {"label": "Admissions per 1,000", "family": "gaussian"}},
            "analyses": [{"design": "synthetic_control", "data": "areas", "outcomes": ["y"],
                          "options": {"unit": "unit", "time": "t", "treated_unit": "U00",
                                      "start": 15,
                                      "predictors": [{"variable": "y", "window": [1, 7],
                                                      "op": "mean"},
                                                     {"variable": "y", "window": [8, 14],
                                                      "op": "mean"}]}}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    ev = run_spec(tmp_path / "spec.yaml", out=tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {e["estimand"] for e in saved["effects"]} == {"gap_mean", "gap_at:6"}
    figures = set(json.loads((tmp_path / "out" / "figures" / "alt-text.json").read_text()))
    assert any("synth" in f for f in figures)
    text = ReportContext(ev, {}).design_markdown()
    assert "classic synthetic control of U00 from 11 donors" in text
    assert "ranked" in text and "of 12 on the post/pre RMSPE ratio" in text
