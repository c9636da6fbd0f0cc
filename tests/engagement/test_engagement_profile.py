"""The engagement profile a spec's engagement block yields, and where it goes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import evalkit as ek

from conftest import SYNTHETIC


@pytest.fixture(scope="module")
def evaluation():
    return ek.run_spec(SYNTHETIC / "palliative-care" / "spec.yaml")


def test_profile_holds_every_measure_the_data_allow(evaluation):
    prof = evaluation.engagement
    assert prof is evaluation.engagement  # measured once
    est = set(prof.effects["estimand"])
    assert {"share_referring", "per_1000", "gini", "top20_share", "attendance_rate",
            "completion_share", "proportional_odds_ratio", "dose_response_slope"} <= est
    assert (prof.effects["scheme"] == "palliative-care").all()
    assert len(prof.survey_change) == 4 and prof.maturity is not None
    groups = set(prof.continuity.groups["group"])
    assert groups == {f"{a}, {p}" for a in ("enrolled", "not enrolled")
                      for p in ("before", "after")}


def test_outcome_chart_is_the_scheme_units_series_with_limits_by_hand(evaluation):
    """Deaths at home (a share) of the scheme's areas a month, limits recalculated at the
    start: mean +/- 2.66 x the average moving range, moving ranges at or above 3.267 x
    their average screened out (Making Data Count; NHSRplotthedots)."""
    prof = evaluation.engagement
    panel = pd.read_csv(SYNTHETIC / "palliative-care" / "panel.csv")
    scheme = panel[panel["treated"] == 1].groupby("month")[["deaths_at_home", "deaths"]].sum()
    y = (scheme["deaths_at_home"] / scheme["deaths"] * 100).to_numpy()
    months = scheme.index.to_numpy()
    lim = prof.outcome_spc.limits
    assert len(lim) == 2
    for phase, part in ((1, y[months < "2019-04"]), (2, y[months >= "2019-04"])):
        mr = np.abs(np.diff(part))
        mr = mr[mr < 3.267 * mr.mean()]
        row = lim[lim["phase"] == phase].iloc[0]
        assert row["mean"] == pytest.approx(part.mean(), rel=1e-12)
        assert row["upper"] == pytest.approx(part.mean() + 2.66 * mr.mean(), rel=1e-12)
        assert row["lower"] == pytest.approx(part.mean() - 2.66 * mr.mean(), rel=1e-12)


def test_results_json_and_figures_carry_the_profile(evaluation, tmp_path):
    doc = json.loads(evaluation.results_json())
    names = {r["estimand"] for r in doc["engagement_effects"]}
    assert "share_referring" in names and "dose_response_slope" in names
    assert all(r["domain"] in ("engagement", "outcome") for r in doc["engagement_effects"])
    figures = {name for name, _, _ in evaluation.figures()}
    assert {"spc-outcome", "spc-referrals", "funnel-referrals", "likert-survey",
            "radar-maturity", "dose-response"} <= figures


def test_no_engagement_block_no_profile(tmp_path):
    panel = pd.read_csv(SYNTHETIC / "palliative-care" / "panel.csv")
    panel.to_csv(tmp_path / "panel.csv", index=False)
    (tmp_path / "spec.yaml").write_text(
        "scheme: t\ntitle: t\nsynthetic: true\ndata:\n  panel: {path: panel.csv}\n"
        "outcomes:\n  deaths_at_home: {family: binomial, denominator: deaths}\n"
        "analyses:\n- design: prepost\n  data: panel\n  outcomes: [deaths_at_home]\n"
        "  options: {unit: area, time: month, start: 2019-04, treated: treated}\n")
    ev = ek.run_spec(tmp_path / "spec.yaml")
    assert ev.engagement is None
    assert "engagement_effects" not in json.loads(ev.results_json())
