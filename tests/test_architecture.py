"""The package's layers and its public surface (issue 25; docs/architecture.md).

- The import-linter contracts in pyproject.toml hold: layers run one way, the analysis
  packages stand alone, and no package has an import circle.
- A deliberate upward import, planted in a throwaway copy of the package, breaks them: the
  contracts can fail.
- ``ek.__all__`` (names, kinds and signatures) and the command line's commands and options
  are exactly those before the reorganisation: ``tests/fixtures/public_api.json`` was written from
  the layout before the move (commit ba7a4be and the branches merged with it), by the
  snapshot code below.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
    "lint-imports")


def _lint(root: Path, src: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([LINT, "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def lint_tool() -> str:
    if LINT is None:
        pytest.fail("lint-imports (import-linter) is not installed: it is in the test extras")
    return LINT


def test_layer_contracts_hold(lint_tool):
    out = _lint(ROOT, ROOT / "src")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 3 kept, 0 broken." in out.stdout


@pytest.mark.parametrize("module, upward", [
    ("data/io.py", "evalkit.report.context"),        # data must not reach up to the reports
    ("designs/did.py", "evalkit.economics"),         # the old designs -> economics loop
    ("economics/costing.py", "evalkit.engagement"),  # analysis packages stand alone
])
def test_an_upward_import_breaks_the_contracts(lint_tool, tmp_path, module, upward):
    shutil.copytree(ROOT / "src" / "evalkit", tmp_path / "src" / "evalkit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "src" / "evalkit" / module
    planted.write_text(planted.read_text() + f"\nimport {upward}  # planted by the test\n")
    out = _lint(tmp_path, tmp_path / "src")
    assert out.returncode != 0, out.stdout
    assert "BROKEN" in out.stdout
    assert upward in out.stdout


def snapshot() -> dict:
    """``ek.__all__`` with each name's kind and signature, and the CLI's commands."""
    import evalkit as ek
    from evalkit.cli import build_parser

    def sig(obj):
        try:
            return str(inspect.signature(obj))
        except (TypeError, ValueError):
            return None

    api = {}
    for name in sorted(ek.__all__):
        obj = getattr(ek, name)
        api[name] = {"kind": "class" if inspect.isclass(obj) else type(obj).__name__,
                     "signature": sig(obj) if callable(obj) and not inspect.isclass(obj)
                     else None}
    cli = {}
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for cmd, sub in action.choices.items():
                cli[cmd] = (sorted(s for a in sub._actions for s in a.option_strings)
                            + sorted(a.dest for a in sub._actions if not a.option_strings))
    return {"api": api, "cli": cli}


def test_public_api_and_cli_are_unchanged():
    pinned = json.loads((ROOT / "tests" / "fixtures" / "public_api.json").read_text())
    now = snapshot()
    assert sorted(now["api"]) == sorted(pinned["api"])
    assert now["api"] == pinned["api"]
    assert now["cli"] == pinned["cli"]


def test_no_module_left_at_an_old_path():
    """No shims: the old top-level modules are gone, not re-exported."""
    old = ["reporting", "reporting_summary", "pipeline", "spec", "certainty", "narrative",
           "comparison", "comparative", "engagement_measures", "engagement_profile", "spc",
           "render", "provenance", "disclosure", "selection_check", "io", "contract"]
    left = [m for m in old if (ROOT / "src" / "evalkit" / f"{m}.py").exists()
            or (ROOT / "src" / "evalkit" / m).is_dir()]
    assert left == []
