"""Quarto cross-references: number ``fig-``/``tbl-`` figures and tables, resolve ``@refs``.

Figures are images with a ``#fig-...`` identifier, ``![cap](file){#fig-x}``; tables
are Pandoc table captions with a ``#tbl-...`` identifier, ``: cap {#tbl-x}``. Both
may come from the narrative or from chunk output. They are numbered in order of
appearance, their captions get the prefix (``Figure 1: cap``), and every ``@fig-x``
becomes ``Figure 1`` (``-@fig-x`` becomes ``1``; ``[@fig-x]`` loses its brackets).
Code blocks are left alone; raw blocks (```` ```{=typst} ````) are not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from evalkit.report.render.errors import RenderError

__all__ = ["CrossRefs"]

_LABEL = r"(?:fig|tbl)-[A-Za-z0-9_-]*[A-Za-z0-9_]"
_FIG_DEF = re.compile(r"!\[(?P<cap>(?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)"
                      r"\{(?P<attrs>[^}]*?#(?P<label>fig-[A-Za-z0-9_-]+)[^}]*)\}")
_TBL_DEF = re.compile(r"^(?:[Tt]able)?:[ \t]+(?P<cap>.*?)[ \t]*"
                      r"\{(?P<attrs>[^}]*?#(?P<label>tbl-[A-Za-z0-9_-]+)[^}]*)\}[ \t]*$", re.M)
_REF = re.compile(rf"(?<![\w@.\\])(?P<dash>-?)@(?P<label>{_LABEL})")
_BRACKETED = re.compile(rf"\[\s*(?P<refs>-?@{_LABEL}\s*(?:;\s*-?@{_LABEL}\s*)*)\]")
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")


def outside_code(text: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to the parts of Markdown ``text`` outside fenced code blocks.

    Raw blocks (```` ```{=format} ````) count as outside: their content is passed to ``fn``.
    """
    out: list[str] = []
    part: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m or m.group("info").strip().startswith("{="):
            part.append(lines[i])
            i += 1
            continue
        fence = m.group("fence")
        close = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if close.match(lines[j])), len(lines))
        out.append(fn("\n".join(part)))
        out.append("\n".join(lines[i:end + 1]))
        part = []
        i = end + 1
    out.append(fn("\n".join(part)))
    return "\n".join(out)


class CrossRefs:
    """Numbering and resolution of figure and table cross-references for one document.

    Parameters
    ----------
    front_matter
        The document's front matter; ``crossref: {fig-title, tbl-title, fig-prefix,
        tbl-prefix}`` change the words used (default ``Figure`` and ``Table``).
    chunk_labels
        Labels of the document's chunks, to explain a reference to a chunk that made no
        figure or table.
    source
        The document's path, for messages.
    """

    def __init__(self, front_matter: dict[str, Any], chunk_labels: Iterable[str] = (),
                 source: str | None = None):
        opts = front_matter.get("crossref") if isinstance(front_matter, dict) else None
        opts = opts if isinstance(opts, dict) else {}
        self.title = {"fig": str(opts.get("fig-title", "Figure")),
                      "tbl": str(opts.get("tbl-title", "Table"))}
        self.prefix = {"fig": str(opts.get("fig-prefix", self.title["fig"])),
                       "tbl": str(opts.get("tbl-prefix", self.title["tbl"]))}
        self.numbers: dict[str, int] = {}
        self.counts = {"fig": 0, "tbl": 0}
        self.chunk_labels = set(chunk_labels)
        self.source = source

    def number(self, text: str) -> str:
        """Number the figures and tables defined in ``text`` and prefix their captions.

        Call it on the document's Markdown blocks in order.
        """
        return outside_code(text, self._number)

    def resolve(self, text: str) -> str:
        """Replace ``@fig-x``/``@tbl-x`` in ``text`` by ``Figure N``/``Table N``.

        Raises
        ------
        RenderError
            If a reference names no numbered figure or table.
        """
        return outside_code(text, self._resolve)

    def _number(self, text: str) -> str:
        matches = sorted([*_FIG_DEF.finditer(text), *_TBL_DEF.finditer(text)],
                         key=lambda m: m.start())
        out, pos = [], 0
        for m in matches:
            if m.start() < pos:
                continue
            label = m.group("label")
            kind = label[:3]
            if label in self.numbers:
                raise RenderError(f"the label '{label}' is used twice", file=self.source,
                                  fix="give each figure and table its own label")
            self.counts[kind] += 1
            self.numbers[label] = self.counts[kind]
            name = f"{self.title[kind]} {self.counts[kind]}"
            caption = m.group("cap").strip()
            out.append(text[pos:m.start("cap")])
            out.append(f"{name}: {caption}" if caption else name)
            if kind == "tbl":
                out.append(" ")
                pos = m.start("attrs") - 1
            else:
                pos = m.end("cap")
        out.append(text[pos:])
        return "".join(out)

    def _label_text(self, label: str, dash: str) -> str:
        if label not in self.numbers:
            why = (f"chunk '{label}' made no {'figure' if label[:3] == 'fig' else 'table'}"
                   if label in self.chunk_labels else "no figure or table has that label")
            raise RenderError(f"the cross-reference @{label} cannot be resolved: {why}",
                              file=self.source, fix="check the label, or the chunk's output")
        number = str(self.numbers[label])
        return number if dash else f"{self.prefix[label[:3]]} {number}"

    def _resolve(self, text: str) -> str:
        def bracketed(m: re.Match) -> str:
            refs = [r.strip() for r in m.group("refs").split(";")]
            return ", ".join(self._label_text(r.lstrip("-@"), r.startswith("-"))
                             if r.startswith(("@", "-@")) else r for r in refs)

        text = _BRACKETED.sub(bracketed, text)
        return _REF.sub(lambda m: self._label_text(m.group("label"), m.group("dash")), text)
