"""Finishing touches to a pandoc DOCX with python-docx: page-header notice, table borders."""

from __future__ import annotations

from pathlib import Path

__all__ = ["finish_docx"]

_BLUE = (0x00, 0x5E, 0xB8)
#: The size of table text (the body is 12 pt in pandoc's default reference document).
TABLE_POINTS = 9
_GREY = (0x42, 0x55, 0x63)
# Children of w:tblPr that must come after w:tblBorders (WordprocessingML order).
_AFTER_BORDERS = ("shd", "tblLayout", "tblCellMar", "tblLook", "tblCaption", "tblDescription")


def _table_borders(table) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tbl_pr = table._tbl.tblPr
    for old in tbl_pr.findall(qn("w:tblBorders")):
        tbl_pr.remove(old)
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), "single")
        element.set(qn("w:sz"), "4")
        element.set(qn("w:space"), "0")
        element.set(qn("w:color"), "AEB7BD")
        borders.append(element)
    later = [c for c in tbl_pr if c.tag in {qn(f"w:{n}") for n in _AFTER_BORDERS}]
    if later:
        later[0].addprevious(borders)
    else:
        tbl_pr.append(borders)


def _table_text(table, points: float) -> None:
    """Every run in the table's cells at ``points`` (pandoc gives them the body size, which
    squeezes narrow columns into words broken mid-way)."""
    from docx.oxml.ns import qn
    from docx.shared import Pt
    from docx.text.run import Run

    for element in table._tbl.iter(qn("w:r")):
        Run(element, table).font.size = Pt(points)


def _headings(document) -> None:
    from docx.shared import RGBColor

    for name in ("Title", "Subtitle", "Heading 1", "Heading 2", "Heading 3", "Heading 4"):
        try:
            style = document.styles[name]
        except KeyError:
            continue
        style.font.color.rgb = RGBColor(*(_GREY if name == "Subtitle" else _BLUE))


def _header_notice(document, notice: str) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt, RGBColor

    for section in document.sections:
        header = section.header
        header.is_linked_to_previous = False
        paragraph = header.paragraphs[0] if header.paragraphs else header.add_paragraph()
        paragraph.text = ""
        run = paragraph.add_run(notice)
        run.font.size = Pt(8)
        run.font.color.rgb = RGBColor(*_GREY)
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT


def finish_docx(path: Path, notice: str | None = None) -> None:
    """Style a DOCX written by pandoc, in place.

    Parameters
    ----------
    path
        The DOCX file.
    notice
        Text to put in the page header of every section (e.g. a synthetic-data notice),
        so it shows on every page; none if empty.
    """
    import docx

    document = docx.Document(str(path))
    _headings(document)
    for table in document.tables:
        _table_borders(table)
        _table_text(table, TABLE_POINTS)
    if notice:
        _header_notice(document, notice)
    document.save(str(path))
