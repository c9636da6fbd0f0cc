"""Issue 26: the comparative synthesis shows which schemes were too small to tell."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from evalkit.report.comparative import TARGET_PERCENT, load_comparison

from conftest import SYNTHETIC


@pytest.fixture(scope="module")
def comparison():
    return load_comparison("dementia-service,virtual-wards", data_root=SYNTHETIC)


def test_each_verdict_follows_the_stated_rule(comparison):
    frame = comparison.too_small_frame()
    assert set(frame["scheme"]) == {"dementia-service", "virtual-wards"}
    z = norm.ppf(0.975) + norm.ppf(0.80)
    for r in frame.itertuples():
        k = z * r.se  # independent of evalkit's formula
        ratio = r.shown_effect.endswith("%)")
        null = 1.0 if ratio else 0.0
        # every headline finding here hopes for a fall, except QALYs (a rise)
        rise = r.outcome == "qaly"
        hoped = (math.exp(k) if rise else math.exp(-k)) if ratio else (k if rise else -k)
        if not r.ci_low <= null <= r.ci_high:
            want = "effect detected"
        elif (ratio and 100 * abs(hoped - 1) > TARGET_PERCENT) or \
                r.ci_low <= hoped <= r.ci_high:
            want = "too small to tell"
        else:
            want = "no effect of the detectable size"
        assert r.verdict == want, r


def test_the_table_states_its_rule_and_names_the_null_findings(comparison):
    md = comparison.too_small_markdown()
    assert "too small to tell when its 95% CI includes no effect" in md
    assert "{#tbl-too-small}" in md
    frame = comparison.too_small_frame()
    # the dementia service's ITS on emergency admissions: a null finding whose detectable
    # fall (about 7%) is larger than the 5% target
    row = frame[(frame["scheme"] == "dementia-service")
                & (frame["outcome"] == "emergency_admissions")].iloc[0]
    assert row["verdict"] == "too small to tell" and row["mde_percent"] > TARGET_PERCENT
    assert "| dementia-service | Emergency admissions |" in md
    rec = comparison.results_record()
    assert rec["target_percent"] == TARGET_PERCENT
    assert len(rec["too_small_to_tell"]) == len(frame)
