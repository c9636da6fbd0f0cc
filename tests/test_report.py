"""The evidence summary, rendered with the built-in engine, read as a reader would."""

from __future__ import annotations

import re

import docx
import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

from evalkit.narrative import format_effect
from evalkit.pipeline import run_spec
from evalkit.reporting import SYNTHETIC_NOTICE, render_reports
from evalkit.results import headline_effects

from conftest import ROOT, SYNTHETIC

SCHEME = "frailty-inequalities"

_render = pytest.importorskip("evalkit.render", reason="the built-in render engine is not "
                              "in this build")
if not hasattr(_render, "render_qmd"):
    pytest.skip("the built-in render engine is not in this build", allow_module_level=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    statuses = render_reports(ROOT / "reports" / "evidence-summary.qmd", [SCHEME],
                              formats=["html", "docx", "pdf"], out=out, data_root=SYNTHETIC,
                              engine="builtin", jobs=1, progress=False)
    assert statuses[0]["ok"], statuses[0]
    return {k: v for k, v in statuses[0]["outputs"].items()}


@pytest.fixture(scope="module")
def headline():
    """Headline numbers as the report formats them, from an independent run of the spec."""
    ev = run_spec(SYNTHETIC / SCHEME / "spec.yaml")
    return [format_effect(r) for _, r in headline_effects(ev.effects).iterrows()]


def squash(text: str) -> str:
    """Text as a reader sees it: one space for any run of white space, plain minus signs."""
    return re.sub(r"\s+", " ", text.replace("\u2212", "-"))


def test_html_has_structure_numbers_notice_and_alt_text(rendered, headline):
    soup = BeautifulSoup(open(rendered["html"], encoding="utf-8").read(), "html.parser")
    text = squash(soup.get_text(" "))
    headings = [squash(h.get_text(" ", strip=True)) for h in soup.find_all(["h1", "h2"])]
    assert "Frailty programme focused on inequalities" in " ".join(headings)
    for name in ("The scheme", "Design and strength of evidence", "Headline effects",
                 "Engagement", "Appendix: provenance"):
        assert any(name in h for h in headings), name
    assert SYNTHETIC_NOTICE in text
    for number in headline:
        assert number in text, number
    assert "Maryland" in text and "Level 1 of 5" in text
    assert "Table 1" in text and "Figure 1" in text and "@fig-" not in text
    tables = soup.find_all("table")
    assert len(tables) >= 3
    images = soup.find_all("img")
    assert images and all(img.get("alt") for img in images)
    assert all(img["src"].startswith("data:") for img in images), "HTML must be self-contained"


def test_docx_has_headings_real_tables_numbers_and_notice(rendered, headline):
    document = docx.Document(rendered["docx"])
    text = squash(" ".join(p.text for p in document.paragraphs))
    cells = squash(" ".join(c.text for t in document.tables for row in t.rows
                            for c in row.cells))
    styles = {p.style.name for p in document.paragraphs if p.text.strip()}
    assert any(s.startswith("Heading") for s in styles)
    assert len(document.tables) >= 3
    for number in headline:
        assert number in cells, number
    assert SYNTHETIC_NOTICE in text
    header = " ".join(p.text for s in document.sections for p in s.header.paragraphs)
    assert SYNTHETIC_NOTICE in header


def test_pdf_has_numbers_and_notice_on_every_page(rendered, headline):
    reader = PdfReader(rendered["pdf"])
    pages = [squash(page.extract_text()) for page in reader.pages]
    assert len(pages) >= 2
    for page in pages:
        assert "Synthetic data" in page
    # Table cells wrap in the PDF, so compare without white space.
    whole = re.sub(r"\s", "", " ".join(pages))
    for number in headline:
        assert re.sub(r"\s", "", number) in whole, number
