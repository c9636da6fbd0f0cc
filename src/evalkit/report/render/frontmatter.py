"""What the converters take from a Quarto front matter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

__all__ = ["pandoc_metadata", "format_options", "include_in_header"]

#: Front-matter keys handed to pandoc; Quarto-only keys (format, execute, jupyter,
#: params, crossref, ...) are dropped.
PANDOC_KEYS = ("title", "subtitle", "author", "date", "abstract", "lang", "keywords")


def _author_name(author: Any) -> str:
    if isinstance(author, dict):
        name = author.get("name", "")
        if isinstance(name, dict):
            parts = [name.get("given", ""), name.get("family", "")]
            name = name.get("literal") or " ".join(p for p in parts if p)
        return str(name)
    return str(author)


def pandoc_metadata(front: dict[str, Any]) -> dict[str, Any]:
    """The front matter's document metadata, in the forms pandoc's templates expect.

    Authors become a list of names; the Quarto dates ``today``, ``now`` and
    ``last-modified`` become today's date.
    """
    meta = {k: front[k] for k in PANDOC_KEYS if front.get(k) not in (None, "")}
    if "author" in meta:
        authors = meta["author"] if isinstance(meta["author"], list) else [meta["author"]]
        meta["author"] = [_author_name(a) for a in authors if _author_name(a)]
    if str(meta.get("date", "")).strip() in ("today", "now", "last-modified"):
        meta["date"] = dt.date.today().isoformat()
    elif "date" in meta:
        meta["date"] = str(meta["date"])
    return meta


def format_options(front: dict[str, Any], *names: str) -> dict[str, Any]:
    """The options under ``format: <name>:`` for the first of ``names`` present."""
    formats = front.get("format")
    if not isinstance(formats, dict):
        return {}
    for name in names:
        options = formats.get(name)
        if isinstance(options, dict):
            return options
    return {}


def _include_text(item: Any, folder: Path) -> str:
    if isinstance(item, dict):
        if "text" in item:
            return str(item["text"])
        if "file" in item:
            return (folder / str(item["file"])).read_text(encoding="utf-8")
        return ""
    text = str(item)
    candidate = folder / text
    if "\n" not in text and len(text) < 255 and candidate.is_file():
        return candidate.read_text(encoding="utf-8")  # Quarto: a plain string is a file
    return text


def include_in_header(front: dict[str, Any], folder: Path, *names: str) -> str:
    """The ``include-in-header`` content of a format (``text:``, ``file:`` or a list).

    A plain string is read as a file relative to ``folder`` when such a file exists
    (Quarto's meaning), otherwise used as the text itself.
    """
    include = format_options(front, *names).get("include-in-header")
    if include is None:
        return ""
    items = include if isinstance(include, list) else [include]
    return "\n".join(_include_text(item, folder) for item in items)
