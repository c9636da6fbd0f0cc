"""The reference document of evalkit's DOCX: A4 pages, 9 pt tables, the page-header notice.

Pandoc (and so Quarto) takes a DOCX's page size, margins, page headers and styles from a
*reference document* (``reference-doc:`` in a report's front matter, ``--reference-doc``
to pandoc). ``assets/reference.docx`` is built by :func:`build_reference_docx` from
pandoc's own default, and both engines use it: the reports' front matter names it for
``quarto render`` and the built-in engine passes it to pandoc. It carries:

- A4 pages with 2 cm margins (as the PDF), British English as the document language;
- the ``Table`` style (pandoc's tables) with thin grey borders, 9 pt text and cell text
  that never hyphenates;
- headings in NHS blue and the subtitle in grey;
- a page header holding the document property ``evalkit-page-notice`` (a ``DOCPROPERTY``
  field, right-aligned in 8 pt grey), which ``drop-page-notice.lua`` sets to the
  synthetic-data notice, so that a plain ``quarto render`` shows the notice on every page
  too. Word updates the field when it opens the document (``w:updateFields``);
  ``evalkit report`` replaces the field by the text itself
  (:func:`evalkit.report.render.docx_post.finish_docx`).

Rebuild the asset after changing this module::

    python -m evalkit.report.render.reference_docx src/evalkit/report/render/assets/reference.docx
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

__all__ = ["build_reference_docx", "NOTICE_PROPERTY", "A4_TWIPS", "MARGIN_TWIPS",
           "TABLE_HALF_POINTS"]

#: The custom document property that holds the page notice.
NOTICE_PROPERTY = "evalkit-page-notice"
#: A4 (210 x 297 mm) in twentieths of a point.
A4_TWIPS = (11906, 16838)
#: 2 cm margins, as the PDF's.
MARGIN_TWIPS = 1134
#: Table text size in half-points (9 pt).
TABLE_HALF_POINTS = 18
_BLUE = "005EB8"
_GREY = "425563"
_BORDER = "AEB7BD"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _pandoc_default() -> bytes:
    import pypandoc

    return subprocess.run([pypandoc.get_pandoc_path(), "--print-default-data-file",
                           "reference.docx"], check=True, capture_output=True).stdout


def _element(tag: str, **attributes: str):
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    element = OxmlElement(tag)
    for key, value in attributes.items():
        element.set(qn(f"w:{key}"), value)
    return element


def _replace(parent, child, before: tuple[str, ...] = ()) -> None:
    """Put ``child`` in ``parent`` in place of any element of its tag, before the first
    child whose tag is in ``before`` (WordprocessingML's element order)."""
    from docx.oxml.ns import qn

    for old in parent.findall(child.tag):
        parent.remove(old)
    later = [c for c in parent if c.tag in {qn(t) for t in before}]
    if later:
        later[0].addprevious(child)
    else:
        parent.append(child)


def _page(document) -> None:
    from docx.shared import Twips

    section = document.sections[0]
    section.page_width, section.page_height = (Twips(v) for v in A4_TWIPS)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Twips(MARGIN_TWIPS))
    section.header_distance = section.footer_distance = Twips(567)


def _table_style(document) -> None:
    from docx.oxml.ns import qn

    style = document.styles["Table"].element
    tbl_pr = style.find(qn("w:tblPr"))
    borders = _element("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        borders.append(_element(f"w:{edge}", val="single", sz="4", space="0", color=_BORDER))
    _replace(tbl_pr, borders, ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook"))
    r_pr = _element("w:rPr")
    r_pr.append(_element("w:sz", val=str(TABLE_HALF_POINTS)))
    r_pr.append(_element("w:szCs", val=str(TABLE_HALF_POINTS)))
    p_pr = _element("w:pPr")
    p_pr.append(_element("w:suppressAutoHyphens"))
    # A table style's paragraph and run properties come before its table properties.
    for part in (r_pr, p_pr):
        for old in style.findall(part.tag):
            style.remove(old)
    tbl_pr.addprevious(p_pr)
    tbl_pr.addprevious(r_pr)


def _styles(document) -> None:
    from docx.oxml.ns import qn
    from docx.shared import RGBColor

    for name in ("Title", "Subtitle", "Heading 1", "Heading 2", "Heading 3", "Heading 4"):
        colour = _GREY if name == "Subtitle" else _BLUE
        document.styles[name].font.color.rgb = RGBColor.from_string(colour)
    defaults = document.styles.element.find(qn("w:docDefaults"))
    lang = defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}/{qn('w:lang')}")
    lang.set(qn("w:val"), "en-GB")


def _header(document) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt, RGBColor

    header = document.sections[0].header
    header.is_linked_to_previous = False
    paragraph = header.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    field = _element("w:fldSimple", instr=f' DOCPROPERTY "{NOTICE_PROPERTY}" \\* MERGEFORMAT ')
    run = paragraph.add_run("")
    run.font.size = Pt(8)
    run.font.color.rgb = RGBColor.from_string(_GREY)
    paragraph._p.remove(run._r)
    field.append(run._r)
    paragraph._p.append(field)
    settings = document.settings.element
    _replace(settings, _element("w:updateFields", val="true"),
             ("w:hdrShapeDefaults", "w:footnotePr", "w:endnotePr", "w:compat", "w:docVars",
              "w:rsids"))


def build_reference_docx(target: str | Path) -> Path:
    """Write evalkit's reference DOCX to ``target``, built from pandoc's default.

    Parameters
    ----------
    target
        The file to write.

    Returns
    -------
    Path
        ``target``.
    """
    import docx

    document = docx.Document(io.BytesIO(_pandoc_default()))
    _page(document)
    _table_style(document)
    _styles(document)
    _header(document)
    document.core_properties.title = ""
    target = Path(target)
    document.save(str(target))
    return target


if __name__ == "__main__":  # pragma: no cover - the asset's build command
    print(build_reference_docx(sys.argv[1]))
