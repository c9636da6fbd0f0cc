"""The DOCX evidence summary laid out by a word processor: no word in a table is broken.

A column narrower than its longest word makes Word and LibreOffice break the word
mid-way ("experienc|e"). python-docx cannot see layout, so the DOCX is converted to PDF
with LibreOffice (``soffice --headless``), and every text fragment of the PDF that is not
a word of the document but begins a longer word of a table is reported. Breaks after
``_``, ``.`` or ``-`` (file and package names, hyphenated words) are allowed. The tests
skip, with the reason, when LibreOffice is not installed (Debian: ``apt-get install -y
libreoffice-writer-nogui``; ``.ci/run`` installs it).
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
#: Table words checked: letters first, then letters, "_" or "." (not hashes or numbers).
WORD = re.compile(r"[A-Za-z][A-Za-z_.]{3,24}")


def tokens(text: str) -> list[str]:
    return [t.strip(".,;:()[]'\"\u2018\u2019\u201c\u201d*|") for t in text.split()]


def to_pdf(path: Path, out: Path) -> Path:
    """``path`` laid out and printed to PDF by LibreOffice, in ``out``."""
    profile = (out / "lo-profile").resolve().as_uri()
    subprocess.run([SOFFICE, f"-env:UserInstallation={profile}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(out), str(path)],
                   check=True, capture_output=True, timeout=300)
    return out / (path.stem + ".pdf")


def broken_words(docx_path: Path, pdf_path: Path) -> list[tuple[str, str]]:
    """(fragment, word) for each table word that the layout broke mid-way."""
    document = docx.Document(str(docx_path))
    parts = [p.text for p in document.paragraphs]
    words: set[str] = set()
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                parts.append(cell.text)
                words.update(w for w in tokens(cell.text) if WORD.fullmatch(w))
    for section in document.sections:
        parts += [p.text for p in section.header.paragraphs]
    known = set(tokens(" ".join(parts)))
    laid_out = " ".join(page.extract_text() for page in PdfReader(str(pdf_path)).pages)
    pieces = {t for t in tokens(laid_out)
              if len(t) >= 4 and t not in known and t[-1] not in "_.-"}
    return sorted({(p, w) for p in pieces for w in words if w != p and w.startswith(p)})


def test_no_table_word_is_broken_in_the_docx_summary(tmp_path_factory):
    source = rendered_report(tmp_path_factory)["docx"]
    out = tmp_path_factory.mktemp("docx-layout")
    assert broken_words(source, to_pdf(source, out)) == []


def test_no_table_word_is_broken_in_the_docx_comparative_synthesis(tmp_path):
    from evalkit.reporting import known_schemes, render_folder

    from conftest import ROOT, SYNTHETIC

    status = render_folder(ROOT / "reports" / "comparative-synthesis.qmd", "comparative",
                           {"schemes": ",".join(known_schemes(SYNTHETIC)),
                            "data_root": str(SYNTHETIC)}, ["docx"], tmp_path, "builtin")
    assert status["ok"], status
    source = Path(status["outputs"]["docx"])
    assert broken_words(source, to_pdf(source, tmp_path)) == []


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
