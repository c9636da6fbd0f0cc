"""YAML text from data: scalars that cannot inject structure, comments that stay comments.

Column names, unit names and file names come from the user's data and go into a
``spec.yaml`` that evalkit then reads. :func:`scalar` writes any value as a YAML
double-quoted scalar (PyYAML escapes every quote, backslash, line break and control
character), and :func:`comment` makes text one comment line: YAML line breaks (``\\n``,
``\\r``, NEL, LS, PS) and control characters become spaces.

Examples
--------
>>> scalar('x: 1\\n- evil')
'"x: 1\\\\n- evil"'
>>> comment("a\\nb: c")
'# a b: c'
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import yaml

__all__ = ["scalar", "comment", "key"]

_BREAKS = re.compile("[\r\n\x85\u2028\u2029]")


def scalar(value: Any) -> str:
    """A value as YAML: numbers and booleans as themselves, everything else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and value == value:
        return repr(value)
    text = yaml.safe_dump(str(value), default_style='"', width=float("inf"),
                          allow_unicode=False).strip()
    if text.endswith("\n..."):  # pragma: no cover - not emitted for quoted scalars
        text = text[:-4].strip()
    return text


def key(value: Any) -> str:
    """A mapping key from data (always quoted)."""
    return scalar(str(value))


def comment(text: str, indent: int = 0) -> str:
    """Text as one YAML comment line (never more than one line)."""
    clean = _BREAKS.sub(" ", str(text))
    clean = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") and ch != "\t" else ch
                    for ch in clean)
    return " " * indent + "# " + clean.strip()
