"""The SQUIRE 2.0 / TREND checklist of the evidence summary (evalkit.report.checklist).

Item counts and names are from the published checklists: SQUIRE 2.0 has 18 items
(Ogrinc et al. 2016, BMJ Qual Saf 25:986-992, Table 1) and TREND 22 (Des Jarlais et al.
2004, Am J Public Health 94:361-366, Table 1).
"""

from __future__ import annotations

import re

import pytest

from evalkit.evaluation.pipeline import run_spec
from evalkit.report.checklist import (
    SECTIONS,
    STATUSES,
    ChecklistFacts,
    checklist,
    checklist_facts,
    section_link,
)

from conftest import ROOT, SYNTHETIC

REPORT = ROOT / "reports" / "evidence-summary.qmd"


def test_squire_and_trend_have_their_published_items():
    table = checklist(ChecklistFacts(comparison=True)).to_frame()
    squire = table[table["guideline"] == "SQUIRE 2.0"]
    trend = table[table["guideline"] == "TREND"]
    assert squire["number"].tolist() == [str(i) for i in range(1, 19)]
    assert trend["number"].tolist() == [str(i) for i in range(1, 23)]
    # spot checks against the published tables
    assert squire.set_index("number").loc["4", "item"] == "Available knowledge"
    assert squire.set_index("number").loc["16", "item"] == "Limitations"
    assert trend.set_index("number").loc["8", "item"] == "Assignment method"
    assert trend.set_index("number").loc["15", "item"] == "Baseline equivalence"
    assert set(table["status"]) <= set(STATUSES)


def test_trend_only_for_non_randomised_comparisons():
    table = checklist(ChecklistFacts(comparison=False)).to_frame()
    assert set(table["guideline"]) == {"SQUIRE 2.0"}


def test_statuses_follow_the_evaluation():
    synthetic = checklist(ChecklistFacts(synthetic=True)).to_frame().set_index("item")
    real = checklist(ChecklistFacts(synthetic=False)).to_frame().set_index("item")
    assert synthetic.loc["Funding", "status"] == "not applicable"
    assert real.loc["Funding", "status"] == "not reported"
    no_eng = checklist(ChecklistFacts(engagement=False)).to_frame().set_index("item")
    assert no_eng.loc["Study of the intervention(s)", "status"] == "not reported"
    matched = checklist(ChecklistFacts(matched=True)).to_frame().set_index("item")
    assert matched.loc["Participant flow", "status"] == "partly reported"
    assert checklist(ChecklistFacts()).to_frame().set_index("item").loc[
        "Participant flow", "status"] == "not reported"


def test_facts_from_the_schemes():
    frailty = checklist_facts(run_spec(SYNTHETIC / "frailty-inequalities" / "spec.yaml"))
    assert frailty.comparison and frailty.matched and frailty.costs and frailty.synthetic
    assert not frailty.staggered
    federation = checklist_facts(run_spec(SYNTHETIC / "federation-mdt" / "spec.yaml"))
    assert federation.staggered and not federation.matched


def test_every_link_names_a_section_of_the_report():
    """Each link in the checklist points to a heading that the .qmd really has, and the
    report's sections come in the order the checklist knows them."""
    source = REPORT.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+?) \{#(sec-[a-z-]+)\}\s*$", source, flags=re.M)
    assert [h[1] for h in headings] == list(SECTIONS)
    assert {k: v for v, k in headings} == SECTIONS
    md = checklist(ChecklistFacts(comparison=True, matched=True, staggered=True)).markdown()
    targets = set(re.findall(r"\]\(#(sec-[a-z-]+)\)", md))
    assert targets and targets <= set(SECTIONS)
    assert "{#tbl-squire}" in md and "{#tbl-trend}" in md


def test_section_link():
    assert section_link("sec-scheme") == "[The scheme](#sec-scheme)"
    with pytest.raises(KeyError):
        section_link("sec-nope")
