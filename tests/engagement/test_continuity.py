"""Continuity of care: UPC, COC, SECON and MMCI against their defining formulas.

Definitions (checked by hand below and by a plain per-patient Python reference):

- UPC = n_max / n (Breslau & Reeb, 1975, J Med Educ 50:965-969);
- COC = (sum n_j^2 - n) / (n (n - 1)) (Bice & Boxerman, 1977, Med Care 15:347-349);
- SECON = (pairs of consecutive visits to the same provider) / (n - 1) (Steinwachs, 1979,
  Med Care 17:551-565);
- MMCI = (1 - P / (n + 0.1)) / (1 - 1 / (n + 0.1)) (Magill & Senf, 1987, J Fam Pract
  24:165-168), P the number of distinct providers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from evalkit.engagement.continuity import ContinuityResult, continuity
from evalkit.errors import DataError, DesignError


def _visits(providers, patient=1, start="2024-01-01", **extra) -> pd.DataFrame:
    dates = pd.date_range(start, periods=len(providers), freq="7D")
    return pd.DataFrame({"patient_id": patient, "clinician": list(providers),
                         "date": dates.strftime("%Y-%m-%d"), **extra})


def test_hand_computed_indices_for_visits_a_a_b_a_c():
    res = continuity(_visits("AABAC"))
    row = res.patients.iloc[0]
    # n = 5; visits to A, B, C: 3, 1, 1.
    assert row["n_visits"] == 5 and row["n_providers"] == 3
    assert row["upc"] == pytest.approx(3 / 5)                       # A seen 3 of 5 times
    assert row["coc"] == pytest.approx((9 + 1 + 1 - 5) / (5 * 4))  # = 6/20 = 0.3
    assert row["coc"] == pytest.approx(0.3)
    # consecutive pairs AA, AB, BA, AC: one of four with the same provider
    assert row["secon"] == pytest.approx(1 / 4)
    # MMCI = (1 - 3/5.1) / (1 - 1/5.1) = 2.1 / 4.1
    assert row["mmci"] == pytest.approx(2.1 / 4.1)
    assert row["usual_provider"] == "A"
    assert isinstance(res, ContinuityResult)


def test_extremes_one_provider_and_all_different():
    res = continuity(pd.concat([_visits("AAAA", patient=1), _visits("ABCD", patient=2)]))
    p = res.patients.set_index("patient")
    assert p.loc[1, ["upc", "coc", "secon", "mmci"]].tolist() == pytest.approx([1, 1, 1, 1])
    # all different: UPC 1/4, COC (4 - 4)/12 = 0, SECON 0, MMCI (1 - 4/4.1)/(1 - 1/4.1) = 0.1/3.1
    assert p.loc[2, ["upc", "coc", "secon"]].tolist() == pytest.approx([0.25, 0, 0])
    assert p.loc[2, "mmci"] == pytest.approx(0.1 / 3.1)


def test_visits_are_ordered_by_date_not_by_row():
    df = _visits("AABAC").iloc[[4, 2, 0, 3, 1]]  # shuffled rows, same dates
    assert continuity(df).patients.iloc[0]["secon"] == pytest.approx(1 / 4)
    # providers in date order B, A, A, C, A: pairs BA, AA, AC, CA -> 1/4; UPC, COC unchanged
    df = pd.DataFrame({"patient_id": 1, "clinician": list("AABAC"),
                       "date": ["2024-01-02", "2024-01-03", "2024-01-01", "2024-01-05",
                                "2024-01-04"]})
    row = continuity(df).patients.iloc[0]
    assert row["secon"] == pytest.approx(1 / 4)
    assert (row["upc"], row["coc"]) == pytest.approx((0.6, 0.3))
    df["date"] = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    df["clinician"] = list("ABABA")
    assert continuity(df).patients.iloc[0]["secon"] == 0


def test_same_day_visits_keep_their_row_order():
    # Same date for the first two visits. Rows A, B then B: order A, B, B -> SECON 1/2.
    # Rows B, A then B: order B, A, B -> SECON 0. UPC and COC do not depend on order.
    first = pd.DataFrame({"patient_id": 1, "clinician": ["A", "B", "B"],
                          "date": ["2024-03-01", "2024-03-01", "2024-03-08"]})
    second = first.iloc[[1, 0, 2]]
    a, b = continuity(first), continuity(second)
    assert a.patients.iloc[0]["secon"] == pytest.approx(0.5)
    assert b.patients.iloc[0]["secon"] == 0
    assert a.patients.iloc[0]["coc"] == b.patients.iloc[0]["coc"] == pytest.approx(
        (1 + 4 - 3) / 6)
    assert any("same date" in w for w in a.warnings)


def test_single_visit_patients_get_nan_and_are_counted():
    df = pd.concat([_visits("AABAC", patient=1), _visits("B", patient=2),
                    _visits("C", patient=3)])
    res = continuity(df)
    p = res.patients.set_index("patient")
    assert p.loc[2, "upc"] == 1 and np.isnan(p.loc[2, ["coc", "secon", "mmci"]]).all()
    assert not p.loc[2, "eligible"] and p.loc[1, "eligible"]
    assert res.n_excluded == 2
    g = res.groups.iloc[0]
    assert (g["group"], g["n_patients"], g["n_eligible"], g["n_excluded"]) == ("all", 3, 1, 2)
    # summaries are over eligible patients only
    assert g["upc_mean"] == pytest.approx(0.6) and g["coc_median"] == pytest.approx(0.3)
    assert "2 patient(s) with fewer than 2 visits" in res.summary()


def test_min_visits_three_excludes_two_visit_patients():
    df = pd.concat([_visits("AB", patient=1), _visits("AAB", patient=2)])
    p = continuity(df, min_visits=3).patients.set_index("patient")
    assert np.isnan(p.loc[1, "coc"]) and p.loc[2, "coc"] == pytest.approx((4 + 1 - 3) / 6)


def test_groups_compute_within_each_practice():
    df = pd.concat([_visits("AAB", patient=1, practice="P1"),
                    _visits("CC", patient=1, start="2024-06-01", practice="P2"),
                    _visits("DE", patient=2, practice="P2")])
    res = continuity(df, group="practice")
    p = res.patients.set_index(["group", "patient"])
    assert p.loc[("P1", 1), "n_visits"] == 3 and p.loc[("P2", 1), "n_visits"] == 2
    assert p.loc[("P2", 1), "coc"] == 1
    g = res.groups.set_index("group")
    assert g.loc["P2", "n_patients"] == 2
    assert g.loc["P2", "coc_mean"] == pytest.approx((1 + 0) / 2)


# --------------------------------------------------------------------------- reference


def _reference(visits: list[tuple[object, str]]) -> dict[str, float]:
    """Plain Python from the definitions; visits in date order."""
    providers = [p for _, p in visits]
    n = len(providers)
    counts: dict[str, int] = {}
    for p in providers:
        counts[p] = counts.get(p, 0) + 1
    out = {"n_visits": n, "n_providers": len(counts), "upc": max(counts.values()) / n}
    if n >= 2:
        out["coc"] = (sum(c * c for c in counts.values()) - n) / (n * (n - 1))
        out["secon"] = sum(providers[i] == providers[i + 1] for i in range(n - 1)) / (n - 1)
        out["mmci"] = (1 - len(counts) / (n + 0.1)) / (1 - 1 / (n + 0.1))
    else:
        out["coc"] = out["secon"] = out["mmci"] = float("nan")
    return out


def test_vectorised_indices_equal_a_plain_python_reference():
    rng = np.random.default_rng(3)
    rows = 4000
    df = pd.DataFrame({
        "pid": rng.integers(0, 600, rows),
        "gp": rng.choice(["Dr A", "Dr B", "Dr C", "Dr D", "Dr E", "Dr F"], rows,
                         p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05]),
        "seen": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 200, rows), "D"),
        "practice": rng.choice(["P1", "P2", "P3"], rows),
    })
    res = continuity(df, patient="pid", provider="gp", date="seen", group="practice")
    # reference: for each (practice, patient) sort by date then row order, then loop
    ref = {}
    for i, row in enumerate(df.itertuples(index=False)):
        ref.setdefault((row.practice, row.pid), []).append((row.seen, i, row.gp))
    got = res.patients.set_index(["group", "patient"])
    assert len(got) == len(ref)
    for key, visits in ref.items():
        visits.sort(key=lambda v: (v[0], v[1]))
        expected = _reference([(v[0], v[2]) for v in visits])
        row = got.loc[key]
        for name, value in expected.items():
            if np.isnan(value):
                assert np.isnan(row[name]), (key, name)
            else:
                assert row[name] == pytest.approx(value, rel=1e-12), (key, name)
    # group summaries: means and medians of the reference over eligible patients
    table = pd.DataFrame([{"group": k[0], **_reference(
        [(v[0], v[2]) for v in sorted(vs, key=lambda v: (v[0], v[1]))])}
        for k, vs in ref.items()])
    eligible = table[table["n_visits"] >= 2]
    g = res.groups.set_index("group")
    for grp, sub in eligible.groupby("group"):
        for name in ("upc", "coc", "secon", "mmci"):
            assert g.loc[grp, f"{name}_mean"] == pytest.approx(sub[name].mean(), rel=1e-12)
            assert g.loc[grp, f"{name}_median"] == pytest.approx(sub[name].median(), rel=1e-12)
        assert g.loc[grp, "n_patients"] == (table["group"] == grp).sum()


# --------------------------------------------------------------------------- dates


def test_dates_iso_uk_datetime_and_numeric():
    iso = pd.DataFrame({"patient_id": 1, "clinician": list("ABA"),
                        "date": ["2024-03-04", "2024-03-05 09:30", "2024-03-06"]})
    uk = iso.assign(date=["04/03/2024", "05/03/2024", "2024-03-06"])  # day first
    for df in (iso, uk, iso.assign(date=pd.to_datetime(iso["date"], format="ISO8601")),
               iso.assign(date=[10, 11, 12])):
        row = continuity(df).patients.iloc[0]
        assert row["secon"] == 0 and row["upc"] == pytest.approx(2 / 3)
    row = continuity(uk).patients.iloc[0]
    assert row["first_visit"] == pd.Timestamp("2024-03-04")  # 4 March, not 3 April


# --------------------------------------------------------------------------- refusals


def test_refuses_unparseable_dates_naming_rows():
    df = _visits("AABAC")
    df.loc[[1, 3], "date"] = ["2024-02-30", "next Tuesday"]
    with pytest.raises(DataError) as info:
        continuity(df, file="visits.csv")
    err = info.value
    assert err.column == "date" and list(err.rows) == [3, 5] and err.file == "visits.csv"
    assert "next Tuesday" in err.message


def test_refuses_missing_provider_patient_and_date():
    for column, row in (("clinician", 2), ("patient_id", 4), ("date", 6)):
        df = _visits("AABAC").astype({column: object})
        df.loc[row - 2, column] = None
        with pytest.raises(DataError) as info:
            continuity(df)
        assert info.value.column == column and list(info.value.rows) == [row]


def test_refuses_missing_columns_and_bad_options():
    with pytest.raises(DataError) as info:
        continuity(_visits("AB"), provider="gp")
    assert info.value.column == "gp" and "clinician" in info.value.fix
    with pytest.raises(DesignError):
        continuity(_visits("AB"), min_visits=1)
    with pytest.raises(DesignError):
        continuity(_visits("AB"), group="clinician")


def test_result_object():
    res = continuity(_visits("AABAC"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.min_visits = 3
    frame = res.to_frame()
    frame.loc[0, "upc"] = -1
    assert res.patients.loc[0, "upc"] == pytest.approx(0.6)
    assert set(res.plot_data()) == {"patients", "groups"}
    assert "UPC mean 0.600" in res.summary()
