"""Issue 26: a null finding says what the evaluation could have found.

Beside every page-1 effect whose 95% CI includes no effect, the summary states the
minimum detectable effect at 80% power and two-sided 5%, from the standard error the
analysis achieved (z 0.975 + z 0.80 standard errors; Bloom 1995).
"""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

import evalkit as ek
from evalkit.report.summary import evidence_summary

from conftest import SYNTHETIC


@pytest.fixture(scope="module")
def dementia():
    ev = ek.run_spec(SYNTHETIC / "dementia-service" / "spec.yaml")
    return ev, evidence_summary(ev).table


def test_a_null_ratio_finding_states_its_detectable_fall(dementia):
    ev, table = dementia
    row = table[table["outcome"] == "emergency_admissions"].iloc[0]
    eff = ev.effects
    recs = eff[(eff["outcome"] == row["outcome"]) & (eff["design"] == row["design"])
               & (eff["estimand"] == row["estimand"])]
    rec = recs.iloc[0]
    assert rec["ci_low"] <= 1 <= rec["ci_high"]  # a null finding
    z = norm.ppf(0.975) + norm.ppf(0.80)
    fall = 100 * (1 - math.exp(-z * rec["se"]))  # independent of evalkit's formula
    assert (f"No fall was detected; the evaluation could have detected a fall of "
            f"{fall:.0f}% or more.") in row["finding"]


def test_a_clear_finding_states_no_detectable_effect(dementia):
    _, table = dementia
    for row in table.itertuples():
        if "could have detected" in str(row.finding):
            assert "little or no difference" in row.finding or "very uncertain" in \
                row.finding
    clear = table[table["finding"].str.contains("may increase", na=False)]
    assert len(clear) and not clear["finding"].str.contains("could have detected").any()


def test_a_null_cost_finding_states_its_detectable_difference_in_pounds(dementia):
    ev, table = dementia
    rows = table[table["domain"] == "Cost per capita"]
    assert len(rows)
    row = rows.iloc[0]
    eff = ev.effects
    rec = eff[(eff["outcome"] == row["outcome"]) & (eff["design"] == row["design"])
              & (eff["estimand"] == row["estimand"])].iloc[0]
    assert rec["scale"] == "difference" and rec["ci_low"] <= 0 <= rec["ci_high"]
    z = norm.ppf(0.975) + norm.ppf(0.80)
    pounds = z * rec["se"]  # independent of evalkit's formula
    assert (f"No fall was detected; the evaluation could have detected a fall of "
            f"£{pounds:,.0f} or more.") in row["finding"]
