"""Rendering many schemes: failures are isolated, parameters are data."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from evalkit.report.batch import render_reports
from evalkit.report.render.notebook import build_notebook
from evalkit.report.render.qmd import parse_qmd

from conftest import ROOT, SYNTHETIC


def test_injected_parameters_are_python_literals(tmp_path):
    qmd = tmp_path / "doc.qmd"
    qmd.write_text('---\ntitle: t\n---\n\n```{python}\n#| tags: [parameters]\nname = "x"\n```\n')
    hostile = 'a"; import os; os.system("echo pwned") #\nb\'c'
    nb = build_notebook(parse_qmd(qmd), {"name": hostile})
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


def test_unchanged_reports_are_not_rendered_again_unless_forced(tmp_path):
    """The cache is keyed on the report source, the parameters, the data and evalkit: an
    unchanged scheme is skipped (its files untouched), a changed input renders again."""
    import os

    from evalkit.report.batch import RENDER_KEY, render_folder

    data = tmp_path / "data"
    shutil.copytree(SYNTHETIC / "rapid-response", data)
    qmd = tmp_path / "doc.qmd"
    qmd.write_text('---\ntitle: t\n---\n\n```{python}\n#| tags: [parameters]\nscheme = "x"\n'
                   'spec = ""\n```\n\n```{python}\nprint(scheme)\n```\n')
    params = {"scheme": "rapid-response", "spec": str(data / "spec.yaml")}

    def render(**kw):
        return render_folder(qmd, "s", params, ["html"], tmp_path / "out", "builtin", **kw)

    first = render()
    html = tmp_path / "out" / "s" / "doc.html"
    assert first["ok"] and not first["cached"] and (tmp_path / "out" / "s" / RENDER_KEY).is_file()
    os.utime(html, (1, 1))  # so that a re-render would show in the modification time
    again = render()
    assert again["ok"] and again["cached"] and html.stat().st_mtime == 1
    assert not render(force=True)["cached"] and html.stat().st_mtime > 1
    (data / "survey.csv").write_text((data / "survey.csv").read_text() + "\n")
    assert not render()["cached"]  # the data changed
    qmd.write_text(qmd.read_text() + "\nMore text.\n")
    assert not render()["cached"]  # the report source changed
    assert render()["cached"]
