"""Issue 23.2: every number an evidence summary shows traces to its ``results.json``.

All nine synthetic schemes are run (``results.json``) and their evidence summaries
rendered to HTML with the built-in engine, once for this module. Each number a reader sees
(text, table cells, figure alt texts; the provenance appendix is checked elsewhere) must be
a number of the scheme's ``results.json`` as the report prints it (see
:mod:`number_trace`), or one of the scheme's characteristics in ``schemes.csv``, the input
the report's opening sentences quote. A number that traces to nothing fails: it was typed
into the report, computed outside the results, or formatted so that it no longer reads as
the result (``-1.42e+03`` for -1,419, a hyphen for a minus sign).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from number_trace import Candidates, reader_text, shown_numbers, untraced
from number_trace import numbers_in as _numbers

from conftest import ROOT, SYNTHETIC

SCHEMES = sorted(p.parent.name for p in SYNTHETIC.glob("*/spec.yaml"))


#: Constants of the methods the reports describe in words: the XmR chart's 2.66 (3 / d2,
#: Making Data Count) and the normal quantile 1.96.
METHOD_CONSTANTS = (2.66, 1.96)


def _characteristics(scheme: str) -> list[float]:
    with open(SYNTHETIC / "schemes.csv", newline="", encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["scheme"] == scheme)
    out = []
    for value in row.values():
        try:
            out.append(float(value))
        except ValueError:
            continue
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    from evalkit.evaluation.pipeline import run_spec
    from evalkit.report.batch import render_reports

    out = tmp_path_factory.mktemp("traced")
    for scheme in SCHEMES:
        run_spec(SYNTHETIC / scheme / "spec.yaml", out=out / "runs" / scheme)
    statuses = render_reports(ROOT / "reports" / "evidence-summary.qmd", SCHEMES,
                              formats=["html"], out=out / "reports", data_root=SYNTHETIC,
                              engine="builtin", jobs=2, progress=False)
    failed = [s for s in statuses if not s["ok"]]
    assert not failed, failed
    return out


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_number_shown_traces_to_the_results(outputs, scheme):
    html = (outputs / "reports" / scheme / "evidence-summary.html").read_text("utf-8")
    results = outputs / "runs" / scheme / "results.json"
    candidates = Candidates.from_results(results, _characteristics(scheme), METHOD_CONSTANTS)
    missing = untraced(html, candidates)
    shown = shown_numbers(reader_text(html))
    assert len(shown) > 300  # the report was read, not an empty page
    assert not missing, (f"{len(missing)} of {len(shown)} numbers trace to nothing:\n"
                         + "\n".join(f"{s.text!r}: ...{s.context}..." for s in missing))


def test_results_json_publishes_the_engagement_tables(outputs):
    """The tables the engagement section shows are in results.json, under disclosure
    control: no published count is from 1 to 7."""
    doc = json.loads((outputs / "runs" / "frailty-inequalities" / "results.json")
                     .read_text("utf-8"))
    tables = doc["engagement_tables"]
    assert {"mdt", "survey", "continuity", "outcome_spc", "funnel"} <= set(tables)
    for name in ("mdt", "survey", "continuity"):
        for row in tables[name]:
            for key in ("attended", "invited", "agree", "respondents", "n_eligible"):
                value = row.get(key)
                assert value is None or not 1 <= value <= 7, (name, row)


def test_every_number_in_the_comparative_synthesis_traces(outputs, tmp_path):
    """The comparative synthesis shows the schemes' results and its own (pooled effects,
    the meta-regression, certainty, the counts table): each number traces to the nine
    results.json files or to the synthesis's results record."""
    from evalkit.report.batch import render_folder
    from evalkit.report.comparative import load_comparison

    status = render_folder(ROOT / "reports" / "comparative-synthesis.qmd", "comparative",
                           {"schemes": "all", "data_root": str(SYNTHETIC)}, ["html"],
                           tmp_path, "builtin")
    assert status["ok"], status
    html = Path(status["outputs"]["html"]).read_text("utf-8")
    record = load_comparison("all", data_root=SYNTHETIC).results_record()
    values = []
    for scheme in SCHEMES:
        values += _characteristics(scheme)
        doc = json.loads((outputs / "runs" / scheme / "results.json").read_text("utf-8"))
        values += [v for v in _numbers(doc)]
    candidates = Candidates(values + list(_numbers(record)))
    missing = untraced(html, candidates)
    assert not missing, "\n".join(f"{s.text!r}: ...{s.context}..." for s in missing)


#: What raw values and code look like when they reach a reader (issue 23.3).
RAW = {
    "hyphen for a minus sign": r"(?<![\w\-–−])-\d",
    "scientific notation": r"\d(?:\.\d+)?e[+\-]?\d+",
    "a plural hedged as (s)": r"(?<!Intervention)(?<!intervention)\(s\)",  # SQUIRE's own
    "a code name": r"\b[a-z]+(?:_[a-z0-9]+)+\b(?!\.(?:csv|parquet|xlsx|yaml|json))",
    "a p-value of zero": r"\bp = 0\.0+\b",
}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_raw_value_or_code_name_reaches_the_reader(outputs, scheme):
    """Numbers are formatted (true minus signs, no 1.42e+03, p < 0.001) and words are
    words (no att_did, no unit(s)) everywhere a reader looks: text, tables, alt texts."""
    html = (outputs / "reports" / scheme / "evidence-summary.html").read_text("utf-8")
    text = reader_text(html)
    found = {what: sorted({m.group() for m in re.finditer(pattern, text)})
             for what, pattern in RAW.items()}
    found = {k: v for k, v in found.items() if v}
    assert not found, found
