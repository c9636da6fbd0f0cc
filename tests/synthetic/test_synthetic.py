"""Synthetic case studies: reproducible, honest, and with the truth the tests rely on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.synthetic import SCHEMES, scheme_files

from conftest import SYNTHETIC


def test_committed_data_is_what_the_generator_writes():
    """`evalkit synth` is deterministic: regenerating gives the committed bytes."""
    for s in SCHEMES:
        for name, content in scheme_files(s).items():
            assert (SYNTHETIC / s.name / name).read_bytes() == content, f"{s.name}/{name}"


def test_scheme_characteristics_are_committed_and_computed_from_the_data():
    from evalkit.economics.costing import scheme_costs
    from evalkit.synthetic.write import scheme_characteristics

    frame = scheme_characteristics()
    committed = pd.read_csv(SYNTHETIC / "schemes.csv")
    assert committed["scheme"].tolist() == [s.name for s in SCHEMES]
    pd.testing.assert_frame_equal(committed, frame, check_dtype=False)
    row = committed.set_index("scheme").loc["palliative-care"]
    panel = pd.read_csv(SYNTHETIC / "palliative-care" / "panel.csv")
    start = panel[(panel["month"] == "2019-04") & (panel["treated"] == 1)]
    size = "population" if "population" in panel.columns else "list_size"
    assert row["population_covered"] == start[size].sum()
    cost = scheme_costs(pd.read_csv(SYNTHETIC / "palliative-care" / "scheme_costs.csv"),
                        years=1).total_discounted
    assert row["funding_per_head"] == pytest.approx(cost / start[size].sum(), abs=0.005)
    assert set(committed["organisational_form"]) <= {"federation", "PCN",
                                                     "super-partnership", "cluster"}


def test_synth_twice_gives_identical_bytes(tmp_path):
    names = [SCHEMES[0].name]
    ek.synth(tmp_path / "a", schemes=names)
    ek.synth(tmp_path / "b", schemes=names)
    for f in sorted((tmp_path / "a" / names[0]).iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / names[0] / f.name).read_bytes()


@pytest.mark.parametrize("scheme", [s.name for s in SCHEMES])
def test_each_scheme_says_it_is_synthetic_and_is_realistic(scheme):
    folder = SYNTHETIC / scheme
    assert "SYNTHETIC DATA" in (folder / "README.md").read_text()
    truth = json.loads((folder / "truth.json").read_text())
    assert truth["synthetic"] is True
    spec = ek.load_spec(folder / "spec.yaml")
    assert spec.synthetic
    assert all(r.ok for r in ek.check(folder)), "synthetic data must meet the contract"
    panel = pd.read_csv(folder / "panel.csv")
    if "list_size" in panel:
        sizes = panel.groupby("practice")["list_size"].first()
        assert sizes.between(500, 45000).all() and 6000 < sizes.median() < 12000
    if "emergency_admissions" in panel:
        rate = panel["emergency_admissions"].sum() / panel.filter(
            ["list_size", "population"]).iloc[:, 0].sum() * 12 * 1000
        assert 60 < rate < 250, "emergency admissions per 1,000 per year"
    costs = pd.read_csv(folder / "patient_costs.csv")["cost"]
    assert (costs == 0).mean() > 0.05 and costs.mean() > 1.5 * costs.median()


def test_null_and_harmful_effects_are_built_in():
    values = [e["value"] for s in SCHEMES
              for e in json.loads((SYNTHETIC / s.name / "truth.json").read_text())["effects"]
              if e["scale"] == "ratio"]
    assert any(abs(v - 1) < 0.005 for v in values) and any(v > 1.02 for v in values)


def _estimates(scheme):
    spec = ek.load_spec(SYNTHETIC / scheme / "spec.yaml")
    truth = {e["outcome"]: e for e in
             json.loads((SYNTHETIC / scheme / "truth.json").read_text())["effects"]}
    built = json.loads((SYNTHETIC / scheme / "truth.json").read_text())[
        "regression_to_the_mean_built_in"]
    ev = ek.run_spec(spec)
    for analysis, res in ev.results:
        if analysis.design != "prepost":
            continue
        e = res.effects.set_index("estimand")
        yield (analysis.outcome, truth[analysis.outcome], built[analysis.data], e)


@pytest.mark.parametrize("scheme", [s.name for s in SCHEMES])
def test_adjusted_estimate_is_closer_to_the_truth_where_rtm_was_built_in(scheme):
    """Acceptance: before/after and RTM-adjusted estimates beside truth.json."""
    checked = 0
    for outcome, truth, rtm_built, e in _estimates(scheme):
        if not rtm_built:
            continue
        log = truth["scale"] == "ratio"
        f = np.log if log else (lambda v: v)
        naive = f(e.loc["before_after", "estimate"])
        adjusted = f(e.loc["before_after_rtm_adjusted", "estimate"])
        assert abs(adjusted - f(truth["value"])) < abs(naive - f(truth["value"])), outcome
        checked += 1
    built = any(json.loads((SYNTHETIC / scheme / "truth.json").read_text())[
        "regression_to_the_mean_built_in"].values())
    assert checked > 0 or not built


def test_engagement_tables_are_consistent_with_the_rest():
    """care_plans, maturity and consultations agree with the other tables and the truth."""
    from evalkit.synthetic.engagement_tables import BLOCKS

    for s in SCHEMES:
        folder = SYNTHETIC / s.name
        unit = "area" if s.unit_kind == "area" else "practice"
        plans = pd.read_csv(folder / "care_plans.csv")
        assert (plans["completed"] <= plans["eligible"]).all()
        referring = set(pd.read_csv(folder / "referrals.csv")[unit])
        assert set(plans[unit]) == referring  # the scheme's units, from the start
        m = pd.read_csv(folder / "maturity.csv")
        assert set(m["block"]) == set(BLOCKS) and m["score"].between(1, 5).all()
        assert set(m["wave"]) == {"baseline", "year 1"}
        assert m.groupby(["network", "wave", "rater"]).size().eq(len(BLOCKS)).all()
        visits = pd.read_csv(folder / "consultations.csv")
        costs = pd.read_csv(folder / "patient_costs.csv")
        start = pd.Timestamp(s.start + "-01")
        year = 3 - np.ceil((start - pd.to_datetime(visits["date"])).dt.days / 365.25
                           ).clip(lower=0).astype(int)
        per_year = visits.assign(year=year).groupby(["patient_id", "year"]).size()
        expected = costs.set_index(["patient_id", "year"])["gp_consultations"]
        expected = expected[expected.index.get_level_values(0).isin(visits["patient_id"])]
        assert per_year.reindex(expected.index, fill_value=0).equals(
            expected.astype(per_year.dtype))
        seen = costs.groupby("patient_id")["gp_consultations"].sum() > 0
        enrolled = costs.loc[(costs["enrolled"] == 1)
                             & costs["patient_id"].map(seen), "patient_id"].unique()
        assert set(enrolled) <= set(visits["patient_id"])  # every enrolled patient who consulted
        truth = json.loads((folder / "truth.json").read_text())["engagement"]["continuity"]
        assert truth["p_usual_gp_after_enrolled"] == pytest.approx(
            truth["p_usual_gp_before"] + s.continuity_change)
