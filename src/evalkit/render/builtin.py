"""The built-in engine: a Quarto document rendered with PyPI packages only.

1. Parse the ``.qmd`` (:mod:`evalkit.render.qmd`).
2. Build a notebook and inject the parameters as papermill does
   (:mod:`evalkit.render.notebook`).
3. Execute it once in a Jupyter kernel whose working folder is the document's.
4. Assemble Pandoc Markdown with Quarto's semantics (:mod:`evalkit.render.assemble`).
5. Convert the one executed document to each format (:mod:`evalkit.render.convert`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from .assemble import assemble
from .notebook import build_notebook, run_notebook
from .qmd import QmdDocument, parse_qmd
from .writers import FORMATS, convert

__all__ = ["ExecutedDocument", "execute_qmd", "convert", "FORMATS"]

#: Kept for callers of the earlier private name.
_notebook = build_notebook


@dataclass
class ExecutedDocument:
    """A document after its one execution, ready to convert to any format.

    Attributes
    ----------
    document
        The parsed source.
    markdown
        The Pandoc Markdown body (no front matter), cross-references resolved.
    files
        The image files the Markdown refers to, by file name.
    params
        The parameters it ran with.
    notebook
        The executed notebook (outputs included).
    """

    document: QmdDocument
    markdown: str
    files: dict[str, bytes] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    notebook: NotebookNode | None = None

    @property
    def front_matter(self) -> dict[str, Any]:
        """The source's front matter."""
        return self.document.front_matter


def execute_qmd(path: str | Path, *, params: dict[str, Any] | None = None, timeout: int = 600,
                kernel_name: str = "python3") -> ExecutedDocument:
    """Execute a Quarto document's chunks once and assemble its Markdown.

    Parameters
    ----------
    path
        The ``.qmd`` file.
    params
        Values for the chunk tagged ``parameters``, injected as Python literals.
    timeout
        Seconds any one chunk may run.
    kernel_name
        The Jupyter kernel to run the chunks in.

    Returns
    -------
    ExecutedDocument
        Markdown and figure files, for :func:`convert`.

    Raises
    ------
    RenderError
        If the document is malformed, a chunk raises (the message names it; ``.log``
        holds the traceback) or a cross-reference cannot be resolved.
    """
    doc = parse_qmd(path)
    params = dict(params or {})
    nb = run_notebook(doc, build_notebook(doc, params), timeout=timeout,
                      kernel_name=kernel_name)
    markdown, files = assemble(doc, nb)
    return ExecutedDocument(doc, markdown, files, params, nb)
