"""`evalkit demo`, the main job (issues 23 and 27): it shows progress for every stage,
keeps the kernels' TCP warning out of the terminal, publishes files the group can read
(as the umask says), computes each scheme's evaluation once for the analysis and its
report, and does nothing again when nothing changed.

One scheme (rapid-response) and a tiny report keep the runs small.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest

from evalkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCHEME = "rapid-response"

# The report runs the scheme's spec with every design removed: it can only succeed by
# reusing the evaluation the demo's analysis computed.
REPORT = """---
title: Tiny
---

```{python}
#| tags: [parameters]
scheme = ""
spec = ""
schemes = ""
data_root = ""
```

```{python}
import evalkit.evaluation.pipeline as pipeline

if spec:
    pipeline.DESIGNS = {}
    print("REUSED", len(pipeline.run_spec(spec).effects), "effects")
```

```{python}
print("REPORT-FOR", scheme or schemes)
```
"""


@pytest.fixture
def one_scheme_root(tmp_path, monkeypatch) -> Path:
    """A data root holding one synthetic scheme; synth limited to it."""
    import evalkit.synthetic.write as write

    monkeypatch.setattr(write, "SCHEMES", [s for s in write.SCHEMES if s.name == SCHEME])
    root = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "synthetic" / SCHEME, root / SCHEME)
    return root


def _modes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix() + ("/" if p.is_dir() else ""):
            stat.S_IMODE(p.lstat().st_mode) for p in [folder, *folder.rglob("*")]}


def test_demo_shows_every_stage_publishes_for_the_group_and_redoes_nothing(
        one_scheme_root, tmp_path, capfd):
    """Cold: a progress bar (with the time left) for synth, the analyses, the reports and
    the comparative synthesis; no kernel TCP warning; the report reused the analysis's
    evaluation; under umask 002 every folder is rwxrwxr-x and every file rw-rw-r--.
    Warm: nothing is synthesised, analysed or rendered again, and results.json is
    untouched. After a change to evalkit's code the analysis runs again, with the same
    results.json bytes."""
    report = tmp_path / "tiny.qmd"
    report.write_text(REPORT)
    out = tmp_path / "out"
    argv = ["demo", "--data-root", str(one_scheme_root), "--out", str(out), "--to", "html",
            "--qmd", str(report), "--compare-qmd", str(report)]
    old = os.umask(0o002)
    try:
        assert main(argv) == 0
    finally:
        os.umask(old)
    cap = capfd.readouterr()
    err = cap.err.replace("\r", "\n")
    for stage in ("synth", "analyses", "reports", "comparative synthesis"):
        bars = [ln for ln in err.splitlines() if ln.startswith(f"{stage}:")]
        assert bars, f"no progress bar for {stage}:\n{err}"
        assert any("100%" in ln for ln in bars), bars
    # tqdm's [elapsed<remaining]: the estimate of the time left
    assert re.search(r"^analyses:.*\[\d\d:\d\d<\d\d:\d\d", err, re.M), err
    assert "without encryption" not in cap.err + cap.out
    html = (out / SCHEME / "tiny.html").read_text()
    assert "REUSED" in html and "REPORT-FOR rapid-response" in html
    modes = _modes(out)
    assert {k: oct(v) for k, v in modes.items() if k.endswith("/") and v != 0o775} == {}
    assert {k: oct(v) for k, v in modes.items() if not k.endswith("/") and v != 0o664} == {}

    results = out / SCHEME / "analysis" / "results.json"
    first, when = results.read_bytes(), results.stat().st_mtime_ns
    assert main(argv) == 0
    warm = capfd.readouterr()
    assert "synthetic data are current" in warm.err
    assert "Analyses: 0 run, 1 already current" in warm.out
    assert "unchanged since the last render" in warm.out
    assert results.read_bytes() == first and results.stat().st_mtime_ns == when

    import evalkit.evaluation.fingerprint as fingerprint

    fingerprint.code_sha256.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fingerprint, "code_sha256", lambda: "0" * 64)
            assert main(["--quiet", *argv]) == 0
    finally:
        import evalkit.evaluation.fingerprint as fingerprint

    fingerprint.code_sha256.cache_clear()
    assert "Analyses: 1 run, 0 already current" in capfd.readouterr().out
    assert results.read_bytes() == first


def test_the_kernel_talks_over_local_sockets_and_its_errors_are_shown(tmp_path, capfd):
    """The report kernel runs with IPC transport (so ipykernel has no TCP warning to
    give); an error the kernel logs is shown, once the run is over."""
    from evalkit.report.render.notebook import build_notebook, run_notebook
    from evalkit.report.render.qmd import parse_qmd

    doc = tmp_path / "k.qmd"
    doc.write_text("---\ntitle: k\n---\n\n```{python}\n"
                   "from ipykernel.kernelapp import IPKernelApp\n"
                   "import sys\n"
                   "print('TRANSPORT', IPKernelApp.instance().transport)\n"
                   "print('[IPKernelApp] ERROR | a real problem', file=sys.__stderr__, "
                   "flush=True)\n```\n")
    parsed = parse_qmd(doc)
    nb = run_notebook(parsed, build_notebook(parsed))
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "TRANSPORT ipc" in text
    err = capfd.readouterr().err
    assert "a real problem" in err and "without encryption" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
@pytest.mark.parametrize("umask, mode", [(0o002, 0o664), (0o027, 0o640)])
def test_published_reports_follow_the_umask(tmp_path, umask, mode):
    """A rendered file put in place gets the mode any new file would: 0o666 less the
    umask (a private umask keeps it private; a group one lets the group write)."""
    from evalkit.report.render.writers import publish

    made = tmp_path / "made.html"
    made.write_text("<p>report</p>")
    old = os.umask(umask)
    try:
        written = publish({"html": made}, tmp_path / "out", "report")
    finally:
        os.umask(old)
    assert stat.S_IMODE(written["html"].stat().st_mode) == mode
