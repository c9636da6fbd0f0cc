"""`evalkit report --engine quarto --to html,pdf,docx` executes the document once and
converts it three times (issue 24, point 8). Runs with the Quarto test harness (see
tests/report/test_quarto_reports.py); skipped without it, failed in CI."""

from __future__ import annotations

import zipfile

import pytest
from quarto_harness import need_quarto, quarto_env

ONCE = """---
title: Once
---

```{python}
#| tags: [parameters]
counter = ""
```

```{python}
#| output: asis
with open(counter, "a") as fh:
    fh.write("ran\\n")
print("EXECUTED-ONCE")
```
"""


def test_three_formats_from_one_execution(tmp_path):
    """The chunk appends a line to a file each time it runs: one line after HTML, PDF and
    DOCX, all three written with its output, and nothing left beside the document."""
    from evalkit.report.render.quarto import render_with_quarto

    need_quarto()
    doc = tmp_path / "doc" / "once.qmd"
    doc.parent.mkdir()
    doc.write_text(ONCE)
    counter = tmp_path / "count.txt"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in quarto_env(tmp_path / "typst-cache").items():
            mp.setenv(key, value)
        paths = render_with_quarto(doc, params={"counter": str(counter)},
                                   formats=["html", "pdf", "docx"],
                                   out_dir=tmp_path / "out", basename="once")
    assert counter.read_text().splitlines() == ["ran"]
    assert sorted(paths) == ["docx", "html", "pdf"]
    assert "EXECUTED-ONCE" in paths["html"].read_text()
    with zipfile.ZipFile(paths["docx"]) as z:
        assert "EXECUTED-ONCE" in z.read("word/document.xml").decode()
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in doc.parent.iterdir()) == ["once.qmd"]
