"""The synthetic records hold the hard cases, and aggregating them recovers the truth exactly.

The truth is counted by the generator from the practice and age each event was generated
with (numpy bincounts), not by aggregating the files, so agreement tests the attribution,
list-size, age and period logic of the SQL and of the pandas reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.data.contract import check_panel
from evalkit.records import aggregate, generate_records, reference_aggregate

from conftest import SYNTHETIC


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("records") / "synthetic"
    return generate_records(folder, patients=4000, practices=5, months=24, seed=11)


def _read(gen, table):
    return pd.read_parquet(gen.folder / f"{table}.parquet")


def _dates(values):
    return pd.to_datetime(values)


def test_the_data_hold_the_hard_cases(generated):
    reg = _read(generated, "registrations").sort_values(["patient_id", "start_date"])
    pairs = reg[reg.duplicated("patient_id", keep=False)]
    first = pairs.groupby("patient_id").nth(0).set_index("patient_id")
    second = pairs.groupby("patient_id").nth(1).set_index("patient_id")
    end1, start2 = _dates(first["end_date"]), _dates(second["start_date"])
    assert (first["practice"] != second["practice"]).all()      # moves change practice
    assert (end1 == start2).sum() > 10                           # one-day overlaps
    assert (end1 + pd.Timedelta(days=1) == start2).sum() > 10    # clean moves
    assert (end1 + pd.Timedelta(days=1) < start2).sum() > 10     # gaps
    deaths = _dates(_read(generated, "deaths")["date_of_death"])
    assert (deaths.dt.day == 15).sum() > 5 and (deaths.dt.day == 14).sum() > 2
    pats = _read(generated, "patients").set_index("patient_id")
    dob = _dates(pats["date_of_birth"])
    assert ((dob.dt.month == 2) & (dob.dt.day == 29)).sum() >= 3
    cons = _read(generated, "consultations")
    day = _dates(cons["consultation_date"])
    assert day.dt.is_month_start.mean() > 0.03 and day.dt.is_month_end.mean() > 0.03
    born = dob.reindex(cons["patient_id"]).to_numpy()
    born = pd.Series(pd.to_datetime(born))
    birthday = (born.dt.month.to_numpy() == day.dt.month.to_numpy()) & (
        born.dt.day.to_numpy() == day.dt.day.to_numpy())
    age = day.dt.year.to_numpy() - born.dt.year.to_numpy()
    assert (birthday & np.isin(age, [18, 65, 75, 85])).sum() > 0  # band boundaries
    assert sum(generated.unattributed[k] for k in generated.unattributed
               if k.startswith("table:")) > 0


def test_duckdb_recovers_the_truth_exactly(generated):
    res = aggregate(generated.spec)
    pd.testing.assert_frame_equal(res.panel, generated.truth)
    lost = res.report.unattributed
    for row in lost.itertuples(index=False):
        key = row.measure or f"table:{row.table}"
        if key in generated.unattributed:
            assert row.value == generated.unattributed[key], key
    assert set(lost["table"]) >= {"admissions", "ae_attendances", "consultations"}


def test_reference_recovers_the_truth_exactly(generated):
    pd.testing.assert_frame_equal(reference_aggregate(generated.spec).panel, generated.truth)


def test_duckdb_and_reference_agree_on_patient_level_tables(generated):
    res = aggregate(generated.spec)
    ref = reference_aggregate(generated.spec)
    for name in ("consultations", "patient_costs"):
        pd.testing.assert_frame_equal(res.tables[name], ref.tables[name], check_dtype=False)
    costs = res.tables["patient_costs"]
    # Cost = activity x unit cost, added up by hand from the spec's unit costs.
    units = generated.spec.measure("patient_costs").unit_costs
    by_hand = sum(costs[k].astype(float) * v for k, v in units.items())
    np.testing.assert_allclose(costs["cost"], by_hand, rtol=0, atol=1e-9)
    assert set(costs["year"]) == {2019, 2020}  # financial years 2019/20 and 2020/21
    # Every consultation in the period and in a registration is passed through.
    assert len(res.tables["consultations"]) == res.panel["gp_consultations"].sum()


def test_truth_panel_meets_the_contract(generated):
    counts = {c: "poisson" for c in generated.truth.columns[2:]
              if not c.endswith("_share")}
    report = check_panel(generated.truth, unit="practice", time="month", outcomes=counts,
                         denominator="list_size")
    assert report.ok, str(report)


def test_seeded_and_sized(tmp_path):
    a = generate_records(tmp_path / "a", patients=1500, seed=4, months=12)
    b = generate_records(tmp_path / "b", patients=1500, seed=4, months=12)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(_read(a, "admissions"), _read(b, "admissions"))
    c = generate_records(tmp_path / "c", patients=1500, seed=5, months=12)
    assert not a.truth.equals(c.truth)
    sized = generate_records(tmp_path / "d", patients=2000, events=60_000, months=12, seed=1)
    assert abs(sized.events / 60_000 - 1) < 0.1


def test_chunking_does_not_change_the_truth_of_a_chunk_aligned_run(tmp_path):
    # Chunks draw from their own seeds: the files differ, but each run is self-consistent.
    g = generate_records(tmp_path / "chunked", patients=3000, chunk=1000, seed=2, months=12)
    assert len(_read(g, "patients")) == 3000
    assert _read(g, "admissions")["event_id"].is_unique
    pd.testing.assert_frame_equal(aggregate(g.spec).panel, g.truth)


def test_csv_records_recover_the_truth(tmp_path):
    g = generate_records(tmp_path / "csv", patients=2000, seed=8, months=14, start="2019-12",
                         census_day=1, file_format="csv")
    pd.testing.assert_frame_equal(aggregate(g.spec).panel, g.truth)


CASE = SYNTHETIC / "virtual-wards"


def test_records_follow_a_case_study(tmp_path):
    # The generator follows the virtual-wards case study's practice-month rates: its
    # practices and period, emergency admissions and A&E per list-size month, bed days per
    # admission. Aggregating the records still gives back their own truth exactly, and the
    # rates are the case study's: overall within 5% (40,000 people over 84 months give
    # about 45,000 admissions: a Poisson standard error near 0.5%), and practice by
    # practice correlated above 0.8 (the case study's practices differ by a factor of 2).
    case = pd.read_csv(CASE / "panel.csv")
    gen = generate_records(tmp_path / "like", patients=40_000, like=CASE, seed=4)
    panel = aggregate(gen.spec, progress=False).panel
    pd.testing.assert_frame_equal(panel, gen.truth)
    assert sorted(panel["practice"].unique()) == sorted(case["practice"].unique())
    assert (panel["month"].min(), panel["month"].max()) == (case["month"].min(),
                                                            case["month"].max())
    for col in ("emergency_admissions", "ae_attendances", "bed_days"):
        ratio = (panel[col].sum() / panel["list_size"].sum()) / (case[col].sum()
                                                                 / case["list_size"].sum())
        assert abs(ratio - 1) < 0.05, (col, ratio)
        mine = panel.groupby("practice")[col].sum() / panel.groupby("practice")["list_size"].sum()
        theirs = case.groupby("practice")[col].sum() / case.groupby("practice")["list_size"].sum()
        assert np.corrcoef(mine, theirs.reindex(mine.index))[0, 1] > 0.8, col


def test_a_case_study_without_rates_is_refused(tmp_path):
    from evalkit.errors import DesignError

    bad = pd.DataFrame({"practice": ["A"], "month": ["2020-01"], "list_size": [10]})
    with pytest.raises(DesignError, match="none of the rates"):
        generate_records(tmp_path / "x", patients=10, like=bad)
    with pytest.raises(DesignError, match="no list_size"):
        generate_records(tmp_path / "x", patients=10, like=bad.drop(columns="list_size"))
