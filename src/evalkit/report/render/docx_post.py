"""Finishing touches to a pandoc DOCX with python-docx: page-header notice, table borders,
table rows kept whole on one page.

Most of the look comes from evalkit's reference document (:mod:`.reference_docx`: A4,
9 pt bordered tables, a page header showing the ``evalkit-page-notice`` property), which
a plain ``quarto render`` uses too. What is done here makes the DOCX independent of a
word processor updating fields: the notice is written into every page header as text
(or the header left empty), the table text is set to 9 pt run by run, and no table row
may break across pages (pandoc's AST cannot say so, so a plain ``quarto render`` lacks it).

The built-in engine calls :func:`finish_docx` on pandoc's DOCX; ``evalkit report --engine
quarto`` calls :func:`finish_quarto_docx` on Quarto's, which does the same to the report's
own tables (not the one-cell tables Quarto wraps each figure and table float in) and takes
the page notice from the document property ``evalkit-page-notice`` that
``drop-page-notice.lua`` leaves there.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["finish_docx", "finish_quarto_docx", "custom_property", "report_tables"]

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


# Children of w:trPr that must come after w:cantSplit (WordprocessingML order).
_AFTER_CANT_SPLIT = ("trHeight", "tblHeader", "tblCellSpacing", "jc", "hidden", "ins", "del",
                     "trPrChange")


def _rows_whole(table) -> None:
    """No row of the table is split across two pages (a word processor otherwise parts a
    cell's last words from the rest of its row: "Community resource | team")."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    later = {qn(f"w:{n}") for n in _AFTER_CANT_SPLIT}
    for row in table._tbl.findall(qn("w:tr")):
        tr_pr = row.find(qn("w:trPr"))
        if tr_pr is None:
            tr_pr = OxmlElement("w:trPr")
            row.insert(1 if row.find(qn("w:tblPrEx")) is not None else 0, tr_pr)
        if tr_pr.find(qn("w:cantSplit")) is not None:
            continue
        cant = OxmlElement("w:cantSplit")
        after = [c for c in tr_pr if c.tag in later]
        if after:
            after[0].addprevious(cant)
        else:
            tr_pr.append(cant)


def _headings(document) -> None:
    from docx.shared import RGBColor

    for name in ("Title", "Subtitle", "Heading 1", "Heading 2", "Heading 3", "Heading 4"):
        try:
            style = document.styles[name]
        except KeyError:
            continue
        style.font.color.rgb = RGBColor(*(_GREY if name == "Subtitle" else _BLUE))


def _header_notice(document, notice: str) -> None:
    """Every page header holds ``notice`` as text (none if empty), in place of the
    reference document's field; Word then has no field to update on opening."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    for old in document.settings.element.findall(qn("w:updateFields")):
        document.settings.element.remove(old)
    for section in document.sections:
        header = section.header
        header.is_linked_to_previous = False
        paragraph = header.paragraphs[0] if header.paragraphs else header.add_paragraph()
        for child in list(paragraph._p):
            if child.tag != qn("w:pPr"):
                paragraph._p.remove(child)
        if not notice:
            continue
        run = paragraph.add_run(notice)
        run.font.size = Pt(8)
        run.font.color.rgb = RGBColor(*_GREY)
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT


def report_tables(document) -> list:
    """The report's own tables in a DOCX: top-level tables, except that a one-cell table
    (Quarto's wrapper of a figure or table float) stands for the tables inside it."""
    found = []
    pending = list(document.tables)
    while pending:
        table = pending.pop(0)
        cells = table._tbl.xpath("./w:tr/w:tc")
        if len(cells) == 1:
            pending[:0] = table.cell(0, 0).tables
        else:
            found.append(table)
    return found


def custom_property(path: Path, name: str) -> str | None:
    """The value of the custom document property ``name`` of a DOCX (``None`` if absent).

    Pandoc stores metadata fields it has no other place for as custom properties.
    """
    import zipfile
    from xml.etree import ElementTree

    with zipfile.ZipFile(path) as archive:
        if "docProps/custom.xml" not in archive.namelist():
            return None
        root = ElementTree.fromstring(archive.read("docProps/custom.xml"))
    for prop in root:
        if prop.get("name") == name:
            return " ".join("".join(prop.itertext()).split()) or None
    return None


def finish_docx(path: Path, notice: str | None = None) -> None:
    """Style a DOCX written by pandoc, in place.

    Parameters
    ----------
    path
        The DOCX file.
    notice
        Text to put in the page header of every section (e.g. a synthetic-data notice),
        so it shows on every page; an empty header if empty.
    """
    import docx

    document = docx.Document(str(path))
    _headings(document)
    for table in report_tables(document):
        _table_borders(table)
        _table_text(table, TABLE_POINTS)
        _rows_whole(table)
    _header_notice(document, notice or "")
    document.save(str(path))


def finish_quarto_docx(path: Path) -> None:
    """Style a DOCX written by Quarto, in place, as :func:`finish_docx` styles pandoc's: the
    page notice (from the ``evalkit-page-notice`` property) in every page header, headings
    in colour, and the report's tables with borders and 9 pt text."""
    finish_docx(path, custom_property(path, "evalkit-page-notice"))
