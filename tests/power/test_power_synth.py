"""Synthetic-control MDE from the placebo gaps, and the null-finding sentence."""

import numpy as np
import pandas as pd
import pytest

from evalkit.power import PowerResult, null_finding_text
from evalkit.power.synth import gap_curve


def test_gap_curve_rms_of_mean_gaps():
    rng = np.random.default_rng(0)
    units, T = 4000, 24
    gaps = pd.DataFrame({"unit": np.repeat(np.arange(units), T),
                         "time": np.tile([f"p{t:02d}" for t in range(T)], units),
                         "gap": rng.normal(0, 2.0, units * T)})
    post = [f"p{t:02d}" for t in range(12, 24)]
    curve = gap_curve(gaps, post, [3, 12, 24])
    assert list(curve["followup"]) == [3, 12]  # 24 is beyond the observed post-period
    assert curve["se"].to_numpy() == pytest.approx(2.0 / np.sqrt([3, 12]), rel=0.04)


def _result(scale, mde):
    curve = pd.DataFrame({"followup": [12], "se": [mde / 2.8], "mde": [mde],
                          "mde_fall": [np.exp(-mde)], "mde_rise": [np.exp(mde)],
                          "percent": [100 * (1 - np.exp(-mde))]})
    return PowerResult(design="its", outcome="admissions", scale=scale, curve=curve,
                       followup=12, method="test")


def test_null_finding_sentence():
    row = {"scale": "ratio", "ci_low": 0.9, "ci_high": 1.04}
    assert null_finding_text(row, _result("ratio", -np.log(0.93))) == (
        "No fall was detected; the evaluation could have detected a fall of 7% or more.")
    assert null_finding_text({**row, "ci_high": 0.98}, 0.93) is None
    assert null_finding_text({"scale": "difference", "ci_low": -0.2, "ci_high": 1.0}, 0.8,
                             improvement="increase", units="points") == (
        "No rise was detected; the evaluation could have detected a rise of 0.8 points or "
        "more.")
    assert null_finding_text({"scale": "ratio", "ci_low": float("nan"), "ci_high": 1.1},
                             0.9) is None


def test_synth_mde_end_to_end_on_a_small_panel():
    import evalkit as ek
    from evalkit.power.synth import synth_mde

    rng = np.random.default_rng(0)
    units, periods = 12, 30
    factor = rng.normal(size=periods).cumsum() * 0.3
    y = (10 + 0.1 * np.arange(units)[:, None]
         + factor[None, :] * (0.5 + np.arange(units)[:, None] / units)
         + rng.normal(0, 0.3, (units, periods)))
    panel = pd.DataFrame({"unit": np.repeat([f"U{u:02d}" for u in range(units)], periods),
                          "t": np.tile(np.arange(1, periods + 1), units), "y": y.ravel()})
    options = dict(outcome="y", unit="unit", time="t", treated_unit="U06", start=21,
                   leave_one_out=False)
    fit = ek.synthetic_control(panel, **options)
    res = synth_mde(panel, result=fit, followup=12, followups=(3, 6, 12), effect=1.0)
    # 10 post periods: no row for 12 (integer labels must not be ordered as text)
    assert list(res.curve["followup"]) == [3, 6]
    assert res.followup == 6
    gaps = fit.frames["placebos"]
    rm = fit.frames["rmspe"]
    keep = rm.loc[rm["included"] & ~rm["treated"], "unit"]
    post = gaps[gaps["unit"].isin(keep) & gaps["time"].astype(str).isin(["21", "22", "23"])]
    by_hand = np.sqrt((post.groupby("unit")["gap"].mean() ** 2).mean())
    assert res.curve["se"].iloc[0] == pytest.approx(by_hand)
    assert any("cannot fall below" in w for w in res.warnings)  # 11 placebos < 19
    assert 0 < res.power < 1
