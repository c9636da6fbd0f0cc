"""Temporary files of one evalkit process, all under one folder that is always cleaned up.

Every temporary folder evalkit makes (render work folders, figure files, the Jupyter
kernel's connection file and temporary folder, DuckDB's spill folder) is made under
``$TMPDIR/evalkit-run-<pid>-<random>/`` (:func:`run_dir`). The process that made it
removes it when it exits; if it was killed, the next evalkit process removes it once no
process with that id is running. Processes started by evalkit (report workers, Jupyter
kernels) inherit the folder through :data:`RUN_DIR_ENV` and make theirs inside it.

Examples
--------
>>> with temporary_dir("evalkit-example-") as folder:  # doctest: +SKIP
...     (folder / "x.txt").write_text("scratch")
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evalkit.files.output_folder import pid_alive

__all__ = ["RUN_DIR_ENV", "run_dir", "temp_dir", "temporary_dir", "clean_stale_runs"]

#: The environment variable through which child processes find the run's folder.
RUN_DIR_ENV = "EVALKIT_RUN_DIR"
_NAME = re.compile(r"^evalkit-run-(?P<pid>\d+)-[0-9a-f]{8}$")
_STATE: dict[str, Path] = {}


def clean_stale_runs(base: str | Path | None = None) -> None:
    """Remove the run folders of evalkit processes that are no longer running."""
    base = Path(base or tempfile.gettempdir())
    try:
        entries = list(base.iterdir())
    except OSError:
        return
    for entry in entries:
        m = _NAME.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink() and not pid_alive(int(m["pid"])):
            shutil.rmtree(entry, ignore_errors=True)


def _remove(folder: Path, owner: int) -> None:
    if os.getpid() == owner:
        shutil.rmtree(folder, ignore_errors=True)


def run_dir() -> Path:
    """This run's temporary folder (made on first use, inherited by child processes)."""
    given = os.environ.get(RUN_DIR_ENV)
    if given and _NAME.match(Path(given).name) and Path(given).is_dir():
        return Path(given)
    folder = _STATE.get("folder")
    if folder is None or not folder.is_dir():
        clean_stale_runs()
        folder = Path(tempfile.gettempdir()) / f"evalkit-run-{os.getpid()}-{secrets.token_hex(4)}"
        folder.mkdir(mode=0o700)
        atexit.register(_remove, folder, os.getpid())
        _STATE["folder"] = folder
    os.environ[RUN_DIR_ENV] = str(folder)
    return folder


def temp_dir(prefix: str) -> Path:
    """A new temporary folder inside :func:`run_dir` (the caller removes it when done)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=run_dir()))


@contextmanager
def temporary_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder inside :func:`run_dir`, removed when the block ends."""
    folder = temp_dir(prefix)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
