"""Costing: unit costs, inflation, discounting, scheme and resource-use costs.

Every expected value is hand arithmetic written out in the test (sources: HM Treasury
Green Book 2022 and NICE PMG36 for discounting, ``PV = C / (1 + r) ** t`` with the first
year undiscounted; PSSRU Unit Costs for ``wte x salary x (1 + on-costs) x (1 +
overheads)``). Tolerance: 1e-9 relative (floating-point rounding only).
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

from evalkit.economics import (
    discount,
    discount_factors,
    financial_year,
    inflate,
    inflation_index,
    load_unit_costs,
    resource_costs,
    scheme_costs,
    unit_costs,
)
from evalkit.errors import DataError, DesignError

REL = 1e-9


# --------------------------------------------------------------------------- discounting


def test_discount_one_amount_in_year_three():
    out = discount([0, 0, 0, 1000.0])
    assert out[3] == pytest.approx(1000 / 1.035**3, rel=REL)
    assert discount([0, 0, 0, 1000.0], timing="end")[3] == pytest.approx(1000 / 1.035**4,
                                                                          rel=REL)
    assert discount([0, 0, 0, 1000.0], timing="mid")[3] == pytest.approx(1000 / 1.035**3.5,
                                                                          rel=REL)


def test_discount_stream_and_sensitivity_rates():
    stream = [100.0, 100.0, 100.0]
    assert discount(stream).sum() == pytest.approx(100 + 100 / 1.035 + 100 / 1.035**2, rel=REL)
    assert discount(stream, 0.015).sum() == pytest.approx(
        100 + 100 / 1.015 + 100 / 1.015**2, rel=REL)
    assert discount(stream, 0.0).sum() == pytest.approx(300.0, rel=REL)
    # A stream starting in year 2 of the appraisal.
    assert discount(stream, start_year=2).sum() == pytest.approx(
        100 / 1.035**2 + 100 / 1.035**3 + 100 / 1.035**4, rel=REL)
    assert discount(500.0, start_year=1) == pytest.approx(500 / 1.035, rel=REL)


def test_discount_keeps_a_series_index():
    s = pd.Series([10.0, 10.0], index=["2024/25", "2025/26"], name="cost")
    out = discount(s)
    assert list(out.index) == ["2024/25", "2025/26"] and out.name == "cost"
    assert out.iloc[1] == pytest.approx(10 / 1.035, rel=REL)


def test_discount_factors_are_the_green_book_table():
    # Green Book: D_t = 1 / (1 + 0.035) ** t, year 0 = 1.
    assert discount_factors(4).tolist() == pytest.approx(
        [1.0, 1 / 1.035, 1 / 1.035**2, 1 / 1.035**3], rel=REL)


@pytest.mark.parametrize("rate", [-0.01, 3.5, "3.5%", True])
def test_discount_refuses_a_bad_rate(rate):
    with pytest.raises(DesignError, match="discount rate"):
        discount([1.0], rate)


def test_discount_refuses_unknown_timing_with_a_hint():
    with pytest.raises(DesignError, match="did you mean 'end'"):
        discount([1.0], timing="ends")


def test_discount_refuses_missing_amounts():
    with pytest.raises(DataError, match="missing"):
        discount([1.0, np.nan])


# --------------------------------------------------------------------------- unit costs


def test_packaged_files_are_package_data():
    pkg = files("evalkit.economics")
    assert pkg.joinpath("unit_costs.csv").is_file()
    assert pkg.joinpath("inflation_index.csv").is_file()


def test_unit_costs_table_is_complete_single_year_and_marked_illustrative():
    table = unit_costs()
    assert list(table.columns) == ["activity", "unit", "cost_gbp", "price_year", "source",
                                   "note"]
    needed = {"gp_consultation", "nurse_consultation", "ae_attendance",
              "nonelective_admission", "bed_day", "outpatient_attendance",
              "community_contact", "social_care_hour"}
    assert needed <= set(table["activity"])
    assert (table["cost_gbp"] > 0).all()
    assert set(table["price_year"]) == {"2022/23"}
    assert table["note"].str.contains("ILLUSTRATIVE").all()
    assert table["note"].str.contains("not a quotation").all()
    assert table["source"].str.contains("PSSRU|National Cost Collection").all()
    assert table.attrs["illustrative"] is True and table.attrs["version"]


def test_unit_costs_in_another_price_year_use_the_index():
    base = unit_costs().set_index("activity")["cost_gbp"]
    later = unit_costs(price_year="2023/24").set_index("activity")["cost_gbp"]
    # Packaged NHSCII: 2022/23 = 119.2, 2023/24 = 124.6.
    assert later["gp_consultation"] == pytest.approx(base["gp_consultation"] * 124.6 / 119.2,
                                                     rel=REL)


def test_unknown_version_is_refused():
    with pytest.raises(DataError, match="did you mean 'default'"):
        unit_costs("defualt")


def test_inflation_index_covers_2015_16_to_2024_25_and_compounds():
    idx = inflation_index()
    assert idx.index[0] == "2015/16" and idx.index[-1] == "2024/25" and len(idx) == 10
    assert idx["2015/16"] == 100.0 and idx.is_monotonic_increasing
    assert idx.attrs["illustrative"] is True
    assert "NHS Cost Inflation Index" in idx.attrs["source"]
    raw = pd.read_csv(files("evalkit.economics").joinpath("inflation_index.csv"))
    # Each year's value is the previous (rounded) value times (1 + change), to 0.1.
    for prev, cur, pct in zip(raw["index"][:-1], raw["index"][1:],
                              raw["annual_change_pct"][1:], strict=True):
        assert cur == pytest.approx(round(prev * (1 + pct / 100), 1), abs=1e-9)


def test_inflate_by_hand():
    # Packaged index: 2021/22 = 113.0, 2022/23 = 119.2.
    assert inflate(100.0, "2021/22", "2022/23") == pytest.approx(100 * 119.2 / 113.0, rel=REL)
    assert inflate(100.0, "2022-23", "2021/2022") == pytest.approx(100 * 113.0 / 119.2, rel=REL)
    mine = pd.Series({"2020/21": 50.0, "2021/22": 60.0})
    assert inflate(10.0, "2020/21", "2021/22", index=mine) == pytest.approx(12.0, rel=REL)
    frame = pd.DataFrame({"financial_year": ["2020/21", "2021/22"], "index": [50.0, 60.0]})
    out = inflate(np.array([10.0, 20.0]), "2020/21", "2021/22", index=frame)
    assert out.tolist() == pytest.approx([12.0, 24.0], rel=REL)
    s = inflate(pd.Series([10.0], index=["a"]), "2020/21", "2021/22", index=mine)
    assert isinstance(s, pd.Series) and s["a"] == pytest.approx(12.0)


def test_inflate_outside_the_index_names_its_range():
    with pytest.raises(DataError, match="2015/16 to 2024/25"):
        inflate(1.0, "2010/11", "2022/23")


@pytest.mark.parametrize("year", [2022, "2022", "2022/24", "22/23"])
def test_ambiguous_or_malformed_years_are_refused(year):
    with pytest.raises(DataError, match="not a financial year"):
        financial_year(year)


def test_financial_year_normalises():
    assert financial_year("FY2022-2023") == "2022/23"
    assert financial_year("1999/00") == "1999/00"


# --------------------------------------------------------------------------- user tables


def _write(tmp_path, text):
    path = tmp_path / "costs.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_unit_costs_reads_a_valid_table(tmp_path):
    path = _write(tmp_path, "activity,cost_gbp,price_year\ngp_consultation,41,2021/22\n"
                            "bed_day,390,2021/22\n")
    table = load_unit_costs(path)
    assert table.attrs["price_year"] == "2021/22"
    assert table.set_index("activity")["cost_gbp"]["bed_day"] == 390.0


def test_load_unit_costs_refuses_missing_columns(tmp_path):
    path = _write(tmp_path, "activity,cost,price_year\ngp_consultation,41,2021/22\n")
    with pytest.raises(DataError, match="cost_gbp") as err:
        load_unit_costs(path)
    assert err.value.column == "cost_gbp"


def test_load_unit_costs_refuses_non_positive_costs_naming_rows(tmp_path):
    path = _write(tmp_path, "activity,cost_gbp,price_year\na,41,2021/22\nb,-5,2021/22\n"
                            "c,0,2021/22\n")
    with pytest.raises(DataError, match="zero or negative") as err:
        load_unit_costs(path)
    assert list(err.value.rows) == [3, 4]


def test_load_unit_costs_refuses_non_numeric_costs_naming_rows(tmp_path):
    path = _write(tmp_path, "activity,cost_gbp,price_year\na,£41,2021/22\nb,5,2021/22\n")
    with pytest.raises(DataError, match="not a number") as err:
        load_unit_costs(path)
    assert list(err.value.rows) == [2]


def test_load_unit_costs_refuses_duplicates(tmp_path):
    path = _write(tmp_path, "activity,cost_gbp,price_year\na,41,2021/22\na,5,2021/22\n")
    with pytest.raises(DataError, match="more than once") as err:
        load_unit_costs(path)
    assert list(err.value.rows) == [2, 3]


def test_mixed_price_years_need_an_index_and_name_the_odd_rows(tmp_path):
    path = _write(tmp_path, "activity,cost_gbp,price_year\na,40,2021/22\nb,50,2021/22\n"
                            "c,100,2022/23\n")
    with pytest.raises(DataError, match="mixes price years") as err:
        load_unit_costs(path)
    assert list(err.value.rows) == [4]
    table = load_unit_costs(path, index={"2021/22": 100.0, "2022/23": 110.0}).set_index(
        "activity")
    # Converted to the latest year: 40 * 110 / 100.
    assert table.loc["a", "cost_gbp"] == pytest.approx(44.0, rel=REL)
    assert table.loc["a", "cost_gbp_original"] == 40.0
    assert table.loc["c", "cost_gbp"] == pytest.approx(100.0, rel=REL)
    assert set(table["price_year"]) == {"2022/23"}


def test_a_bad_price_year_names_its_row(tmp_path):
    path = _write(tmp_path, "activity,cost_gbp,price_year\na,40,2021/22\nb,50,2022\n")
    with pytest.raises(DataError, match="not a financial year") as err:
        load_unit_costs(path)
    assert list(err.value.rows) == [3]


# --------------------------------------------------------------------------- scheme costs


def _staff() -> pd.DataFrame:
    return pd.DataFrame({
        "role": ["nurse", "manager", "set-up: IT"], "band": ["6", "8a", ""],
        "wte": [2.0, 0.5, 0.0], "annual_salary": [40000.0, 60000.0, 10000.0],
        "oncost_rate": [0.25, 0.30, 0.0], "overhead_rate": [0.20, 0.15, 0.0],
        "cost_type": ["recurrent", "recurrent", "setup"]})


def test_scheme_cost_arithmetic_by_hand():
    res = scheme_costs(_staff(), years=3, price_year="2022/23")
    nurse = 2 * 40000 * 1.25 * 1.20     # 120,000
    manager = 0.5 * 60000 * 1.30 * 1.15  # 44,850
    annual = nurse + manager
    assert res.lines["annual_cost"].tolist() == pytest.approx([nurse, manager, 10000.0],
                                                              rel=REL)
    assert res.lines["basis"].tolist() == ["staff", "staff", "item"]
    assert res.annual_recurrent == pytest.approx(164850.0, rel=REL)
    assert res.setup == pytest.approx(10000.0, rel=REL)
    assert res.total_undiscounted == pytest.approx(10000 + 3 * annual, rel=REL)
    assert res.total_discounted == pytest.approx(
        10000 + annual * (1 + 1 / 1.035 + 1 / 1.035**2), rel=REL)
    assert res.sensitivity[0.015] == pytest.approx(
        10000 + annual * (1 + 1 / 1.015 + 1 / 1.015**2), rel=REL)
    assert res.sensitivity[0.0] == pytest.approx(10000 + 3 * annual, rel=REL)
    assert res.by_year["discounted"].sum() == pytest.approx(res.total_discounted, rel=REL)
    assert res.price_year == "2022/23" and not res.warnings


def test_scheme_costs_end_of_year_timing_discounts_every_recurrent_year():
    res = scheme_costs(_staff(), years=2, timing="end")
    assert res.total_discounted == pytest.approx(
        10000 + 164850 * (1 / 1.035 + 1 / 1.035**2), rel=REL)
    assert any("price year" in w for w in res.warnings)


def test_scheme_costs_of_a_synthetic_case_study(root):
    table = pd.read_csv(root / "data" / "synthetic" / "federation-mdt" / "scheme_costs.csv")
    res = scheme_costs(table, years=1, price_year="2022/23")
    # 0.5*110k + 1.2*57k + 4.8*41k + 1.8*41k + 1.2*48k + 2.4*27k = 516,400; x 1.28 x 1.15.
    assert res.annual_recurrent == pytest.approx(516400 * 1.28 * 1.15, rel=REL)
    assert res.setup == pytest.approx(72000.0, rel=REL)
    assert res.total_discounted == pytest.approx(516400 * 1.28 * 1.15 + 72000, rel=REL)
    assert "Scheme costs" in res.summary() and res.to_dict()["years"] == 1


def test_scheme_costs_refuse_percentages_naming_rows():
    bad = _staff().assign(oncost_rate=[25.0, 0.3, 0.0])
    with pytest.raises(DataError, match="percentage") as err:
        scheme_costs(bad)
    assert list(err.value.rows) == [2] and err.value.column == "oncost_rate"


def test_scheme_costs_refuse_missing_wte_and_unknown_types():
    with pytest.raises(DataError, match="missing or not a number") as err:
        scheme_costs(_staff().assign(wte=[2.0, np.nan, 0.0]))
    assert list(err.value.rows) == [3]
    with pytest.raises(DataError, match="unknown cost type 'monthly'") as err:
        scheme_costs(_staff().assign(cost_type=["recurrent", "monthly", "setup"]))
    assert list(err.value.rows) == [3]
    with pytest.raises(DataError, match="overhead_rate"):
        scheme_costs(_staff().drop(columns="overhead_rate"))
    with pytest.raises(DataError, match="negative") as err:
        scheme_costs(_staff().assign(annual_salary=[-1.0, 60000.0, 1.0]))
    assert list(err.value.rows) == [2]


# --------------------------------------------------------------------------- resource use


def test_resource_costs_by_hand_with_plurals_and_mapping():
    use = pd.DataFrame({"pid": ["a", "b"], "gp_consultations": [3, 0], "bed_days": [0, 4],
                        "dn_visits": [2, 1]})
    prices = {"gp_consultation": 40.0, "bed_day": 300.0, "community_contact": 50.0}
    out = resource_costs(use, unit_costs=prices, mapping={"dn_visits": "community_contact"},
                         id_cols=["pid"])
    assert out["gp_consultations_cost"].tolist() == [120.0, 0.0]
    assert out["bed_days_cost"].tolist() == [0.0, 1200.0]
    assert out["total_cost"].tolist() == pytest.approx([3 * 40 + 2 * 50, 4 * 300 + 1 * 50])
    assert out.attrs["unit_costs_used"]["dn_visits"] == ["community_contact", 50.0]


def test_resource_costs_of_synthetic_patients_with_packaged_costs(root):
    pc = pd.read_csv(root / "data" / "synthetic" / "federation-mdt" / "patient_costs.csv")
    out = resource_costs(pc, id_cols=["patient_id", "practice", "enrolled", "year", "cost",
                                      "qaly"])
    price = unit_costs().set_index("activity")["cost_gbp"]
    row = pc.iloc[0]
    expected = (row.gp_consultations * price["gp_consultation"]
                + row.ae_attendances * price["ae_attendance"]
                + row.nonelective_admissions * price["nonelective_admission"]
                + row.community_contacts * price["community_contact"]
                + row.bed_days * price["bed_day"]
                + row.social_care_hours * price["social_care_hour"])
    assert out["total_cost"].iloc[0] == pytest.approx(expected, rel=REL)
    assert out.attrs["illustrative"] is True and out.attrs["price_year"] == "2022/23"


def test_resource_costs_name_every_uncosted_column():
    use = pd.DataFrame({"pid": ["a"], "gp_consultations": [1], "year": [1], "xray": [1]})
    with pytest.raises(DataError, match="'year'.*'xray'") as err:
        resource_costs(use, id_cols=["pid"])
    assert "id_cols" in err.value.fix


def test_resource_costs_refuse_negative_counts_unless_savings():
    use = pd.DataFrame({"bed_days": [1, -2, 3]})
    with pytest.raises(DataError, match="negative count") as err:
        resource_costs(use, unit_costs={"bed_day": 300.0})
    assert list(err.value.rows) == [3]
    out = resource_costs(use, unit_costs={"bed_day": 300.0}, savings=["bed_days"])
    assert out["total_cost"].tolist() == [300.0, -600.0, 900.0]


def test_resource_costs_refuse_negative_unit_costs_unless_savings():
    use = pd.DataFrame({"bed_days": [1]})
    with pytest.raises(DataError, match="negative"):
        resource_costs(use, unit_costs={"bed_day": -300.0})
    out = resource_costs(use, unit_costs={"bed_day": -300.0}, savings=["bed_days"])
    assert out["total_cost"].tolist() == [-300.0]


def test_resource_costs_refuse_missing_counts_naming_rows():
    use = pd.DataFrame({"bed_days": [1, None, "x"]})
    with pytest.raises(DataError, match="missing or not a number") as err:
        resource_costs(use, unit_costs={"bed_day": 300.0})
    assert list(err.value.rows) == [3, 4]
