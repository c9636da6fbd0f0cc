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
