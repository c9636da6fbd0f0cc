"""The economic evaluation design (``economic``): per-patient costs, effects and value.

References checked
------------------
- Point estimates by hand with pandas: the change from the year before to the year after
  in enrolled patients, less that in other patients (DiD), or less that of each one's
  matched control (pairs from :func:`evalkit.match`, itself checked against MatchIt).
- Scheme cost per patient = :func:`scheme_costs` total / patients served.
- Bootstrap replicates against a plain loop with the same generator calls.
- Coverage on simulated patients with a known cost change and QALY gain (300 reps, the
  95% percentile intervals within Monte Carlo error of 95%).
- Spec integration: a spec names the scheme-cost table by its data name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

import evalkit as ek
from evalkit.economics.costing import scheme_costs
from evalkit.economics.evaluation import economic
from evalkit.errors import DataError, DesignError, SpecError

STAFF = pd.DataFrame({"role": ["nurse", "set-up"], "band": ["6", ""], "wte": [2.0, 0.0],
                      "annual_salary": [40000.0, 20000.0], "oncost_rate": [0.25, 0.0],
                      "overhead_rate": [0.2, 0.0], "cost_type": ["recurrent", "setup"]})


def patients(n_enrol=300, n_other=600, cost_change=-200.0, qaly_gain=0.03, seed=0):
    """Two years per patient; enrolled patients' year-2 costs shift by cost_change."""
    rng = np.random.default_rng(seed)
    n = n_enrol + n_other
    frail = rng.normal(0, 0.6, n)
    enrolled = np.r_[np.ones(n_enrol, int), np.zeros(n_other, int)]
    base = np.exp(7 + frail)
    c1 = rng.gamma(2.0, base / 2.0)
    c2 = rng.gamma(2.0, base / 2.0) + enrolled * cost_change
    c2 = np.maximum(c2, 0.0)
    q1 = 0.75 - 0.05 * frail + rng.normal(0, 0.08, n)
    q2 = 0.75 - 0.05 * frail + rng.normal(0, 0.08, n) + enrolled * qaly_gain
    ids = [f"P{i:04d}" for i in range(n)]
    return pd.DataFrame({"patient_id": np.repeat(ids, 2), "year": np.tile([1, 2], n),
                         "enrolled": np.repeat(enrolled, 2),
                         "cost": np.c_[c1, c2].ravel(), "qaly": np.c_[q1, q2].ravel(),
                         "admissions": rng.poisson(0.3, 2 * n)})


KW = dict(patient="patient_id", time="year", treated="enrolled", before=1, after=2,
          scheme_costs_table=STAFF, patients_served=500, price_year="2022/23")


def test_did_point_estimates_by_hand():
    d = patients()
    r = economic(d, effect="qaly", comparison="did", n_resamples=200, seed=1, **KW)
    w = d.pivot(index="patient_id", columns="year", values=["cost", "qaly"])
    enrolled = d.groupby("patient_id")["enrolled"].first()
    dc = w[("cost", 2)] - w[("cost", 1)]
    dq = w[("qaly", 2)] - w[("qaly", 1)]
    change = dc[enrolled == 1].mean() - dc[enrolled == 0].mean()
    gain = dq[enrolled == 1].mean() - dq[enrolled == 0].mean()
    per = scheme_costs(STAFF, years=1, price_year="2022/23").total_discounted / 500
    assert per == pytest.approx((2 * 40000 * 1.25 * 1.2 + 20000) / 500)
    e = r.effects.set_index("estimand")
    assert e.loc["scheme_cost_per_patient", "estimate"] == pytest.approx(per)
    assert e.loc["resource_cost_change", "estimate"] == pytest.approx(change, rel=1e-12)
    assert e.loc["incremental_cost", "estimate"] == pytest.approx(per + change, rel=1e-12)
    assert e.loc["incremental_effect", "estimate"] == pytest.approx(gain, rel=1e-12)
    assert e.loc["icer", "estimate"] == pytest.approx((per + change) / gain, rel=1e-12)
    assert e.loc["inc_nmb_20000", "estimate"] == pytest.approx(20000 * gain - per - change)
    assert e.loc["roi", "estimate"] == pytest.approx(-change / per - 1)
    assert (e["evidence_level"] == 3).all()
    assert set(r.frames) >= {"ce_draws", "ceac", "evpi", "net_cost", "scheme_costs"}
    assert len(r.frames["ce_draws"]) == 200


def test_bootstrap_replicates_equal_a_plain_loop():
    d = patients(n_enrol=40, n_other=70, seed=3)
    r = economic(d, effect="qaly", comparison="did", n_resamples=50, seed=9, **KW)
    w = d.pivot(index="patient_id", columns="year", values=["cost", "qaly"])
    t = d.groupby("patient_id")["enrolled"].first().to_numpy()
    D = np.c_[(w[("cost", 2)] - w[("cost", 1)]).to_numpy(),
              (w[("qaly", 2)] - w[("qaly", 1)]).to_numpy()]
    gen = np.random.default_rng(9)
    # resampling order: the reference arm (enrolled = 0) first, each column from one draw
    i0 = gen.integers(0, (t == 0).sum(), (50, (t == 0).sum()))
    i1 = gen.integers(0, (t == 1).sum(), (50, (t == 1).sum()))
    per = r.effects.set_index("estimand").loc["scheme_cost_per_patient", "estimate"]
    D0, D1 = D[t == 0], D[t == 1]
    for b in range(50):
        inc = D1[i1[b]].mean(axis=0) - D0[i0[b]].mean(axis=0)
        assert r.frames["ce_draws"]["inc_cost"].iloc[b] == pytest.approx(per + inc[0])
        assert r.frames["ce_draws"]["inc_effect"].iloc[b] == pytest.approx(inc[1])


def test_one_way_sensitivity_by_hand():
    # the tornado table: incremental NMB at 20,000 = 20000 * dq - (factor * per + dc),
    # each input at the ends of its range with the others at the base case
    d = patients(seed=2)
    r = economic(d, effect="qaly", comparison="did", n_resamples=300, seed=4, **KW)
    e = r.effects.set_index("estimand")
    per = e.loc["scheme_cost_per_patient", "estimate"]
    dc, dq = e.loc["resource_cost_change"], e.loc["incremental_effect"]
    base = 20000 * dq["estimate"] - per - dc["estimate"]
    t = r.frames["one_way"].set_index("parameter")
    assert set(t.index) == {"scheme_cost_factor", "resource_change", "effect_change",
                            "wtp_value"}  # one year: no discount-rate row
    assert t["base_output"].iloc[0] == pytest.approx(base)
    assert t.loc["scheme_cost_factor", "output_low"] == pytest.approx(base + 0.25 * per)
    assert t.loc["scheme_cost_factor", "output_high"] == pytest.approx(base - 0.25 * per)
    assert t.loc["resource_change", "output_low"] == pytest.approx(base + dc["estimate"]
                                                                   - dc["ci_low"])
    assert t.loc["effect_change", "output_high"] == pytest.approx(
        base + 20000 * (dq["ci_high"] - dq["estimate"]))
    assert t.loc["wtp_value", "output_high"] == pytest.approx(base + 10000 * dq["estimate"])
    assert r.frames["one_way"]["swing"].is_monotonic_decreasing
    # without an effect the output is the net cost; over 3 years the discount rate is varied
    r3 = economic(d, comparison="did", n_resamples=100, seed=4, **{**KW, "years": 3})
    t3 = r3.frames["one_way"].set_index("parameter")
    assert set(t3.index) == {"scheme_cost_factor", "resource_change", "rate"}
    net = r3.effects.set_index("estimand").loc["incremental_cost", "estimate"]
    assert t3["base_output"].iloc[0] == pytest.approx(net)
    undiscounted = scheme_costs(STAFF, years=3, discount_rate=0.0).total_discounted / 1500
    change = r3.effects.set_index("estimand").loc["resource_cost_change", "estimate"]
    assert t3.loc["rate", "output_low"] == pytest.approx(undiscounted + change)


def test_psa_pairs_a_gamma_scheme_cost_with_the_bootstrap_replicates():
    d = patients(seed=6)
    r = economic(d, effect="qaly", comparison="did", n_resamples=4000, seed=8, **KW)
    psa, boot = r.frames["psa"], r.frames["ce_draws"]
    per = r.effects.set_index("estimand").loc["scheme_cost_per_patient", "estimate"]
    # the resource-use change and effect are the bootstrap replicates, unchanged
    np.testing.assert_allclose(psa["inc_cost"] - psa["scheme_cost"], boot["inc_cost"] - per)
    np.testing.assert_array_equal(psa["inc_effect"], boot["inc_effect"])
    # the scheme cost: gamma with mean per and SD 0.2 per (method of moments), checked
    # against scipy's gamma with those moments by a Kolmogorov-Smirnov test
    shape = 1 / 0.2**2
    ks = stats.kstest(psa["scheme_cost"], stats.gamma(shape, scale=per / shape).cdf)
    assert ks.pvalue > 0.001
    assert r.diagnostics["probability_saving_psa"] == pytest.approx(
        float(np.mean(psa["inc_cost"] < 0)))
    p20 = np.mean(20000 * psa["inc_effect"] - psa["inc_cost"] > 0)
    assert r.diagnostics["prob_cost_effective_20000_psa"] == pytest.approx(p20)
    with pytest.raises(DesignError, match="scheme_cost_se"):
        economic(d, scheme_cost_se=1.5, **KW)


def test_matched_comparison_uses_evalkit_match_pairs():
    d = patients(seed=5)
    r = economic(d, effect="qaly", comparison="matched", n_resamples=100, seed=1, **KW)
    w = d.pivot(index="patient_id", columns="year", values=["cost", "qaly"])
    w.columns = [f"{a}_{b}" for a, b in w.columns]
    w["enrolled"] = d.groupby("patient_id")["enrolled"].first()
    w = w.reset_index(drop=True)
    m = ek.match(w, treated="enrolled", covariates=["cost_1", "qaly_1"], caliper=0.2)
    p = m.matched_pairs
    dc = (w["cost_2"] - w["cost_1"]).to_numpy()
    expected = (dc[p["treated"].to_numpy()] - dc[p["control"].to_numpy()]).mean()
    e = r.effects.set_index("estimand")
    assert e.loc["resource_cost_change", "estimate"] == pytest.approx(expected, rel=1e-12)
    assert r.diagnostics["n_matched_pairs"] == len(p)
    assert e["evidence_level"].iloc[0] == (4 if r.diagnostics["balance_ok"] else 3)


def test_before_after_is_level_one():
    r = economic(patients(), comparison="before_after", n_resamples=100, **KW)
    assert (r.effects["evidence_level"] == 1).all()
    assert r.diagnostics["verdict"] in ("cost-saving", "cost-increasing")


def test_intervals_cover_the_known_change_and_gain():
    hits_c, hits_q, reps = 0, 0, 300
    for rep in range(reps):
        r = economic(patients(n_enrol=150, n_other=300, seed=100 + rep), effect="qaly",
                     comparison="did", n_resamples=400, seed=rep, **KW)
        e = r.effects.set_index("estimand")
        lo, hi = e.loc["resource_cost_change", ["ci_low", "ci_high"]]
        # the truth: E[max(c2, 0)] differs from E[c2] - 200 only by the clipped tail
        hits_c += lo <= -200 + _clip_gain() <= hi
        lo, hi = e.loc["incremental_effect", ["ci_low", "ci_high"]]
        hits_q += lo <= 0.03 <= hi
    # 95% intervals over 300 reps: MC SE 1.3 points; allow 3 SE either side
    for hits in (hits_c, hits_q):
        assert 0.91 <= hits / reps <= 0.99, hits / reps


def _clip_gain(n=400_000) -> float:
    """E[max(c - 200, 0)] - (E[c] - 200) for the enrolled cost distribution (numerical)."""
    rng = np.random.default_rng(0)
    base = np.exp(7 + rng.normal(0, 0.6, n))
    c = rng.gamma(2.0, base / 2.0)
    return float(np.maximum(c - 200, 0).mean() - (c.mean() - 200))


def test_verdicts():
    from evalkit.economics.evaluation import verdict as _verdict

    wtp = np.array([20000.0, 30000.0])
    assert _verdict(-10.0, 0.01, wtp) == "dominant"
    assert _verdict(10.0, -0.01, wtp) == "dominated"
    assert _verdict(10.0, 0.0, wtp) == "dominated"
    assert _verdict(150.0, 0.01, wtp) == "cost-effective"
    assert _verdict(250.0, 0.01, wtp) == "cost-effective at the upper threshold"
    assert _verdict(350.0, 0.01, wtp) == "not cost-effective"
    assert _verdict(-10.0, None, wtp) == "cost-saving"
    assert _verdict(10.0, None, wtp) == "cost-increasing"


def test_bad_input_is_refused_clearly():
    d = patients(n_enrol=20, n_other=20)
    with pytest.raises(DesignError, match="before = 5"):
        economic(d, **{**KW, "before": 5})
    bad = d.copy()
    bad.loc[3, "cost"] = -5.0
    with pytest.raises(DataError, match="negative costs") as err:
        economic(bad, **KW)
    assert list(err.value.rows) == [5]
    with pytest.raises(DataError, match="lack a row"):
        economic(d.drop(index=[0]), **KW)
    with pytest.raises(DesignError, match="patients_served"):
        economic(d, **{**KW, "patients_served": 0})
    with pytest.raises(DataError, match="'qualy' is missing"):
        economic(d, effect="qualy", **KW)


def test_spec_names_the_scheme_cost_table(tmp_path):
    d = patients(n_enrol=60, n_other=120)
    d.to_csv(tmp_path / "patients.csv", index=False)
    STAFF.to_csv(tmp_path / "staff.csv", index=False)
    spec = {"scheme": "test", "title": "t", "synthetic": True,
            "data": {"patients": {"path": "patients.csv", "kind": "patient_costs"},
                     "staff": {"path": "staff.csv", "kind": "scheme_costs"}},
            "outcomes": {"cost": {"label": "Cost", "family": "gaussian", "domain": "cost"}},
            "analyses": [{"design": "economic", "data": "patients", "outcomes": ["cost"],
                          "options": {"scheme_costs_table": "staff", "patients_served": 500,
                                      "before": 1, "after": 2, "effect": "qaly",
                                      "n_resamples": 200}}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    ev = ek.run_spec(tmp_path / "spec.yaml")
    assert "incremental_cost" in set(ev.effects["estimand"])
    spec["analyses"][0]["options"]["scheme_costs_table"] = "staf"
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match="did you mean 'staff'"):
        ek.load_spec(tmp_path / "spec.yaml")


def test_report_text_follows_the_thresholds_the_spec_chose(tmp_path):
    from evalkit.report.context import ReportContext

    d = patients(n_enrol=60, n_other=120)
    d.to_csv(tmp_path / "patients.csv", index=False)
    STAFF.to_csv(tmp_path / "staff.csv", index=False)
    spec = {"scheme": "test", "title": "t", "synthetic": True,
            "data": {"patients": {"path": "patients.csv", "kind": "patient_costs"},
                     "staff": {"path": "staff.csv", "kind": "scheme_costs"}},
            "outcomes": {"cost": {"label": "Cost", "family": "gaussian", "domain": "cost"}},
            "analyses": [{"design": "economic", "data": "patients", "outcomes": ["cost"],
                          "options": {"scheme_costs_table": "staff", "patients_served": 500,
                                      "before": 1, "after": 2, "effect": "qaly",
                                      "wtp": [15000, 25000], "n_resamples": 200}}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    text = ReportContext(ek.run_spec(tmp_path / "spec.yaml"), {}).economic_markdown()
    assert "at £15,000 and" in text and "at £25,000 per QALY" in text
    assert "at £20,000" not in text and "£30,000" not in text  # £20,000 is the set-up cost
    ctx = ReportContext(ek.run_spec(tmp_path / "spec.yaml"), {})
    sens = ctx.sensitivity_markdown()
    d = ctx._economic()[1].diagnostics
    assert "@fig-tornado" in sens
    assert f"saves money is {d['probability_saving_psa']:.0%}" in sens
    assert f"{d['prob_cost_effective_15000_psa']:.0%} at £15,000" in sens
    assert ctx.tornado_figure() is not None
