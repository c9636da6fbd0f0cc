"""What evalkit's own code is, as one hash: work done by one version of the code is not
reused by another (:func:`code_sha256`). Light to import: the command line uses it to
tell that nothing changed without loading the analysis libraries."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["code_sha256"]


@functools.lru_cache(maxsize=1)
def code_sha256() -> str:
    """SHA-256 of evalkit itself: its version and every file of the package (source,
    report assets, schemas and data tables), so that any change to the code changes it.
    Computed once per process."""
    import evalkit

    package = Path(evalkit.__file__).resolve().parent
    h = hashlib.sha256(evalkit.__version__.encode())
    for f in sorted(p for p in package.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"):
        h.update(f.relative_to(package).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()
