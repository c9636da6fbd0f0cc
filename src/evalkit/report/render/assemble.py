"""Pandoc Markdown from an executed document, with Quarto's chunk semantics.

Chunk options (from the chunk, else the front matter's ``execute:``): ``include: false``
hides the chunk entirely; ``echo`` shows its code; ``eval: false`` skips running it;
``output: false`` hides its output and ``output: asis`` inserts printed text and
``text/markdown`` output as raw Markdown; ``warning: false`` drops ``stderr``.
Images become files; a ``fig-`` chunk's first image becomes a figure with ``fig-cap``
and ``fig-alt``; a ``tbl-`` chunk's first pipe table gets the ``tbl-cap`` caption.
Markdown images that name a local file (relative to the document, as in Quarto, or
absolute), in the narrative or in ``asis`` output, are read into the document's files, so
a chunk may print ``![cap](file.png){#fig-x fig-alt="..."}`` for a figure it saved. Only
files inside the document's folder or the engine's figure folder are read: an image that
points anywhere else is left as it is, and the sandboxed converters do not fetch it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from evalkit.report.render.crossref import CrossRefs, outside_code
from evalkit.report.render.notebook import strip_ansi
from evalkit.report.render.qmd import Cell, QmdDocument

__all__ = ["assemble"]

_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_IMAGES = (("image/png", "png"), ("image/svg+xml", "svg"), ("image/jpeg", "jpg"))
_MD_IMAGE = re.compile(r"(?P<head>!\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*)"
                       r"(?P<target><[^>\n]+>|[^)\s]+)")
_REMOTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|#)")


@dataclass
class _Block:
    text: str
    markdown: bool = True  # False: literal code, left alone by cross-referencing


@dataclass
class _Image:
    name: str


def _join(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def fence(text: str, info: str = "") -> str:
    """A fenced code block holding ``text`` verbatim."""
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


def _stream_text(text: str) -> str:
    """Stream output as a terminal shows it: no colour codes, ``\\r`` overwrites."""
    lines = strip_ansi(text).split("\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)


def _merged(outputs: list[NotebookNode]) -> list[dict]:
    """Outputs with consecutive stream outputs of the same stream merged."""
    merged: list[dict] = []
    for out in outputs:
        out = dict(out)
        last = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and last is not None
                and last.get("output_type") == "stream" and last.get("name") == out.get("name")):
            last["text"] = _join(last["text"]) + _join(out.get("text", ""))
        else:
            merged.append(out)
    return merged


def _html_to_markdown(html: str) -> str:
    """Markdown for an HTML display (e.g. a pandas DataFrame), via pandoc's HTML reader."""
    import pypandoc

    html = re.sub(r"<(style|script)\b.*?</\1\s*>", "", html, flags=re.S | re.I)
    try:
        text = pypandoc.convert_text(
            html, "markdown-raw_html-raw_attribute-native_divs-native_spans-simple_tables"
            "-multiline_tables-fenced_divs-bracketed_spans-link_attributes-header_attributes",
            format="html", extra_args=["--wrap=none"], verify_format=False)
    except RuntimeError:
        return ""
    return text.strip()


class _Chunk:
    """Turns one chunk's outputs into blocks."""

    def __init__(self, doc: QmdDocument, cell: Cell, files: dict[str, bytes]):
        self.doc, self.cell, self.files = doc, cell, files
        output = doc.option(cell, "output", True)
        self.asis = output == "asis"
        self.warnings = doc.option(cell, "warning", True) is not False
        stem = re.sub(r"[^A-Za-z0-9_-]", "-", cell.label or f"chunk-{cell.number}")
        self.stem = stem

    def _image(self, data: dict) -> _Image | None:
        for mime, ext in _IMAGES:
            if mime in data:
                payload = _join(data[mime])
                raw = payload.encode() if ext == "svg" else base64.b64decode(payload)
                name = f"{self.stem}-{len(self.files) + 1}.{ext}"
                self.files[name] = raw
                return _Image(name)
        return None

    def _rich(self, data: dict) -> _Block | _Image | None:
        image = self._image(data)
        if image is not None:
            return image
        if "text/markdown" in data:
            return _Block(_join(data["text/markdown"]))
        if "text/html" in data:
            markdown = _html_to_markdown(_join(data["text/html"]))
            if markdown:
                return _Block(markdown)
        if "text/plain" in data:
            plain = _join(data["text/plain"])
            return _Block(plain) if self.asis else _Block(fence(plain), markdown=False)
        return None

    def items(self, outputs: list[NotebookNode]) -> list[_Block | _Image]:
        """The chunk's outputs, in order, as Markdown/code blocks and images."""
        items: list[_Block | _Image] = []
        for out in _merged(outputs):
            kind = out.get("output_type")
            if kind == "stream":
                if out.get("name") == "stderr" and not self.warnings:
                    continue
                text = _stream_text(_join(out.get("text", "")))
                if not text.strip():
                    continue
                items.append(_Block(text) if self.asis and out.get("name") == "stdout"
                             else _Block(fence(text), markdown=False))
            elif kind == "error":
                trace = strip_ansi("\n".join(out.get("traceback", [])))
                items.append(_Block(fence(trace or f"{out.get('ename')}: {out.get('evalue')}"),
                                    markdown=False))
            elif kind in ("display_data", "execute_result"):
                item = self._rich(out.get("data", {}))
                if item is not None:
                    items.append(item)
        return items

    def _listed(self, key: str) -> list[str]:
        value = self.cell.options.get(key)
        values = value if isinstance(value, list) else [] if value is None else [value]
        return [" ".join(str(v).split()) for v in values]

    def blocks(self, outputs: list[NotebookNode]) -> list[_Block]:
        """Figures and tables decorated with their captions, labels and alt text."""
        label = self.cell.label or ""
        caps, alts = self._listed("fig-cap"), self._listed("fig-alt")
        blocks: list[_Block] = []
        n_images = 0
        for item in self.items(outputs):
            if isinstance(item, _Block):
                blocks.append(item)
                continue
            cap = caps[n_images] if n_images < len(caps) else ""
            attrs = [f"#{label}"] if label.startswith("fig-") and n_images == 0 else []
            if n_images < len(alts):
                alt = alts[n_images].replace("\\", "\\\\").replace('"', '\\"')
                attrs.append(f'fig-alt="{alt}"')
            attr_text = "{" + " ".join(attrs) + "}" if attrs else ""
            blocks.append(_Block(f"![{cap}]({item.name}){attr_text}"))
            n_images += 1
        if label.startswith("tbl-"):
            caption = " ".join(str(self.cell.options.get("tbl-cap", "")).split())
            for block in blocks:
                if block.markdown and _add_table_caption(block, caption, label):
                    break
        return blocks


def _add_table_caption(block: _Block, caption: str, label: str) -> bool:
    """Put ``: caption {#label}`` after the first pipe table in ``block``."""
    lines = block.text.split("\n")
    for i in range(1, len(lines)):
        if _TABLE_RULE.match(lines[i]) and "|" in lines[i - 1]:
            end = i + 1
            while end < len(lines) and lines[end].strip() and "|" in lines[end]:
                end += 1
            cap_line = f": {caption} {{#{label}}}" if caption else f": {{#{label}}}"
            block.text = "\n".join([*lines[:end], "", cap_line, "", *lines[end:]])
            return True
    return False


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    """Whether ``path`` (links resolved) is a file inside one of ``roots``."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return real.is_file() and any(real.is_relative_to(root.resolve()) for root in roots)


def _local_images(text: str, folder: Path, files: dict[str, bytes],
                  roots: Sequence[Path] = ()) -> str:
    """Read local image files named by Markdown images in ``text`` into ``files``.

    Targets that are URLs (``http:``, ``data:``, ...), already among ``files``, not an
    existing file, or outside ``folder`` and ``roots`` are left as they are; others are
    renamed to their key in ``files``.
    """
    def local(m: re.Match) -> str:
        raw = m.group("target")
        target = raw[1:-1] if raw.startswith("<") else raw
        if target in files or _REMOTE.match(target):
            return m.group(0)
        path = Path(target) if Path(target).is_absolute() else folder / target
        if not _inside(path, [folder, *roots]):
            return m.group(0)
        stem = re.sub(r"[^A-Za-z0-9_-]", "-", path.stem)[:60] or "image"
        name = f"md-{len(files) + 1}-{stem}{path.suffix.lower()}"
        files[name] = path.read_bytes()
        return m.group("head") + name

    return outside_code(text, lambda part: _MD_IMAGE.sub(local, part))


def _chunk_blocks(doc: QmdDocument, cell: Cell, outputs: list[NotebookNode],
                  files: dict[str, bytes]) -> list[_Block]:
    if doc.option(cell, "include", True) is False:
        return []
    blocks = []
    if doc.option(cell, "echo", True) not in (False, None) and cell.source.strip():
        blocks.append(_Block(fence(cell.source, "python"), markdown=False))
    if doc.option(cell, "eval", True) is False or doc.option(cell, "output", True) is False:
        return blocks
    return blocks + _Chunk(doc, cell, files).blocks(outputs)


def assemble(doc: QmdDocument, nb: NotebookNode, *, figures: Sequence[str | Path] = ()
             ) -> tuple[str, dict[str, bytes]]:
    """Pandoc Markdown (without front matter) for an executed document.

    Parameters
    ----------
    doc
        The parsed document.
    nb
        The notebook built from it by :func:`~evalkit.report.render.notebook.build_notebook`,
        executed.
    figures
        Folders besides the document's own from which images may be read (the engine's
        figure folder).

    Returns
    -------
    markdown : str
        The document body, figures and tables numbered and cross-references resolved.
    files : dict
        Image files the Markdown refers to, by file name.

    Raises
    ------
    RenderError
        On an unresolved cross-reference or a label used twice.
    """
    outputs = {c.metadata["evalkit"]["cell"]: c.get("outputs", []) for c in nb.cells
               if "cell" in c.metadata.get("evalkit", {})}
    files: dict[str, bytes] = {}
    blocks: list[_Block] = []
    for cell in doc.cells:
        if cell.kind == "markdown":
            blocks.append(_Block(cell.source))
        else:
            blocks.extend(_chunk_blocks(doc, cell, outputs.get(cell.number, []), files))
    refs = CrossRefs(doc.front_matter, (c.label for c in doc.code_cells if c.label),
                     str(doc.path))
    folder = Path(doc.path).parent
    for block in blocks:
        if block.markdown:
            block.text = _local_images(block.text, folder, files,
                                       [Path(f) for f in figures])
            block.text = refs.number(block.text)
    for block in blocks:
        if block.markdown:
            block.text = refs.resolve(block.text)
    body = "\n\n".join(b.text.strip("\n") for b in blocks if b.text.strip())
    return body + "\n", files
