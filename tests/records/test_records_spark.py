"""Spark (local mode) runs the same SQL strings as DuckDB and gives the same panels.

Skipped, with the reason, where PySpark or a Java runtime is missing.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from test_records_cases import check_expected, write_case
from test_records_sql import (
    AGES,
    age_query,
    birthday_query,
    birthdays_hold,
    day_pairs,
    days_query,
)

from evalkit.records import aggregate, generate_records, reference_aggregate, spark_available
from evalkit.records.engines import DuckDBEngine, SparkEngine

OK, WHY = spark_available()
pytestmark = [
    pytest.mark.skipif(not OK, reason=f"Spark tests need PySpark and Java: {WHY}"),
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("evalkit-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


class Recording:
    """An engine wrapper that keeps every SQL string it is given."""

    def __init__(self, engine):
        self.engine = engine
        self.name = engine.name
        self.sql: list[str] = []

    def register(self, table, source):
        self.engine.register(table, source)

    def columns(self, table):
        return self.engine.columns(table)

    def keep(self, name, sql):
        self.sql.append(sql)
        self.engine.keep(name, sql)

    def query(self, sql):
        self.sql.append(sql)
        return self.engine.query(sql)

    def close(self):
        self.engine.close()


def test_sql_pieces_on_spark(spark):
    eng = SparkEngine(spark=spark)
    try:
        assert eng.query(age_query())["age"].tolist() == [a for *_, a in AGES]
        pairs = day_pairs()
        assert eng.query(days_query(pairs))["days"].tolist() == [(b - a).days
                                                                 for a, b in pairs]
        assert birthdays_hold(eng.query(birthday_query())) == [True] * len(AGES)
    finally:
        eng.close()
    # The engine put back the session's settings it changed.
    assert spark.conf.get("spark.sql.ansi.doubleQuotedIdentifiers", "false") == "false"


def test_hand_counted_panel_on_spark(spark, tmp_path):
    res = aggregate(write_case(tmp_path, "csv"), engine="spark", spark=spark)
    assert res.engine == "spark"
    check_expected(res.panel)
    lost = res.report.unattributed
    row = lost[(lost["table"] == "ae") & (lost["measure"] == "")].iloc[0]
    assert row["examples"] == "C on 2020-01-10, D on 2020-02-16"


def test_spark_duckdb_and_pandas_agree_on_generated_records(spark, tmp_path):
    gen = generate_records(tmp_path / "records", patients=2500, practices=4, months=18,
                           seed=21)
    duck = Recording(DuckDBEngine(memory_limit="1GB", threads=2))
    sprk = Recording(SparkEngine(spark=spark))
    try:
        on_duck = aggregate(gen.spec, engine=duck)
        on_spark = aggregate(gen.spec, engine=sprk)
        # The same files have the same column kinds on both engines ...
        for table in gen.spec.tables:
            assert duck.engine.columns(table) == sprk.engine.columns(table), table
    finally:
        duck.close()
        sprk.close()
    ref = reference_aggregate(gen.spec)
    # ... and one set of SQL strings is run unchanged by both.
    assert on_duck.plan.sql() == on_spark.plan.sql()
    # The one exception: copies of identifiers, which DuckDB counts with a bitmap when
    # they are whole numbers (Spark, with no bitmap aggregate, counts distinct values).
    assert any("bitstring_agg(" in q for q in duck.sql)
    assert _portable(duck.sql) == _portable(sprk.sql)
    # Identical panels, exact integer equality for counts, and equal to the truth.
    pd.testing.assert_frame_equal(on_spark.panel, on_duck.panel)
    pd.testing.assert_frame_equal(on_spark.panel, ref.panel)
    pd.testing.assert_frame_equal(on_spark.panel, gen.truth)
    for name in ("consultations", "patient_costs"):
        pd.testing.assert_frame_equal(on_spark.tables[name], on_duck.tables[name],
                                      check_dtype=False)
    pd.testing.assert_frame_equal(on_spark.report.unattributed, on_duck.report.unattributed)


#: The queries of the identifiers' copy count (checks.py, ``_Checker.extra_ids``).
ID_COPIES = re.compile(r'SELECT (COUNT\(s\."[^"]+"\) AS n, MIN\(|CAST\(bit_count\(bitstring_agg\(|'
                       r'CAST\(COUNT\(s\."[^"]+"\) - COUNT\(DISTINCT )')


def _portable(queries: list[str]) -> list[str]:
    return [q for q in queries if not ID_COPIES.match(q)]


def test_patients_beyond_the_slots_on_spark(spark, tmp_path, monkeypatch):
    # Registrations beyond the one-row-per-patient slots take the range join (and the
    # practice codes, the birthdays and the UNION ALL) on Spark too: still the truth.
    import evalkit.records.sql as sql

    monkeypatch.setattr(sql, "SLOT_LIMIT", 1)
    gen = generate_records(tmp_path / "records", patients=800, practices=3, months=12,
                           seed=5)
    res = aggregate(gen.spec, engine="spark", spark=spark)
    assert sql.MANY_VIEW in res.plan.sql()
    pd.testing.assert_frame_equal(res.panel, gen.truth)


def test_a_spark_dataframe_can_be_a_table(spark, tmp_path):
    case = write_case(tmp_path, "parquet")
    path = case["tables"]["ae"].pop("path")
    case["tables"]["ae"]["frame"] = spark.read.parquet(path)
    res = aggregate(case, engine="spark", spark=spark)
    assert res.panel["ae_attendances"].tolist() == [0, 3, 1, 2, 0, 3]
