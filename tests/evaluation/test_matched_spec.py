"""The matched design run from an evaluation spec, written to results.json and described
in the report (a cohort table of one row per person, as in the synthetic case studies)."""

from __future__ import annotations

import json

import pytest
import yaml

from evalkit.designs.matching import matched
from evalkit.evaluation.pipeline import run_spec
from evalkit.report.context import ReportContext
from evalkit.synthetic.selection import simulate_selection

COVARIATES = ["age", "female", "deprivation", "comorbidities"]
PRE = ["admissions_pre1", "admissions_pre2", "admissions_pre3"]


@pytest.fixture(scope="module")
def scheme(tmp_path_factory):
    folder = tmp_path_factory.mktemp("matched-scheme")
    truth = simulate_selection(n=3000, seed=11)
    truth.data.to_csv(folder / "cohort.csv", index=False)
    spec = {
        "scheme": "matched-scheme", "title": "Matched test scheme", "synthetic": True,
        "data": {"cohort": {"path": "cohort.csv", "kind": "cohort"}},
        "outcomes": {"admissions_post": {"label": "Emergency admissions in the year after",
                                         "family": "gaussian", "domain": "outcome",
                                         "better": "lower"}},
        "analyses": [{"design": "matched", "data": "cohort", "outcomes": ["admissions_post"],
                      "label": "Enrolled against matched not enrolled",
                      "options": {"treated": "enrolled", "covariates": COVARIATES,
                                  "pre": PRE, "method": "nearest", "caliper": 0.2,
                                  "unit": "person_id", "seed": 5}}],
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder, truth


def test_spec_run_equals_the_direct_call(scheme, tmp_path):
    folder, truth = scheme
    ev = run_spec(folder / "spec.yaml", out=tmp_path / "out")
    direct = matched(truth.data, outcome="admissions_post", treated="enrolled",
                     covariates=COVARIATES, pre=PRE, method="nearest", caliper=0.2,
                     unit="person_id", seed=5, scheme="matched-scheme")
    got = ev.effects.set_index("estimand")["estimate"]
    want = direct.effects.set_index("estimand")["estimate"]
    assert got.to_dict() == pytest.approx(want.to_dict(), rel=1e-12)
    assert set(got.index) >= {"att_did", "difference_in_means"}
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    designs = {e["design"] for e in saved["effects"]}
    assert designs == {"matched"}


def test_report_describes_the_matching_and_leads_with_the_did(scheme):
    folder, _ = scheme
    ctx = ReportContext(run_spec(folder / "spec.yaml"), {})
    text = ctx.design_markdown()
    assert "Matched comparison group" in text
    assert "nearest-neighbour propensity-score matching (1:1, caliper 0.2" in text
    assert "difference-in-differences on admissions pre1" in text  # the column in words
    table = ctx.effects_frame()
    assert "Matched DiD: effect on the treated" in set(table["Estimate"])
    did_row = table[table["Estimate"] == "Matched DiD: effect on the treated"].iloc[0]
    assert did_row["Maryland level"] in (3, 4)
