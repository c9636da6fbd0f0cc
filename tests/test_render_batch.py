"""Rendering many schemes: failures are isolated, parameters are data."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from evalkit.render.builtin import _notebook
from evalkit.render.qmd import parse_qmd
from evalkit.reporting import render_reports

from conftest import ROOT, SYNTHETIC


def test_injected_parameters_are_python_literals(tmp_path):
    qmd = tmp_path / "doc.qmd"
    qmd.write_text('---\ntitle: t\n---\n\n```{python}\n#| tags: [parameters]\nname = "x"\n```\n')
    hostile = 'a"; import os; os.system("echo pwned") #\nb\'c'
    nb = _notebook(parse_qmd(qmd), {"name": hostile})
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    namespace: dict = {}
    exec(injected[0].source, namespace)  # noqa: S102 - the point: it only assigns
    assert namespace["name"] == hostile


def test_one_failing_scheme_does_not_stop_the_others(tmp_path):
    root = tmp_path / "synthetic"
    for name in ("rapid-response", "dementia-service"):
        shutil.copytree(SYNTHETIC / name, root / name)
    panel = root / "dementia-service" / "panel.csv"
    df = pd.read_csv(panel)
    df.loc[3, "list_size"] = 0
    df.to_csv(panel, index=False)
    statuses = render_reports(ROOT / "reports" / "evidence-summary.qmd",
                              ["dementia-service", "rapid-response"], formats=["html"],
                              out=tmp_path / "out", data_root=root, engine="builtin", jobs=2,
                              progress=False)
    by = {s["scheme"]: s for s in statuses}
    assert by["rapid-response"]["ok"]
    assert (tmp_path / "out" / "rapid-response" / "evidence-summary.html").is_file()
    failed = by["dementia-service"]
    assert not failed["ok"] and "zero or negative denominator" in failed["error"]
    assert (tmp_path / "out" / "dementia-service" / "render.log").is_file()
    assert not (tmp_path / "out" / "dementia-service" / "evidence-summary.html").exists()


def test_unknown_scheme_is_refused(tmp_path):
    from evalkit.errors import EvalkitError

    with pytest.raises(EvalkitError, match="unknown scheme"):
        render_reports(ROOT / "reports" / "evidence-summary.qmd", ["../../etc"],
                       formats=["html"], out=tmp_path, data_root=SYNTHETIC, progress=False)
