"""The Quarto engine: ``quarto render`` with the same parameters, when Quarto is installed.

The document is executed once, whatever the number of formats: the first format is
``quarto render <qmd> --to <fmt> --output <name> --execute-params <params.yml>
-M keep-ipynb:true`` (PDF through ``--to typst``; HTML with ``--embed-resources``), which
keeps the executed notebook; every other format is rendered from that notebook, which
Quarto converts without running it again (a notebook's code is not executed unless asked).
Quarto renders beside the source, so the source is copied to a uniquely named sibling
first: parallel renders of one report (as the batch renderer does) then never share
Quarto's intermediate files or figure folders. Finished files are moved into place
atomically. The kernel gets ``EVALKIT_FIGURE_DIR`` (``<copy>-figures``, relative to the
document, where report figures are written, kept for the later formats and removed with
the copy's other files) and ``EVALKIT_RENDER_ENGINE`` (Quarto's version), as with the
built-in engine.

Most of evalkit's look reaches Quarto's output through the reports' own front matter (Lua
filters, CSS, typst rules; see the README). What Quarto cannot do is done here, after
Quarto, as the built-in engine does after pandoc: the DOCX gets the page notice in every
page header and the report's tables get borders and 9 pt text
(:func:`~evalkit.report.render.docx_post.finish_quarto_docx`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from evalkit.files.run_temp import temporary_dir
from evalkit.report.render.docx_post import finish_quarto_docx
from evalkit.report.render.errors import RenderError
from evalkit.report.render.writers import check_basename, check_formats, publish

__all__ = ["quarto_command", "render_with_quarto"]

_CREATED = re.compile(r"Output created:\s*(.+?)\s*$", re.M)


def quarto_command(quarto: str, qmd: Path, fmt: str, output: str,
                   params_file: Path | None, *, keep_notebook: bool = False) -> list[str]:
    """The ``quarto render`` command line for one format.

    Parameters
    ----------
    quarto
        The ``quarto`` executable.
    qmd
        The document (or an executed notebook, rendered without running it).
    fmt
        ``html``, ``docx`` or ``pdf`` (rendered by Quarto's ``typst`` format).
    output
        The output file name (Quarto writes it beside the document).
    params_file
        A YAML file of parameter values, or None (a notebook already executed).
    keep_notebook
        Keep the executed notebook (``<name>.quarto_ipynb``) for the other formats.
    """
    cmd = [quarto, "render", str(qmd), "--to", "typst" if fmt == "pdf" else fmt,
           "--output", output]
    if params_file is not None:
        cmd += ["--execute-params", str(params_file)]
    if keep_notebook:
        cmd += ["-M", "keep-ipynb:true"]
    if fmt == "html":
        cmd.append("--embed-resources")
    return cmd


def _plain(value: Any) -> Any:
    """Parameter values as plain YAML data (paths and other objects as strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _produced(proc: subprocess.CompletedProcess, folder: Path, name: str) -> Path | None:
    found = _CREATED.findall((proc.stderr or "") + "\n" + (proc.stdout or ""))
    candidates = [folder / f for f in found[::-1]] + [folder / name]
    return next((c for c in candidates if c.name == name and c.is_file()), None)


def _failure(proc: subprocess.CompletedProcess, fmt: str) -> str:
    lines = [x.strip() for x in (proc.stderr or proc.stdout or "").splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("ERROR")]
    last = (errors or lines or ["no output"])[-1]
    return f"quarto could not render {fmt} (exit {proc.returncode}): {last[:300]}"


def _clean(folder: Path, stem: str) -> None:
    for leftover in folder.glob(f"{glob_escape(stem)}*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _clean_stale(source: Path) -> None:
    """Remove the copies (and Quarto's outputs of them) that a killed render left beside
    ``source``: ``<stem>-evalkit-<pid>-<random>*`` of a process no longer running."""
    from evalkit.files.output_folder import pid_alive

    pattern = re.compile(rf"^{re.escape(source.stem)}-evalkit-(\d+)-[0-9a-f]{{8}}")
    stems = {m.group(0): int(m.group(1)) for p in source.parent.iterdir()
             if (m := pattern.match(p.name))}
    for stem, pid in stems.items():
        if not pid_alive(pid):
            _clean(source.parent, stem)


def _executed_notebook(folder: Path, stem: str, proc: subprocess.CompletedProcess,
                       fmt: str) -> Path:
    """The notebook Quarto kept after executing ``<stem>.qmd``, renamed ``<stem>-executed
    .ipynb`` (a notebook is rendered without being run); a RenderError if there is none."""
    kept = folder / f"{stem}.quarto_ipynb"
    if not kept.is_file():
        raise RenderError(f"quarto kept no executed notebook after rendering {fmt}",
                          file=str(folder / f"{stem}.qmd"), fix="see the render log"
                          ).with_log((proc.stdout or "") + (proc.stderr or ""))
    target = folder / f"{stem}-executed.ipynb"
    os.replace(kept, target)
    return target


def glob_escape(text: str) -> str:
    """Escape glob wildcards in ``text``."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def render_with_quarto(path: str | Path, *, params: dict[str, Any], formats: Sequence[str],
                       out_dir: str | Path, basename: str) -> dict[str, Path]:
    """Render a document with Quarto: executed once, converted to every format.

    Parameters
    ----------
    path
        The ``.qmd`` file.
    params
        Parameter values, passed in a YAML file with ``--execute-params``.
    formats
        Any of ``html``, ``docx`` and ``pdf``.
    out_dir, basename
        Where to write: ``out_dir/basename.<format>``.

    Returns
    -------
    dict
        The written files by format.

    Raises
    ------
    RenderError
        If Quarto is not on PATH or a render fails (``.log`` holds Quarto's output).
    """
    formats = check_formats(formats)
    basename = check_basename(basename)
    quarto = shutil.which("quarto")
    if quarto is None:
        raise RenderError("Quarto is not on PATH", fix="install Quarto or use the built-in engine")
    path = Path(path).resolve()
    if not path.is_file():
        raise RenderError("report source not found", file=str(path),
                          fix="give the path of a .qmd file")
    _clean_stale(path)
    stem = f"{path.stem}-evalkit-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    copy = path.parent / f"{stem}.qmd"
    with temporary_dir("evalkit-quarto-") as work:
        params_file = work / "params.yml"
        params_file.write_text(yaml.safe_dump(_plain(dict(params)), allow_unicode=True),
                               encoding="utf-8")
        produced: dict[str, Path] = {}
        try:
            shutil.copyfile(path, copy)
            version = subprocess.run([quarto, "--version"], capture_output=True, text=True)
            env = {**os.environ, "EVALKIT_FIGURE_DIR": f"{stem}-figures",
                   "EVALKIT_RENDER_ENGINE": f"quarto {version.stdout.strip()}".strip()}
            executed: Path | None = None
            for i, fmt in enumerate(formats):
                if i == 0:  # executes the document, and keeps the executed notebook
                    cmd = quarto_command(quarto, copy, fmt, f"{stem}.{fmt}", params_file,
                                         keep_notebook=len(formats) > 1)
                else:  # converts that notebook without running it again
                    cmd = quarto_command(quarto, executed, fmt, f"{stem}.{fmt}", None)
                proc = subprocess.run(cmd, cwd=path.parent, capture_output=True, text=True,
                                      env=env)
                result = _produced(proc, path.parent, f"{stem}.{fmt}")
                if proc.returncode != 0 or result is None:
                    raise RenderError(_failure(proc, fmt), file=str(path),
                                      fix="see the render log").with_log(
                        " ".join(cmd) + "\n\n" + (proc.stdout or "") + (proc.stderr or ""))
                if i == 0 and len(formats) > 1:
                    executed = _executed_notebook(path.parent, stem, proc, fmt)
                produced[fmt] = work / f"output.{fmt}"
                shutil.move(result, produced[fmt])
                if fmt == "docx":
                    finish_quarto_docx(produced[fmt])
        finally:
            _clean(path.parent, stem)
        return publish(produced, Path(out_dir), basename)
