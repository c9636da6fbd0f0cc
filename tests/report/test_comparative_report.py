"""The comparative synthesis: its content, its disclosure control and the rendered report."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import docx
import numpy as np
import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

import evalkit as ek
from evalkit.cli import main
from evalkit.report.batch import render_folder
from evalkit.report.comparative import CHECKLIST, DOMAINS, load_comparison
from evalkit.report.scheme import SYNTHETIC_NOTICE

from conftest import ROOT, SYNTHETIC

NAMES = "virtual-wards,gp-at-scale,dementia-service,community-resource-team"


@pytest.fixture(scope="module")
def report():
    return load_comparison(NAMES, data_root=SYNTHETIC)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2212", "-"))


def test_pooled_effect_is_the_meta_analysis_of_the_common_effects(report):
    ce = report.schemes.common_effects("emergency_admissions")
    direct = ek.meta_analysis(ce, estimate="estimate", se="se", label="scheme",
                              method="reml", hksj=True)
    mine = report.meta["emergency_admissions"].effects.set_index("estimand").loc["pooled"]
    ref = direct.effects.set_index("estimand").loc["pooled"]
    assert mine["estimate"] == pytest.approx(ref["estimate"], rel=1e-12)
    assert (mine["ci_low"], mine["ci_high"]) == pytest.approx((ref["ci_low"], ref["ci_high"]))
    text = report.meta_markdown("emergency_admissions")
    assert f"{mine['estimate']:.3f}" in text and "prediction interval" in text


def test_matrix_has_every_scheme_and_domain_in_words(report):
    frame = report.matrix_frame()
    assert frame["scheme"].tolist() == NAMES.split(",")
    table = report.matrix_markdown()
    for dom in DOMAINS:
        assert dom in table
    # colour never carries meaning alone: each cell states direction and certainty in words
    assert re.search(r"(better|worse|no clear change), (high|moderate|low|very low)", table)


def test_matrix_rates_each_finding_as_its_evidence_summary_does(report):
    """Issue 23.2: the matrix rated engagement "better, very low" for every scheme while
    every evidence summary says engagement is descriptive and not rated. Each cell's
    certainty is now the summary's own word for the same domain."""
    from evalkit.report.summary import evidence_summary

    frame = report.matrix_frame().set_index("scheme")
    domains = {"Engagement": "Engagement", "Outcomes": "Population health outcomes",
               "Costs": "Cost per capita", "Staff experience": "Staff experience"}
    checked = 0
    for scheme, ev in report.schemes.evaluations.items():
        table = evidence_summary(ev).table
        for column, domain in domains.items():
            rows = table[(table["domain"] == domain) & table["outcome"].notna()]
            cell = frame.loc[scheme].get(column)
            if rows.empty:
                assert not isinstance(cell, tuple)
                continue
            word = rows.iloc[0]["certainty"]
            assert cell[1] == (word if isinstance(word, str) else "not rated"), (scheme,
                                                                                  column)
            checked += 1
        assert frame.loc[scheme, "Engagement"][:2] == ("descriptive", "not rated")
    assert checked >= 8
    assert "■ described, not rated" in report.matrix_markdown()


def test_synthesis_and_summaries_agree_on_every_category(report):
    """A category (certainty word, economic verdict, rated or not) never differs between a
    scheme's evidence summary and the comparative synthesis (issue 23.2)."""
    from evalkit.economics.wording import classify_result
    from evalkit.report.summary import evidence_summary

    cert = report.certainty.table.set_index(["scheme", "outcome"])
    econ = report.economic_markdown()
    compared = 0
    for scheme, ev in report.schemes.evaluations.items():
        table = evidence_summary(ev).table
        for row in table[table["certainty"].notna() & (table["design"] != "likert_change")
                         ].itertuples():
            assert cert.loc[(scheme, row.outcome), "certainty"] == row.certainty, (
                scheme, row.outcome)
            compared += 1
        res = next((r for a, r in ev.results if a.design == "economic"), None)
        if res is not None:
            assert classify_result(res).label() in econ
    assert compared >= 8


def test_certainty_table_carries_the_findings(report):
    text = report.certainty_markdown()
    t = report.certainty.table
    row = t[(t["scheme"] == "virtual-wards") & (t["outcome"] == "emergency_admissions")]
    assert row["certainty"].iloc[0] in text and "certainty" in text


def test_counts_follow_the_evidence_summaries_rule(report):
    """Counts of organisations are shown as they are (as in every evidence summary);
    the referrals they made count patients and are controlled."""
    res = report.disclosure_frame()
    shown = res.table.set_index("scheme")
    raw = {s: ev.engagement.indices.frames["by_unit"]
           for s, ev in report.schemes.evaluations.items()}
    for scheme, bu in raw.items():
        never = int((bu["referrals"] == 0).sum())
        cells = shown.loc[scheme, ["units never referring", "units referring"]].tolist()
        assert cells == [never, len(bu) - never]
        total = int(bu["referrals"].sum())
        assert shown.loc[scheme, "referrals in the first year"] == (
            "*" if 1 <= total <= 7 else f"{total:,}")
    text = report.disclosure_markdown()
    assert "NHS HES" in text and "Counts of organisations" in text
    provenance = report.provenance_markdown()
    assert "disclosure" in provenance
    row = next(line for line in provenance.splitlines() if line.startswith("| disclosure"))
    assert report.rules.name in row  # the rule's name, not a Python dict
    assert not re.search(r"[{}]|'\w+': ", row), row


def test_checklist_maps_squire_and_trend_items(report):
    text = report.checklist_markdown()
    assert "SQUIRE" in text and "TREND" in text and len(CHECKLIST) >= 10


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("comparative")
    status = render_folder(ROOT / "reports" / "comparative-synthesis.qmd", "comparative",
                           {"schemes": NAMES, "data_root": str(SYNTHETIC)},
                           ["html", "docx", "pdf"], out, "builtin")
    assert status["ok"], status
    return status["outputs"]


def test_rendered_report_reads_as_a_reader_would(rendered, report):
    soup = BeautifulSoup(open(rendered["html"], encoding="utf-8").read(), "html.parser")
    heads = [squash(h.get_text(" ", strip=True)) for h in soup.find_all(["h2", "h3"])]
    for h in ("Summary", "Outcomes across schemes", "Certainty of the evidence",
              "Costs across schemes", "Appendix: SQUIRE 2.0 and TREND checklist"):
        assert any(h in x for x in heads), (h, heads)
    assert len(soup.find_all("table")) >= 6
    imgs = soup.find_all("img")
    assert len(imgs) >= 3 and all(i.get("alt") for i in imgs)
    body = squash(soup.get_text(" "))
    pooled = report.meta["emergency_admissions"].effects.set_index("estimand").loc["pooled"]
    assert f"{pooled['estimate']:.3f}" in body and SYNTHETIC_NOTICE in body
    d = docx.Document(rendered["docx"])
    assert len(d.tables) >= 6
    assert any(p.style.name.startswith("Heading") for p in d.paragraphs)
    pages = PdfReader(rendered["pdf"]).pages
    assert all("Synthetic data" in squash(p.extract_text()) for p in pages)
    assert f"{pooled['estimate']:.3f}" in squash(" ".join(p.extract_text() for p in pages))


def test_compare_cli_refuses_a_missing_report_with_exit_2(tmp_path, capsys):
    code = main(["compare", "--qmd", str(tmp_path / "none.qmd"), "--out", str(tmp_path)])
    assert code == 2
    assert "report source not found" in capsys.readouterr().err
    assert np.isfinite(code)


def test_no_text_in_the_pdf_runs_into_other_text(rendered):
    # Before columns were sized by their words, the certainty table's "Maryland level" and
    # "Certainty" columns were a letter wide and their words ran into the next column.
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (Debian: apt-get install -y poppler-utils)")
    from test_report_pages import overlapping_words

    assert overlapping_words(Path(rendered["pdf"])) == []
