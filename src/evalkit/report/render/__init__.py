"""Rendering Quarto reports: with Quarto when it is installed, otherwise built in.

:func:`render_qmd` is the entry point. The same ``.qmd`` stays a valid Quarto
document; the built-in engine (:mod:`evalkit.report.render.builtin`) needs only PyPI
packages (nbclient, papermill, pandoc via pypandoc-binary, typst) and executes the
document once for all formats. The Quarto engine (:mod:`evalkit.report.render.quarto`) runs
``quarto render`` with the same parameters.

The names below are imported on first use (PEP 562), so that a command whose reports are
all current never loads the renderer's dependencies (nbformat, pandoc, python-docx).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

from evalkit.report.render.errors import RenderError

#: Called as ``cell_progress(done, total)`` after each chunk that a kernel started by this
#: process runs (the command line sets it to drive a progress bar), or None.
cell_progress: Callable[[int, int], None] | None = None

_LAZY = {"ExecutedDocument": ".qmd", "builtin_version": ".builtin",
         "execute_qmd": ".builtin", "Cell": ".qmd", "QmdDocument": ".qmd",
         "parse_qmd": ".qmd", "render_with_quarto": ".quarto", "FORMATS": ".writers",
         "check_formats": ".writers", "convert": ".writers"}


def __getattr__(name: str) -> Any:
    """Import a name of the renderer's modules on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


__all__ = ["render_qmd", "quarto_available", "engine_version", "parse_qmd", "execute_qmd",
           "convert", "RenderError", "QmdDocument", "Cell", "ExecutedDocument", "FORMATS",
           "ENGINES"]

ENGINES = ("auto", "quarto", "builtin")


def quarto_available() -> bool:
    """True when ``quarto`` is on PATH."""
    return shutil.which("quarto") is not None


def _resolve(engine: str) -> str:
    if engine not in ENGINES:
        raise RenderError(f"unknown render engine '{engine}'", fix="use auto, quarto or builtin")
    if engine == "auto":
        return "quarto" if quarto_available() else "builtin"
    return engine


def engine_version(engine: str = "auto") -> str:
    """Describe the engine that would render, with versions.

    Parameters
    ----------
    engine
        ``auto``, ``quarto`` or ``builtin``.

    Returns
    -------
    str
        E.g. ``"builtin (pandoc 3.9, typst 0.15.2)"`` or ``"quarto 1.6.40"``.
    """
    if _resolve(engine) == "quarto":
        if not quarto_available():
            return "quarto (not installed)"
        out = subprocess.run(["quarto", "--version"], capture_output=True, text=True)
        return f"quarto {out.stdout.strip() or out.stderr.strip()}"
    return _this().builtin_version()


def render_qmd(path: str | Path, *, params: dict[str, Any] | None = None,
               formats: Sequence[str] = ("html",), out_dir: str | Path = ".",
               basename: str | None = None, engine: str = "auto") -> dict[str, Path]:
    """Render a Quarto document to HTML, DOCX and/or PDF.

    Parameters
    ----------
    path
        The ``.qmd`` file.
    params
        Values for the document's chunk tagged ``parameters``.
    formats
        Any of ``html`` (self-contained), ``docx`` and ``pdf``.
    out_dir
        The output folder (created if needed).
    basename
        The output file name without extension (default: the document's).
    engine
        ``auto`` (Quarto if on PATH, else built-in), ``quarto`` or ``builtin``.

    Returns
    -------
    dict
        The written files by format, e.g. ``{"html": Path("out/report.html")}``.

    Raises
    ------
    RenderError
        For a malformed document, a failing chunk (named in the message), an unresolved
        cross-reference, a converter failure or an unknown format or engine. No output
        file is written then.
    """
    this = _this()  # the names through the module, as patched by a caller if so
    formats = this.check_formats(formats)
    engine = _resolve(engine)
    path = Path(path)
    basename = basename or path.stem
    params = dict(params or {})
    if engine == "quarto":
        return this.render_with_quarto(path, params=params, formats=formats, out_dir=out_dir,
                                       basename=basename)
    executed = this.execute_qmd(path, params=params)
    return this.convert(executed, formats=formats, out_dir=out_dir, basename=basename)


def _this():
    import sys

    return sys.modules[__name__]
