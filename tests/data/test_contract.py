"""The data contract: one test per kind of bad input, each with a clear message."""

from __future__ import annotations

import pandas as pd
import pytest

import evalkit as ek
from evalkit.data.contract import check_panel
from evalkit.errors import DataError

ARGS = dict(unit="practice", time="month", outcomes={"admissions": "poisson"},
            denominator="list_size", treated="treated")


def codes(report):
    return {p.code for p in report.errors}


def test_clean_panel_passes(panel):
    report = check_panel(panel, start="2019-01", min_pre_periods=12, needs_comparison=True,
                         **ARGS)
    assert report.ok, str(report)


def test_misspelled_column_suggests_nearest(panel):
    bad = panel.rename(columns={"admissions": "admisions"})
    report = check_panel(bad, **ARGS)
    assert codes(report) == {"missing_column"}
    problem = report.errors[0]
    assert problem.column == "admissions" and "did you mean 'admisions'" in problem.fix


def test_wrong_type_names_rows_and_values(panel):
    bad = panel.astype({"admissions": object})
    bad.loc[[3, 7], "admissions"] = "<5"
    report = check_panel(bad, **ARGS)
    problem = report.errors[0]
    assert problem.code == "wrong_type" and problem.rows == (5, 9) and "'<5'" in problem.message


def test_duplicate_unit_period_rows(panel):
    bad = pd.concat([panel, panel.iloc[[0]]], ignore_index=True)
    report = check_panel(bad, **ARGS)
    assert "duplicate_rows" in codes(report)
    assert report.errors[0].rows == (2, len(bad) + 1)


def test_gap_in_time_series(panel):
    bad = panel.drop(index=5)
    report = check_panel(bad, **ARGS)
    assert codes(report) == {"time_gaps"}
    assert "P000 lacks 2018-06" in report.errors[0].message


def test_negative_counts(panel):
    bad = panel.copy()
    bad.loc[10, "admissions"] = -3
    report = check_panel(bad, **ARGS)
    assert codes(report) == {"negative_count"} and report.errors[0].rows == (12,)


def test_zero_denominator(panel):
    bad = panel.copy()
    bad.loc[4, "list_size"] = 0
    report = check_panel(bad, **ARGS)
    assert codes(report) == {"zero_denominator"} and report.errors[0].column == "list_size"


def test_start_outside_data(panel):
    report = check_panel(panel, start="2025-01", **ARGS)
    assert codes(report) == {"start_outside_data"}
    assert "2025-01" in report.errors[0].message and "2018-01" in report.errors[0].message


def test_too_few_pre_periods(panel):
    report = check_panel(panel, start="2018-06", min_pre_periods=12, **ARGS)
    assert codes(report) == {"too_few_pre_periods"}
    assert "only 5 period(s)" in report.errors[0].message


def test_no_comparison_units(panel):
    report = check_panel(panel.assign(treated=1), needs_comparison=True, **ARGS)
    assert codes(report) == {"no_comparison_units"}


def test_treatment_switches_off_and_on(panel):
    bad = panel.copy()
    rows = bad.index[(bad["practice"] == "P000") & (bad["month"] == "2018-05")]
    bad.loc[rows, "treated"] = 0
    report = check_panel(bad, **ARGS)
    assert codes(report) == {"treatment_reverses"}
    assert "P000" in report.errors[0].message and report.errors[0].rows == (6,)


def test_unreadable_periods(panel):
    bad = panel.copy()
    bad.loc[2, "month"] = "March"
    report = check_panel(bad, **ARGS)
    assert codes(report) == {"bad_time"} and report.errors[0].rows == (4,)


def test_design_raises_first_error_as_one_line(panel):
    bad = panel.copy()
    bad.loc[10, "admissions"] = -3
    with pytest.raises(DataError) as info:
        ek.prepost(bad, outcome="admissions", time="month", start="2019-01", unit="practice",
                   family="poisson", denominator="list_size")
    text = str(info.value)
    assert "\n" not in text and "row 12" in text and "Fix:" in text


def test_read_reports_missing_and_unknown_files(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        ek.read(tmp_path / "nope.csv")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(DataError, match="cannot read files of type"):
        ek.read(tmp_path / "x.txt")


@pytest.mark.parametrize("suffix", ["csv", "parquet", "xlsx"])
def test_read_formats_round_trip(tmp_path, panel, suffix):
    path = tmp_path / f"panel.{suffix}"
    {"csv": lambda p: panel.to_csv(p, index=False),
     "parquet": lambda p: panel.to_parquet(p, index=False),
     "xlsx": lambda p: panel.to_excel(p, index=False)}[suffix](path)
    back = ek.read(path)
    assert back.shape == panel.shape and back["admissions"].sum() == panel["admissions"].sum()


def test_check_applies_the_did_designs_needs(tmp_path):
    """`evalkit check` checks a staggered DiD's cohort column and its counts as counts."""
    import shutil

    from evalkit.report.batch import project_root

    folder = tmp_path / "federation-mdt"
    shutil.copytree(project_root() / "data" / "synthetic" / "federation-mdt", folder)
    panel = pd.read_csv(folder / "panel.csv")
    panel.drop(columns="cohort").to_csv(folder / "panel.csv", index=False)
    problems = [p for r in ek.check(folder) for p in r.problems]
    assert any(p.code == "missing_column" and p.column == "cohort" for p in problems)
    panel.loc[3, "emergency_admissions"] = -2
    panel.to_csv(folder / "panel.csv", index=False)
    problems = [p for r in ek.check(folder) for p in r.problems]
    assert any(p.code == "negative_count" and p.column == "emergency_admissions"
               for p in problems)
