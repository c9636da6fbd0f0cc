"""One rendering of the evidence summary, shared by the tests that look at it as a reader would.

Rendering a report takes tens of seconds, so every test module that needs the rendered
files calls :func:`rendered_report`, which renders one scheme in all three formats once per
test session (module-level cache) and returns the same paths afterwards. The headline
numbers to look for come from :func:`headline_numbers`, an independent run of the scheme's
spec formatted as the report formats them, never from the rendered files.

Example (in a test module)::

    from report_fixtures import headline_numbers, rendered_report

    @pytest.fixture(scope="module")
    def pdf(tmp_path_factory):
        return rendered_report(tmp_path_factory)["pdf"]
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, SYNTHETIC

#: The scheme rendered; frailty-inequalities has every kind of section and figure.
SCHEME = "frailty-inequalities"
REPORT = ROOT / "reports" / "evidence-summary.qmd"
#: All three formats, so that one rendering can serve every report test.
FORMATS = ("html", "pdf", "docx")

_CACHE: dict[str, dict] = {}
_HEADLINE: list[str] = []


def rendered_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The evidence summary for :data:`SCHEME`, rendered once with the built-in engine.

    Returns ``{"html": path, "pdf": path, "docx": path}``. Skips when the built-in engine
    is not in this build; fails with the render log's path when the render fails.
    """
    if "status" not in _CACHE:
        render = pytest.importorskip("evalkit.report.render",
                                     reason="the built-in render engine is not in this build")
        if not hasattr(render, "render_qmd"):
            pytest.skip("the built-in render engine is not in this build")
        from evalkit.report.batch import render_reports

        out = tmp_path_factory.mktemp("rendered-report")
        _CACHE["status"] = render_reports(REPORT, [SCHEME], formats=list(FORMATS), out=out,
                                          data_root=SYNTHETIC, engine="builtin", jobs=1,
                                          progress=False)[0]
    status = _CACHE["status"]  # a failed render is not tried again by the next module
    assert status["ok"], f"the report did not render: {status.get('error')} " \
                         f"(log: {status.get('log')})"
    return {k: Path(v) for k, v in status["outputs"].items()}


def headline_numbers() -> list[str]:
    """The headline effects as the report prints them, from an independent run of the spec."""
    if not _HEADLINE:
        from evalkit.evaluation.pipeline import run_spec
        from evalkit.evidence.narrative import format_effect
        from evalkit.results import headline_effects

        evaluation = run_spec(SYNTHETIC / SCHEME / "spec.yaml")
        _HEADLINE.extend(format_effect(row)
                         for _, row in headline_effects(evaluation.effects).iterrows())
        assert _HEADLINE, "the spec gave no headline effects to look for"
    return list(_HEADLINE)


def squash(text: str) -> str:
    """Text as a reader sees it: one space for any run of white space, plain minus signs."""
    return re.sub(r"\s+", " ", text.replace("\u2212", "-"))
