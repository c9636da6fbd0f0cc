"""The built-in engine: a Quarto document rendered with PyPI packages only.

1. Parse the ``.qmd`` (:mod:`evalkit.report.render.qmd`).
2. Build a notebook and inject the parameters as papermill does
   (:mod:`evalkit.report.render.notebook`).
3. Execute it once in a Jupyter kernel whose working folder is the document's. The kernel
   gets ``EVALKIT_FIGURE_DIR``, a temporary folder (in the run's, :mod:`evalkit.files.run_temp`)
   for image files that Markdown output
   refers to, and ``EVALKIT_RENDER_ENGINE``, the engine and its version.
4. Assemble Pandoc Markdown with Quarto's semantics (:mod:`evalkit.report.render.assemble`);
   local images named in the Markdown are read in, and the temporary folder removed.
5. Convert the one executed document to each format (:mod:`evalkit.report.render.convert`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from evalkit.files.run_temp import temp_dir
from evalkit.report.render.assemble import assemble
from evalkit.report.render.notebook import build_notebook, run_notebook
from evalkit.report.render.qmd import ExecutedDocument, parse_qmd

__all__ = ["execute_qmd", "builtin_version", "FIGURE_DIR_ENV", "ENGINE_ENV"]

#: Where a chunk may write image files that its Markdown output refers to; the engine
#: reads them into the document and removes the folder (see :mod:`evalkit.report.figures`).
FIGURE_DIR_ENV = "EVALKIT_FIGURE_DIR"
#: The engine and its version, for a document's provenance.
ENGINE_ENV = "EVALKIT_RENDER_ENGINE"


def builtin_version() -> str:
    """The built-in engine with its converters' versions, e.g.
    ``"builtin (pandoc 3.9, typst 0.15.2)"``."""
    import pypandoc
    import typst

    return (f"builtin (pandoc {pypandoc.get_pandoc_version()}, "
            f"typst {getattr(typst, '__version__', 'unknown')})")

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
    figures = str(temp_dir("evalkit-figures-"))
    try:
        nb = run_notebook(doc, build_notebook(doc, params), timeout=timeout,
                          kernel_name=kernel_name,
                          env={FIGURE_DIR_ENV: figures, ENGINE_ENV: builtin_version()})
        markdown, files = assemble(doc, nb, figures=[figures])
    finally:
        shutil.rmtree(figures, ignore_errors=True)
    return ExecutedDocument(doc, markdown, files, params, nb)
