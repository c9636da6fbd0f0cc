"""The evidence summary, rendered with the built-in engine, read as a reader would.

One scheme (frailty-inequalities, which has every kind of section: before/after,
controlled ITS, matched cohort, economic evaluation, engagement) is rendered once in all
three formats. The HTML is parsed with BeautifulSoup, the DOCX read with python-docx and
the PDF with pypdf. What the report should say comes from an independent run of the spec
(formatted as the report formats numbers) and from the plot functions' own alt text.
"""

from __future__ import annotations

import re
from pathlib import Path

import docx
import pytest
from bs4 import BeautifulSoup
from docx.oxml.ns import qn
from pypdf import PdfReader

from evalkit.evaluation.pipeline import run_spec
from evalkit.evidence.narrative import format_effect
from evalkit.report.batch import render_reports
from evalkit.report.checklist import SECTIONS
from evalkit.report.figures import FIGURE_CAPTIONS
from evalkit.report.scheme import SYNTHETIC_NOTICE
from evalkit.report.summary import ENGAGEMENT, QUADRUPLE_AIM
from evalkit.results import headline_effects

from conftest import ROOT, SYNTHETIC

SCHEME = "frailty-inequalities"
REPORT = ROOT / "reports" / "evidence-summary.qmd"

_render = pytest.importorskip("evalkit.report.render", reason="the built-in render engine is not "
                              "in this build")
if not hasattr(_render, "render_qmd"):
    pytest.skip("the built-in render engine is not in this build", allow_module_level=True)


def _render_once(out: Path) -> list[dict]:
    return render_reports(REPORT, [SCHEME], formats=["html", "docx", "pdf"], out=out,
                          data_root=SYNTHETIC, engine="builtin", jobs=1, progress=False)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    statuses = _render_once(out)
    assert statuses[0]["ok"], statuses[0]
    paths = {k: Path(v) for k, v in statuses[0]["outputs"].items()}
    paths["out"] = out
    return paths


@pytest.fixture(scope="module")
def evaluation():
    return run_spec(SYNTHETIC / SCHEME / "spec.yaml")


@pytest.fixture(scope="module")
def headline(evaluation):
    """Headline numbers as the report formats them, from an independent run of the spec,
    squashed as the text they are looked for in is (plain minus signs)."""
    return [squash(format_effect(r)) for _, r in headline_effects(evaluation.effects).iterrows()]


@pytest.fixture(scope="module")
def expected_alts(evaluation):
    """Alt texts the plot functions give for some of the figures, drawn independently."""
    from evalkit.plots import effects_plot, its_plot, love_plot
    from evalkit.plots.economics import ce_plane_plot
    from evalkit.plots.funnel import funnel_plot

    spec = evaluation.spec
    labels = {o: spec.outcome_label(o) for o in spec.outcomes}
    res = {a.design: r for a, r in reversed(evaluation.results)}
    its = next(r for a, r in evaluation.results if a.design == "its")
    return [effects_plot(evaluation.effects, labels=labels)[1],
            its_plot(its, label=labels["emergency_admissions"])[1],
            love_plot(res["matched"])[1], ce_plane_plot(res["economic"])[1],
            funnel_plot(evaluation.engagement.funnel,
                        label="referrals per 1,000 patients a year")[1]]


def squash(text: str) -> str:
    """Text as a reader sees it: one space for any run of white space, plain minus signs."""
    return re.sub(r"\s+", " ", text.replace("\u2212", "-"))


def clean(alt: str) -> str:
    """An alt text as the report writes it in an attribute (quotes and braces replaced)."""
    return " ".join(alt.split()).replace('"', "'").replace("{", "(").replace("}", ")")


@pytest.fixture(scope="module")
def soup(rendered):
    return BeautifulSoup(rendered["html"].read_text(encoding="utf-8"), "html.parser")


@pytest.fixture(scope="module")
def pdf_alts(rendered):
    """The alt texts in the PDF's structure tree (tagged PDF), in document order."""
    found = []

    def walk(node):
        node = node.get_object()
        if isinstance(node, dict):
            if "/Alt" in node:
                found.append(str(node["/Alt"]))
            kids = node.get("/K")
            for kid in kids if isinstance(kids, list) else [kids] if kids is not None else []:
                try:
                    walk(kid)
                except (AttributeError, TypeError):
                    continue

    walk(PdfReader(rendered["pdf"]).trailer["/Root"]["/StructTreeRoot"])
    return found


# --------------------------------------------------------------------------- HTML
def test_html_sections_come_in_order_after_the_title_and_notice(soup):
    summary = soup.find(id="sec-summary")
    before = squash(" ".join(summary.find_all_previous(string=True)[::-1]))
    assert SYNTHETIC_NOTICE in before  # the notice comes before the summary
    h2 = [h for h in soup.find_all("h2")]
    assert [h.get("id") for h in h2] == list(SECTIONS)
    assert [squash(h.get_text(" ", strip=True)) for h in h2] == list(SECTIONS.values())
    h1 = [squash(h.get_text(" ", strip=True)) for h in soup.find_all("h1")]
    assert "Frailty programme focused on inequalities: evidence summary" in h1


def test_html_summary_table_by_quadruple_aim_domain(soup, evaluation):
    summary = soup.find(id="sec-summary")
    table = summary.find_next("table")
    rows = [[squash(td.get_text(" ", strip=True)) for td in tr.find_all(["td", "th"])]
            for tr in table.find_all("tr")]
    assert rows[0] == ["Domain", "What we found"]
    domains = [r[0] for r in rows[1:] if r[0]]
    assert domains == [*QUADRUPLE_AIM, ENGAGEMENT]
    pe = next(r for r in rows if r[0] == "Patient experience")
    assert pe[1].startswith("Not measured in this evaluation")
    body = " ".join(r[1] for r in rows[1:])
    assert "low certainty" in body and "Maryland level 3" in body and "95% CI" in body
    # the summary table comes before the scheme section
    assert table.find_previous("h2").get("id") == "sec-summary"


def test_html_numbers_tables_and_cross_references(soup, headline):
    text = squash(soup.get_text(" "))
    for number in headline:
        assert number in text, number
    assert "Maryland" in text and "Level 1 of 5" in text
    assert "@fig-" not in text and "@tbl-" not in text
    caps = [squash(c.get_text(" ", strip=True)) for c in soup.find_all("figcaption")]
    assert [int(re.match(r"Figure (\d+):", c).group(1)) for c in caps] == \
        list(range(1, len(caps) + 1))
    tables = soup.find_all("table")
    assert len(tables) >= 10
    assert all(t.find("th") is not None for t in tables), "every table has a header row"


def test_html_every_image_has_alt_text_that_states_the_finding(soup, expected_alts):
    images = soup.find_all("img")
    assert len(images) == len(soup.find_all("figcaption")) >= 10
    alts = [img.get("alt", "") for img in images]
    assert all(re.search(r"\d", a) for a in alts), "every alt text states numbers"
    for alt in expected_alts:
        assert clean(alt) in alts, alt[:60]
    assert all(img["src"].startswith("data:") for img in images), "HTML must be self-contained"
    # alt text is not the caption
    caps = {squash(c.get_text(" ", strip=True)).split(": ", 1)[1]
            for c in soup.find_all("figcaption")}
    assert not caps & set(alts)


def test_html_internal_links_resolve(soup):
    ids = {tag.get("id") for tag in soup.find_all(id=True)}
    links = [a["href"][1:] for a in soup.find_all("a", href=True) if a["href"].startswith("#")]
    checklist_links = [h for h in links if h.startswith("sec-")]
    assert len(checklist_links) >= 20
    assert set(links) <= ids


def test_html_checklist_disclosure_and_provenance(soup):
    text = squash(soup.get_text(" "))
    assert "SQUIRE 2.0 reporting items" in text and "TREND reporting items" in text
    assert "not reported" in text and "not applicable" in text
    assert re.search(r"NHS HES small numbers: counts from 1 to 7 are shown as .\*.", text)
    prov = soup.find(id="sec-provenance").find_next("table")
    facts = {squash(tr.find_all("td")[0].get_text(" ", strip=True)):
             squash(tr.find_all("td")[1].get_text(" ", strip=True))
             for tr in prov.find_all("tr") if tr.find_all("td")}
    assert re.fullmatch(r"builtin \(pandoc [\d.]+, typst [\d.]+\)",
                        facts["Render engine and version"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", facts["Rendered at (UTC)"])
    assert facts["Uncommitted changes (git dirty flag)"] in ("yes", "no")
    assert re.fullmatch(r"[0-9a-f]{40}", facts["Git commit"])


def test_qmd_is_plain_quarto():
    """Figures come from `output: asis` chunks that print Quarto figure Markdown; no chunk
    carries a static fig-alt, and every figure the report asks for has a caption."""
    from evalkit.report.render import parse_qmd

    doc = parse_qmd(REPORT)
    for cell in doc.code_cells:
        assert "fig-alt" not in cell.options and "fig-cap" not in cell.options
        assert not str(cell.label or "").startswith("fig-")
    asked = re.findall(r'report\.figure\("(fig-[a-z-]+)"\)', REPORT.read_text())
    assert sorted(asked) == sorted(FIGURE_CAPTIONS)
    for cell in doc.code_cells:
        if "report.figure(" in cell.source:
            assert cell.options.get("output") == "asis"


def test_an_unchanged_report_is_not_rendered_again(rendered):
    """The time of rendering is not in the cache key: a second render is a cache hit."""
    key = (rendered["out"] / SCHEME / ".render-key").read_text()
    status = _render_once(rendered["out"])[0]
    assert status["ok"] and status["cached"]
    assert (rendered["out"] / SCHEME / ".render-key").read_text() == key


# --------------------------------------------------------------------------- DOCX
def test_docx_headings_tables_numbers_alt_text_and_notice(rendered, headline, soup):
    document = docx.Document(rendered["docx"])
    text = squash(" ".join(p.text for p in document.paragraphs))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    for name in SECTIONS.values():
        assert name in headings, name
    cells = squash(" ".join(c.text for t in document.tables for row in t.rows
                            for c in row.cells))
    for number in headline:
        assert number in cells, number
    first = document.tables[0]
    assert [c.text for c in first.rows[0].cells] == ["Domain", "What we found"]
    assert [r.cells[0].text for r in first.rows[1:] if r.cells[0].text] == \
        [*QUADRUPLE_AIM, ENGAGEMENT]
    assert len(document.tables) >= 10
    descr = [el.get("descr") for el in document.element.body.iter(qn("wp:docPr"))]
    assert descr == [img.get("alt") for img in soup.find_all("img")]
    assert SYNTHETIC_NOTICE in text
    header = " ".join(p.text for s in document.sections for p in s.header.paragraphs)
    assert SYNTHETIC_NOTICE in header


# --------------------------------------------------------------------------- PDF
def test_pdf_numbers_notice_on_every_page_and_summary_first(rendered, headline):
    reader = PdfReader(rendered["pdf"])
    pages = [squash(page.extract_text()) for page in reader.pages]
    assert len(pages) >= 5
    for page in pages:
        assert "Synthetic data" in page
    # On the first page: the running header and the warning box, not a third copy (the
    # body's page-notice Div feeds the headers and is dropped from paged formats).
    assert pages[0].count("Synthetic data: this report") == 2
    # Table cells wrap in the PDF, so compare without white space.
    whole = re.sub(r"\s", "", " ".join(pages))
    for number in headline:
        assert re.sub(r"\s", "", number) in whole, number
    first = re.sub(r"\s", "", pages[0])
    for domain in ("Summary", "Patientexperience", "Populationhealthoutcomes",
                   "Costpercapita", "Staffexperience"):
        assert domain in first, domain


def test_pdf_summary_table_of_the_longest_scheme_fits_page_one(tmp_path):
    """virtual-wards has the most findings (10): the whole table is on page 1, and page 2
    starts with the next section, not with the rest of the table."""
    from evalkit.report.context import load_report

    scheme = "virtual-wards"
    table = load_report(scheme, spec=SYNTHETIC / scheme / "spec.yaml").findings_summary.table
    assert len(table) >= 10
    status = render_reports(REPORT, [scheme], formats=["pdf"], out=tmp_path,
                            data_root=SYNTHETIC, engine="builtin", jobs=1, progress=False)[0]
    assert status["ok"], status.get("error")
    reader = PdfReader(status["outputs"]["pdf"])
    first, second = (re.sub(r"\s", "", squash(reader.pages[i].extract_text()))
                     for i in (0, 1))
    for measure in table.loc[table["outcome"].notna(), "measure"]:
        assert re.sub(r"\s", "", measure) in first, measure
    assert "Domain" not in second.split("Thescheme")[0], "the table runs onto page 2"


def test_pdf_figures_carry_the_same_alt_text(pdf_alts, soup):
    assert pdf_alts == [img.get("alt") for img in soup.find_all("img")]


def _header_repeats(pages: list[str], start: int, header: str) -> list[str]:
    """The pages after ``start`` that a table reaches, each checked to open with its
    header row (the first few text lines after the running header)."""
    spanned = []
    for page in pages[start + 1:]:
        body = [line for line in page.splitlines() if line.strip()]
        if not any(re.match(header, line) for line in body[:4]):
            break
        spanned.append(page)
    return spanned


def test_pdf_long_tables_break_with_their_header_repeated(rendered, tmp_path):
    """A table longer than a page breaks across pages with its header row repeated, under
    the evidence summary's own typst settings (its front matter); in the report itself,
    any page the package table reaches opens with its header."""
    from evalkit.report.render import render_qmd

    reader = PdfReader(rendered["pdf"])
    pages = [page.extract_text() for page in reader.pages]
    start = next(i for i, p in enumerate(pages) if "Package versions" in p)
    for page in pages[start + 1:]:
        if "Package" in page and "Version" in page:
            body = [line for line in page.splitlines() if line.strip()]
            assert any(re.match(r"^Package\s+Version", line) for line in body[:4]), body[:4]
    # A table of 150 rows, with the report's front matter, must span pages.
    front = REPORT.read_text(encoding="utf-8").split("\n---\n", 1)[0] + "\n---\n"
    rows = "\n".join(f"| row {i} | {i * i} |" for i in range(150))
    doc = tmp_path / "long.qmd"
    doc.write_text(front + "\n| Item | Value |\n|---|---|\n" + rows + "\n", encoding="utf-8")
    out = render_qmd(doc, formats=("pdf",), out_dir=tmp_path / "out", engine="builtin")
    long_pages = [p.extract_text() for p in PdfReader(out["pdf"]).pages]
    assert len(long_pages) >= 3
    first = next(i for i, p in enumerate(long_pages) if "row 0" in p)
    spanned = _header_repeats(long_pages, first, r"^Item\s+Value")
    assert len(spanned) == len(long_pages) - first - 1 >= 2
    text = " ".join(long_pages)
    assert all(f"row {i} " in text or f"row {i}\n" in text for i in (0, 75, 149))
