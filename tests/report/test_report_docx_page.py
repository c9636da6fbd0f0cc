"""The DOCX for Word users: A4 pages, evalkit's reference document, the notice in every
page header, and quote marks that are the right way round.

Pandoc takes page size, margins, page headers and styles from a reference DOCX; without
one it writes US Letter. Both engines use ``render/assets/reference.docx`` (the built-in
engine passes it to pandoc, the reports' front matter names it for ``quarto render``).
The Quarto side is tested in ``test_quarto_reports.py``.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pypandoc
import pytest
import yaml
from report_fixtures import rendered_report

from conftest import ROOT

A4 = ("11906", "16838")  # twips (1/20 pt): 210 x 297 mm
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
ASSET = ROOT / "src" / "evalkit" / "report" / "render" / "assets" / "reference.docx"


def part(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name).decode("utf-8")


def page_sizes(path: Path) -> list[tuple[str, str]]:
    from lxml import etree

    root = etree.fromstring(part(path, "word/document.xml").encode("utf-8"))
    return [(s.get(f"{_W}w"), s.get(f"{_W}h")) for s in root.iter(f"{_W}pgSz")]


def table_style(path: Path) -> str:
    styles = part(path, "word/styles.xml")
    return re.search(r'<w:style [^>]*w:styleId="Table".*?</w:style>', styles, re.S).group(0)


# --- the reference document --------------------------------------------------------------

def test_reference_docx_is_a4_with_9pt_bordered_tables_and_the_notice_field():
    assert page_sizes(ASSET) == [A4]
    style = table_style(ASSET)
    assert '<w:sz w:val="18"/>' in style and "<w:tblBorders>" in style
    headers = [n for n in zipfile.ZipFile(ASSET).namelist() if n.startswith("word/header")]
    assert headers
    assert 'DOCPROPERTY "evalkit-page-notice"' in part(ASSET, headers[0]).replace("&quot;", '"')


def test_reference_docx_asset_is_what_its_builder_makes(tmp_path):
    """The committed asset is rebuilt by ``python -m evalkit.report.render.reference_docx``."""
    from evalkit.report.render.reference_docx import build_reference_docx

    built = build_reference_docx(tmp_path / "reference.docx")
    for name in ("word/styles.xml", "word/settings.xml", "word/header1.xml"):
        assert part(built, name) == part(ASSET, name), name
    body = re.compile(r"<w:sectPr.*</w:sectPr>", re.S)
    assert body.search(part(built, "word/document.xml")).group(0) == \
        body.search(part(ASSET, "word/document.xml")).group(0)


@pytest.mark.parametrize("report", ["evidence-summary.qmd", "comparative-synthesis.qmd"])
def test_reports_carry_the_reference_docx_for_quarto(report):
    source = (ROOT / "reports" / report).read_text(encoding="utf-8")
    front = yaml.safe_load(source.split("---")[1])
    named = front["format"]["docx"]["reference-doc"]
    assert (ROOT / "reports" / named).resolve() == ASSET.resolve()


# --- the built-in engine's DOCX --------------------------------------------------------------

def test_builtin_docx_is_a4_with_the_notice_as_text_in_every_header(tmp_path_factory):
    import docx

    path = rendered_report(tmp_path_factory)["docx"]
    assert page_sizes(path) == [A4]
    document = docx.Document(str(path))
    for section in document.sections:
        assert section.left_margin.cm == pytest.approx(2, abs=0.01)
        xml = section.header._element.xml
        assert "Synthetic data: this report is built on synthetic data" in xml
        assert "DOCPROPERTY" not in xml  # written as text: no field for Word to update
    assert "updateFields" not in part(path, "word/settings.xml")


def test_builtin_docx_without_a_notice_has_an_empty_header(tmp_path):
    """A report on real data: no notice, and no field left to show Word's 'unknown
    document property' error."""
    import docx

    from evalkit.report.render import render_qmd

    qmd = tmp_path / "plain.qmd"
    qmd.write_text("---\ntitle: Plain\n---\n\nText.\n", encoding="utf-8")
    path = render_qmd(qmd, formats=["docx"], out_dir=tmp_path, engine="builtin")["docx"]
    assert page_sizes(path) == [A4]
    for section in docx.Document(str(path)).sections:
        assert "DOCPROPERTY" not in section.header._element.xml
        assert not "".join(p.text for p in section.header.paragraphs).strip()


# --- docx-tables.lua: what a word processor must not break ---------------------------------

def test_docx_tables_filter_keeps_year_months_whole_inside_tables_too(tmp_path):
    """A year-month gets a word joiner after its hyphen in prose and in table cells, and a
    sign keeps one joiner to its currency symbol (the table pass once removed every joiner
    in a cell, so LibreOffice broke "2018-|04" in Quarto's and the built-in DOCX)."""
    from evalkit.report.render.writers import asset

    joiner = "\u2060"
    markdown = ("Leaves 2018-04 out.\n\n| when | cost |\n|---|---|\n"
                f"| 2018-04 to 2019-03 | −£5, −{joiner}£6, -$7 |\n")
    target = tmp_path / "t.docx"
    pypandoc.convert_text(markdown, "docx", format="markdown", outputfile=str(target),
                          extra_args=[f"--lua-filter={asset('docx-tables.lua')}"])
    texts = re.findall(r"<w:t[^>]*>([^<]*)</w:t>", part(target, "word/document.xml"))
    assert f"Leaves 2018-{joiner}04 out." in texts
    assert f"2018-{joiner}04 to 2019-{joiner}03" in texts
    assert f"−{joiner}£5, −{joiner}£6, -{joiner}$7" in texts


def test_docx_tables_filter_lets_a_hyphenated_word_break_but_not_a_number(tmp_path):
    """A column of hyphenated scheme names is not widened to the whole name (it took a third
    of the page from the comparative synthesis's findings); a range of numbers still
    widens its column."""
    from lxml import etree

    from evalkit.report.render.writers import asset

    def first_share(cell: str) -> float:
        sentence = " ".join(["the evidence is very uncertain"] * 12)
        markdown = (f"| Scheme | Finding |\n|:----------|:{'-' * 89}|\n"
                    f"| {cell} | {sentence} |\n")
        target = tmp_path / "w.docx"
        pypandoc.convert_text(markdown, "docx", format="markdown", outputfile=str(target),
                              extra_args=[f"--lua-filter={asset('docx-tables.lua')}"])
        root = etree.fromstring(part(target, "word/document.xml").encode("utf-8"))
        widths = [int(c.get(f"{_W}w")) for c in root.iter(f"{_W}gridCol")]
        return widths[0] / sum(widths)

    assert first_share("mental-health-primary-care") < 0.2
    assert first_share("1,234,567,890-1,234,567,890") > 0.3


def test_finish_docx_keeps_every_table_row_on_one_page(tmp_path):
    """A word processor may split a row across pages ("Community resource | team" in the
    comparative synthesis); finish_docx (both engines) forbids it, header row included,
    in WordprocessingML's order (cantSplit before tblHeader)."""
    from lxml import etree

    from evalkit.report.render.docx_post import finish_docx

    target = tmp_path / "t.docx"
    markdown = "| a | b |\n|---|---|\n| one | two |\n| three | four |\n"
    pypandoc.convert_text(markdown, "docx", format="markdown", outputfile=str(target))
    finish_docx(target, "")
    root = etree.fromstring(part(target, "word/document.xml").encode("utf-8"))
    rows = list(root.iter(f"{_W}tr"))
    assert len(rows) == 3
    for row in rows:
        names = [etree.QName(c).localname for c in row.find(f"{_W}trPr")]
        assert "cantSplit" in names, names
        if "tblHeader" in names:
            assert names.index("cantSplit") < names.index("tblHeader")


# --- quote marks ---------------------------------------------------------------------------

@pytest.mark.parametrize("symbol", ["*", "'", '"', "<5"])
def test_the_suppression_symbol_is_shown_in_typographic_quotes(symbol, monkeypatch):
    """The sentence on disclosure control quotes the symbol with ‘ and ’ themselves, so no
    smart-quote rule can turn a quoted ' or " into the wrong mark."""
    import evalkit.report.scheme as scheme_section
    from evalkit.evidence.disclosure import DisclosureRules
    from evalkit.report.context import ReportContext

    monkeypatch.setattr(scheme_section, "data_sources_markdown", lambda spec: "")
    report = ReportContext(SimpleNamespace(data_warnings=[], spec=None), {},
                                     rules=DisclosureRules(symbol=symbol))
    text = pypandoc.convert_text(report.data_markdown(), "plain", format="markdown",
                                 extra_args=["--wrap=none"])
    assert f"appear as \u2018{symbol}\u2019)" in text, text


def test_docx_and_html_show_the_symbol_in_matching_quotes(tmp_path_factory):
    import docx

    outputs = rendered_report(tmp_path_factory)
    document = docx.Document(str(outputs["docx"]))
    text = " ".join(p.text for p in document.paragraphs)
    html = outputs["html"].read_text(encoding="utf-8")
    for shown in (text, html):
        assert "appear as \u2018*\u2019)" in shown
        assert not re.search(r"\u2019\*\u2019|\u2018\*\u2018|'\*'", shown)
