"""The findings of issue 21 (items 4, 5, 7 and 10), one test each.

Each replays the corpus case that reproduces the finding (see ``corpus.py``) and checks
what the finding needs beyond the corpus' generic checks: that the failure is the named,
one-line kind, that a warning reaches the report's data section, that an oversized or
alias-bombed spec is refused before it is built.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from corpus import CASES, Case
from test_corpus import materialise, snapshot

from evalkit.cli import main
from evalkit.errors import DataError, DesignError, EvalkitError, SpecError

BY_ID = {c.id: c for c in CASES}


def run(case: Case, tmp_path, capsys, readonly=None) -> tuple[int, str, dict]:
    places = materialise(case, tmp_path, readonly or tmp_path / "ro")
    code = main(["--quiet", *[a.format(**places) for a in case.argv]])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err.strip(), places


# Finding 4: a traceback instead of one line and exit code 2, from a one-line change.
@pytest.mark.parametrize("case_id", [
    "conf-level-high",          # _options.py ValueError
    "unit-list",                # contract.py TypeError: unhashable list
    "fourier-two",              # its.py ValueError
    "spec-latin-1",             # spec.py UnicodeDecodeError
    "xlsx-broken-zip",          # io.py BadZipFile
    "its-all-treated",          # LinAlgError / a fit on no comparison series
    "one-practice",             # plots/effects.py formatting None
    "out-read-only",            # PermissionError
])
def test_finding_4_one_line_and_exit_2(case_id, tmp_path, capsys, readonly_dir):
    """Each used to end in a traceback; now one ``evalkit: error:`` line with a fix."""
    code, err, _ = run(BY_ID[case_id], tmp_path, capsys, readonly_dir)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("evalkit: error: ") and "Fix:" in err


def test_finding_4_synthetic_control_without_placebos_runs(tmp_path, capsys):
    """``placebos: false`` gave an effect without an interval, which the effects figure
    could not format; now the run completes and the figure says 'no interval'."""
    code, err, places = run(BY_ID["synth-without-placebos"], tmp_path, capsys)
    assert code == 0, err
    alt = (tmp_path / "out" / "figures" / "alt-text.json").read_text()
    assert "no interval" in alt or "not estimated" in alt


@pytest.mark.parametrize("value", [[1, 2, 3], pd.Series([1.0, 2.0]),
                                   pd.DataFrame({"a": [1]}).to_numpy()])
def test_finding_4_api_refuses_a_list_or_an_array(value):
    """``ek.its([1, 2, 3], ...)`` failed with an AttributeError deep inside."""
    import evalkit as ek

    with pytest.raises(DataError, match="expects a pandas DataFrame"):
        ek.its(value, outcome="y", time="month", start="2019-07")
    with pytest.raises(DataError, match="expects a pandas DataFrame"):
        ek.prepost(value, outcome="y", time="month", start="2019-07")


# Finding 5: bad values accepted silently (exit 0, nothing in run.log).
@pytest.mark.parametrize("case_id, kind", [
    ("outcome-inf", DataError),
    ("list-size-inf", DataError),
    ("list-size-n/a", DataError),
    ("paired-yes-please", SpecError),
    ("outcome-three-times-list-size", DataError),
    ("per-zero", SpecError),
])
def test_finding_5_bad_values_are_refused(case_id, kind, tmp_path, capsys):
    """Each used to exit 0; now exit 2 naming the file and the column or option (and, in
    Python, the matching kind of EvalkitError)."""
    from evalkit.evaluation.pipeline import run_spec

    case = BY_ID[case_id]
    code, err, places = run(case, tmp_path, capsys)
    assert code == 2 and err.startswith("evalkit: error: ")
    for word in case.says:
        assert word in err
    with pytest.raises(kind):
        run_spec(places["spec"])


def test_finding_5_an_allowed_problem_is_a_named_warning_in_run_log_and_report(tmp_path,
                                                                               capsys):
    """A blank outcome is allowed (the row is left out), but named: in run.log, with the
    count and the rows, and in the report's data section."""
    from evalkit.report.context import load_report

    code, err, places = run(BY_ID["outcome-blank"], tmp_path, capsys)
    assert code == 0, err
    log = (tmp_path / "out" / "run.log").read_text()
    line = next(x for x in log.splitlines() if x.startswith("data warning [missing_values]"))
    assert "emergency_admissions" in line and "row 5" in line and "1 missing value" in line
    section = load_report("tiny-scheme", spec=places["spec"]).data_markdown()
    assert "missing\\_values" in section and "row 5" in section


# Finding 7: a "billion laughs" spec ran for minutes in gigabytes, then succeeded.
def test_finding_7_billion_laughs_is_refused_before_it_is_built(tmp_path):
    """Nine levels of nine aliases (9**10 strings) are refused by counting nodes."""
    from evalkit.evaluation.spec import load_spec

    places = materialise(BY_ID["spec-billion-laughs"], tmp_path, tmp_path)
    assert "&l9 [*l8, *l8" in Path(places["spec"]).read_text(encoding="utf-8")
    with pytest.raises(SpecError, match="aliases expand to more than"):
        load_spec(places["spec"])


def test_finding_7_a_spec_over_1_mb_is_refused_unread(tmp_path):
    from evalkit.evaluation.spec import load_spec

    path = tmp_path / "spec.yaml"
    path.write_text("scheme: x\n#" + "x" * 1_000_001 + "\n", encoding="utf-8")
    with pytest.raises(SpecError, match="bytes, more than"):
        load_spec(path)


def test_aliases_within_the_bound_still_work(tmp_path):
    """An ordinary alias (a second analysis reusing the first's options) is still fine."""
    from evalkit.evaluation.spec import load_spec

    def second_analysis(spec: dict) -> None:
        spec["analyses"].append({**spec["analyses"][0], "outcomes": ["bed_days"]})

    places = materialise(Case("aliases", "ok", spec=second_analysis), tmp_path, tmp_path)
    text = Path(places["spec"]).read_text(encoding="utf-8")
    assert "&id001" in text and "*id001" in text  # PyYAML wrote the shared options as one
    spec = load_spec(places["spec"])
    assert [a.options["unit"] for a in spec.analyses] == ["practice", "practice"]


# Finding 10 (part): a CSV row with extra fields gave a two-line message.
def test_finding_10_extra_csv_fields_give_one_line(tmp_path, capsys):
    code, err, _ = run(BY_ID["csv-extra-fields"], tmp_path, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "line 4" in err


def test_every_evalkit_error_is_one_line():
    """Messages quoted from other libraries may hold line breaks; the error never does."""
    err = DesignError("first line\nsecond line\n", file="a.csv", fix="do\nthis")
    assert "\n" not in str(err) and "first line second line" in str(err)
    assert isinstance(err, EvalkitError)


def test_a_failed_run_changes_nothing(tmp_path, capsys):
    """(Framework self-check) the snapshot sees a changed file."""
    places = materialise(Case("x", "ok"), tmp_path, tmp_path)
    before = snapshot(tmp_path)
    (tmp_path / "tiny-scheme" / "panel.csv").write_text("changed")
    assert snapshot(tmp_path) != before and places


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, capsys,
                                                                     monkeypatch):
    """OSError (here: no space left while writing results.json) is one line, exit 2, and
    the half-built output folder is removed."""
    import errno

    from evalkit.evaluation.pipeline import Evaluation

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.json"))

    monkeypatch.setattr(Evaluation, "results_json", full)
    code, err, places = run(Case("full", "error"), tmp_path, capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert err == (f"evalkit: error: {tmp_path / 'x.json'}: No space left on device. Fix: "
                   "free some disk space, or write elsewhere with --out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out-*"))
