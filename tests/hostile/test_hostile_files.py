"""Hostile file systems: evalkit never deletes or overwrites a file it did not write, a
killed run leaves the old output set or the new one and no debris, and a batch survives
bad members.

Each test names what it expects. Renders are few and small: ``--to html``, one scheme of
the synthetic data, or a tiny report where the orchestration is what is tested.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "data" / "synthetic"
REPORT = ROOT / "reports" / "evidence-summary.qmd"
SCHEME = "rapid-response"
BROKEN = "aa-broken"  # sorts first, so a batch that stops at it never reaches the good one
MANIFEST = ".evalkit-manifest.json"

TINY = """---
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
print("REPORT-FOR", scheme or schemes)
```
"""


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def one_scheme(monkeypatch):
    """`synth` (and `demo`'s synth step) limited to one scheme, to keep the tests small."""
    import evalkit.synthetic.write as write

    monkeypatch.setattr(write, "SCHEMES", [s for s in write.SCHEMES if s.name == SCHEME])


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.qmd"
    path.write_text(TINY)
    return path


def _break_outcome(folder: Path) -> None:
    """A suppressed count (``<5``) in an outcome column of the panel."""
    panel = folder / "panel.csv"
    lines = panel.read_text().splitlines()
    head = lines[0].split(",")
    col = head.index("emergency_admissions")
    row = lines[5].split(",")
    row[col] = "<5"
    lines[5] = ",".join(row)
    panel.write_text("\n".join(lines) + "\n")


def _edit_panel(folder: Path) -> None:
    panel = folder / "panel.csv"
    panel.write_bytes(panel.read_bytes().replace(b"\n", b"\r\n", 1))


def _batch_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(SYNTHETIC / SCHEME, root / SCHEME)
    shutil.copytree(SYNTHETIC / SCHEME, root / BROKEN)
    _break_outcome(root / BROKEN)
    return root


# --- evalkit never deletes or overwrites your files -------------------------------------

def test_synth_keeps_a_users_readme_and_schemes_csv(tmp_path, capsys):
    """`synth --out ~/proj` where README.md and schemes.csv are the user's: exit 2 naming
    README.md and --force; both files byte-identical; nothing written."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "README.md").write_bytes(b"# My project\n")
    (proj / "schemes.csv").write_bytes(b"mine,yours\n1,2\n")
    before = _bytes(proj)
    assert main(["--quiet", "synth", "--out", str(proj)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "README.md" in line and "--force" in line
    assert _bytes(proj) == before
    assert sorted(p.name for p in proj.iterdir()) == ["README.md", "schemes.csv"]


def test_synth_neither_reverts_an_edited_panel_nor_deletes_notes(tmp_path, one_scheme):
    """A scheme folder (as committed: no manifest) with the user's notes.txt: synth writes
    nothing while its files are identical; once panel.csv is edited, synth refuses (naming
    the files and --force) and both survive byte-identical; --force restores evalkit's
    panel.csv and keeps notes.txt."""
    from evalkit.errors import EvalkitError
    from evalkit.synthetic import synth

    data = tmp_path / "data"
    shutil.copytree(SYNTHETIC / SCHEME, data / SCHEME)
    (data / SCHEME / "notes.txt").write_text("my notes\n")
    before = _bytes(data / SCHEME)
    synth(data)  # identical: a no-op that needs no manifest
    assert _bytes(data / SCHEME) == before
    _edit_panel(data / SCHEME)
    edited = _bytes(data / SCHEME)
    with pytest.raises(EvalkitError) as info:
        synth(data)
    line = info.value.one_line()
    assert "panel.csv" in line and "notes.txt" in line and "--force" in line
    assert "\n" not in line
    assert _bytes(data / SCHEME) == edited
    synth(data, force=True)
    assert (data / SCHEME / "notes.txt").read_text() == "my notes\n"
    assert (data / SCHEME / "panel.csv").read_bytes() == (SYNTHETIC / SCHEME / "panel.csv"
                                                           ).read_bytes()


def test_demo_data_root_keeps_a_users_files(tmp_path, one_scheme, tiny, capsys):
    """`demo --data-root DIR` where DIR's scheme folder holds notes.txt and an edited
    panel.csv: both survive byte-identical; exit 2 with a line naming them and --force."""
    data = tmp_path / "data"
    shutil.copytree(SYNTHETIC / SCHEME, data / SCHEME)
    (data / SCHEME / "notes.txt").write_text("my notes\n")
    _edit_panel(data / SCHEME)
    before = _bytes(data / SCHEME)
    code = main(["--quiet", "demo", "--data-root", str(data), "--out", str(tmp_path / "out"),
                 "--to", "html", "--qmd", str(tiny), "--compare-qmd", str(tiny)])
    assert code == 2
    line = _one_line(capsys.readouterr().err)
    assert SCHEME in line and "panel.csv" in line and "notes.txt" in line and "--force" in line
    assert _bytes(data / SCHEME) == before


def test_run_out_keeps_a_users_thesis(tmp_path, capsys):
    """`run --out userdir` where userdir holds thesis.docx and a results.json: exit 2
    naming them and --force, both byte-identical; with --force evalkit writes its outputs
    and thesis.docx is kept."""
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "thesis.docx").write_bytes(b"PK\x03\x04 my thesis")
    (user / "results.json").write_bytes(b"{}\n")
    before = _bytes(user)
    spec = str(SYNTHETIC / SCHEME / "spec.yaml")
    assert main(["--quiet", "run", spec, "--out", str(user)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "thesis.docx" in line and "--force" in line
    assert _bytes(user) == before
    assert main(["--quiet", "run", spec, "--out", str(user), "--force"]) == 0
    assert (user / "thesis.docx").read_bytes() == before["thesis.docx"]
    assert json.loads((user / "results.json").read_text())["scheme"] == SCHEME
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no debris


def test_report_out_keeps_a_users_edited_report(tmp_path, capsys):
    """`report --out` whose scheme folder holds the user's own evidence-summary.html:
    exit 2 naming it and --force, and the file is byte-identical."""
    folder = tmp_path / "out" / SCHEME
    folder.mkdir(parents=True)
    (folder / "evidence-summary.html").write_bytes(b"<p>my edited copy</p>\n")
    before = _bytes(folder)
    code = main(["--quiet", "report", str(REPORT), "--scheme", SCHEME, "--to", "html",
                 "--out", str(tmp_path / "out"), "--data-root", str(SYNTHETIC)])
    assert code == 2
    line = _one_line(capsys.readouterr().err)
    assert "evidence-summary.html" in line and "--force" in line
    assert _bytes(folder) == before


# --- batches survive bad members ---------------------------------------------------------

def test_report_all_renders_the_good_scheme_and_names_the_bad_one(tmp_path, capsys):
    """`report --scheme all` over a good scheme and one with `<5` in an outcome column:
    the good one renders, exit 2, one line naming the bad one with one "Fix:"."""
    root = _batch_root(tmp_path)
    out = tmp_path / "out"
    code = main(["--quiet", "report", str(REPORT), "--scheme", "all", "--to", "html",
                 "--out", str(out), "--data-root", str(root), "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    line = _one_line(err)
    assert BROKEN in line and line.count("Fix:") <= 1
    assert (out / SCHEME / "evidence-summary.html").is_file()


def test_demo_analyses_and_renders_the_good_scheme_despite_a_bad_one(tmp_path, one_scheme,
                                                                      tiny, capsys):
    """`demo` over a good scheme and one with `<5` in an outcome column: the good one is
    analysed and rendered, the comparison leaves the bad one out, exit 2, one line."""
    root = _batch_root(tmp_path)
    out = tmp_path / "out"
    code = main(["--quiet", "demo", "--data-root", str(root), "--out", str(out), "--to",
                 "html", "--qmd", str(tiny), "--compare-qmd", str(tiny)])
    err = capsys.readouterr().err
    assert code == 2
    line = _one_line(err)
    assert BROKEN in line and "<5" in line
    assert (out / SCHEME / "analysis" / "results.json").is_file()
    assert "REPORT-FOR rapid-response" in (out / SCHEME / "tiny.html").read_text()
    comparative = (out / "comparative" / "tiny.html").read_text()
    assert SCHEME in comparative and BROKEN not in comparative


def test_compare_leaves_out_a_bad_scheme_and_names_it(tmp_path, tiny, capsys):
    """`compare` over a good scheme and a bad one: renders from the good one, exit 2, one
    line naming the bad one."""
    root = _batch_root(tmp_path)
    out = tmp_path / "out"
    code = main(["--quiet", "compare", "--qmd", str(tiny), "--data-root", str(root),
                 "--out", str(out), "--to", "html"])
    assert code == 2
    line = _one_line(capsys.readouterr().err)
    assert BROKEN in line
    comparative = (out / "comparative" / "tiny.html").read_text()
    assert SCHEME in comparative and BROKEN not in comparative


@pytest.mark.parametrize("scheme", ["all", "nope"])
def test_report_on_a_root_without_schemes_says_so_in_one_line(tmp_path, scheme, capsys):
    """`report --scheme all` (or an unknown scheme) on an empty data root: exit 2, one
    line saying there are no schemes there."""
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["--quiet", "report", str(REPORT), "--scheme", scheme, "--to", "html",
                 "--out", str(tmp_path / "out"), "--data-root", str(empty)])
    assert code == 2
    line = _one_line(capsys.readouterr().err)
    assert "no schemes" in line and "choose from  or" not in line


# --- a killed run leaves the old set or the new one, and no debris ----------------------

def _env(tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "EVALKIT_RUN_DIR"}
    env.update(TMPDIR=str(tmpdir), TEMP=str(tmpdir), TMP=str(tmpdir))
    return env


def _consistent(folder: Path) -> dict[str, str]:
    """The folder's files, checked against its manifest (a complete, unmixed set)."""
    listed = json.loads((folder / MANIFEST).read_text())["files"]
    found = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST}
    assert found == listed, folder
    return found


def _kill_at(cmd: list[str], env: dict[str, str], when, watch: Path) -> None:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        if isinstance(when, float):
            time.sleep(when)
        else:  # as soon as a hidden (staging) entry appears beside the output
            before = {p.name for p in watch.iterdir()}
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                if any(p.name.startswith(".") and p.name not in before
                       for p in watch.iterdir()):
                    break
                time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def _no_debris(parent: Path, tmpdir: Path) -> None:
    hidden = [p.name for p in parent.rglob("*")
              if p.name.startswith(".") and p.name != MANIFEST and p.name != ".render-key"
              and p.name != ".inputs-sha256"]
    assert hidden == [], hidden  # no staging folder, .out-*, .part or old set
    assert list(tmpdir.iterdir()) == []


def _retitle(spec: Path, title: str) -> None:
    lines = spec.read_text().splitlines()
    lines = [f"title: {title}" if line.startswith("title:") else line for line in lines]
    spec.write_text("\n".join(lines) + "\n")


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_killed_run_leaves_the_old_or_the_new_set_and_no_debris(tmp_path):
    """`evalkit run` killed at 0.5 s, 2 s, 5 s and when its staging folder appears: the
    output folder is always a complete set (old or new results); after the next run no
    staging folder, .out-* or .part is left, and nothing under the private TMPDIR."""
    data = tmp_path / "data" / SCHEME
    shutil.copytree(SYNTHETIC / SCHEME, data)
    work = tmp_path / "work"
    work.mkdir()
    out = work / "analysis"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = _env(tmpdir)
    cmd = [sys.executable, "-m", "evalkit.cli", "--quiet", "run", str(data / "spec.yaml"),
           "--out", str(out)]
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    old = (out / "results.json").read_bytes()
    _retitle(data / "spec.yaml", "Retitled after the first run")
    seen = []
    for when in (0.5, 2.0, 5.0, "staging"):
        _kill_at(cmd, env, when, work)
        _consistent(out)
        seen.append((out / "results.json").read_bytes())
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    _consistent(out)
    new = (out / "results.json").read_bytes()
    assert new != old and all(s in (old, new) for s in seen)
    _no_debris(work, tmpdir)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_killed_report_leaves_the_old_or_the_new_set_and_no_debris(tmp_path):
    """`evalkit report --to html` killed at 0.5 s, 2 s, 5 s and when its staging folder
    appears: the scheme's folder is always a complete set (old or new title); after the
    next render no staging folder or .part is left, and nothing under the private TMPDIR
    (render work folders, figures, kernel connection files)."""
    root = tmp_path / "data"
    shutil.copytree(SYNTHETIC / SCHEME, root / SCHEME)
    out = tmp_path / "out"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = _env(tmpdir)
    cmd = [sys.executable, "-m", "evalkit.cli", "--quiet", "report", str(REPORT), "--scheme",
           SCHEME, "--to", "html", "--out", str(out), "--data-root", str(root), "--jobs", "1"]
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    html = out / SCHEME / "evidence-summary.html"
    titles = ("Retitled before the kills", "Retitled for the last render")
    _retitle(root / SCHEME / "spec.yaml", titles[0])
    for when in (0.5, 2.0, 5.0, "staging"):
        _kill_at(cmd, env, when, out)
        _consistent(out / SCHEME)
        assert html.is_file()
    _retitle(root / SCHEME / "spec.yaml", titles[1])
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    _consistent(out / SCHEME)
    assert titles[1] in html.read_text()
    time.sleep(2)  # a killed run's kernel notices its parent is gone and exits
    _no_debris(out, tmpdir)


def test_generate_records_never_deletes_a_users_file(tmp_path):
    """generate_records(overwrite=True), the default, used to rmtree the folder it was
    given: a folder holding a user's file is now refused, and with force the file is
    kept while the records are replaced."""
    from evalkit.errors import EvalkitError
    from evalkit.records.generate import generate_records

    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(EvalkitError, match="notes.txt"):
        generate_records(folder, patients=200, months=3, seed=1)
    assert (folder / "notes.txt").read_text() == "mine"
    gen = generate_records(folder, patients=200, months=3, seed=1, force=True)
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "records.yaml").is_file() and gen.spec is not None
    again = generate_records(folder, patients=200, months=3, seed=2, force=True)
    assert (folder / "notes.txt").read_text() == "mine" and again.rows


def test_aggregate_never_overwrites_a_users_file(tmp_path, capsys):
    """`evalkit aggregate --out FILE` replaced FILE whatever it was. A file evalkit did
    not write is now refused before any work (exit 2, one line naming it); evalkit's own
    output is replaced on a rerun, and --force overwrites."""
    from evalkit.cli import main
    from evalkit.records.generate import generate_records

    gen = generate_records(tmp_path / "records", patients=300, months=4, seed=2)
    target = tmp_path / "panel.parquet"
    target.write_bytes(b"my own panel")
    code = main(["--quiet", "aggregate", str(gen.folder / "records.yaml"), "--out",
                 str(target)])
    err = capsys.readouterr().err
    assert code == 2 and "panel.parquet" in err and "--force" in err
    assert len(err.strip().splitlines()) == 1
    assert target.read_bytes() == b"my own panel"
    other = tmp_path / "ours.parquet"
    assert main(["--quiet", "aggregate", str(gen.folder / "records.yaml"), "--out",
                 str(other)]) == 0
    assert main(["--quiet", "aggregate", str(gen.folder / "records.yaml"), "--out",
                 str(other)]) == 0  # its own output: replaced on a rerun
    assert main(["--quiet", "aggregate", str(gen.folder / "records.yaml"), "--out",
                 str(target), "--force"]) == 0
    assert target.read_bytes() != b"my own panel"
