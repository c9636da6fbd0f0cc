"""Gathering several schemes' evaluations for comparison (evalkit.evaluation.comparative)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from evalkit.evaluation.comparative import COMMON_ESTIMANDS, collect_schemes

from conftest import SYNTHETIC

NAMES = ["virtual-wards", "gp-at-scale", "federation-mdt"]


@pytest.fixture(scope="module")
def scheme_set():
    return collect_schemes(SYNTHETIC, schemes=NAMES)


def test_every_scheme_is_evaluated_with_its_characteristics(scheme_set):
    assert scheme_set.schemes == NAMES and not scheme_set.failures
    chars = scheme_set.characteristics.set_index("scheme")
    committed = pd.read_csv(SYNTHETIC / "schemes.csv").set_index("scheme")
    assert chars.loc["gp-at-scale", "organisational_form"] == "super-partnership"
    assert chars.loc[NAMES, "population_covered"].tolist() == \
        committed.loc[NAMES, "population_covered"].tolist()
    # measured engagement comes from each scheme's own engagement profile
    for name in NAMES:
        prof = scheme_set.evaluations[name].engagement
        e = prof.effects.set_index("estimand")["estimate"]
        assert chars.loc[name, "gp_engagement_share_referring"] == e["share_referring"]
    assert set(scheme_set.effects()["scheme"]) == set(NAMES)


def test_common_effects_take_one_record_per_scheme_on_one_scale(scheme_set):
    ce = scheme_set.common_effects("emergency_admissions")
    assert ce["scheme"].tolist() == NAMES
    assert set(ce["scale"]) == {"ratio"} and ce["outcome"].eq("emergency_admissions").all()
    allfx = scheme_set.effects()
    for _, row in ce.iterrows():
        mine = allfx[(allfx["scheme"] == row["scheme"])
                     & (allfx["outcome"] == "emergency_admissions")
                     & (allfx["scale"] == "ratio")]
        assert row["evidence_level"] == mine["evidence_level"].max()  # strongest design
        same = mine[mine["design"] == row["design"]]["estimand"]
        assert COMMON_ESTIMANDS.index(row["estimand"]) == min(
            COMMON_ESTIMANDS.index(e) for e in same if e in COMMON_ESTIMANDS)
    diff = scheme_set.common_effects("emergency_admissions", scale="difference")
    assert set(diff["scale"]) <= {"difference"}


def test_a_failing_scheme_is_reported_and_the_others_go_on(tmp_path):
    for name in ("virtual-wards", "broken"):
        shutil.copytree(SYNTHETIC / "virtual-wards", tmp_path / name)
    spec = (tmp_path / "broken" / "spec.yaml").read_text()
    (tmp_path / "broken" / "spec.yaml").write_text(spec.replace("panel.csv", "nopanel.csv"))
    ss = collect_schemes(tmp_path, characteristics=SYNTHETIC / "schemes.csv")
    assert ss.schemes == ["virtual-wards"] and list(ss.failures) == ["broken"]
    assert "nopanel.csv" in ss.failures["broken"]
