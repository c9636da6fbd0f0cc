"""The hostile-input suite: shared helpers for every test file of ``tests/hostile``.

The corpus (``corpus.py``) and its tiny scheme (``tiny_scheme.py``) live beside this file;
it is put on ``sys.path`` so that any test file here can ``import corpus``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nothing can be written in (for root, a path under /sys, which refuses
    even root; for others, a folder without write permission)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        yield Path("/sys/evalkit-hostile")
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    yield locked
    locked.chmod(0o755)
