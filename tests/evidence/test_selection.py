"""Selection at a peak: the diagnostic, the certainty it rates down, and the E-value."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit as ek

SYNTHETIC = Path(__file__).resolve().parents[2] / "data" / "synthetic"


def _panel(peak: float, seed: int = 1) -> pd.DataFrame:
    """60 practices, 48 months; the first 20 are the scheme's. With ``peak`` > 0 the
    scheme's practices ran ``peak`` (log scale) above their usual rate in the 12 months
    before the start (2018-01) and return to it after: chosen at a peak, no effect."""
    rng = np.random.default_rng(seed)
    n, t = 60, 48
    unit = np.repeat(np.arange(n), t)
    month = np.tile(np.arange(t), n)
    treated = unit < 20
    level = rng.normal(0, 0.2, n)[unit]
    bump = np.where(treated & (month >= 12) & (month < 24), peak, 0.0)
    mu = 8000 * np.exp(np.log(0.01) + level + 0.002 * month + bump)
    return pd.DataFrame({"practice": [f"P{u:03d}" for u in unit],
                         "month": [f"{2016 + m // 12}-{m % 12 + 1:02d}" for m in month],
                         "list_size": 8000, "admissions": rng.poisson(mu),
                         "treated": treated.astype(int), "comparison": (~treated).astype(int)})


def _its(panel: pd.DataFrame):
    return ek.its(panel, outcome="admissions", time="month", start="2018-01",
                  family="quasipoisson", denominator="list_size", treated="treated",
                  control="comparison", autocorrelation="none")


def test_the_check_fires_on_a_panel_chosen_at_a_peak_and_not_on_one_without():
    from evalkit.evidence.selection import selection_at_peak

    for peak, fires in ((0.15, True), (0.0, False)):
        p = _panel(peak)
        m = p["month"].str.slice(0, 4).astype(int) * 12 + p["month"].str.slice(5).astype(int)
        chk = selection_at_peak(p["admissions"], unit=p["practice"], period=m,
                                treated=p["treated"] == 1, start=2018 * 12 + 1, window=12,
                                denominator=p["list_size"])
        assert chk.fired is fires, (peak, chk)
        if fires:  # the rise is the built-in 16% give or take sampling error
            assert abs(np.exp(chk.rise) - np.exp(0.15)) < 3 * chk.se * np.exp(0.15)


def test_controlled_its_records_carry_the_check():
    d = _its(_panel(0.15)).effects.set_index("estimand").loc["level_change", "diagnostics"]
    assert d["selection_at_peak"] is True and d["selection_z"] > 2
    assert d["selection_windows"][1] == ["2017-01", "2017-12"]
    d0 = _its(_panel(0.0)).effects.set_index("estimand").loc["level_change", "diagnostics"]
    assert d0["selection_at_peak"] is False


def test_certainty_is_rated_down_with_the_reason_when_the_check_fires():
    peaked = ek.rate_certainty(_its(_panel(0.15)).effects).table.iloc[0]
    flat = ek.rate_certainty(_its(_panel(0.0)).effects).table.iloc[0]
    assert "risk of bias" in peaked["downgrades"]
    assert "selection at a peak" in peaked["reasons"] and "chosen at a peak" in peaked["reasons"]
    assert "risk of bias" not in flat["downgrades"]


def test_a_comparative_design_is_not_judged_by_the_before_afters_flag():
    """Each design is judged by its own diagnostics: the before/after's
    ``rtm_selected_on_baseline`` (declared or found by its own test against the population)
    does not rate a controlled ITS down; the ITS's own record does."""
    base = {"scheme": "s", "outcome": "y", "scale": "ratio", "evidence_level": 4,
            "conf_level": 0.95}
    its = {**base, "design": "its", "estimand": "level_change", "estimate": 0.9,
           "ci_low": 0.86, "ci_high": 0.94, "diagnostics": {"controlled": True,
                                                            "pretrend_p": 0.5}}
    prepost = {**base, "design": "prepost", "estimand": "before_after_rtm_adjusted",
               "estimate": 0.92, "ci_low": 0.88, "ci_high": 0.96, "evidence_level": 2,
               "diagnostics": {"rtm_selected_on_baseline": True, "rtm_detected": True,
                               "rtm_selection_z": 3.0}}
    row = ek.rate_certainty(pd.DataFrame([its, prepost])).table.iloc[0]
    assert row["design"] == "its" and row["certainty"] == "moderate"
    assert row["downgrades"] == [] and "selection at a peak" not in row["reasons"]
    # The spec's declaration, recorded on the ITS's own record by run_spec, does count.
    own = {**its, "diagnostics": {**its["diagnostics"], "selection_declared": True}}
    row = ek.rate_certainty(pd.DataFrame([own, prepost])).table.iloc[0]
    assert row["certainty"] == "low" and "the spec says the scheme chose" in row["reasons"]


@pytest.mark.parametrize(("rr", "lo", "hi", "e", "e_ci"), [
    (3.9, 1.8, 8.7, 7.26, 3.00),    # VanderWeele & Ding 2017: breastfeeding, infection
    (0.80, 0.71, 0.91, 1.81, 1.43),  # a protective ratio: inverted (1.25 -> 1.81)
    (1.2, 0.9, 1.5, 1.69, 1.0),      # an interval including no effect
])
def test_e_value_against_hand_computed_examples(rr, lo, hi, e, e_ci):
    from evalkit.evidence.e_value import e_values

    got = e_values(rr, lo, hi)
    assert got == pytest.approx((e, e_ci), abs=0.01)


def test_e_value_of_a_difference_uses_the_standardised_difference():
    from evalkit.evidence.e_value import e_values

    # d = 0.5 -> RR = exp(0.455) = 1.576 -> E = 1.576 + sqrt(1.576 * 0.576) = 2.529
    assert e_values(5.0, 6.0, 4.0, scale="difference", sd=10.0)[0] == pytest.approx(
        2.529, abs=0.001)


def _headlines(scheme: str, designs: set[str]) -> pd.DataFrame:
    spec = ek.load_spec(SYNTHETIC / scheme / "spec.yaml")
    spec = dataclasses.replace(spec, analyses=[a for a in spec.analyses if a.design in designs])
    eff = ek.run_spec(spec).effects
    eff = eff[np.isfinite(pd.to_numeric(eff["estimate"], errors="coerce"))]  # as the report
    return ek.rate_certainty(eff).table.set_index("outcome")


def test_mental_health_controlled_its_headlines_are_no_longer_moderate():
    """Units chosen at a peak of A&E attendances: the ITS misses the truth by 3-4 SEs."""
    t = _headlines("mental-health-primary-care", {"its", "prepost"})
    for outcome in ("ae_attendances", "emergency_admissions"):
        assert t.loc[outcome, "design"] == "its"
        assert t.loc[outcome, "certainty"] in ("low", "very low"), outcome
        assert "selection at a peak" in t.loc[outcome, "reasons"]


def test_rapid_response_qaly_difference_is_no_longer_moderate():
    """Matched on observed cost, selected on latent cost: QALYs truly 0, estimate 0.03."""
    t = _headlines("rapid-response", {"economic"})
    row = t.loc["qaly"]
    assert row["certainty"] in ("low", "very low")
    assert "selection at a peak" in row["reasons"] and "E-value" in row["reasons"]


def test_did_records_carry_the_check():
    p = _panel(0.15)
    d = ek.did(p, outcome="admissions", unit="practice", time="month", treated="treated",
               start="2018-01", denominator="list_size", family="poisson")
    diag = d.effects.iloc[0]["diagnostics"]
    assert diag["selection_at_peak"] is True and diag["selection_rise"] > 1.1
    p0 = _panel(0.0)
    d0 = ek.did(p0, outcome="admissions", unit="practice", time="month", treated="treated",
                start="2018-01", denominator="list_size", family="poisson")
    assert d0.effects.iloc[0]["diagnostics"]["selection_at_peak"] is False


def test_synthetic_control_carries_the_check_for_one_treated_unit():
    rng = np.random.default_rng(3)
    n, t = 25, 36
    y = 100 + rng.normal(0, 5, n)[:, None] + rng.normal(0, 1.5, (n, t))
    peaked = y.copy()
    peaked[0, 12:24] += 12  # the treated area chose itself in a bad year
    for values, fires in ((peaked, True), (y, False)):
        data = pd.DataFrame({"area": np.repeat([f"A{i:02d}" for i in range(n)], t),
                             "month": np.tile([f"{2016 + m // 12}-{m % 12 + 1:02d}"
                                               for m in range(t)], n),
                             "rate": values.ravel()})
        res = ek.synthetic_control(data, outcome="rate", unit="area", time="month",
                                   treated_unit="A00", start="2018-01", placebos=False)
        d = res.effects.iloc[0]["diagnostics"]
        assert d["selection_at_peak"] is fires


def test_the_limitations_state_selection_at_a_peak_and_the_e_value():
    from evalkit.report.limitations import limitations_markdown

    spec = ek.load_spec(SYNTHETIC / "rapid-response" / "spec.yaml")
    spec = dataclasses.replace(spec, analyses=[a for a in spec.analyses
                                               if a.design == "economic"])
    text = limitations_markdown(ek.run_spec(spec))
    assert "Selection at a peak (economic evaluation" in text
    assert text.count("Selection at a peak") == 1  # one check, said once
    assert "what matching cannot remove" in text and "E-value" in text
