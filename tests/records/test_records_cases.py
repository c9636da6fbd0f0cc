"""A small set of records whose panel was worked out by hand, on every engine.

Seven patients, two practices, January to March 2020, list sizes on the 15th. Every
expected number below was counted by hand from the table in :func:`write_case` (the
reasoning is in the comments beside each patient and event); none was produced by evalkit.
``tests/records/test_records_spark.py`` runs the same case on Spark.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from evalkit.data.contract import check_panel
from evalkit.records import aggregate, records_spec, reference_aggregate

REGISTRATIONS = [
    # patient, practice, start, end (inclusive; blank = still registered)
    ("A", "P1", "2019-06-01", None),          # P1 all three months
    ("B", "P1", "2019-01-01", "2020-02-14"),  # P1 in Jan; left the day before Feb's census
    ("B", "P2", "2020-02-15", None),          # P2 from Feb's census day
    ("C", "P1", "2020-01-16", None),          # joined after Jan's census: P1 Feb, Mar
    ("D", "P2", "2018-01-01", "2020-02-15"),  # ends on Feb's census day: P2 Jan, Feb
    ("E", "P2", "2018-01-01", None),          # died 14 Feb: P2 Jan only
    ("F", "P2", "2018-01-01", None),          # died 15 Feb (census day): P2 Jan, Feb
    ("G", "P1", "2018-01-01", "2020-03-15"),  # overlaps the next by one day ...
    ("G", "P2", "2020-03-15", None),          # ... which takes over: P1 Jan, Feb; P2 Mar
]
PATIENTS = [("A", "1955-02-15", 0), ("B", "2002-03-15", 0), ("C", "1990-01-01", 1),
            ("D", "1950-01-01", 1), ("E", "1940-05-05", 0), ("F", "2010-07-07", 0),
            ("G", "1952-06-01", 1)]
DEATHS = [("E", "2020-02-14", "home"), ("F", "2020-02-15", "hospital")]
AE = [
    # event, patient, date: where it goes (age band with bands 0, 18, 65)
    (1, "A", "2020-02-14"),   # P1 Feb, 64 the day before the 65th birthday: 18-64
    (2, "A", "2020-02-15"),   # P1 Feb, 65th birthday: 65+
    (3, "B", "2020-03-14"),   # P2 Mar, 17: 0-17
    (4, "B", "2020-03-15"),   # P2 Mar, 18th birthday: 18-64
    (5, "B", "2020-02-14"),   # P1 Feb (last day at P1), 17: 0-17
    (6, "G", "2020-03-15"),   # P2 Mar (the overlap day goes to the later registration), 67
    (7, "G", "2020-03-14"),   # P1 Mar, 67
    (8, "C", "2020-01-10"),   # before C registered: in no registration
    (9, "E", "2020-01-31"),   # P2 Jan (last day of the month), 79
    (10, "D", "2020-01-01"),  # P2 Jan (first day of the month), 70
    (11, "D", "2020-02-16"),  # the day after D's registration ended: in no registration
    (12, "A", "2019-12-31"),  # before the period: ignored
    (13, "A", "2020-04-01"),  # after the period: ignored
]
ADMISSIONS = [
    # event, patient, admitted, discharged, method
    (1, "A", "2020-01-31", "2020-02-03", "emergency"),  # P1 Jan, 3 bed days, aged 64
    (2, "G", "2020-03-01", "2020-03-03", "elective"),   # not an emergency
    (3, "B", "2020-03-15", "2020-03-15", "emergency"),  # P2 Mar, 0 bed days
    (4, "A", "2020-02-28", "2020-03-01", "emergency"),  # P1 Feb, 2 bed days (29 Feb 2020),
                                                        # aged 65
]

MEASURES = {
    "list_size": {"kind": "list_size"},
    "list_size_65plus": {"kind": "list_size", "cohort": "older"},
    "emergency_admissions": {"kind": "count", "table": "admissions",
                             "where": {"admission_method": "emergency"}},
    "emergency_admissions_65plus": {"kind": "count", "table": "admissions",
                                    "where": {"admission_method": "emergency"},
                                    "cohort": "older"},
    "bed_days": {"kind": "sum", "table": "admissions",
                 "where": {"admission_method": "emergency"},
                 "days_between": ["admission_date", "discharge_date"]},
    "ae_attendances": {"kind": "count", "table": "ae", "by_age_band": True},
    "ae_frail": {"kind": "count", "table": "ae", "cohort": "frail"},
    "deaths": {"kind": "count", "table": "deaths"},
    "deaths_at_home": {"kind": "count", "table": "deaths", "where": {"place_of_death": "home"}},
    "deaths_at_home_share": {"kind": "share", "numerator": "deaths_at_home",
                             "denominator": "deaths"},
}

#: The panel, counted by hand from the tables above (P1 then P2; January, February, March).
EXPECTED = {
    # P1 Jan: A, B, G; Feb: A, C, G; Mar: A, C. P2 Jan: D, E, F; Feb: B, D, F; Mar: B, G.
    "list_size": [3, 3, 2, 3, 3, 2],
    # 65 or over on the 15th: A from 15 Feb 2020, G (67) while at P1, D (70), E (79).
    # P1 Jan: G; Feb: A, G; Mar: A. P2 Jan: D, E; Feb: D; Mar: G.
    "list_size_65plus": [1, 2, 1, 2, 1, 1],
    "emergency_admissions": [1, 1, 0, 0, 0, 1],
    "emergency_admissions_65plus": [0, 1, 0, 0, 0, 0],  # A on 28 Feb, after turning 65
    "bed_days": [3, 2, 0, 0, 0, 0],
    "ae_attendances": [0, 3, 1, 2, 0, 3],
    "ae_attendances_age_0_17": [0, 1, 0, 0, 0, 1],
    "ae_attendances_age_18_64": [0, 1, 0, 0, 0, 1],
    "ae_attendances_age_65_plus": [0, 1, 1, 2, 0, 1],
    "ae_attendances_age_unknown": [0, 0, 0, 0, 0, 0],
    # frail: C, D, G. Their attributed A&E: G on 14 Mar (P1 Mar), G on 15 Mar (P2 Mar),
    # D on 1 Jan (P2 Jan).
    "ae_frail": [0, 0, 1, 1, 0, 1],
    "deaths": [0, 0, 0, 0, 2, 0],
    "deaths_at_home": [0, 0, 0, 0, 1, 0],
    "deaths_at_home_share": [np.nan, np.nan, np.nan, np.nan, 0.5, np.nan],
}


def _frame(rows, columns) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def write_case(folder, file_format: str = "csv") -> dict:
    """Write the case's tables and return its spec (as a mapping)."""
    tables = {
        "registrations": _frame(REGISTRATIONS, ["patient_id", "practice", "start_date",
                                                "end_date"]),
        "patients": _frame(PATIENTS, ["patient_id", "date_of_birth", "frail"]),
        "deaths": _frame(DEATHS, ["patient_id", "date_of_death", "place_of_death"]),
        "ae": _frame(AE, ["event_id", "patient_id", "arrival_date"]),
        "admissions": _frame(ADMISSIONS, ["event_id", "patient_id", "admission_date",
                                          "discharge_date", "admission_method"]),
    }
    paths = {}
    for name, frame in tables.items():
        path = folder / f"{name}.{file_format}"
        if file_format == "csv":
            frame.to_csv(path, index=False)
        else:
            for col in frame.columns:
                if col.endswith("_date") or col.startswith("date_"):
                    frame[col] = pd.to_datetime(frame[col]).dt.date
            frame.to_parquet(path, index=False)
        paths[name] = path
    return {
        "period": ["2020-01", "2020-03"],
        "age_bands": [0, 18, 65],
        "tables": {"registrations": {"path": str(paths["registrations"])},
                   "patients": {"path": str(paths["patients"])},
                   "deaths": {"path": str(paths["deaths"])},
                   "ae": {"path": str(paths["ae"]), "date": "arrival_date"},
                   "admissions": {"path": str(paths["admissions"]),
                                  "date": "admission_date"}},
        "cohorts": {"older": {"min_age": 65}, "frail": {"patients": {"frail": 1}}},
        "measures": copy.deepcopy(MEASURES),
    }


def check_expected(panel: pd.DataFrame) -> None:
    """Assert the hand-counted panel, exactly."""
    assert panel["practice"].tolist() == ["P1"] * 3 + ["P2"] * 3
    assert panel["month"].tolist() == ["2020-01", "2020-02", "2020-03"] * 2
    for col, values in EXPECTED.items():
        if col == "deaths_at_home_share":
            np.testing.assert_array_equal(panel[col].to_numpy(dtype=float), values)
        else:
            assert pd.api.types.is_integer_dtype(panel[col]), col
            assert panel[col].tolist() == values, col


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_hand_counted_panel_duckdb(tmp_path, file_format):
    res = aggregate(write_case(tmp_path, file_format))
    check_expected(res.panel)
    lost = res.report.unattributed
    row = lost[(lost["table"] == "ae") & (lost["measure"] == "")].iloc[0]
    assert row["value"] == 2  # events 8 and 11
    assert row["examples"] == "C on 2020-01-10, D on 2020-02-16"
    assert res.report.ok


def test_patients_beyond_the_slots_are_joined_by_date(tmp_path, monkeypatch):
    # With one slot, B and G (two registrations each) go through evalkit_many and its
    # range join instead of the one-row-per-patient lookup: the same hand-counted panel.
    import evalkit.records.sql as sql

    monkeypatch.setattr(sql, "SLOT_LIMIT", 1)
    res = aggregate(write_case(tmp_path, "parquet"))
    assert sql.MANY_VIEW in res.plan.sql()
    check_expected(res.panel)
    lost = res.report.unattributed
    row = lost[(lost["table"] == "ae") & (lost["measure"] == "")].iloc[0]
    assert row["value"] == 2 and row["examples"] == "C on 2020-01-10, D on 2020-02-16"


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_hand_counted_panel_reference(tmp_path, file_format):
    check_expected(reference_aggregate(records_spec(write_case(tmp_path, file_format))).panel)


def test_panel_meets_the_data_contract(tmp_path):
    panel = aggregate(write_case(tmp_path)).panel
    counts = {c: "poisson" for c in EXPECTED if c != "deaths_at_home_share"}
    report = check_panel(panel, unit="practice", time="month", outcomes=counts,
                         denominator="list_size")
    assert report.ok, str(report)


def test_census_day_moves_the_list_size(tmp_path):
    # On the 14th: B is still at P1 in February, E (died on the 14th) counts, D too;
    # C (joined the 16th of January) is not on January's list either way.
    case = write_case(tmp_path)
    case["census_day"] = 14
    case["measures"] = {"list_size": {"kind": "list_size"}}
    panel = aggregate(case).panel
    # P1 Jan: A, B, G; Feb: A, B, C, G; Mar: A, C, G (G's P1 spell ends on 15 Mar).
    # P2 Jan: D, E, F; Feb: D, E, F; Mar: B.
    assert panel["list_size"].tolist() == [3, 4, 3, 3, 3, 1]


def test_list_size_by_age_band(tmp_path):
    case = write_case(tmp_path)
    case["measures"] = {"list_size": {"kind": "list_size", "by_age_band": True}}
    panel = aggregate(case).panel
    ref = reference_aggregate(records_spec(case)).panel
    pd.testing.assert_frame_equal(panel, ref)
    # By hand, P1 Feb (A 65 from 15 Feb, C 30, G 67): 0-17: 0, 18-64: 1, 65+: 2.
    row = panel[(panel["practice"] == "P1") & (panel["month"] == "2020-02")].iloc[0]
    assert (row["list_size_age_0_17"], row["list_size_age_18_64"],
            row["list_size_age_65_plus"]) == (0, 1, 2)
    bands = [c for c in panel if c.startswith("list_size_age_")]
    assert (panel[bands].sum(axis=1) == panel["list_size"]).all()


def test_patients_missing_from_the_patients_table_have_unknown_age(tmp_path):
    case = write_case(tmp_path)
    pats = pd.read_csv(case["tables"]["patients"]["path"])
    pats[pats["patient_id"] != "A"].to_csv(case["tables"]["patients"]["path"], index=False)
    res = aggregate(case)
    assert "patients_missing" in [p.code for p in res.report.problems]
    # A's two February attendances at P1 move to 'unknown'.
    row = res.panel[(res.panel["practice"] == "P1") & (res.panel["month"] == "2020-02")]
    assert int(row["ae_attendances_age_unknown"].iloc[0]) == 2
    assert int(row["ae_attendances"].iloc[0]) == 3
    ref = reference_aggregate(records_spec(case)).panel
    pd.testing.assert_frame_equal(res.panel, ref)


def test_yaml_spec_command_and_result(tmp_path, capsys):
    import yaml

    from evalkit.records import aggregate_command, load_records_spec

    case = write_case(tmp_path)
    spec_path = tmp_path / "records.yaml"
    spec_path.write_text(yaml.safe_dump({"records": case}, sort_keys=False), encoding="utf-8")
    spec = load_records_spec(spec_path)
    assert spec.panel_columns[:3] == ("practice", "month", "list_size")
    out = tmp_path / "out" / "panel.csv"
    assert aggregate_command(spec_path, out=out, progress=True) == 0
    printed = capsys.readouterr().out
    assert "NOTE: ae: 2 event(s) in no registration" in printed
    assert "Wrote" in printed and "2 practices x 3 months" in printed
    written = pd.read_csv(out)
    assert written["list_size"].tolist() == EXPECTED["list_size"]
    res = aggregate(spec)
    assert "6 rows, 2 practices x 3 months" in res.summary()
    assert res.to_frame().equals(res.panel) and res.to_frame() is not res.panel
    assert set(res.plot_data()) == {"panel", "unattributed"}
    assert "evalkit_reg" in res.plan.sql()
