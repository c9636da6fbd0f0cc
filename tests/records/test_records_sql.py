"""The portable SQL pieces, checked on DuckDB against Python's own date arithmetic.

``tests/records/test_records_spark.py`` runs the same strings on Spark.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from test_records_cases import write_case

from evalkit.records import compile_plan, records_spec
from evalkit.records.engines import DuckDBEngine
from evalkit.records.sql import age_sql, birthday_sql, date_literal, day_number_sql, literal

#: (date of birth, date, age in completed years), worked out by hand.
AGES = [
    ("2000-02-29", "2018-02-28", 17),  # no 29 February in 2018: still 17 on the 28th
    ("2000-02-29", "2018-03-01", 18),  # ... and 18 on 1 March
    ("2000-02-29", "2020-02-29", 20),
    ("2000-02-29", "2020-02-28", 19),
    ("1955-02-15", "2020-02-14", 64),
    ("1955-02-15", "2020-02-15", 65),
    ("2000-12-31", "2001-12-30", 0),
    ("2000-12-31", "2001-12-31", 1),
    ("1900-01-01", "2000-01-01", 100),
]


def age_query() -> str:
    rows = ", ".join(f"({date_literal(_d(b))}, {date_literal(_d(a))}, {k})"
                     for k, (b, a, _) in enumerate(AGES))
    return (f"SELECT k, {age_sql('t.a', 't.b')} AS age FROM (VALUES {rows}) AS t(b, a, k) "
            "ORDER BY k")


def _d(text: str):
    import pandas as pd

    return pd.Timestamp(text)


def day_pairs(n: int = 200, seed: int = 3) -> list[tuple[dt.date, dt.date]]:
    rng = np.random.default_rng(seed)
    base = dt.date(1899, 12, 1).toordinal()
    days = rng.integers(0, 80_000, (n, 2))  # 1899 to about 2119: 1900 and 2100 not leap
    out = [(dt.date.fromordinal(base + int(a)), dt.date.fromordinal(base + int(b)))
           for a, b in days]
    out += [(dt.date(2020, 2, 28), dt.date(2020, 3, 1)), (dt.date(1900, 2, 28),
                                                          dt.date(1900, 3, 1)),
            (dt.date(1999, 12, 31), dt.date(2000, 1, 1))]
    return out


def days_query(pairs) -> str:
    rows = ", ".join(f"({k}, DATE '{a.isoformat()}', DATE '{b.isoformat()}')"
                     for k, (a, b) in enumerate(pairs))
    return (f"SELECT k, {day_number_sql('t.b')} - {day_number_sql('t.a')} AS days FROM "
            f"(VALUES {rows}) AS t(k, a, b) ORDER BY k")


def test_age_on_duckdb():
    with DuckDBEngine(memory_limit="512MB", threads=1) as eng:
        got = eng.query(age_query())["age"].tolist()
    assert got == [a for *_, a in AGES]


def birthday_query() -> str:
    """Whether each date of AGES is on or after the birthday of its age and before the next."""
    rows = ", ".join(f"({date_literal(_d(b))}, {date_literal(_d(a))}, {k})"
                     for k, (b, a, _) in enumerate(AGES))
    tests = ", ".join(
        f"CASE WHEN t.k = {k} THEN (t.a >= {birthday_sql('t.b', age)} AND t.a < "
        f"{birthday_sql('t.b', age + 1)}) END AS ok{k}" for k, (*_, age) in enumerate(AGES))
    return f"SELECT t.k, {tests} FROM (VALUES {rows}) AS t(b, a, k) ORDER BY t.k"


def birthdays_hold(frame) -> list[bool]:
    return [bool(frame[f"ok{k}"].iloc[k]) for k in range(len(AGES))]


def test_birthdays_on_duckdb():
    # The day a person completes A years, by the rule of age_sql (29 February birthdays
    # fall on 1 March in other years): each hand-worked age of AGES lies between two.
    with DuckDBEngine(memory_limit="512MB", threads=1) as eng:
        assert birthdays_hold(eng.query(birthday_query())) == [True] * len(AGES)
        # NULL in, NULL out; and the 29 February rule in both kinds of year.
        got = eng.query("SELECT " + birthday_sql("CAST(NULL AS DATE)", 5) + " AS x, "
                        + birthday_sql("DATE '2000-02-29'", 1) + " AS y, "
                        + birthday_sql("DATE '2000-02-29'", 4) + " AS z")
    assert got["x"].isna().all()
    assert str(got["y"].iloc[0])[:10] == "2001-03-01" and str(got["z"].iloc[0])[:10] == \
        "2004-02-29"


def test_days_between_on_duckdb():
    pairs = day_pairs()
    with DuckDBEngine(memory_limit="512MB", threads=1) as eng:
        got = eng.query(days_query(pairs))["days"].tolist()
    assert got == [(b - a).days for a, b in pairs]  # Python's own calendar


def test_literals():
    assert literal("O'Brien") == "'O''Brien'"
    assert literal(1, "string") == "'1'"           # CSV columns are text
    assert literal(True, "string") == "'true'"
    assert literal(1, "integer") == "1"
    assert literal(1.5) == "CAST(1.5 AS DOUBLE)"
    assert literal("1", "integer") == "1"
    assert literal(1, "boolean") == "TRUE"


def test_plan_uses_no_engine_specific_sql(tmp_path):
    spec = records_spec(write_case(tmp_path))
    # One interval form is common to both (checked on Spark by test_records_spark.py).
    text = compile_plan(spec).sql().lower().replace("- interval '1' day as date", "")
    for token in ("datediff", "date_diff", "::", "`", "ilike", "qualify", "arg_min",
                  "strftime", "interval", "unnest", "explode", "generate_series", "epoch",
                  "date_add", "//", "group by all", "date_trunc"):
        assert token not in text, token
    # Months come from the calendar join, not from each event's date.
    assert "join evalkit_cal as k on e.event_date = k.day" in text


def test_calendar_has_every_day_of_the_period_once(tmp_path):
    import duckdb

    from evalkit.records.sql import _Compiler

    spec = records_spec({"tables": {"registrations": "r.parquet"},
                         "period": ["2023-11", "2024-03"], "measures": {
                             "list_size": {"kind": "list_size"}}}, base=tmp_path)
    got = duckdb.connect().execute(_Compiler(spec, None).calendar_days().sql).df()
    days = pd.date_range("2023-11-01", "2024-03-31", freq="D")  # 2024 is a leap year
    assert sorted(pd.to_datetime(got["day"])) == list(days)
    assert got["period_month"].tolist() == [12 * d.year + d.month - 1 for d in
                                            pd.to_datetime(got["day"])]


@pytest.mark.parametrize("census_day", [1, 15, 28])
def test_list_size_census_day_against_reference(tmp_path, census_day):
    from evalkit.records import aggregate, reference_aggregate

    case = write_case(tmp_path)
    case["census_day"] = census_day
    case["measures"] = {"list_size": {"kind": "list_size", "by_age_band": True},
                        "list_size_65plus": {"kind": "list_size", "cohort": "older"}}
    got = aggregate(case).panel
    ref = reference_aggregate(records_spec(case)).panel
    assert got.equals(ref)


def test_engine_leaves_no_temporary_folder(tmp_path, monkeypatch):
    import tempfile

    import duckdb

    from evalkit.errors import DesignError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    run = tmp_path / "evalkit-run-1-00000000"  # the run's temporary folder (evalkit.files.run_temp)
    run.mkdir()
    monkeypatch.setenv("EVALKIT_RUN_DIR", str(run))
    tmp_path = run
    with DuckDBEngine(memory_limit="256MB", threads=1) as eng:
        assert eng.temp_directory.parent == tmp_path
    assert list(tmp_path.iterdir()) == []  # closed: removed
    with pytest.raises(DesignError, match="threads"):
        DuckDBEngine(threads=0)
    assert list(tmp_path.iterdir()) == []  # refused before making one

    def broken(*args, **kwargs):
        raise duckdb.IOException("no room")

    monkeypatch.setattr(duckdb, "connect", broken)
    with pytest.raises(duckdb.IOException):
        DuckDBEngine(threads=1)
    assert list(tmp_path.iterdir()) == []  # a failed start removes its folder
