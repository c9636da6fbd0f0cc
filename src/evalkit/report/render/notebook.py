"""Running a Quarto document's chunks in a Jupyter kernel, once, with parameters.

The chunks become an nbformat notebook; the parameters are injected after the chunk
tagged ``parameters`` by papermill, so values become Python literals and are never
spliced into code as text. nbclient executes the notebook in a kernel whose working
folder is the document's, as Quarto does.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from evalkit.files.run_temp import temp_dir
from evalkit.report.render.errors import RenderError
from evalkit.report.render.qmd import QmdDocument

__all__ = ["build_notebook", "run_notebook"]

#: Lines of a kernel's own log (its standard error) that are shown after the run: errors.
_KERNEL_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b|^Traceback", re.M)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (IPython tracebacks carry them)."""
    return _ANSI.sub("", text)


def _setup_source(front: dict[str, Any]) -> str | None:
    """Code applying the front matter's ``fig-width``/``fig-height``/``fig-dpi``, if any."""
    rc: dict[str, Any] = {}
    width, height = front.get("fig-width"), front.get("fig-height")
    if isinstance(width, int | float) or isinstance(height, int | float):
        rc["figure.figsize"] = (float(width or 7), float(height or 5))
    if isinstance(front.get("fig-dpi"), int | float):
        rc["figure.dpi"] = float(front["fig-dpi"])
    if not rc:
        return None
    return ("try:\n    import matplotlib.pyplot as _evalkit_plt\n"
            f"    _evalkit_plt.rcParams.update({rc!r})\n"
            "    del _evalkit_plt\nexcept ImportError:\n    pass")


def build_notebook(doc: QmdDocument, params: dict[str, Any] | None = None) -> NotebookNode:
    """Turn a document's chunks into a notebook with the parameters injected.

    Parameters
    ----------
    doc
        The parsed document.
    params
        Parameter values. papermill writes them as Python literals in a cell tagged
        ``injected-parameters`` after the chunk tagged ``parameters`` (at the top if
        there is none); names the document does not define are added all the same.

    Returns
    -------
    nbformat.NotebookNode
        A v4 notebook for the ``python3`` kernel. Each chunk's cell records its chunk
        number in ``metadata["evalkit"]["cell"]``. Chunks with ``eval: false`` are left out;
        chunks with ``error: true`` are tagged ``raises-exception``.
    """
    from papermill.parameterize import parameterize_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["papermill"] = {}
    setup = _setup_source(doc.front_matter)
    if setup:
        cell = nbformat.v4.new_code_cell(setup)
        cell.metadata["tags"] = []
        cell.metadata["evalkit"] = {"setup": True}
        nb.cells.append(cell)
    for chunk in doc.code_cells:
        if doc.option(chunk, "eval", True) is False:
            continue
        cell = nbformat.v4.new_code_cell(chunk.source)
        tags = chunk.tags
        if doc.option(chunk, "error", False) is True:
            tags.append("raises-exception")
        cell.metadata["tags"] = tags
        cell.metadata["evalkit"] = {"cell": chunk.number}
        nb.cells.append(cell)
    if params:
        log = logging.getLogger("papermill")
        level = log.level
        log.setLevel(logging.ERROR)  # no warning for a document without a parameters cell
        try:
            nb = parameterize_notebook(nb, dict(params), kernel_name="python3",
                                       language="python")
        finally:
            log.setLevel(level)
    return nb


def _where(doc: QmdDocument, nb: NotebookNode, index: int | None) -> str:
    if index is None or index >= len(nb.cells):
        return "the kernel"
    meta = nb.cells[index].metadata
    if "injected-parameters" in meta.get("tags", []):
        return "the injected parameters cell"
    number = meta.get("evalkit", {}).get("cell")
    if number is None:
        return "the figure set-up cell"
    return doc.code_cells[number - 1].describe()


def run_notebook(doc: QmdDocument, nb: NotebookNode, *, timeout: int = 600,
                 kernel_name: str = "python3",
                 env: dict[str, str] | None = None) -> NotebookNode:
    """Execute a notebook built by :func:`build_notebook`, in the document's folder.

    Parameters
    ----------
    doc
        The document the notebook came from (to name a failing chunk and find its folder).
    nb
        The notebook; executed in place.
    timeout
        Seconds any one cell may run.
    kernel_name
        The Jupyter kernel.
    env
        Extra environment variables for the kernel.

    Returns
    -------
    nbformat.NotebookNode
        The notebook with outputs.

    Raises
    ------
    RenderError
        If a cell raises, times out or the kernel dies or cannot start. The message names
        the chunk and the error in one line; ``.log`` holds the traceback.
    """
    from nbclient import NotebookClient

    if not nb.cells:  # nothing to run: no kernel needed
        return nb
    from jupyter_client.manager import AsyncKernelManager

    # The kernel's connection file and temporary files go to a folder of the run's
    # (evalkit.files.run_temp), which the next run removes if this one is killed.
    work = temp_dir("evalkit-kernel-")
    km = AsyncKernelManager(kernel_name=kernel_name,
                            connection_file=str(work / "kernel.json"), **_transport(work))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(doc.path.parent)}})
    current: dict[str, int | None] = {"index": None}

    def on_cell_start(cell: NotebookNode, cell_index: int) -> None:
        current["index"] = cell_index

    client.on_cell_start = on_cell_start
    from evalkit.report import render

    hook = render.cell_progress  # a progress bar's, if the caller set one
    if hook is not None:
        client.on_cell_executed = lambda cell, cell_index, execute_reply: hook(
            cell_index + 1, len(nb.cells))
    # As in Quarto: figures show inline whatever backend the calling process uses.
    # One maths-library (BLAS) thread per kernel unless the user chose otherwise: reports
    # render in parallel worker processes, one per core, and a kernel starting a BLAS thread
    # per core on top of that oversubscribes the machine (the synthetic-control search
    # slowed six-fold with both cores busy).
    blas = {k: os.environ.get(k, "1") for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                "MKL_NUM_THREADS")}
    env = {**os.environ, **blas, "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1", "TMPDIR": str(work), "TEMP": str(work),
           "TMP": str(work), **(env or {})}
    try:
        # The kernel's own log goes to a file, not into the progress bars: a dead kernel's
        # log has it, and the errors in it are shown after the run.
        with open(work / "kernel-stderr.txt", "wb") as stderr:
            executed = _execute(client, env, doc, nb, current, timeout, kernel_name, stderr)
        _show_kernel_errors(work / "kernel-stderr.txt")
        return executed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _transport(work: Path) -> dict[str, str]:
    """How the kernel and this process talk: through local sockets in the run's private
    ``work`` folder (IPC), where the system has them. Over TCP the messages would be plain
    text on the machine's network interface, and ipykernel says so on every start
    ("Kernel is running over TCP without encryption"), a warning that mixed into the
    progress bars."""
    ip = work / "kernel-ipc"
    if os.name != "posix" or len(str(ip)) > 90:  # a socket's path has at most ~100 bytes
        return {}
    return {"transport": "ipc", "ip": str(ip)}


def _show_kernel_errors(path: Path) -> None:
    """Print the errors in a kernel's own log (not its warnings or notices), if any."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    lines = [ln for ln in text.splitlines() if _KERNEL_ERROR.search(ln)]
    if lines:
        print("\n".join(f"kernel: {ln}" for ln in lines), file=sys.stderr)


def _execute(client, env: dict[str, str], doc: QmdDocument, nb: NotebookNode,
             current: dict[str, int | None], timeout: int, kernel_name: str,
             stderr) -> NotebookNode:
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    def kernel_said() -> str:
        stderr.flush()
        text = Path(stderr.name).read_text(encoding="utf-8", errors="replace").strip()
        return f"\n\nThe kernel's messages:\n{text}" if text else ""

    try:
        client.execute(env=env, stderr=stderr)
    except CellExecutionError as exc:
        where = _where(doc, nb, current["index"])
        evalue = " ".join(strip_ansi(exc.evalue or "").split())
        message = f"{where} raised {exc.ename}" + (f": {evalue}" if evalue else "")
        # An evalkit error raised in the chunk carries its own fix: one "Fix:" per line.
        fix = None if "Fix: " in evalue else ("run the chunk in Python to debug it; the "
                                              "render log has the traceback")
        raise RenderError(message, file=str(doc.path),
                          fix=fix).with_log(strip_ansi(str(exc))) from None
    except CellTimeoutError as exc:
        where = _where(doc, nb, current["index"])
        raise RenderError(f"{where} ran for more than {timeout} s", file=str(doc.path),
                          fix="make it faster or raise the timeout"
                          ).with_log(strip_ansi(str(exc))) from None
    except DeadKernelError as exc:
        where = _where(doc, nb, current["index"])
        raise RenderError(f"the Python kernel died while running {where}",
                          file=str(doc.path), fix="check the chunk's memory use"
                          ).with_log(str(exc) + kernel_said()) from None
    except Exception as exc:  # kernel start-up: NoSuchKernel, RuntimeError, zmq errors
        if current["index"] is not None:
            raise
        raise RenderError(f"the Jupyter kernel '{kernel_name}' could not start "
                          f"({type(exc).__name__}: {' '.join(str(exc).split())})",
                          file=str(doc.path), fix="check the kernel name; for python3, install "
                          "ipykernel in this Python").with_log(repr(exc) + kernel_said()
                                                               ) from None
    return nb
