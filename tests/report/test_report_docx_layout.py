"""The DOCX evidence summary laid out by a word processor: no word or number in a table is
broken.

A column narrower than its longest word makes Word and LibreOffice break the word
mid-way ("experienc|e", "0.00|7"), and a sign can be parted from its number ("−|14.6%").
python-docx cannot see layout, so the DOCX is converted to PDF with LibreOffice
(``soffice --headless``), and every text fragment of the PDF that is not a word of the
document but begins a longer word of a table, or begins or ends a number of a table, is
reported. In words, breaks after ``_``, ``.`` or ``-`` (file and package names,
hyphenated words) are allowed; in numbers none is. The tests skip, with the reason, when
LibreOffice is not installed (Debian: ``apt-get install -y libreoffice-writer-nogui``;
``.ci/run`` installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import docx
import pytest
from docx.shared import Inches
from pypdf import PdfReader
from report_fixtures import rendered_report

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not "
                                "installed, so the DOCX cannot be laid out; Debian: apt-get "
                                "install -y libreoffice-writer-nogui")
#: Table words checked: letters first, then letters, "_" or "." (not hashes).
WORD = re.compile(r"[A-Za-z][A-Za-z_.]{3,24}")
#: Table numbers checked: signs and currency, then a digit, then digits and what joins
#: them (p-values, percentages, money, ranges of months such as 2019-10).
NUMBER = re.compile(r"[<>\u2264\u2265\u2212+\-£$€]*\d[\d,.%\u2212\-/:×]*")


def tokens(text: str) -> list[str]:
    text = text.replace("\u2060", "")  # a word joiner is not a character a reader sees
    return [t.strip(".,;:()[]'\"\u2018\u2019\u201c\u201d*|") for t in text.split()]


def broken_pieces(pieces: set[str], words: set[str], numbers: set[str]) -> list[tuple]:
    """(piece, word) for each piece of laid-out text (not a word of the document) that
    begins a longer table word, or begins or ends a longer table number."""
    broken = {(p, w) for p in pieces for w in words
              if len(p) >= 4 and p[-1] not in "_.-" and w != p and w.startswith(p)}
    broken |= {(p, n) for p in pieces for n in numbers
               if p and n != p and (n.startswith(p) or n.endswith(p))}
    return sorted(broken)


def to_pdf(path: Path, out: Path) -> Path:
    """``path`` laid out and printed to PDF by LibreOffice, in ``out``."""
    profile = (out / "lo-profile").resolve().as_uri()
    subprocess.run([SOFFICE, f"-env:UserInstallation={profile}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(out), str(path)],
                   check=True, capture_output=True, timeout=300)
    return out / (path.stem + ".pdf")


def broken_words(docx_path: Path, pdf_path: Path) -> list[tuple[str, str]]:
    """(fragment, word) for each table word or number that the layout broke."""
    document = docx.Document(str(docx_path))
    parts = [p.text for p in document.paragraphs]
    cells: list[str] = []
    for table in document.tables:
        for row in table.rows:
            cells += [cell.text for cell in row.cells]
    for section in document.sections:
        parts += [p.text for p in section.header.paragraphs]
    known = set(tokens(" ".join(parts + cells)))
    words = {w for w in tokens(" ".join(cells)) if WORD.fullmatch(w)}
    numbers = {n for n in tokens(" ".join(cells)) if NUMBER.fullmatch(n)}
    laid_out = " ".join(page.extract_text() for page in PdfReader(str(pdf_path)).pages)
    pieces = {t for t in tokens(laid_out) if t not in known}
    return broken_pieces(pieces, words, numbers)


def test_no_table_word_is_broken_in_the_docx_summary(tmp_path_factory):
    source = rendered_report(tmp_path_factory)["docx"]
    out = tmp_path_factory.mktemp("docx-layout")
    assert broken_words(source, to_pdf(source, out)) == []


@pytest.fixture(scope="module")
def comparative_docx(tmp_path_factory) -> Path:
    """The comparative synthesis of every synthetic scheme, as DOCX (built-in engine)."""
    from evalkit.report.batch import known_schemes, render_folder

    from conftest import ROOT, SYNTHETIC

    out = tmp_path_factory.mktemp("comparative-docx")
    status = render_folder(ROOT / "reports" / "comparative-synthesis.qmd", "comparative",
                           {"schemes": ",".join(known_schemes(SYNTHETIC)),
                            "data_root": str(SYNTHETIC)}, ["docx"], out, "builtin")
    assert status["ok"], status
    return Path(status["outputs"]["docx"])


def test_no_table_word_is_broken_in_the_docx_comparative_synthesis(comparative_docx, tmp_path):
    assert broken_words(comparative_docx, to_pdf(comparative_docx, tmp_path)) == []


def test_comparative_docx_has_its_own_title_and_a_glossary_of_its_terms(comparative_docx):
    from evalkit.report.batch import known_schemes
    from evalkit.report.title import synthesis_title

    from conftest import SYNTHETIC

    document = docx.Document(str(comparative_docx))
    title = synthesis_title(len(known_schemes(SYNTHETIC)))
    assert document.core_properties.title == title
    assert [p.text for p in document.paragraphs if p.style.name == "Title"] == [title]
    glossary = next(i for i, p in enumerate(document.paragraphs)
                    if p.text == "Appendix: glossary" and p.style.name.startswith("Heading"))
    entries = " ".join(p.text for p in document.paragraphs[glossary:])
    assert "Hartung-Knapp-Sidik-Jonkman (HKSJ) interval:" in entries
    assert "Cronbach" not in entries  # no survey scale in the synthesis


def test_the_check_sees_a_word_broken_by_a_narrow_column(tmp_path):
    document = docx.Document()
    table = document.add_table(rows=2, cols=2)
    table.autofit = False
    for row, (left, right) in zip(table.rows, [("Domain", "What we found"),
                                               ("Engagement", "Staff experience")],
                                  strict=True):
        row.cells[0].text, row.cells[1].text = left, right
        row.cells[0].width, row.cells[1].width = Inches(0.75), Inches(5.5)
    table.columns[0].width, table.columns[1].width = Inches(0.75), Inches(5.5)
    path = tmp_path / "narrow.docx"
    document.save(str(path))
    found = broken_words(path, to_pdf(path, tmp_path))
    assert any(word == "Engagement" for _, word in found), found


def test_the_check_sees_a_number_broken_or_parted_from_its_sign(tmp_path):
    document = docx.Document()
    table = document.add_table(rows=2, cols=2)
    table.autofit = False
    for row, (left, right) in zip(table.rows, [("p", "Effect"), ("0.0000007", "x −14.6%")],
                                  strict=True):
        row.cells[0].text, row.cells[1].text = left, right
        row.cells[0].width, row.cells[1].width = Inches(0.45), Inches(0.45)
    table.columns[0].width, table.columns[1].width = Inches(0.45), Inches(0.45)
    path = tmp_path / "narrow-numbers.docx"
    document.save(str(path))
    found = broken_words(path, to_pdf(path, tmp_path))
    assert any(number == "0.0000007" for _, number in found), found
