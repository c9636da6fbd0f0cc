"""Provenance: what went into a result or a report, so it can be re-created."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["file_sha256", "package_versions", "git_state", "collect"]


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
        JSON-ready provenance.
    """
    import evalkit

    return {
        "evalkit_version": evalkit.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_state(folder),
        "parameters": dict(parameters),
        "inputs": {str(Path(p).name): {"path": str(p), "sha256": file_sha256(p)}
                   for p in sorted(map(str, inputs))},
        "packages": package_versions(),
    }
