"""Rendering Quarto reports: with Quarto when it is installed, otherwise built in.

:func:`render_qmd` is the entry point. The built-in engine (see
:mod:`evalkit.render.builtin`) needs only PyPI packages; the Quarto engine runs
``quarto render`` with the same parameters.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .builtin import FORMATS, ExecutedDocument, convert, execute_qmd
from .qmd import QmdDocument, RenderError, parse_qmd

__all__ = ["render_qmd", "quarto_available", "engine_version", "parse_qmd", "execute_qmd",
           "convert", "RenderError", "QmdDocument", "ExecutedDocument", "FORMATS"]


def quarto_available() -> bool:
    """True when ``quarto`` is on PATH."""
    return shutil.which("quarto") is not None


def engine_version(engine: str = "auto") -> str:
    """A description of the engine that would render, with versions."""
    if engine == "quarto" or (engine == "auto" and quarto_available()):
        out = subprocess.run(["quarto", "--version"], capture_output=True, text=True)
        return f"quarto {out.stdout.strip()}"
    import pypandoc
    import typst

    version = getattr(typst, "__version__", "?")
    return f"evalkit built-in (pandoc {pypandoc.get_pandoc_version()}, typst {version})"


def _quarto(path: Path, params: dict, formats: Sequence[str], out_dir: Path,
            basename: str) -> dict[str, Path]:
    written = {}
    with tempfile.TemporaryDirectory(prefix="evalkit-quarto-") as tmp:
        params_file = Path(tmp) / "params.yml"
        params_file.write_text(yaml.safe_dump(dict(params)), encoding="utf-8")
        for fmt in formats:
            to = "typst" if fmt == "pdf" else fmt
            name = f"{basename}.{fmt}"
            cmd = ["quarto", "render", str(path), "--to", to, "--execute-params",
                   str(params_file), "--output", name]
            proc = subprocess.run(cmd, cwd=path.parent, capture_output=True, text=True)
            produced = path.parent / name
            if proc.returncode != 0 or not produced.exists():
                err = RenderError(f"quarto render --to {to} failed (exit {proc.returncode})",
                                  file=str(path), fix="see the render log")
                err.log = proc.stdout + proc.stderr
                raise err
            target = out_dir / name
            out_dir.mkdir(parents=True, exist_ok=True)
            tmp_target = out_dir / f".{name}.tmp"
            shutil.move(str(produced), tmp_target)
            os.replace(tmp_target, target)
            written[fmt] = target
    return written


def render_qmd(path: str | Path, *, params: dict[str, Any] | None = None,
               formats: Sequence[str] = ("html",), out_dir: str | Path = ".",
               basename: str | None = None, engine: str = "auto") -> dict[str, Path]:
    """Render a Quarto document to HTML, DOCX and/or PDF.

    Parameters
    ----------
    path
        The ``.qmd`` file.
    params
        Values for the document's ``parameters`` cell.
    formats
        Any of ``html``, ``docx``, ``pdf``.
    out_dir, basename
        Where to write, and the file name without extension (default: the document's).
    engine
        ``auto`` (Quarto if on PATH, else built-in), ``quarto`` or ``builtin``.

    Returns
    -------
    dict
        The written files by format. The document executes once for all formats.
    """
    path = Path(path).resolve()
    basename = basename or path.stem
    out_dir = Path(out_dir)
    params = dict(params or {})
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise RenderError(f"unknown format(s): {', '.join(unknown)}",
                          fix=f"use {', '.join(FORMATS)}")
    if engine not in ("auto", "quarto", "builtin"):
        raise RenderError(f"unknown engine '{engine}'", fix="use auto, quarto or builtin")
    if engine == "quarto" or (engine == "auto" and quarto_available()):
        if not quarto_available():
            raise RenderError("quarto is not on PATH", fix="install Quarto or use "
                              "--engine builtin")
        return _quarto(path, params, formats, out_dir, basename)
    executed = execute_qmd(path, params=params)
    try:
        return convert(executed, formats=formats, out_dir=out_dir, basename=basename)
    finally:
        executed.cleanup()
