"""Replay the hostile-input corpus against the command line and the Python API.

For every case of ``corpus.CASES`` (see that module for what each expects):

- the command line, in process (``evalkit.cli.main``): the exit code; for errors exactly
  one stderr line starting ``evalkit: error:`` that names the file, column or option and
  gives a fix, no traceback, no output folder and no temporary folder left behind, and no
  file that existed before changed; for warnings the named warning in ``run.log``;
- the console script in a subprocess, for the cases marked ``shell``;
- the design function, for the cases marked ``api``: an ``EvalkitError`` for errors.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from corpus import CASES, Case
from tiny_scheme import panel

from evalkit.cli import main
from evalkit.data.io import read
from evalkit.errors import EvalkitError
from evalkit.evaluation.designs import DESIGNS

SCRIPT = Path(sys.executable).with_name("evalkit")


def test_the_corpus_is_large_and_names_are_unique():
    """At least 100 cases of this framework, each with its own id."""
    ids = [c.id for c in CASES]
    assert len(ids) >= 100 and len(set(ids)) == len(ids)
    assert {c.expect for c in CASES} <= {"error", "warning", "ok"}


def materialise(case: Case, root: Path, readonly: Path) -> dict[str, str]:
    """Write the case's scheme under ``root``; return the argv placeholders."""
    folder = root / "tiny-scheme"
    folder.mkdir(parents=True)
    table = panel()
    if case.data is not None:
        table = case.data(table)
    table.to_csv(folder / "panel.csv", index=False, lineterminator="\n")
    (folder / "spec.yaml").write_text(yaml.safe_dump(case.build_spec(), sort_keys=False),
                                      encoding="utf-8")
    if case.files is not None:
        case.files(folder)
    return {"spec": str(folder / "spec.yaml"), "out": str(root / "out"), "folder": str(folder),
            "root": str(root), "readonly": str(readonly)}


def snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (to show nothing was overwritten)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def check_outcome(case: Case, code: int, out: str, err: str, places: dict[str, str],
                  before: dict[str, str], root: Path) -> None:
    assert "Traceback" not in out + err
    says = [s.format(**places) for s in case.says]
    if case.expect == "error":
        lines = err.strip().splitlines()
        assert code == 2, (code, err)
        assert len(lines) == 1, err
        assert lines[0].startswith("evalkit: error: "), err
        assert "Fix:" in lines[0], err
        for word in says:
            assert word in lines[0], (word, lines[0])
        assert not Path(places["out"]).exists(), "a failed run left an output folder"
        assert not [p for p in root.rglob(".out-*")], "a failed run left a temporary folder"
        assert snapshot(root) == before, "a failed run changed files that were there"
        return
    assert code == 0, err
    assert "evalkit: error" not in err
    if case.expect == "warning":
        log = (Path(places["out"]) / "run.log").read_text(encoding="utf-8")
        assert "data warning [" in log
        for word in says:
            assert word in log, (word, log)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli(case: Case, tmp_path, readonly_dir, capsys, monkeypatch):
    """In-process: exit code 2 and one line naming where and how to fix, or exit 0."""
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    places = materialise(case, tmp_path, readonly_dir)
    before = snapshot(tmp_path)
    code = main(["--quiet", *[a.format(**places) for a in case.argv]])
    out, err = capsys.readouterr()
    check_outcome(case, code, out, err, places, before, tmp_path)


SHELL = [c for c in CASES if c.shell]


@pytest.mark.skipif(not SCRIPT.exists(), reason="the evalkit console script is not installed")
@pytest.mark.parametrize("case", SHELL, ids=[c.id for c in SHELL])
def test_console_script(case: Case, tmp_path, readonly_dir):
    """Through the installed ``evalkit`` script: the same code and one line, no traceback."""
    places = materialise(case, tmp_path, readonly_dir)
    before = snapshot(tmp_path)
    env = {**os.environ, **case.env, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([str(SCRIPT), "--quiet", *[a.format(**places) for a in case.argv]],
                          capture_output=True, text=True, env=env, timeout=300)
    check_outcome(case, proc.returncode, proc.stdout, proc.stderr, places, before, tmp_path)


API = [c for c in CASES if c.api]


def _options(spec: dict) -> tuple:
    """The first analysis's design, outcome and options, outcome keys filled in as a spec
    run fills them (family, denominator, per)."""
    analysis = spec["analyses"][0]
    name = analysis["outcomes"][0]
    func = DESIGNS[analysis["design"]]
    import inspect

    params = inspect.signature(func).parameters
    options = dict(analysis.get("options") or {})
    for key in ("family", "denominator", "per"):
        if key in spec["outcomes"][name] and key in params and key not in options:
            options[key] = spec["outcomes"][name][key]
    return func, name, options


@pytest.mark.parametrize("case", API, ids=[c.id for c in API])
def test_api(case: Case, tmp_path):
    """The design function on the same table and options: an EvalkitError for errors."""
    places = materialise(case, tmp_path, tmp_path)
    func, name, options = _options(case.build_spec())
    try:
        table = read(Path(places["folder"]) / "panel.csv")
    except EvalkitError:
        assert case.expect == "error"
        return
    if case.expect == "error":
        with pytest.raises(EvalkitError):
            func(table, outcome=name, **options)
    else:
        func(table, outcome=name, **options)


def _public_table_functions() -> list[str]:
    """Names of the functions ``evalkit`` exports whose first argument is a DataFrame."""
    import inspect

    import evalkit as ek

    names = []
    for name in ek.__all__:
        func = getattr(ek, name)
        if inspect.isfunction(func):
            first = next(iter(inspect.signature(func).parameters.values()), None)
            if first is not None and str(first.annotation) in ("pd.DataFrame",
                                                               "DataFrame"):
                names.append(name)
    return names


TABLE_FUNCTIONS = _public_table_functions()


def test_every_public_table_function_checks_its_table():
    """Each exported function that takes a DataFrame first is wrapped by the one check."""
    import evalkit as ek

    assert len(TABLE_FUNCTIONS) >= 25
    assert all(hasattr(getattr(ek, n), "__wrapped__") for n in TABLE_FUNCTIONS)


@pytest.mark.parametrize("value", [[1, 2, 3], pd.Series([1, 2, 3]), "panel.csv",
                                   pd.DataFrame({"a": [1]}).to_numpy()],
                         ids=["list", "series", "path", "array"])
@pytest.mark.parametrize("name", TABLE_FUNCTIONS)
def test_api_refuses_what_is_not_a_table(name, value):
    """A list, a Series, a path or an array where a DataFrame belongs: one DataError."""
    import evalkit as ek
    from evalkit.errors import DataError

    with pytest.raises(DataError, match="expects a pandas DataFrame"):
        getattr(ek, name)(value)


def test_the_tiny_scheme_runs_cleanly(tmp_path):
    """(Self-check of the framework) unbroken, the tiny scheme runs: every error of the
    corpus comes from the one thing its case breaks."""
    places = materialise(Case("plain", "ok"), tmp_path, tmp_path)
    assert main(["--quiet", "run", places["spec"], "--out", places["out"]]) == 0
    shutil.rmtree(places["out"])
