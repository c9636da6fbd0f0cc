"""`evalkit run`, `check` and `synth`: outputs, reproducibility and clear failures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from evalkit.cli import main

from conftest import SYNTHETIC

SCHEME = "rapid-response"


@pytest.fixture
def scheme_dir(tmp_path) -> Path:
    folder = tmp_path / SCHEME
    shutil.copytree(SYNTHETIC / SCHEME, folder)
    return folder


def run_cli(*args) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "--quiet", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_run_writes_every_output_and_is_byte_identical(tmp_path, capsys):
    spec = SYNTHETIC / SCHEME / "spec.yaml"
    assert main(["--quiet", "run", str(spec), "--out", str(tmp_path / "a")]) == 0
    assert main(["--quiet", "run", str(spec), "--out", str(tmp_path / "b")]) == 0
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "results.json").read_bytes() == (b / "results.json").read_bytes()
    for name in ("results.csv", "run.log", "provenance.json", "figures/effects.png",
                 "figures/effects.svg", "figures/alt-text.json"):
        assert (a / name).is_file(), name
    results = json.loads((a / "results.json").read_text())
    schema = json.loads(resources.files("evalkit").joinpath("schemas/results.schema.json")
                        .read_text())
    jsonschema.validate(results, schema)
    csv = pd.read_csv(a / "results.csv")
    assert len(csv) == len(results["effects"]) and {"estimate", "ci_low"} <= set(csv.columns)
    prov = json.loads((a / "provenance.json").read_text())
    assert {"inputs", "packages", "git", "parameters"} <= set(prov)
    assert prov["packages"]["pandas"] == pd.__version__


def _break_panel(folder: Path, change) -> None:
    path = folder / "panel.csv"
    df = pd.read_csv(path)
    change(df).to_csv(path, index=False)


def _dup(df):
    return pd.concat([df, df.iloc[[0]]])


def _neg(df):
    df.loc[3, "emergency_admissions"] = -1
    return df


def _zero(df):
    df.loc[3, "list_size"] = 0
    return df


def _text(df):
    df = df.astype({"emergency_admissions": object})
    df.loc[3, "emergency_admissions"] = "*"
    return df


def _reverse(df):
    df.loc[(df["practice"] == df["practice"].iloc[0]) & (df["month"] == "2020-01"),
           "treated"] = 0
    return df


def _gap(df):
    return df.drop(index=40)


def _rename(df):
    return df.rename(columns={"list_size": "listsize"})


def _short(df):
    return df[df["month"] >= "2018-10"]


BAD_PANELS = {
    "missing column": (_rename, "did you mean 'listsize'"),
    "wrong type": (_text, "expected numbers"),
    "duplicate rows": (_dup, "share a practice and month"),
    "gaps": (_gap, "gaps in their time series"),
    "negative counts": (_neg, "negative count"),
    "zero denominator": (_zero, "zero or negative denominator"),
    "treatment switches": (_reverse, "switches off and on"),
    "too few pre-periods": (_short, "the design needs 12"),
}


@pytest.mark.parametrize("case", list(BAD_PANELS))
def test_run_refuses_bad_data_with_one_line_and_no_output(scheme_dir, tmp_path, case, capsys):
    change, expected = BAD_PANELS[case]
    _break_panel(scheme_dir, change)
    out = tmp_path / "out"
    code = main(["--quiet", "run", str(scheme_dir / "spec.yaml"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and expected in err and "panel.csv" in err
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out-*"))


def test_spec_level_problems_exit_2(scheme_dir, capsys):
    spec = scheme_dir / "spec.yaml"
    spec.write_text(spec.read_text().replace("    start: 2019-04", "    start: 2030-01"))
    assert main(["--quiet", "run", str(spec), "--out", str(scheme_dir / "o")]) == 2
    assert "outside the data" in capsys.readouterr().err


def test_failed_rerun_keeps_the_previous_good_output(scheme_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--quiet", "run", str(scheme_dir / "spec.yaml"), "--out", str(out)]) == 0
    before = (out / "results.json").read_bytes()
    _break_panel(scheme_dir, _neg)
    assert main(["--quiet", "run", str(scheme_dir / "spec.yaml"), "--out", str(out)]) == 2
    assert (out / "results.json").read_bytes() == before


def test_check_reports_every_problem(scheme_dir, capsys):
    _break_panel(scheme_dir, lambda df: _zero(_neg(df)))
    assert main(["check", str(scheme_dir)]) == 2
    out = capsys.readouterr().out
    assert "negative count" in out and "zero or negative denominator" in out
    assert main(["check", str(SYNTHETIC / SCHEME)]) == 0


def test_console_script_exit_code_and_message(tmp_path):
    code, out, err = run_cli("run", tmp_path / "missing.yaml")
    assert code == 2 and err.startswith("evalkit: error:") and "spec not found" in err
    code, _, err = run_cli("report", "reports/evidence-summary.qmd", "--scheme", "../../etc")
    assert code == 2 and "unknown scheme" in err


def test_run_refuses_to_replace_a_folder_that_is_not_its_own(tmp_path, capsys):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    code = main(["--quiet", "run", str(SYNTHETIC / SCHEME / "spec.yaml"), "--out", str(precious)])
    assert code == 2 and "not an evalkit output folder" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "keep me"


def test_a_date_in_the_spec_is_written_to_json(scheme_dir, tmp_path):
    spec = scheme_dir / "spec.yaml"
    spec.write_text(spec.read_text().replace("    start: 2019-04", "    start: 2019-04-01"))
    assert main(["--quiet", "run", str(spec), "--out", str(tmp_path / "o")]) == 0
    assert '"2019-04-01"' in (tmp_path / "o" / "results.json").read_text()


def test_numbers_in_messages_are_plain(scheme_dir, capsys):
    _break_panel(scheme_dir, lambda df: df.assign(treated=df["treated"].replace(1, 2)))
    assert main(["--quiet", "run", str(scheme_dir / "spec.yaml"), "--out",
                 str(scheme_dir / "o")]) == 2
    err = capsys.readouterr().err
    assert "found 2" in err and "np.int64" not in err


def test_a_bad_evalkit_jobs_is_refused_by_name(monkeypatch):
    # EVALKIT_JOBS (the renderer sets it for report kernels) must be a whole number >= 1.
    from evalkit.errors import DesignError
    from evalkit.evaluation.pipeline import _jobs

    monkeypatch.setenv("EVALKIT_JOBS", "two")
    with pytest.raises(DesignError, match="EVALKIT_JOBS is 'two'"):
        _jobs()
    monkeypatch.setenv("EVALKIT_JOBS", "0")
    with pytest.raises(DesignError, match="EVALKIT_JOBS"):
        _jobs()
    monkeypatch.setenv("EVALKIT_JOBS", "2")
    assert _jobs() == 2
