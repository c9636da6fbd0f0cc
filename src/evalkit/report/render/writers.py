"""Converting an executed document with pandoc (and typst for PDF), writing atomically.

All formats are produced in a temporary folder (with the figure files) inside the run's
temporary folder (:mod:`evalkit.files.run_temp`) first; only when every one succeeded are they
copied next to their targets and renamed into place, so a failure leaves no new or
half-written file in the output folder.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evalkit.files.output_folder import clean_stale
from evalkit.files.run_temp import temporary_dir
from evalkit.report.render.docx_post import finish_docx
from evalkit.report.render.errors import RenderError
from evalkit.report.render.frontmatter import format_options, include_in_header, pandoc_metadata

if TYPE_CHECKING:
    from evalkit.report.render.qmd import ExecutedDocument

__all__ = ["FORMATS", "convert", "check_formats", "check_basename", "publish"]

FORMATS = ("html", "docx", "pdf")
_TYPST_PAGE = {"papersize": "a4", "margin": {"x": "2cm", "y": "2cm"}, "fontsize": "10pt"}


def check_formats(formats: Sequence[str]) -> list[str]:
    """The formats, checked and without repeats.

    Raises
    ------
    RenderError
        For a format other than ``html``, ``docx`` or ``pdf``, or none at all.
    """
    if isinstance(formats, str):
        formats = [formats]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise RenderError(f"unknown output format(s): {', '.join(map(str, unknown)) or 'none'}",
                          fix=f"use one or more of {', '.join(FORMATS)}")
    return list(dict.fromkeys(formats))


def asset(name: str) -> Path:
    """The path of a file shipped in ``evalkit/report/render/assets``."""
    return Path(str(resources.files("evalkit.report.render").joinpath("assets", name)))


def _pandoc(source: Path, to: str, target: Path, args: list[str]) -> None:
    import pypandoc

    try:
        pypandoc.convert_file(str(source), to, format="markdown", outputfile=str(target),
                              extra_args=args, verify_format=False)
    except (RuntimeError, OSError) as exc:
        detail = " ".join(str(exc).split())
        raise RenderError(f"pandoc could not write {to}: {detail[:300]}",
                          fix="see the render log").with_log(str(exc)) from None


def _common_args(front: dict[str, Any], options: dict[str, Any], work: Path) -> list[str]:
    # --sandbox: pandoc reads no file but those named here and makes no network request;
    # the report's own images (files in ``work``) reach it through work-images.lua.
    args = ["--sandbox", f"--resource-path={work}", f"--lua-filter={asset('work-images.lua')}",
            f"--lua-filter={asset('alt-text.lua')}", f"--lua-filter={asset('callouts.lua')}",
            f"--lua-filter={asset('glossary.lua')}"]
    if options.get("toc", front.get("toc")) is True:
        args += ["--toc", f"--toc-depth={options.get('toc-depth', front.get('toc-depth', 3))}"]
    if options.get("number-sections", front.get("number-sections")) is True:
        args.append("--number-sections")
    return args


def _html(doc: ExecutedDocument, source: Path, work: Path, folder: Path) -> Path:
    front = doc.front_matter
    header = work / "header.html"
    header.write_text("<style>\n" + asset("report.css").read_text(encoding="utf-8")
                      + "\n</style>\n" + include_in_header(front, folder, "html"),
                      encoding="utf-8")
    target = work / "document.html"
    args = ["--standalone", "--embed-resources", f"--include-in-header={header}",
            "--metadata=document-css:false",
            *_common_args(front, format_options(front, "html"), work)]
    if not front.get("title"):
        args.append(f"--metadata=pagetitle:{doc.document.path.stem}")
    _pandoc(source, "html5", target, args)
    return target


def page_notice(source: Path) -> str:
    """The plain text of the document's ``.evalkit-page-notice`` Divs (``""`` if none)."""
    import pypandoc

    try:
        text = pypandoc.convert_file(str(source), "plain", format="markdown",
                                     verify_format=False, extra_args=[
                                         "--sandbox",
                                         f"--lua-filter={asset('page-notice.lua')}",
                                         "--wrap=none"])
    except (RuntimeError, OSError) as exc:
        raise RenderError("pandoc could not read the page notice", fix="see the render log"
                          ).with_log(str(exc)) from None
    return " ".join(text.split())


def reference_doc(options: dict[str, Any], folder: Path) -> Path:
    """The DOCX reference document: the front matter's ``reference-doc`` (relative to the
    document's folder, as Quarto reads it), else evalkit's (A4, 9 pt tables, the page
    notice in the header; :mod:`evalkit.report.render.reference_docx`).

    Raises
    ------
    RenderError
        If the front matter names a reference document that does not exist.
    """
    named = options.get("reference-doc")
    if not named:
        return asset("reference.docx")
    path = folder / str(named)
    if not path.is_file():
        raise RenderError(f"the DOCX reference document {named} does not exist",
                          fix="correct reference-doc in the front matter (a path relative "
                              "to the report) or remove it")
    return path


def _docx(doc: ExecutedDocument, source: Path, work: Path, folder: Path) -> Path:
    front = doc.front_matter
    options = format_options(front, "docx")
    target = work / "document.docx"
    _pandoc(source, "docx", target, [f"--reference-doc={reference_doc(options, folder)}",
                                     f"--lua-filter={asset('drop-page-notice.lua')}",
                                     f"--lua-filter={asset('docx-tables.lua')}",
                                     *_common_args(front, options, work)])
    notice = page_notice(source) if "evalkit-page-notice" in doc.markdown else ""
    finish_docx(target, notice)
    return target


def _typst_page(options: dict[str, Any]) -> dict[str, Any]:
    page = dict(_TYPST_PAGE)
    for key in ("papersize", "margin", "fontsize", "mainfont", "columns", "lang"):
        if options.get(key) is not None:
            page[key] = options[key]
    return page


def _pdf(doc: ExecutedDocument, source: Path, work: Path, folder: Path) -> Path:
    import typst

    front = doc.front_matter
    options = format_options(front, "typst", "pdf")
    user_header = work / "header.typ"
    user_header.write_text(include_in_header(front, folder, "typst", "pdf"), encoding="utf-8")
    page = work / "page.yaml"
    page.write_text(yaml.safe_dump(_typst_page(options)), encoding="utf-8")
    typ = work / "document.typ"
    _pandoc(source, "typst", typ, [
        "--standalone", f"--include-in-header={asset('typst-defaults.typ')}",
        f"--include-in-header={asset('typst-figures.typ')}",
        f"--include-in-header={user_header}", f"--metadata-file={page}",
        f"--lua-filter={asset('drop-page-notice.lua')}", *_common_args(front, options, work)])
    target = work / "document.pdf"
    try:
        typst.compile(str(typ), output=str(target), root=str(work))
    except Exception as exc:  # typst.TypstError and friends
        detail = " ".join(str(exc).split())
        raise RenderError(f"typst could not make the PDF: {detail[:300]}",
                          fix="check raw typst blocks and the typst include-in-header"
                          ).with_log(str(exc) + "\n\n" + typ.read_text(encoding="utf-8")
                                     ) from None
    return target


_CONVERTERS = {"html": _html, "docx": _docx, "pdf": _pdf}


def publish(produced: dict[str, Path], out_dir: Path, basename: str) -> dict[str, Path]:
    """Copy finished files into ``out_dir``, each atomically (copied beside, then renamed).

    Every file is copied before the first is renamed, so a failure leaves none of them;
    a process killed between two renames can leave some formats new and some old. A set
    that must change as a whole is rendered into a staging folder that is then published
    in one piece (:func:`evalkit.report.batch.render_folder` does so through
    :class:`evalkit.files.output_folder.replace_folder`). The copies are named
    ``.<basename>.<format>.evalkit-<pid>-<random>.part``; those of a process that died
    are removed by the next call.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(out_dir)
    staged: dict[str, str] = {}
    try:
        for fmt, path in produced.items():
            tmp = str(out_dir / f".{basename}.{fmt}.evalkit-{os.getpid()}-"
                      f"{secrets.token_hex(4)}.part")
            staged[fmt] = tmp
            shutil.copyfile(path, tmp)
            os.chmod(tmp, 0o666 & ~current_umask())  # as any new file (the user's umask)
        written = {}
        for fmt, tmp in staged.items():
            target = out_dir / f"{basename}.{fmt}"
            os.replace(tmp, target)
            written[fmt] = target
        return written
    finally:
        for tmp in staged.values():
            if os.path.exists(tmp):
                os.remove(tmp)


def current_umask() -> int:
    """The process's file-mode creation mask (what new files may not allow)."""
    try:  # read without changing it (Linux)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_basename(basename: str) -> str:
    """A file name stem without folders.

    Raises
    ------
    RenderError
        If ``basename`` is empty or holds a path separator.
    """
    if not basename or re.search(r"[/\\]", basename) or basename in (".", ".."):
        raise RenderError(f"'{basename}' is not a file name", fix="give a name without folders")
    return basename


def convert(executed: ExecutedDocument, *, formats: Sequence[str], out_dir: str | Path,
            basename: str) -> dict[str, Path]:
    """Convert an executed document to HTML, DOCX and/or PDF, without executing it again.

    Parameters
    ----------
    executed
        The result of :func:`~evalkit.report.render.execute_qmd`.
    formats
        Any of ``html`` (self-contained), ``docx`` and ``pdf`` (via typst).
    out_dir
        The output folder (created if needed).
    basename
        The output file name without extension.

    Returns
    -------
    dict
        The written files by format, ``out_dir/basename.<format>``.

    Raises
    ------
    RenderError
        For an unknown format or a pandoc/typst failure; then no output file is written.
    """
    formats = check_formats(formats)
    basename = check_basename(basename)
    folder = executed.document.path.parent
    meta = pandoc_metadata(executed.front_matter)
    with temporary_dir("evalkit-render-") as work:
        for name, data in executed.files.items():
            (work / name).write_bytes(data)
        source = work / "document.md"
        header = (f"---\n{yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)}---\n\n"
                  if meta else "")
        source.write_text(header + executed.markdown, encoding="utf-8")
        produced = {}
        for fmt in formats:
            try:
                produced[fmt] = _CONVERTERS[fmt](executed, source, work, folder)
            except RenderError as exc:
                exc.file = exc.file or str(executed.document.path)
                raise
        return publish(produced, Path(out_dir), basename)
