"""Staff survey analysis against independent references.

- ``likert_summary``: counts worked out by hand for a typed table (comments); Wilson
  intervals from ``statsmodels.stats.proportion.proportion_confint(method="wilson")``;
- ``likert_change``: statsmodels ``OrderedModel(distr="logit")`` fitted here directly
  (BFGS, a different optimiser from the package's Newton steps), to 1e-6;
- ``cronbach_alpha``: alpha from item and total variances computed here with numpy on a
  typed 6 x 3 matrix; Feldt's (1965) interval from ``scipy.stats.f.ppf`` with
  ``n - 1`` and ``(n - 1)(k - 1)`` degrees of freedom (Feldt, Woodruff and Salih 1987,
  eq. 4);
- refusals: values off the declared scale, blank waves, missing waves and items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.proportion import proportion_confint

from evalkit.engagement.survey import cronbach_alpha, likert_change, likert_summary
from evalkit.errors import DataError, DesignError
from evalkit.results import EFFECT_FIELDS


def typed_survey() -> pd.DataFrame:
    """Item 'aims': before 1, 2, 3, 4, 4, 5; after 3, 4, 4, 5, 5, 5."""
    return pd.DataFrame({
        "respondent": [f"R{i}" for i in range(12)],
        "item": "aims",
        "wave": ["before"] * 6 + ["after"] * 6,
        "response": [1, 2, 3, 4, 4, 5, 3, 4, 4, 5, 5, 5],
    })


def test_likert_summary_by_hand():
    s = likert_summary(typed_survey())
    d = s.distribution.set_index(["wave", "level"])
    assert d.loc[("before", 4), "count"] == 2 and d.loc[("after", 5), "count"] == 3
    assert d.loc[("after", 1), "count"] == 0  # unused levels are present with zero
    assert d.loc[("before", 4), "label"] == "Agree"
    a = s.agreement.set_index("wave")
    # agreeing (4 or 5): before 3 of 6, after 5 of 6; disagreeing (1 or 2): 2 of 6, 0 of 6
    assert a.loc["before", "agree"] == 3 and a.loc["after", "agree"] == 5
    assert a.loc["before", "disagree_share"] == pytest.approx(2 / 6)
    lo, hi = proportion_confint(5, 6, method="wilson")
    assert (a.loc["after", "ci_low"], a.loc["after", "ci_high"]) == pytest.approx((lo, hi))
    shares = s.distribution.groupby("wave")["share"].sum()
    np.testing.assert_allclose(shares, 1)
    assert "83%" not in s.summary()  # 5 of 6: hidden under the default rules
    from evalkit.evidence.disclosure import DisclosureRules

    shown = likert_summary(typed_survey(), disclosure=DisclosureRules(low=10**6, high=10**6))
    assert "83%" in shown.summary()


def test_likert_summary_other_scale_and_threshold():
    sv = typed_survey()
    s = likert_summary(sv.assign(response=sv["response"] + 2), scale=(3, 7), agree_from=6)
    assert s.agreement.set_index("wave").loc["before", "agree"] == 3
    assert s.labels[3] == "3"


def simulated(seed=0, n=150, shift=0.8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prof = rng.choice(["GP", "nurse", "pharmacist"], 2 * n)
    after = np.repeat([0, 1], n)
    latent = shift * after + 0.4 * (prof == "nurse") + rng.logistic(size=2 * n)
    response = np.searchsorted([-1.5, -0.3, 0.6, 1.8], latent) + 1
    return pd.DataFrame({"respondent": [f"R{i}" for i in range(2 * n)], "item": "aims",
                         "profession": prof, "wave": np.where(after, "after", "before"),
                         "response": response})


@pytest.mark.parametrize("covariates", [None, ["profession"]])
def test_likert_change_equals_statsmodels_ordered_model(covariates):
    sv = simulated()
    res = likert_change(sv, item="aims", covariates=covariates)
    X = pd.DataFrame({"after": (sv["wave"] == "after").astype(float)})
    if covariates:
        X["nurse"] = (sv["profession"] == "nurse").astype(float)
        X["pharmacist"] = (sv["profession"] == "pharmacist").astype(float)
    fit = OrderedModel(sv["response"].to_numpy(), X, distr="logit").fit(
        method="bfgs", maxiter=5000, gtol=1e-7, disp=False)
    e = res.effects.iloc[0]
    b, se = fit.params["after"], fit.bse["after"]
    z = stats.norm.ppf(0.975)
    assert e["estimate"] == pytest.approx(np.exp(b), rel=1e-6)
    assert e["se"] == pytest.approx(se, rel=1e-6)
    assert (e["ci_low"], e["ci_high"]) == pytest.approx((np.exp(b - z * se),
                                                         np.exp(b + z * se)), rel=1e-6)
    assert e["p_value"] == pytest.approx(fit.pvalues["after"], rel=1e-5)
    assert e["scale"] == "ratio" and e["domain"] == "engagement"
    assert e["estimand"] == "proportional_odds_ratio" and e["evidence_level"] == 1
    assert list(res.effects.columns) == list(EFFECT_FIELDS)
    cuts = res.thresholds["cut"].to_numpy()
    ref_cuts = OrderedModel(sv["response"].to_numpy(), X, distr="logit") \
        .transform_threshold_params(fit.params.to_numpy())[1:-1]
    np.testing.assert_allclose(cuts, ref_cuts, rtol=1e-5)


def test_likert_change_direction():
    up = likert_change(simulated(shift=1.5), item="aims").effects.iloc[0]
    down = likert_change(simulated(shift=-1.5), item="aims").effects.iloc[0]
    assert up["ci_low"] > 1 and down["ci_high"] < 1


def test_likert_change_warns_about_repeated_respondents():
    sv = typed_survey()
    sv["respondent"] = [f"R{i % 6}" for i in range(12)]
    res = likert_change(sv, item="aims")
    assert any("both waves" in w for w in res.warnings)


def test_cronbach_alpha_by_hand_with_feldt_interval():
    # Six respondents, three items (typed; variances computed here with numpy).
    X = np.array([[4, 5, 4], [2, 3, 3], [5, 5, 4], [3, 2, 2], [4, 4, 5], [1, 2, 1]], float)
    n, k = X.shape
    alpha = k / (k - 1) * (1 - X.var(0, ddof=1).sum() / X.sum(1).var(ddof=1))
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lo = 1 - (1 - alpha) * stats.f.ppf(0.975, df1, df2)
    hi = 1 - (1 - alpha) * stats.f.ppf(0.025, df1, df2)
    sv = pd.DataFrame({"respondent": np.repeat(np.arange(n), k),
                       "item": np.tile(["a", "b", "c"], n), "response": X.ravel()})
    res = cronbach_alpha(sv.sample(frac=1, random_state=0), items=["a", "b", "c"])
    r = res.table.iloc[0]
    assert r["alpha"] == pytest.approx(alpha, abs=1e-12)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    assert r["respondents"] == 6 and r["items"] == 3


def test_cronbach_alpha_per_wave_reversal_and_missing_items():
    X = np.array([[4, 5, 2], [2, 3, 3], [5, 5, 2], [3, 2, 4], [4, 4, 1], [1, 2, 5]], float)
    n, k = X.shape
    sv = pd.DataFrame({"respondent": np.repeat(np.arange(n), k),
                       "wave": np.repeat(["before"] * 3 + ["after"] * 3, k),
                       "item": np.tile(["a", "b", "c"], n), "response": X.ravel()})
    res = cronbach_alpha(sv, items=["a", "b", "c"], wave="wave", reverse=["c"])
    t = res.table.set_index("wave")
    for wave, rows in (("before", X[:3]), ("after", X[3:])):
        R = rows.copy()
        R[:, 2] = 6 - R[:, 2]
        alpha = 1.5 * (1 - R.var(0, ddof=1).sum() / R.sum(1).var(ddof=1))
        assert t.loc[wave, "alpha"] == pytest.approx(alpha)
    dropped = cronbach_alpha(sv.iloc[1:], items=["a", "b", "c"], wave="wave")
    assert dropped.table.set_index("wave").loc["before", "dropped"] == 1
    assert dropped.warnings


def test_synthetic_survey_runs(root):
    sv = pd.read_csv(root / "data/synthetic/rapid-response/survey.csv")
    s = likert_summary(sv)
    assert len(s.agreement) == 8
    r = likert_change(sv, item="helps_patients", covariates=["profession"])
    assert r.effects["estimate"].iloc[0] > 1  # the generator shifts responses up after
    a = cronbach_alpha(sv, items=sv["item"].unique(), wave="wave")
    assert set(a.table["wave"]) == {"before", "after"}


# --------------------------------------------------------------------------- refusals


def test_refuses_responses_outside_the_scale_naming_rows_values_and_scale():
    sv = typed_survey()
    sv.loc[[2, 7], "response"] = [6, 0]
    for call in (lambda: likert_summary(sv, file="survey.csv"),
                 lambda: likert_change(sv, item="aims", file="survey.csv")):
        with pytest.raises(DataError) as e:
            call()
        assert list(e.value.rows) == [4, 9]
        assert "6" in e.value.message and "0" in e.value.message
        assert "1 to 5" in e.value.message
    with pytest.raises(DataError) as e:
        likert_summary(typed_survey().assign(response=lambda d: d["response"] + 0.5))
    assert len(e.value.rows) == 12


def test_blank_responses_are_left_out_with_a_warning():
    sv = typed_survey().astype({"response": float})
    sv.loc[0, "response"] = np.nan
    s = likert_summary(sv)
    assert s.agreement.set_index("wave").loc["before", "respondents"] == 5
    assert s.warnings


def test_refuses_missing_and_blank_waves():
    sv = typed_survey()
    with pytest.raises(DataError) as e:
        likert_change(sv[sv["wave"] == "before"], item="aims")
    assert "after" in e.value.message and "before" in e.value.fix
    with pytest.raises(DataError) as e:
        likert_change(sv, item="aims", after="follow-up")
    assert "follow-up" in e.value.message
    blank = sv.copy()
    blank.loc[3, "wave"] = None
    with pytest.raises(DataError) as e:
        likert_change(blank, item="aims")
    assert list(e.value.rows) == [5]
    with pytest.raises(DataError) as e:
        likert_summary(blank)
    assert list(e.value.rows) == [5] and e.value.column == "wave"


def test_refuses_unknown_items_and_bad_options():
    sv = typed_survey()
    with pytest.raises(DataError) as e:
        likert_change(sv, item="aim")
    assert "aims" in e.value.fix
    with pytest.raises(DataError):
        cronbach_alpha(sv, items=["aims", "nothing"])
    with pytest.raises(DesignError):
        cronbach_alpha(sv, items=["aims"])
    with pytest.raises(DesignError):
        likert_summary(sv, scale=(5, 1))
    with pytest.raises(DesignError):
        likert_summary(sv, agree_from=6)


def test_refuses_two_answers_to_one_item():
    sv = pd.DataFrame({"respondent": [1, 1, 1, 2, 2], "item": ["a", "a", "b", "a", "b"],
                       "response": [1, 2, 3, 4, 5]})
    with pytest.raises(DataError) as e:
        cronbach_alpha(sv, items=["a", "b"])
    assert list(e.value.rows) == [2, 3]
