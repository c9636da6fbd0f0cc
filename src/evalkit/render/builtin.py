"""The built-in engine: render a Quarto document with only PyPI packages.

1. Parse the ``.qmd`` (:mod:`evalkit.render.qmd`).
2. Build a notebook and inject the parameters after the cell tagged ``parameters``
   exactly as papermill does (values become Python literals, never spliced text).
3. Execute it once in a Jupyter kernel whose working folder is the document's.
4. Assemble Pandoc Markdown with Quarto's semantics: ``echo``/``include``/``output``
   options, ``output: asis``, figures with ``fig-cap``/``fig-alt``, tables with
   ``tbl-cap``, and ``@fig-``/``@tbl-`` cross-references numbered in order.
5. Convert with pandoc (pypandoc-binary): self-contained HTML, DOCX (with a page
   header for ``.evalkit-page-notice`` text) and typst, compiled to PDF by typst.

Every output is written to a temporary file and renamed into place.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .qmd import QmdDocument, RenderError, parse_qmd

__all__ = ["ExecutedDocument", "execute_qmd", "convert", "FORMATS"]

FORMATS = ("html", "docx", "pdf")
_PANDOC_META = ("title", "subtitle", "author", "date", "abstract", "lang")


@dataclass
class ExecutedDocument:
    """A document after execution: its Markdown and the figure files it refers to."""

    source: QmdDocument
    markdown: str
    workdir: Path  # holds the figure files; removed by :meth:`cleanup`
    params: dict

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _notebook(doc: QmdDocument, params: dict[str, Any]):
    import nbformat
    from papermill.parameterize import parameterize_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["papermill"] = {}
    index = []
    for k, cell in enumerate(doc.cells):
        if cell.kind != "code" or cell.options.get("eval") is False:
            continue
        c = nbformat.v4.new_code_cell(cell.source)
        c.metadata["tags"] = ["parameters"] if cell.is_parameters else []
        c.metadata["evalkit_cell"] = k
        nb.cells.append(c)
        index.append(k)
    if params:
        nb = parameterize_notebook(nb, dict(params))
    return nb


def execute_qmd(path: str | Path, *, params: dict[str, Any] | None = None,
                timeout: int = 600, kernel_name: str = "python3") -> ExecutedDocument:
    """Execute a document's chunks once, with parameters injected as papermill does.

    Raises
    ------
    RenderError
        If a chunk raises; the message names the chunk, and ``.log`` holds the traceback.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    doc = parse_qmd(path)
    params = dict(params or {})
    nb = _notebook(doc, params)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(doc.path.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        failing = next((c for c in nb.cells if any(o.get("output_type") == "error"
                                                   for o in c.get("outputs", []))), None)
        where = "a chunk"
        if failing is not None and "evalkit_cell" in failing.metadata:
            cell = doc.cells[failing.metadata["evalkit_cell"]]
            where = f"chunk '{cell.label}'" if cell.label else f"the chunk at line {cell.line}"
        err = next((o for c in nb.cells for o in c.get("outputs", [])
                    if o.get("output_type") == "error"), {})
        error = RenderError(f"{where} raised {err.get('ename', 'an error')}: "
                            f"{err.get('evalue', '')}".strip(), file=str(doc.path),
                            fix="run the report's chunks in Python to see the full error")
        error.log = str(exc)
        raise error from None
    outputs = {c.metadata["evalkit_cell"]: c.get("outputs", []) for c in nb.cells
               if "evalkit_cell" in c.metadata}
    workdir = Path(tempfile.mkdtemp(prefix="evalkit-render-"))
    markdown = _assemble(doc, outputs, workdir)
    return ExecutedDocument(doc, markdown, workdir, params)


def _option(doc: QmdDocument, cell, key: str, default=None):
    execute = (doc.front_matter.get("execute") or {})
    return cell.options.get(key, execute.get(key, default))


def _text(output) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else str(text)


def _data(output, mime) -> str | None:
    value = output.get("data", {}).get(mime)
    if value is None:
        return None
    return "".join(value) if isinstance(value, list) else value


def _assemble(doc: QmdDocument, outputs: dict[int, list], workdir: Path) -> str:
    parts: list[str] = []
    numbers: dict[str, str] = {}
    counts = {"fig": 0, "tbl": 0}
    n_images = 0
    for k, cell in enumerate(doc.cells):
        if cell.kind == "markdown":
            parts.append(cell.source)
            continue
        if _option(doc, cell, "include", True) is False:
            continue
        if _option(doc, cell, "echo", True) is True and cell.source.strip():
            parts.append(f"```python\n{cell.source}\n```")
        if _option(doc, cell, "output", True) is False or cell.options.get("eval") is False:
            continue
        asis = _option(doc, cell, "output") == "asis"
        show_warnings = _option(doc, cell, "warning", True) is not False
        label = cell.label or ""
        kind = label.split("-")[0] if label.startswith(("fig-", "tbl-")) else None
        chunk: list[str] = []
        for out in outputs.get(k, []):
            otype = out.get("output_type")
            if otype == "stream":
                if out.get("name") == "stderr" and not show_warnings:
                    continue
                text = _text(out)
                chunk.append(text if asis else f"```\n{text.rstrip()}\n```")
            elif otype in ("display_data", "execute_result"):
                png = _data(out, "image/png")
                md = _data(out, "text/markdown")
                if png is not None:
                    n_images += 1
                    image = workdir / f"figure-{n_images}.png"
                    image.write_bytes(base64.b64decode(png))
                    chunk.append(("IMAGE", image))
                elif md is not None:
                    chunk.append(md)
                elif asis and _data(out, "text/plain") is not None:
                    chunk.append(_data(out, "text/plain"))
                elif _data(out, "text/plain") is not None and otype == "execute_result":
                    plain = _data(out, "text/plain")
                    if plain not in ("None",):
                        chunk.append(f"```\n{plain}\n```")
        if kind:
            counts[kind] += 1
            numbers[label] = f"{'Figure' if kind == 'fig' else 'Table'} {counts[kind]}"
        rendered: list[str] = []
        for item in chunk:
            if isinstance(item, tuple):
                cap = cell.options.get("fig-cap", "")
                alt = str(cell.options.get("fig-alt", cap)).replace('"', "'")
                name = f"{numbers[label]}: {cap}" if kind == "fig" else cap
                attrs = (f"#{label} " if kind == "fig" else "") + f'fig-alt="{alt}"'
                rendered.append(f"![{name}]({item[1].name}){{{attrs}}}")
            else:
                rendered.append(item)
        block = "\n\n".join(r.rstrip("\n") for r in rendered if r.strip())
        if kind == "tbl" and block:
            block += f"\n\n: {numbers[label]}: {cell.options.get('tbl-cap', '')} {{#{label}}}"
        if block:
            parts.append(block)
    text = "\n\n".join(parts) + "\n"

    def ref(match: re.Match) -> str:
        key = match.group(1)
        if key not in numbers:
            raise RenderError(f"the cross-reference @{key} points to no figure or table",
                              file=str(doc.path), fix=f"label a chunk '{key}' or fix the "
                              "reference")
        return numbers[key]

    return re.sub(r"(?<![\w@])@((?:fig|tbl)-[A-Za-z0-9_-]+)", ref, text)


def _asset(name: str) -> Path:
    return Path(str(resources.files("evalkit.render").joinpath("assets", name)))


def _include(front: dict, fmt: str) -> str:
    formats = front.get("format") or {}
    spec = (formats.get(fmt) or {}) if isinstance(formats, dict) else {}
    inc = spec.get("include-in-header") if isinstance(spec, dict) else None
    if isinstance(inc, dict):
        return str(inc.get("text", ""))
    if isinstance(inc, str):
        return inc
    return ""


def _typst_page(front: dict) -> dict:
    """Page settings for pandoc's typst template, from ``format: typst:`` (A4, 2 cm)."""
    formats = front.get("format") or {}
    spec = formats.get("typst") if isinstance(formats, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    margin = spec.get("margin") or {"x": "2cm", "y": "2cm"}
    return {"papersize": spec.get("papersize", "a4"), "margin": margin,
            "fontsize": spec.get("fontsize", "10pt")}


def _atomic(src: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def convert(executed: ExecutedDocument, *, formats: Sequence[str], out_dir: str | Path,
            basename: str) -> dict[str, Path]:
    """Convert an executed document to HTML, DOCX and/or PDF.

    Returns
    -------
    dict
        Paths of the written files, by format.
    """
    import pypandoc

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise RenderError(f"unknown format(s): {', '.join(unknown)}",
                          fix=f"use {', '.join(FORMATS)}")
    front = executed.source.front_matter
    meta = {k: front[k] for k in _PANDOC_META if k in front}
    body = executed.markdown
    source = executed.workdir / "document.md"
    source.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n\n" + body,
                      encoding="utf-8")
    # typst numbers figures and tables itself: drop the engine's "Figure N: " prefixes there.
    typst_source = executed.workdir / "document-typst.md"
    typst_source.write_text(re.sub(r"(!\[|^: )(?:Figure|Table) \d+: ", r"\1",
                                   source.read_text(encoding="utf-8"), flags=re.M),
                            encoding="utf-8")
    lua = str(_asset("alt-text.lua"))
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    work = executed.workdir
    try:
        for fmt in formats:
            if fmt == "html":
                target = work / "out.html"
                header = work / "header.html"
                header.write_text("<style>\n" + _asset("report.css").read_text() + "\n</style>\n"
                                  + _include(front, "html"), encoding="utf-8")
                pypandoc.convert_file(str(source), "html", outputfile=str(target), extra_args=[
                    "--standalone", "--embed-resources", f"--lua-filter={lua}",
                    f"--include-in-header={header}", f"--resource-path={work}",
                    "--metadata=document-css:false"], cworkdir=str(work))
            elif fmt == "docx":
                target = work / "out.docx"
                pypandoc.convert_file(str(source), "docx", outputfile=str(target),
                                      extra_args=[f"--lua-filter={lua}",
                                                  f"--resource-path={work}"],
                                      cworkdir=str(work))
                _docx_page_notice(target, body)
            else:
                typ = work / "out.typ"
                header = work / "header.typ"
                header.write_text(_include(front, "typst"), encoding="utf-8")
                page = work / "page.yaml"
                page.write_text(yaml.safe_dump(_typst_page(front)), encoding="utf-8")
                pypandoc.convert_file(str(typst_source), "typst", outputfile=str(typ),
                                      extra_args=[
                    "--standalone", f"--lua-filter={lua}", f"--include-in-header={header}",
                    f"--metadata-file={page}"], cworkdir=str(work))
                target = work / "out.pdf"
                import typst

                typst.compile(str(typ), output=str(target), root=str(work))
            final = out_dir / f"{basename}.{fmt}"
            _atomic(target, final)
            written[fmt] = final
    except RenderError:
        raise
    except (RuntimeError, OSError) as exc:
        raise RenderError(f"converting to {fmt} failed: {exc}", file=str(executed.source.path),
                          fix="see the log; check pandoc and typst are installed") from None
    return written


def _docx_page_notice(path: Path, markdown: str) -> None:
    """Put the text of a ``.evalkit-page-notice`` Div in every page header of a DOCX."""
    m = re.search(r"::: \{\.evalkit-page-notice\}\n(.*?)\n:::", markdown, re.S)
    if not m:
        return
    import docx

    document = docx.Document(str(path))
    for section in document.sections:
        header = section.header
        header.is_linked_to_previous = False
        paragraph = header.paragraphs[0] if header.paragraphs else header.add_paragraph()
        paragraph.text = m.group(1).strip()
    document.save(str(path))
