"""Bad input: each refusal names the file, the column, a count, examples and a fix."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_records_cases import write_case

from evalkit.errors import DataError, DesignError, SpecError
from evalkit.records import RecordsError, aggregate, aggregate_command, records_spec
from evalkit.records.aggregate import write_outputs


def _edit(case: dict, table: str, change) -> None:
    path = case["tables"][table]["path"]
    frame = pd.read_csv(path, dtype=str)
    change(frame).to_csv(path, index=False)


def _codes(err: RecordsError) -> list[str]:
    return [p.code for p in err.problems if p.severity == "error"]


def test_malformed_dates_are_counted_with_examples(tmp_path):
    case = write_case(tmp_path)

    def bad(frame):
        frame.loc[0, "arrival_date"] = "2020-13-01"   # no 13th month
        frame.loc[1, "arrival_date"] = "15/02/2020"   # not ISO
        frame.loc[2, "arrival_date"] = "2020-2-30"    # not YYYY-MM-DD, and no 30 February
        return frame

    _edit(case, "ae", bad)
    with pytest.raises(RecordsError) as info:
        aggregate(case)
    err = info.value
    assert isinstance(err, DataError)
    assert _codes(err) == ["bad_date"]
    assert err.column == "arrival_date" and err.file.endswith("ae.csv")
    assert "3 date(s) cannot be read" in err.message
    assert "'15/02/2020'" in err.message and "'2020-13-01'" in err.message
    assert "YYYY-MM-DD" in err.fix


def test_missing_event_dates_are_refused(tmp_path):
    case = write_case(tmp_path)
    _edit(case, "ae", lambda f: f.assign(arrival_date=f["arrival_date"].where(
        f.index != 4)))
    with pytest.raises(RecordsError) as info:
        aggregate(case)
    assert _codes(info.value) == ["missing_date"]
    assert "1 row(s) have no date" in info.value.message


def test_missing_column_suggests_the_nearest(tmp_path):
    case = write_case(tmp_path)
    _edit(case, "ae", lambda f: f.rename(columns={"arrival_date": "arrival_dt"}))
    with pytest.raises(RecordsError) as info:
        aggregate(case)
    err = info.value
    assert _codes(err) == ["missing_column"]
    assert "did you mean 'arrival_dt'" in err.fix


def test_renamed_columns_are_mapped(tmp_path):
    case = write_case(tmp_path)
    _edit(case, "registrations", lambda f: f.rename(columns={"patient_id": "person",
                                                              "start_date": "from"}))
    case["tables"]["registrations"]["columns"] = {"patient_id": "person", "start_date": "from"}
    res = aggregate(case)
    assert res.panel["list_size"].tolist() == [3, 3, 2, 3, 3, 2]


def test_unknown_practice_codes_against_the_practice_list(tmp_path):
    case = write_case(tmp_path)
    pd.DataFrame({"practice": ["P1", "P3"]}).to_csv(tmp_path / "practices.csv", index=False)
    case["tables"]["practices"] = {"path": str(tmp_path / "practices.csv")}
    with pytest.raises(RecordsError) as info:
        aggregate(case)
    err = info.value
    assert _codes(err) == ["unknown_practice"]
    # P2 is on five registration rows: B's second, D, E, F and G's second.
    assert "1 practice code(s) on 5 row(s) are not in the practice list, e.g. 'P2'" \
        in err.message


def test_practice_list_adds_practices_without_patients(tmp_path):
    case = write_case(tmp_path)
    pd.DataFrame({"practice": ["P1", "P2", "P3"]}).to_csv(tmp_path / "practices.csv",
                                                          index=False)
    case["tables"]["practices"] = {"path": str(tmp_path / "practices.csv")}
    panel = aggregate(case).panel
    assert sorted(panel["practice"].unique()) == ["P1", "P2", "P3"]
    assert panel.loc[panel["practice"] == "P3", "list_size"].tolist() == [0, 0, 0]


def test_unknown_practice_codes_on_events(tmp_path):
    case = write_case(tmp_path)
    _edit(case, "ae", lambda f: f.assign(site=["P1"] * 12 + ["X9"]))
    case["tables"]["ae"]["practice"] = "site"
    with pytest.raises(RecordsError) as info:
        aggregate(case)
    assert "1 practice code(s) on 1 row(s) are not in the registrations, e.g. 'X9'" \
        in info.value.message


def test_duplicated_event_ids(tmp_path):
    case = write_case(tmp_path)
    _edit(case, "ae", lambda f: f.assign(event_id=["1", "1", "1", "2", "2"] + list(
        f["event_id"][5:])))
    with pytest.raises(RecordsError) as info:
        aggregate(case)
    err = info.value
    assert _codes(err) == ["duplicate_id"]
    # The first five rows now carry ids 1, 1, 1, 2, 2: two ids, on five rows.
    assert "2 event identifier(s) appear more than once (5 rows), e.g. '1', '2'" \
        in err.message


def _parquet_ids(case: dict, table: str, ids) -> None:
    path = case["tables"][table]["path"]
    frame = pd.read_parquet(path)
    frame["event_id"] = pd.array(list(ids) + list(frame["event_id"][len(ids):]),
                                 dtype="Int64")
    frame.to_parquet(path, index=False)


@pytest.mark.parametrize("ids, ids_text", [
    ([-7, -7, -7, 2, 2, None, None], "-7, 2"),       # NULLs are not identifiers
    ([10**15, 10**15, 10**15, 2, 2], "2, 1000000000000000"),  # too wide for a bitmap
])
def test_duplicated_whole_number_ids_in_parquet(tmp_path, ids, ids_text):
    case = write_case(tmp_path, "parquet")
    _parquet_ids(case, "ae", ids)
    with pytest.raises(RecordsError) as info:
        aggregate(case)
    assert _codes(info.value) == ["duplicate_id"]
    assert f"2 event identifier(s) appear more than once (5 rows), e.g. {ids_text}" \
        in info.value.message


def test_whole_number_ids_are_not_hashed_one_by_one(tmp_path):
    """On DuckDB, copies of whole-number ids are counted with a bitmap of their range:
    no check counts distinct event ids (a hash of every event) when there are no copies.
    (The case's patient ids are text, which are still counted so.)"""
    from evalkit.records.checks import check_records
    from evalkit.records.engines import DuckDBEngine
    from evalkit.records.measures import records_spec

    case = write_case(tmp_path, "parquet")
    spec = records_spec(case)
    seen: list[str] = []
    with DuckDBEngine(memory_limit="1GB", threads=1) as eng:
        for name, src in spec.tables.items():
            eng.register(name, src)
        query = eng.query
        eng.query = lambda sql: seen.append(sql) or query(sql)
        assert check_records(spec, eng) == []
    assert [q for q in seen if 'bitstring_agg(s."event_id"' in q]
    assert not [q for q in seen if 'COUNT(DISTINCT s."event_id")' in q]


def test_patients_listed_twice(tmp_path):
    case = write_case(tmp_path)
    _edit(case, "patients", lambda f: pd.concat([f, f.iloc[[0]]]))
    with pytest.raises(RecordsError) as info:
        aggregate(case)
    assert "1 patient identifier(s) appear more than once" in info.value.message


def test_registration_ending_before_it_starts(tmp_path):
    case = write_case(tmp_path)

    def flip(frame):
        frame.loc[1, ["start_date", "end_date"]] = ["2020-02-14", "2019-01-01"]
        return frame

    _edit(case, "registrations", flip)
    with pytest.raises(RecordsError) as info:
        aggregate(case)
    assert _codes(info.value) == ["registration_backwards"]
    assert "1 registration(s) end before they start, e.g. patient(s) 'B'" in info.value.message


def test_stay_ending_before_it_starts(tmp_path):
    case = write_case(tmp_path)

    def flip(frame):
        frame.loc[0, "discharge_date"] = "2020-01-30"
        return frame

    _edit(case, "admissions", flip)
    with pytest.raises(RecordsError) as info:
        aggregate(case)
    assert _codes(info.value) == ["negative_days"]


def test_every_problem_is_reported_at_once(tmp_path, capsys):
    case = write_case(tmp_path)
    _edit(case, "ae", lambda f: f.assign(event_id="7"))
    _edit(case, "patients", lambda f: pd.concat([f, f.iloc[[0]]]))
    spec_path = tmp_path / "records.yaml"
    import yaml

    spec_path.write_text(yaml.safe_dump(case), encoding="utf-8")
    assert aggregate_command(spec_path, out=tmp_path / "panel.parquet", progress=False) == 2
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(lines) == 2 and all(x.startswith("evalkit: ERROR") for x in lines)
    assert not (tmp_path / "panel.parquet").exists()


def test_overlapping_registrations_are_a_warning(tmp_path):
    case = write_case(tmp_path)

    def overlap(frame):
        frame.loc[7, "end_date"] = "2020-03-31"  # G's P1 spell now overlaps P2 by 17 days
        return frame

    _edit(case, "registrations", overlap)
    res = aggregate(case)
    codes = [(p.code, p.severity) for p in res.report.problems]
    assert ("registrations_overlap", "warning") in codes
    assert res.panel["list_size"].tolist() == [3, 3, 2, 3, 3, 2]  # the later one still wins


def test_failed_run_leaves_no_partial_panel(tmp_path):
    case = write_case(tmp_path)
    out = tmp_path / "out" / "panel.csv"
    aggregate(case, out=out)
    before = out.read_bytes()
    _edit(case, "ae", lambda f: f.assign(arrival_date="yesterday"))
    with pytest.raises(RecordsError):
        aggregate(case, out=out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == [".evalkit-manifest.json",
                                                            "panel.csv", "panel_report.json"]


def test_write_failure_midway_replaces_nothing(tmp_path, monkeypatch):
    case = write_case(tmp_path)
    case["measures"] = dict(case["measures"], ae_events={"kind": "events", "table": "ae"})
    out = tmp_path / "panel.parquet"
    res = aggregate(case, out=out)
    assert (tmp_path / "panel_ae_events.parquet").exists()
    report = json.loads((tmp_path / "panel_report.json").read_text())
    assert report["tables"] == {"ae_events": 9}  # 13 rows, 2 outside the period, 2 lost
    stamp = {p.name: p.read_bytes() for p in tmp_path.glob("panel*")}
    calls = {"n": 0}
    original = pd.DataFrame.to_parquet

    def flaky(self, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", flaky)
    with pytest.raises(OSError):
        write_outputs(res, out)
    assert {p.name: p.read_bytes() for p in tmp_path.glob("panel*")} == stamp
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_file(tmp_path):
    case = write_case(tmp_path)
    case["tables"]["ae"]["path"] = str(tmp_path / "nowhere.csv")
    with pytest.raises(DataError, match="file not found"):
        aggregate(case)


def test_bad_options(tmp_path):
    case = write_case(tmp_path)
    with pytest.raises(DesignError, match="not a size"):
        aggregate(case, memory_limit="lots")
    with pytest.raises(DesignError, match="unknown engine"):
        aggregate(case, engine="oracle")
    with pytest.raises(DesignError, match="cannot write"):
        aggregate(case, out=tmp_path / "panel.xlsx")


@pytest.mark.parametrize(("change", "match"), [
    (lambda c: c["measures"].update(x={"kind": "cuont", "table": "ae"}),
     "did you mean 'count'"),
    (lambda c: c["measures"].update(x={"kind": "count", "tabel": "ae"}),
     "did you mean 'table'"),
    (lambda c: c["measures"].update(x={"kind": "count", "table": "aes"}),
     "did you mean 'ae'"),
    (lambda c: c["measures"].update(x={"kind": "share", "numerator": "deaths",
                                       "denominator": "nothing"}),
     "denominator 'nothing' is not a count"),
    (lambda c: c["measures"].update(x={"kind": "count", "table": "ae", "cohort": "olde"}),
     "did you mean 'older'"),
    (lambda c: c["measures"].update(x={"kind": "sum", "table": "admissions"}),
     "needs one of 'value'"),
    (lambda c: c["measures"].update(x={"kind": "list_size", "table": "ae"}),
     "cannot take 'table'"),
    (lambda c: c["measures"].update(Bad={"kind": "list_size"}), "lower-case"),
    (lambda c: c["measures"].update(x={"kind": "patient_cost",
                                       "unit_costs": {"deaths_at_home_share": 1}}),
     "not a count or sum"),
    (lambda c: c["tables"].pop("patients"), "no 'patients' table"),
    (lambda c: c.update(period=["2020-03", "2020-01"]), "starts"),
    (lambda c: c.update(period=["2020-3", "2020-05"]), "YYYY-MM"),
    (lambda c: c.update(census_day=31), "census_day"),
    (lambda c: c.update(age_bands=[0, 65, 18]), "increasing"),
    (lambda c: c.update(colour="blue"), "unknown key 'colour'"),
    (lambda c: c["tables"].pop("registrations"), "no 'registrations'"),
])
def test_spec_errors(tmp_path, change, match):
    case = write_case(tmp_path)
    change(case)
    with pytest.raises(SpecError, match=match) as info:
        records_spec(case)
    assert info.value.fix


def test_evalkit_aggregate_command_writes_the_panel_and_refuses_bad_specs(tmp_path, capsys):
    """`evalkit aggregate SPEC` through the CLI: the panel equals the generator's truth in
    its counts; a broken spec is one readable line per problem and exit code 2."""
    import pandas as pd

    from evalkit.cli import main
    from evalkit.records import generate_records

    gen = generate_records(tmp_path / "records", patients=600, months=6, seed=3)
    out = tmp_path / "panel.parquet"
    assert main(["--quiet", "aggregate", str(gen.folder / "records.yaml"),
                 "--out", str(out)]) == 0
    panel = pd.read_parquet(out).sort_values(["practice", "month"]).reset_index(drop=True)
    truth = gen.truth.sort_values(["practice", "month"]).reset_index(drop=True)
    for col in ("list_size", "emergency_admissions"):
        assert panel[col].astype(int).tolist() == truth[col].astype(int).tolist()
    bad = tmp_path / "bad.yaml"
    bad.write_text((gen.folder / "records.yaml").read_text().replace("kind: count",
                                                                     "kind: cuont", 1))
    capsys.readouterr()
    assert main(["--quiet", "aggregate", str(bad), "--out", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err
    assert "cuont" in err and "Traceback" not in err
    assert not (tmp_path / "x.parquet").exists()
