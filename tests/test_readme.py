"""The README's commands are the ones CI runs."""

from __future__ import annotations

import re

from conftest import ROOT


def commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_opens_with_the_two_commands():
    main_job, tests = commands()[:2]
    assert "evalkit demo" in main_job and "pip install" in main_job
    assert "pytest" in tests and "--nbval" in tests and ".[test]" in tests


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands()[1] in ci
