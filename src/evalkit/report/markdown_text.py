"""Text from specs, data files and parameters, made safe to put into Markdown.

Every report evalkit writes is Pandoc Markdown that pandoc (or Quarto) then turns into
HTML, DOCX and PDF. A title, description, outcome label, practice name, column name or
cell of ``schemes.csv`` is *text*: whatever characters it holds must appear in the report
as those characters, never as a heading, link, image, raw HTML, raw typst or LaTeX, math,
citation, footnote or table cell boundary. :func:`md_text` is the one function that makes
it so; every Markdown builder in evalkit passes such text through it (and
:func:`~evalkit.report.summary.pipe_table` passes every cell through it).

How: pandoc's Markdown lets a backslash escape any ASCII punctuation character, and the
escaped character is printed as itself. :func:`md_text` escapes every character that can
start markup anywhere in a line (``\\ ` * _ { } [ ] < > # + ! | $ @ ^ ~``), an ``&`` that
would start an entity (``&lt;``), and what would start a block at the start of a line (a
list item's ``-``, ``1.`` or ``(a)``, a ``:`` of a definition, caption or fenced div, a
line of ``-`` or ``=``); it collapses line breaks to spaces (a description can hold
paragraphs: :func:`md_paragraphs`) and drops control characters. Apostrophes, quotes,
``%``, ``£``, ``&``, ``:``, ``=``, dashes, full stops and parentheses are otherwise left as
they are, so ordinary text looks exactly as before (pandoc still curls its quotes). Quarto
reads the same Markdown, and its shortcodes (``{{< include ... >}}``) are broken up by
the escaped braces.

Text that is already Markdown built by evalkit (a figure caption holding an escaped label)
is marked with :class:`Markdown`, and :func:`md_text` leaves it alone; nothing from a spec
or a data file is ever wrapped in it without being escaped first.

Examples
--------
>>> md_text("A&E <b>attendances</b> [1](javascript:x) &lt;")
'A&E \\\\<b\\\\>attendances\\\\</b\\\\> \\\\[1\\\\](javascript:x) \\\\&lt;'
>>> md_text("Sant'Anna: 5% (£2.09) – p = 0.05")
"Sant'Anna: 5% (£2.09) – p = 0.05"
>>> md_text(Markdown("**bold**"))
'**bold**'
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Markdown", "md_text", "md_paragraphs", "md_attribute", "md_join", "md_quoted"]

#: ASCII punctuation that can begin Markdown or pandoc markup anywhere on a line.
MARKUP_CHARACTERS = frozenset("\\`*_{}[]<>#+!|$@^~")
_ESCAPE = re.compile("[" + re.escape("".join(sorted(MARKUP_CHARACTERS))) + "]"
                     r"|&(?=#?[A-Za-z0-9]+;)")
#: Line breaks and other whitespace that Markdown would read as a line or a paragraph.
_BREAKS = re.compile(r"[ \t\r\n\f\v\u2028\u2029\x85]+")
#: Control characters (C0 and C1 but whitespace, DEL) and the byte-order mark.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff]")
#: A line start that pandoc would read as a list item: ``-``, digits, a letter or a roman
#: numeral then ``.`` or ``)``, followed by a space or the end.
_LIST_START = re.compile(r"^(-|\d+[.)]|[ivxlcdmIVXLCDM]+[.)]|[a-zA-Z][.)])(?= |$)")
#: A line of dashes or equals signs alone: a horizontal rule, or a heading's underline.
_RULE = re.compile(r"[- ]+|[= ]+")
#: A line start that makes a definition, a table caption or a fenced div.
_COLON_START = re.compile(r"^(?:[Tt]able)?:")
#: A line start that pandoc's fancy lists read as an item: ``(1)``, ``(a)``, ``(iv)``.
_PAREN_START = re.compile(r"^\((?=(\d+|[a-zA-Z]|[ivxlcdmIVXLCDM]+)\))")


class Markdown(str):
    """A string that is already Markdown (built by evalkit, its text escaped).

    :func:`md_text` returns it unchanged (so a caption built from escaped pieces can be
    handed to a function that escapes text). A DataFrame does not keep the type: name such
    columns in :func:`~evalkit.report.summary.pipe_table`'s ``markdown`` instead.
    """

    __slots__ = ()


def _plain(value: Any) -> str:
    """``value`` as one line of text: whitespace collapsed, control characters dropped."""
    if value is None:
        return ""
    return _BREAKS.sub(" ", _CONTROL.sub("", str(value))).strip()


def md_text(value: Any) -> Markdown:
    """Text (a string, a number, anything with ``str``) as inline Markdown showing it as is.

    The result is safe anywhere inline: in a paragraph, a list item, a heading, bold or
    italic, a pipe-table cell (``|`` is escaped), a link's or image's text, a caption, at
    the start of a line. It is one line.

    Parameters
    ----------
    value
        The text. A :class:`Markdown` value is returned unchanged; ``None`` gives ``""``.

    Returns
    -------
    Markdown

    Examples
    --------
    >>> md_text("- 1. $x$ @ref")
    '\\\\- 1. \\\\$x\\\\$ \\\\@ref'
    >>> md_text("2019. A line\\nand\\n\\nmore")
    '2019\\\\. A line and more'
    """
    if isinstance(value, Markdown):
        return value
    text = _ESCAPE.sub(lambda m: "\\" + m.group(0), _plain(value))
    # Runs of hyphens stay hyphens: pandoc's smart punctuation would turn "--treated" (a
    # command-line flag) into an en dash. Quotes and ellipses may still curl.
    text = re.sub(r"(?<=-)-", r"\\-", text)
    start = _LIST_START.match(text)
    if _RULE.fullmatch(text):
        text = re.sub(r"([-=])", r"\\\1", text)
    elif _COLON_START.match(text):
        text = text.replace(":", "\\:", 1)
    elif start:
        marker = start.group(0)
        text = marker[:-1] + "\\" + marker[-1] + text[len(marker):]
    elif _PAREN_START.match(text):
        text = "\\" + text
    return Markdown(text)


def md_paragraphs(value: Any) -> Markdown:
    """Text that may hold paragraphs (blank lines between them) as Markdown paragraphs,
    each escaped with :func:`md_text`.

    Examples
    --------
    >>> print(md_paragraphs("# One\\nline\\n\\n> Two"))
    \\# One line
    <BLANKLINE>
    \\> Two
    """
    if isinstance(value, Markdown):
        return value
    text = _CONTROL.sub("", "" if value is None else str(value))
    paragraphs = re.split(r"(?:[ \t\f\v]*(?:\r\n|\r|\n|\u2028|\u2029|\x85)){2,}", text)
    return Markdown("\n\n".join(p for p in (md_text(part) for part in paragraphs) if p))


def md_attribute(value: Any) -> str:
    """Text for a double-quoted attribute value (``fig-alt="..."``), kept as it is.

    Pandoc reads the value literally, except that a backslash escapes the next character;
    so ``\\`` and ``"`` are escaped, and the value is one line. Braces are left as they
    are (pandoc's attribute reader takes everything up to the closing quote).

    Examples
    --------
    >>> md_attribute('Gap of "1.2" \\\\ {units}\\n after')
    'Gap of \\\\"1.2\\\\" \\\\\\\\ {units} after'
    """
    return _plain(value).replace("\\", "\\\\").replace('"', '\\"')


def md_join(parts, sep: str = ", ") -> Markdown:
    """Several texts joined by ``sep``, each escaped (``", ".join`` for Markdown).

    Examples
    --------
    >>> md_join(["a*", "b"])
    'a\\\\*, b'
    """
    return Markdown(sep.join(md_text(p) for p in parts))


def md_quoted(value: Any) -> Markdown:
    """Text in typographic single quotes (‘…’), shown exactly as it is.

    The quotes are the characters themselves, not straight quotes left for pandoc's (or
    typst's) smart-quote rules to guess, which turn a quoted ``'`` or ``"`` into the
    wrong mark; quotes inside the text are escaped so that they stay straight.

    Examples
    --------
    >>> md_quoted("*")
    '‘\\\\*’'
    >>> md_quoted("'")
    "‘\\\\'’"
    """
    text = md_text(value).replace("'", "\\'").replace('"', '\\"')
    return Markdown(f"\u2018{text}\u2019")
