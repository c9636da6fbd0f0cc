"""Provenance: what went into a result or a report, so it can be re-created.

:func:`collect` describes a run's inputs and environment and is deterministic for the same
inputs and checkout (it holds no time), so ``provenance.json`` and ``results.json`` stay
reproducible. :func:`render_info` adds what only a rendered report has: the engine that
rendered it, the engine's version and the time of rendering. It is called while a report
renders and enters neither ``results.json`` nor the render cache key.

Provenance names no place on the machine: a file is named relative to the spec's folder or
the project folder (:func:`display_path`), a parameter that is an absolute path likewise,
and the platform is the operating system's family (``Linux``, ``Darwin``, ``Windows``), not
the kernel's release or the host's name.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["file_sha256", "package_versions", "git_state", "collect", "render_info",
           "display_path", "ENGINE_ENV"]

#: The environment variable in which evalkit's render engines name themselves.
ENGINE_ENV = "EVALKIT_RENDER_ENGINE"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of every installed distribution, sorted by name."""
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            out[name.lower()] = dist.version
    return dict(sorted(out.items()))


def _project_folder(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``data/synthetic`` or ``.git``."""
    for folder in (start, *start.parents):
        if (folder / "data" / "synthetic").is_dir() or (folder / ".git").exists():
            return folder
    return None


def display_path(path: str | Path, folder: str | Path | None = None) -> str:
    """A file's name as provenance shows it, with no place on the machine in it.

    Relative to ``folder`` (the spec's folder) when the file is inside it, else relative to
    the project folder (the nearest folder above ``folder``, or above the current folder,
    holding ``data/synthetic`` or ``.git``), else the file's own name. A relative path is
    taken as it is. Always with ``/``.

    Examples
    --------
    >>> display_path("/somewhere/scheme/panel.csv", "/somewhere/scheme")
    'panel.csv'
    >>> display_path("/elsewhere/x/panel.csv", "/nowhere")
    'panel.csv'
    """
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    p = Path(os.path.normpath(p))
    bases = []
    if folder is not None:
        base = Path(os.path.normpath(Path(folder).absolute()))
        bases.append(base)
        bases.append(_project_folder(base))
    bases.append(_project_folder(Path.cwd()))
    for base in bases:
        if base is not None and p.is_relative_to(base):
            return p.relative_to(base).as_posix() or "."
    return p.name


def _shown_parameter(value: Any, folder: str | Path | None) -> Any:
    """A parameter with any absolute path in it shown by :func:`display_path`."""
    if isinstance(value, Path) or (isinstance(value, str) and os.path.isabs(value)
                                   and "\n" not in value):
        return display_path(value, folder)
    return value


def git_state(folder: str | Path | None = None) -> dict[str, Any]:
    """The git commit and dirty flag of the checkout holding ``folder`` (if any)."""
    cwd = Path(folder or Path.cwd())
    if cwd.is_file():
        cwd = cwd.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=cwd, capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def collect(inputs: Iterable[str | Path], parameters: Mapping[str, Any],
            folder: str | Path | None = None) -> dict[str, Any]:
    """Provenance of a run: input hashes, package versions, git state, parameters.

    Parameters
    ----------
    inputs
        Input files to hash.
    parameters
        The parameters of the run.
    folder
        Where to look for the git checkout (default: the current folder).

    Returns
    -------
    dict
        JSON-ready provenance. Files and path parameters are named by
        :func:`display_path`; ``platform`` is the operating system's family.
    """
    import evalkit

    return {
        "evalkit_version": evalkit.__version__,
        "python": sys.version.split()[0],
        "platform": platform.system() or "unknown",
        "git": git_state(folder),
        "parameters": {k: _shown_parameter(v, folder) for k, v in parameters.items()},
        "inputs": {display_path(p, folder): {"path": display_path(p, folder),
                                             "sha256": file_sha256(p)}
                   for p in sorted(map(str, inputs))},
        "packages": package_versions(),
    }


def _quarto_version() -> str:
    quarto = shutil.which("quarto")
    if quarto is None:
        return "quarto (version unknown)"
    try:
        out = subprocess.run([quarto, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "quarto (version unknown)"
    return f"quarto {out.stdout.strip()}".strip()


def render_info(now: datetime | None = None) -> dict[str, str]:
    """The engine rendering the current document, its version, and the time (UTC).

    The engine is named by evalkit's engines in ``EVALKIT_RENDER_ENGINE`` (e.g.
    ``"builtin (pandoc 3.9, typst 0.15.2)"`` or ``"quarto 1.6.40"``); under a plain
    ``quarto render`` (``QUARTO_*`` variables set) it is Quarto, whose version is asked;
    otherwise the document is not being rendered.

    Parameters
    ----------
    now
        The time of rendering (default: now). A naive time is taken as UTC.

    Returns
    -------
    dict
        ``engine`` and ``rendered_at`` (ISO 8601, UTC, to the second).

    Examples
    --------
    >>> from datetime import datetime
    >>> render_info(datetime(2025, 1, 2, 3, 4, 5))["rendered_at"]
    '2025-01-02T03:04:05Z'
    """
    engine = os.environ.get(ENGINE_ENV)
    if not engine:
        under_quarto = any(k.startswith("QUARTO_") for k in os.environ)
        engine = _quarto_version() if under_quarto else "none (run in Python, not rendered)"
    when = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"engine": engine, "rendered_at": stamp}
