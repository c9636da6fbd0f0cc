"""No page of the evidence summary's PDF is left more than half blank.

A figure too tall for what is left of a page used to be pushed to the next page with the
text after it, leaving the page two-thirds blank (frailty-inequalities, page 9). Each page
of the PDF rendered by the built-in engine is drawn in grey (``pdftoppm``) and its body
(inside the 2 cm margins, so without the page header and the page number) must be inked
at least halfway down; the last page, where the report ends, is exempt.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from report_fixtures import rendered_report

#: The least share of a page's body, from its top, that must reach its last line of ink.
LEAST_FILL = 0.5
#: The page's margin as a share of its height (2 cm of A4's 29.7 cm).
MARGIN = 2 / 29.7


def page_fill(pdf: Path, folder: Path, dpi: int = 30) -> list[float]:
    """For each page, how far down its body the last inked row is (0 blank, 1 full)."""
    from PIL import Image

    tool = shutil.which("pdftoppm")
    if tool is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    subprocess.run([tool, "-r", str(dpi), "-gray", "-png", str(pdf), str(folder / "p")],
                   check=True, capture_output=True)
    fills = []
    for page in sorted(folder.glob("p-*.png"), key=lambda p: int(p.stem.split("-")[-1])):
        grey = np.asarray(Image.open(page).convert("L"))
        h = grey.shape[0]
        body = grey[int(h * MARGIN): int(h * (1 - MARGIN))]
        inked = np.flatnonzero((body < 200).any(axis=1))
        fills.append(0.0 if inked.size == 0 else (inked[-1] + 1) / body.shape[0])
    return fills


@pytest.fixture(scope="module")
def pdf(tmp_path_factory):
    return rendered_report(tmp_path_factory)["pdf"]


def _measure_can_fail(tmp_path: Path) -> None:
    """The measure can fail: a page with a few lines of text at its top is nearly blank."""
    typst = pytest.importorskip("typst")
    tmp_path.mkdir()
    (tmp_path / "short.typ").write_text('#set page(paper: "a4", margin: 2cm)\n'
                                        "#lorem(60)\n#pagebreak()\n#lorem(2000)\n",
                                        encoding="utf-8")
    typst.compile(str(tmp_path / "short.typ"), output=str(tmp_path / "short.pdf"))
    folder = tmp_path / "pages"
    folder.mkdir()
    fills = page_fill(tmp_path / "short.pdf", folder)
    assert fills[0] < 0.2 and fills[1] > 0.9


def test_no_page_but_the_last_is_more_than_half_blank(pdf, tmp_path):
    _measure_can_fail(tmp_path / "check")
    folder = tmp_path / "report"
    folder.mkdir()
    fills = page_fill(pdf, folder)
    assert len(fills) > 2
    blank = [(i + 1, round(f, 2)) for i, f in enumerate(fills[:-1]) if f < LEAST_FILL]
    assert blank == [], f"pages (number, share of the body used) more than half blank: {blank}"
