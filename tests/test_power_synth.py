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
