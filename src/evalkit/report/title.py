"""A report's own title, set from its content (the scheme it is about).

A Quarto document's front matter is fixed text, so a report that names its scheme in the
title sets it from a chunk: the chunk prints a YAML metadata block (a second one, after
the front matter), which pandoc merges into the document's metadata, the later value
winning. Both engines read it the same way, so the title reaches every format: the HTML
title block and ``<title>``, the DOCX title and its document properties, the PDF title
and its metadata.

The title is text from a spec: it is escaped with :func:`~evalkit.report.markdown_text.md_text`
(pandoc reads a metadata string as Markdown) and written as a YAML double-quoted string,
so no title can add a field to the block, end it, or become markup.

Examples
--------
>>> print(title_block(scheme_title("Rapid response *team*")))
<BLANKLINE>
---
title: "Rapid response \\\\*team\\\\*: evidence summary"
---
<BLANKLINE>
"""

from __future__ import annotations

import json

from evalkit.report.markdown_text import _plain, md_text

__all__ = ["scheme_title", "synthesis_title", "title_block"]

_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve")


def scheme_title(scheme: str) -> str:
    """The evidence summary's title: the scheme's title, then what the report is.

    Examples
    --------
    >>> scheme_title("Community virtual wards for frail older people")
    'Community virtual wards for frail older people: evidence summary'
    """
    return f"{_plain(scheme)}: evidence summary"


def synthesis_title(n_schemes: int) -> str:
    """The comparative synthesis's title, naming how many schemes it compares.

    Examples
    --------
    >>> synthesis_title(9)
    'Nine schemes of collaborative working compared: comparative synthesis'
    >>> synthesis_title(1)
    'One scheme of collaborative working: comparative synthesis'
    """
    count = _NUMBERS[n_schemes] if 0 <= n_schemes < len(_NUMBERS) else f"{n_schemes:,}"
    count = count[:1].upper() + count[1:]
    if n_schemes == 1:
        return f"{count} scheme of collaborative working: comparative synthesis"
    return f"{count} schemes of collaborative working compared: comparative synthesis"


def _yaml_string(text: str) -> str:
    # A JSON string is a YAML double-quoted scalar; md_text/_plain leave no line break.
    return json.dumps(text, ensure_ascii=False)


def title_block(title: str) -> str:
    """A YAML metadata block that sets the document's title (printed from an ``output:
    asis`` chunk). ``title`` is text: it is escaped for Markdown. The HTML ``<title>`` is
    the title's plain text (pandoc's and Quarto's ``pagetitle`` default).

    Parameters
    ----------
    title
        The title, as text.

    Returns
    -------
    str
        The block, with a blank line before and after it.
    """
    return "\n".join(["", "---", f"title: {_yaml_string(md_text(title))}", "---", ""])
