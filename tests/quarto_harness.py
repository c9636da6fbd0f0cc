"""Finding the Quarto test harness for the tests that render with real Quarto.

Quarto is the test harness of ``../shared/quarto`` (Quarto 1.7.34 from its source release),
found at ``<repo>/.quarto-harness`` or where ``EVALKIT_QUARTO_HARNESS`` points (the harness
folder or its ``bin/quarto``); install it with ``bash ../shared/quarto/install.sh
.quarto-harness``. Without it the tests skip with that reason, except in CI (``CI=true``),
where a skipped Quarto test would hide a broken Quarto path, so they fail instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import ROOT

HARNESS_ENV = "EVALKIT_QUARTO_HARNESS"


def harness_quarto() -> Path | None:
    """The harness's ``quarto`` executable, or ``None`` when it is not installed."""
    given = os.environ.get(HARNESS_ENV)
    place = Path(given) if given else ROOT / ".quarto-harness"
    exe = place if place.is_file() else place / "bin" / "quarto"
    return exe if exe.is_file() and os.access(exe, os.X_OK) else None


QUARTO = harness_quarto()


def need_quarto() -> Path:
    """The harness's ``quarto``; skip (fail in CI) when it is not installed."""
    if QUARTO is None:
        place = os.environ.get(HARNESS_ENV) or ROOT / ".quarto-harness"
        reason = (f"the Quarto test harness is not installed at {place} (set by "
                  f"${HARNESS_ENV}, else <repo>/.quarto-harness): bash "
                  "../shared/quarto/install.sh .quarto-harness")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the Quarto tests, but {reason}")
        pytest.skip(reason)
    return QUARTO


def quarto_env(cache: Path) -> dict[str, str]:
    """Environment for Quarto: the harness first on PATH, this Python (and this evalkit) for
    the chunks, and an empty typst package cache (what an offline machine has)."""
    import evalkit

    source = str(Path(evalkit.__file__).resolve().parents[1])
    cache.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{need_quarto().parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "QUARTO_PYTHON": sys.executable, "TYPST_STANDIN_CACHE": str(cache),
            "PYTHONPATH": os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH"))
                                          if p)}
