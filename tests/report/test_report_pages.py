"""The PDF evidence summary as a reader sees it: every page drawn as a picture and looked at.

``pdftoppm`` (Debian's poppler-utils) turns each page into a PNG at 72 dpi, so that one
pixel is one PDF point. On those pictures the tests check that

* no page is blank (ink inside the text area, beyond the running header and footer);
* nothing overflows: the side margins hold no ink at all, and the top and bottom margins
  hold only the running header and footer lines, which stand clear of the text area and of
  the page edge;
* the synthetic-data notice's running header is drawn on every page;
* every figure the PDF places (found with pypdf) lies inside the text area, is drawn (has
  ink) and shows colours of the house palette, and the PDF has as many figures as the HTML.

Each detector is first shown to fire on a small PDF made here with typst, with the report's
own margins: a blank page, a too-wide block, a too-tall box, a white and a grey figure and a
too-wide figure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from bs4 import BeautifulSoup
from PIL import Image  # Pillow: a dependency of matplotlib, so always present
from pypdf import PdfReader
from report_fixtures import REPORT, rendered_report

from evalkit.plots import palette

PDFTOPPM = shutil.which("pdftoppm")
pytestmark = pytest.mark.skipif(
    PDFTOPPM is None, reason="pdftoppm is not installed (Debian: apt-get install -y "
                             "poppler-utils); the PDF pages cannot be drawn as pictures")

#: Resolution of the page pictures: 72 dpi makes one pixel one PDF point.
DPI = 72
MM = DPI / 25.4  # pixels per millimetre
#: A pixel is ink when any channel is darker than this (0-255). The pale table fills
#: (#E8EDEE and lighter) are not ink; text, rules and figures are.
INK_LEVEL = 230
#: A page whose text area has less ink than this share of its pixels is blank. The
#: emptiest real page (a short table) has about 2%; one line of text has about 0.3%.
BLANK_SHARE = 0.002
#: Allowance at the edge of the text area for anti-aliasing and box borders.
TOLERANCE_MM = 1.0
#: The band of each top and bottom margin next to the text area that must be clear,
#: so that running headers and footers stand apart from the body (they sit about 6 mm
#: away) and body content running into the margin is seen.
CLEAR_MM = 2.0
#: Nothing is drawn this close to the edge of the paper.
EDGE_MM = 5.0
#: A figure is drawn when this share of its area is ink and it holds at least this
#: many pixels of a chromatic house-palette colour (each channel within PALETTE_DISTANCE).
FIGURE_INK = 0.01
FIGURE_PALETTE_PIXELS = 20
PALETTE_DISTANCE = 30


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


#: The NHS and Analysis Function colours that are colours, not greys.
CHROMATIC_PALETTE = np.array(
    [rgb for rgb in map(_hex_rgb, [palette.NHS_BLUE, palette.NHS_DARK_BLUE,
                                   palette.NHS_BRIGHT_BLUE, palette.NHS_LIGHT_BLUE,
                                   palette.NHS_AQUA_BLUE, palette.NHS_MID_GREY,
                                   palette.NHS_PALE_GREY, *palette.ANALYSIS_FUNCTION])
     if max(rgb) - min(rgb) > 60], dtype=np.int16)


# --- reading the report's page geometry and drawing its pages -------------------------------

def _length_mm(value) -> float:
    units = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72}
    text = str(value).strip()
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise AssertionError(f"unknown length in the typst margins: {value!r}")


def typst_margins(qmd: Path) -> tuple[float, float]:
    """The typst page margins ``(x, y)`` in millimetres, from the report's front matter."""
    front = yaml.safe_load(qmd.read_text(encoding="utf-8").split("---", 2)[1])
    margin = front["format"]["typst"]["margin"]
    if not isinstance(margin, dict):
        return _length_mm(margin), _length_mm(margin)
    return _length_mm(margin["x"]), _length_mm(margin["y"])


def draw_pages(pdf: Path, folder: Path) -> list[np.ndarray]:
    """Every page of ``pdf`` as an RGB array (height x width x 3, uint8), via ``pdftoppm``."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([PDFTOPPM, "-r", str(DPI), "-png", str(pdf), str(folder / "page")],
                   check=True, capture_output=True, timeout=300)
    files = sorted(folder.glob("page-*.png"), key=lambda f: int(f.stem.rsplit("-", 1)[1]))
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def placed_images(pdf: Path) -> list[list[tuple[float, float, float, float]]]:
    """Where each page draws its images: ``(left, top, right, bottom)`` in points from the
    page's top-left corner, read from the content stream's transformation at each ``Do``."""
    pages = []
    for page in PdfReader(pdf).pages:
        box = page.mediabox
        resources = page["/Resources"] if "/Resources" in page else {}
        xobjects = resources["/XObject"] if "/XObject" in resources else {}
        found: list[tuple[float, float, float, float]] = []

        def visit(operator, operands, cm, tm, found=found, xobjects=xobjects, box=box):
            if operator != b"Do" or operands[0] not in xobjects:
                return
            if xobjects[operands[0]].get_object().get("/Subtype") != "/Image":
                return
            a, b, c, d, e, f = (float(v) for v in cm)
            xs = np.array([e, e + a, e + c, e + a + c]) - float(box.left)
            ys = float(box.top) - np.array([f, f + b, f + d, f + b + d])
            found.append((xs.min(), ys.min(), xs.max(), ys.max()))

        page.extract_text(visitor_operand_before=visit)
        pages.append(found)
    return pages


# --- detectors --------------------------------------------------------------------------------

def ink(page: np.ndarray) -> np.ndarray:
    """Which pixels carry ink."""
    return page.min(axis=2) < INK_LEVEL


def _px(mm: float) -> int:
    return int(round(mm * MM))


def body_ink_share(page: np.ndarray, margins: tuple[float, float]) -> float:
    """The share of the text area's pixels that are ink."""
    mx, my = _px(margins[0]), _px(margins[1])
    return float(ink(page)[my:page.shape[0] - my, mx:page.shape[1] - mx].mean())


def is_blank(page: np.ndarray, margins: tuple[float, float]) -> bool:
    """A page is blank when its text area is (almost) white, whatever its header says."""
    return body_ink_share(page, margins) < BLANK_SHARE


def _zones(shape: tuple[int, ...], margins: tuple[float, float]) -> dict[str, tuple]:
    height, width = shape[:2]
    mx, my = margins
    every = slice(0, None)
    return {
        "left margin": (every, slice(0, _px(mx - TOLERANCE_MM))),
        "right margin": (every, slice(width - _px(mx - TOLERANCE_MM), None)),
        "top edge of the paper": (slice(0, _px(EDGE_MM)), every),
        "bottom edge of the paper": (slice(height - _px(EDGE_MM), None), every),
        "top margin next to the text": (slice(_px(my - TOLERANCE_MM - CLEAR_MM),
                                              _px(my - TOLERANCE_MM)), every),
        "bottom margin next to the text": (slice(height - _px(my - TOLERANCE_MM),
                                                 height - _px(my - TOLERANCE_MM - CLEAR_MM)),
                                           every),
    }


def overflow(page: np.ndarray, margins: tuple[float, float]) -> list[str]:
    """Where ink lies outside the text area other than in the running header and footer."""
    mask = ink(page)
    problems = []
    for name, (rows, cols) in _zones(page.shape, margins).items():
        ys, xs = np.nonzero(mask[rows, cols])
        if ys.size:
            ys = ys + (rows.start or 0)
            xs = xs + (cols.start or 0)
            problems.append(f"{ys.size} ink pixels in the {name}, within "
                            f"{xs.min() / MM:.0f}-{xs.max() / MM:.0f} mm across and "
                            f"{ys.min() / MM:.0f}-{ys.max() / MM:.0f} mm down")
    return problems


def has_running_header(page: np.ndarray, margins: tuple[float, float]) -> bool:
    """Whether the top margin, between the paper's edge and the clear band, holds a line."""
    top = slice(_px(EDGE_MM), _px(margins[1] - TOLERANCE_MM - CLEAR_MM))
    return bool(ink(page)[top].any())


def figure_problems(page: np.ndarray, box_pt: tuple[float, float, float, float],
                    margins: tuple[float, float]) -> list[str]:
    """What is wrong with a figure placed at ``box_pt`` (points from the top-left)."""
    scale = DPI / 72
    left, top, right, bottom = (v * scale for v in box_pt)
    height, width = page.shape[:2]
    mx, my, tol = margins[0] * MM, margins[1] * MM, TOLERANCE_MM * MM
    problems = []
    if left < mx - tol or top < my - tol or right > width - mx + tol \
            or bottom > height - my + tol:
        problems.append(f"it reaches outside the text area ({left / MM:.0f}-{right / MM:.0f} "
                        f"mm across, {top / MM:.0f}-{bottom / MM:.0f} mm down)")
    region = page[max(0, int(top)):int(np.ceil(bottom)), max(0, int(left)):int(np.ceil(right))]
    if region.size == 0:
        return problems + ["it is not on the page"]
    share = float(ink(region).mean())
    if share < FIGURE_INK:
        problems.append(f"it is (nearly) empty: {share:.1%} of its area is ink")
    pixels = region.reshape(-1, 3).astype(np.int16)
    # Only pixels with enough colour can lie within PALETTE_DISTANCE of a palette colour.
    least = int(np.ptp(CHROMATIC_PALETTE, axis=1).min()) - 2 * PALETTE_DISTANCE
    pixels = pixels[np.ptp(pixels, axis=1) >= least]
    near = int((np.abs(pixels[:, None, :] - CHROMATIC_PALETTE[None]).max(axis=2)
                <= PALETTE_DISTANCE).any(axis=1).sum())
    if near < FIGURE_PALETTE_PIXELS:
        problems.append(f"it shows no house-palette colour ({near} pixels)")
    return problems


def overlapping_words(pdf: Path) -> list[tuple[int, str, str]]:
    """(page, word, word) for each two words of a line drawn over each other.

    ``pdftotext -bbox`` gives every word's box; two boxes on one line (sharing more than
    half the shorter box's height) that overlap across are text run into other text: a
    table column too narrow for its word, or a caption over the page number.
    """
    from xml.etree import ElementTree

    out = subprocess.run([shutil.which("pdftotext") or "pdftotext", "-bbox", str(pdf), "-"],
                         capture_output=True, text=True, check=True).stdout
    root = ElementTree.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", out))
    xhtml = "{http://www.w3.org/1999/xhtml}"
    found = []
    for number, page in enumerate(root.iter(f"{xhtml}page"), start=1):
        boxes = sorted((float(w.get("xMin")), float(w.get("yMin")), float(w.get("xMax")),
                        float(w.get("yMax")), w.text or "") for w in page.iter(f"{xhtml}word"))
        for i, (_x0, y0, x1, y1, a) in enumerate(boxes):
            for u0, v0, _u1, v1, b in boxes[i + 1:]:
                if u0 >= x1 - 0.5:
                    break
                if min(y1, v1) - max(y0, v0) > 0.5 * min(y1 - y0, v1 - v0):
                    found.append((number, a, b))
    return found


# --- the rendered report ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def report(tmp_path_factory):
    paths = rendered_report(tmp_path_factory)
    pages = draw_pages(paths["pdf"], tmp_path_factory.mktemp("report-pages"))
    return {"paths": paths, "pages": pages, "margins": typst_margins(REPORT)}


def test_every_pdf_page_is_drawn_and_none_is_blank(report):
    pages, margins = report["pages"], report["margins"]
    assert len(pages) == len(PdfReader(report["paths"]["pdf"]).pages) >= 2
    blank = {n: f"{body_ink_share(p, margins):.2%} ink"
             for n, p in enumerate(pages, start=1) if is_blank(p, margins)}
    assert not blank, f"blank pages: {blank}"


def test_nothing_overflows_the_pdf_margins(report):
    problems = {n: overflow(p, report["margins"]) for n, p in enumerate(report["pages"], 1)}
    assert not {n: p for n, p in problems.items() if p}


def test_every_pdf_page_shows_the_running_synthetic_data_header(report):
    missing = [n for n, p in enumerate(report["pages"], 1)
               if not has_running_header(p, report["margins"])]
    assert not missing, f"pages without the running header: {missing}"


def test_pdf_figures_are_present_inside_the_page_and_in_house_colours(report):
    placements = placed_images(report["paths"]["pdf"])
    html = BeautifulSoup(report["paths"]["html"].read_text(encoding="utf-8"), "html.parser")
    n_html = len(html.find_all("img"))
    assert n_html > 0
    assert sum(map(len, placements)) == n_html, "the PDF and the HTML differ in figures"
    problems = {(n, k): figure_problems(report["pages"][n - 1], box, report["margins"])
                for n, boxes in enumerate(placements, 1) for k, box in enumerate(boxes, 1)}
    assert not {where: p for where, p in problems.items() if p}


def test_no_text_in_the_pdf_runs_into_other_text(report):
    assert overlapping_words(report["paths"]["pdf"]) == []


def test_overlap_detector_finds_text_drawn_over_text(tmp_path):
    import typst

    (tmp_path / "overlap.typ").write_text("""
#set page(paper: "a4", numbering: "1")
#table(columns: (1.2cm, 1fr), [Certainty], [The finding, in a column of its own])
Words that stand apart.
#place(dx: 3cm, dy: 8cm)[Caption]
#place(dx: 3.4cm, dy: 8cm)[10]
""", encoding="utf-8")
    typst.compile(str(tmp_path / "overlap.typ"), output=str(tmp_path / "overlap.pdf"))
    found = overlapping_words(tmp_path / "overlap.pdf")
    assert any({"Certainty", "The"} == {a, b} for _, a, b in found), found
    assert any({"Caption", "10"} == {a, b} for _, a, b in found), found  # as on page 10
    assert not any("apart." in (a, b) for _, a, b in found)


# --- the detectors fire on a deliberately broken PDF ------------------------------------------

@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A PDF with the report's margins and header whose pages are each wrong in one way."""
    import typst

    folder = tmp_path_factory.mktemp("broken-pdf")
    chart = np.full((300, 400, 3), 255, np.uint8)
    chart[40:60, 20:380] = _hex_rgb(palette.ANALYSIS_FUNCTION[1])
    chart[100:260, 60:340] = _hex_rgb(palette.ANALYSIS_FUNCTION[0])
    grey = np.full_like(chart, 255)
    grey[100:260, 60:340] = 60
    for name, pixels in {"chart": chart, "white": np.full_like(chart, 255), "grey": grey}.items():
        Image.fromarray(pixels).save(folder / f"{name}.png")
    mx, my = typst_margins(REPORT)
    (folder / "broken.typ").write_text(f"""
#set page(paper: "a4", margin: (x: {mx}mm, y: {my}mm), numbering: "1",
  header: align(right, text(size: 8pt)[Synthetic data: a page made to test the detectors.]))
= A page that is right
#lorem(150)
#pagebreak()
#pagebreak()
#block(width: 100% + 3cm)[#lorem(60)]
#pagebreak()
#box(width: 4cm, height: 100% + 3cm, fill: luma(100))
#pagebreak()
#image("chart.png", width: 100%)
#pagebreak()
#image("white.png", width: 100%)
#pagebreak()
#image("grey.png", width: 100%)
#pagebreak()
#image("chart.png", width: 100% + 3cm)
""", encoding="utf-8")
    typst.compile(str(folder / "broken.typ"), output=str(folder / "broken.pdf"),
                  root=str(folder))
    pdf = folder / "broken.pdf"
    return {"pages": draw_pages(pdf, folder / "pages"), "placements": placed_images(pdf),
            "margins": (mx, my)}


def test_blank_detector_finds_the_blank_page_and_only_it(broken):
    pages, margins = broken["pages"], broken["margins"]
    assert len(pages) == 8
    # Page 6 places a white picture: to a reader that page is blank too.
    assert [is_blank(p, margins) for p in pages] == [False, True, False, False, False, True,
                                                     False, False]
    # The blank page still has its header and page number: blank means no body.
    assert has_running_header(pages[1], margins)
    assert ink(pages[1]).any()


def test_overflow_detector_finds_too_wide_and_too_tall_content(broken):
    pages, margins = broken["pages"], broken["margins"]
    assert overflow(pages[0], margins) == [] and overflow(pages[1], margins) == []
    assert any("right margin" in p for p in overflow(pages[2], margins))
    too_tall = overflow(pages[3], margins)
    assert any("bottom margin next to the text" in p for p in too_tall)
    assert any("bottom edge of the paper" in p for p in too_tall)
    assert any("right margin" in p for p in overflow(pages[7], margins))


def test_figure_detector_finds_empty_grey_and_too_wide_figures(broken):
    pages, placements, margins = broken["pages"], broken["placements"], broken["margins"]
    assert [len(boxes) for boxes in placements] == [0, 0, 0, 0, 1, 1, 1, 1]
    good, white, grey, wide = (figure_problems(pages[n], placements[n][0], margins)
                               for n in (4, 5, 6, 7))
    assert good == []
    assert any("empty" in p for p in white) and any("palette" in p for p in white)
    assert not any("empty" in p for p in grey) and any("palette" in p for p in grey)
    assert len(wide) == 1 and "outside the text area" in wide[0]
