"""cost_compare: each model against its reference computation, bad input, and coverage.

References and tolerances:

- bootstrap model = :func:`evalkit.economics.bootstrap_ci` on the same arrays and seed
  (which equals scipy.stats.bootstrap, tests/economics/test_bootstrap_ci.py): exact / 1e-9;
- gamma GLM = statsmodels ``GLM(Gamma(Log))`` with HC0 covariance, fitted here directly;
  the recycled-prediction difference and its delta-method SE written out by hand: 1e-8;
- two-part = a statsmodels logit GLM and a statsmodels gamma GLM on the positive costs,
  recombined by recycled predictions here: 1e-6 relative (IRLS tolerances); its batched
  bootstrap refit = statsmodels with ``freq_weights``: 1e-6 relative;
- ols = Welch's t interval (scipy.stats.ttest_ind, equal_var=False) and the paired t
  interval (scipy.stats.ttest_rel): 1e-8;
- coverage: see :func:`test_bca_interval_covers_a_known_difference`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import expit

from evalkit.economics import bootstrap_ci, cost_compare
from evalkit.economics import cost_models as cm
from evalkit.errors import DataError, DesignError
from evalkit.results import EFFECT_FIELDS


def arms(n: int = 150, seed: int = 0, covariate: bool = False) -> pd.DataFrame:
    """Two arms of zero-inflated gamma costs (and a covariate x)."""
    rng = np.random.default_rng(seed)
    arm = np.repeat(["usual care", "scheme"], n)
    g = (arm == "scheme").astype(float)
    x = rng.normal(size=2 * n)
    positive = rng.random(2 * n) < expit(0.8 + 0.3 * g + (0.5 * x if covariate else 0))
    mean = np.exp(7.5 - 0.2 * g + (0.6 * x if covariate else 0))
    cost = np.where(positive, rng.gamma(0.7, mean / 0.7), 0.0).round(2)
    return pd.DataFrame({"patient": [f"P{i:04d}" for i in range(2 * n)], "arm": arm, "x": x,
                         "cost": cost})


def effect(res, estimand):
    return res.effects.set_index("estimand").loc[estimand]


# --------------------------------------------------------------------------- references


def test_bootstrap_model_equals_bootstrap_ci_on_the_same_arrays():
    df = arms()
    res = cost_compare(df, cost="cost", group="arm", reference="usual care", seed=4,
                       n_resamples=999, model="bootstrap")
    ref = bootstrap_ci(df["cost"], groups=df["arm"], reference="usual care", seed=4,
                       n_resamples=999)
    e = effect(res, "mean_difference")
    assert (e["estimate"], e["ci_low"], e["ci_high"]) == pytest.approx(
        (ref.estimate, ref.ci_low, ref.ci_high), rel=1e-12)
    ratio = bootstrap_ci(df["cost"], "ratio_of_means", groups=df["arm"],
                         reference="usual care", seed=4, n_resamples=999)
    r = effect(res, "ratio_of_means")
    assert (r["estimate"], r["ci_low"], r["ci_high"]) == pytest.approx(
        (ratio.estimate, ratio.ci_low, ratio.ci_high), rel=1e-12)
    assert r["scale"] == "ratio" and e["scale"] == "difference"
    reps = res.replicates
    np.testing.assert_array_equal(reps["mean_difference"], ref.distribution)


@pytest.mark.parametrize("covariate", [False, True])
def test_gamma_glm_equals_statsmodels(covariate):
    df = arms(covariate=covariate)
    res = cost_compare(df, cost="cost", group="arm", reference="usual care", model="gamma",
                       covariates=["x"] if covariate else None)
    g = (df["arm"] == "scheme").astype(float).to_numpy()
    cols = [np.ones(len(df)), g] + ([df["x"].to_numpy()] if covariate else [])
    X = np.column_stack(cols)
    fit = sm.GLM(df["cost"].to_numpy(), X, family=sm.families.Gamma(sm.families.links.Log())
                 ).fit(cov_type="HC0")
    b, V = fit.params, fit.cov_params()
    z = stats.norm.ppf(0.975)
    r = effect(res, "ratio_of_means")
    assert r["estimate"] == pytest.approx(np.exp(b[1]), rel=1e-8)
    assert r["se"] == pytest.approx(fit.bse[1], rel=1e-8)
    assert r["ci_low"] == pytest.approx(np.exp(b[1] - z * fit.bse[1]), rel=1e-8)
    # Recycled predictions and the delta method, by hand.
    X1, X0 = X.copy(), X.copy()
    X1[:, 1], X0[:, 1] = 1.0, 0.0
    mu1, mu0 = np.exp(X1 @ b), np.exp(X0 @ b)
    grad = (mu1[:, None] * X1 - mu0[:, None] * X0).mean(axis=0)
    se = np.sqrt(grad @ V @ grad)
    e = effect(res, "mean_difference")
    assert e["estimate"] == pytest.approx(np.mean(mu1 - mu0), rel=1e-8)
    assert e["se"] == pytest.approx(se, rel=1e-8)
    assert e["ci_high"] == pytest.approx(np.mean(mu1 - mu0) + z * se, rel=1e-8)
    if not covariate:  # log link, one binary regressor: the model reproduces the arm means
        means = df.groupby("arm")["cost"].mean()
        assert e["estimate"] == pytest.approx(means["scheme"] - means["usual care"], rel=1e-8)


def test_two_part_equals_its_two_statsmodels_parts_recombined():
    df = arms(covariate=True)
    res = cost_compare(df, cost="cost", group="arm", reference="usual care",
                       model="two_part", covariates=["x"], n_resamples=200, seed=1)
    y = df["cost"].to_numpy()
    X = np.column_stack([np.ones(len(df)), (df["arm"] == "scheme").astype(float), df["x"]])
    pos = y > 0
    logit = sm.GLM(pos.astype(float), X, family=sm.families.Binomial()).fit()
    gamma = sm.GLM(y[pos], X[pos], family=sm.families.Gamma(sm.families.links.Log())).fit()
    means = []
    for g in (0.0, 1.0):
        Xg = X.copy()
        Xg[:, 1] = g
        means.append(np.mean(expit(Xg @ logit.params) * np.exp(Xg @ gamma.params)))
    assert effect(res, "mean_difference")["estimate"] == pytest.approx(means[1] - means[0],
                                                                       rel=1e-6)
    assert effect(res, "ratio_of_means")["estimate"] == pytest.approx(means[1] / means[0],
                                                                      rel=1e-6)


def test_batched_irls_equals_statsmodels_with_frequency_weights():
    df = arms(covariate=True)
    y = df["cost"].to_numpy()
    X = np.column_stack([np.ones(len(df)), (df["arm"] == "scheme").astype(float), df["x"]])
    counts = np.random.default_rng(3).multinomial(len(df), np.full(len(df), 1 / len(df)), 2)
    W = counts.astype(float)
    pos = y > 0
    start = np.zeros(3)
    ours_logit = cm._irls(X, pos.astype(float), W, start, "logit")
    ours_gamma = cm._irls(X[pos], y[pos], W[:, pos], np.array([7.0, 0, 0]), "gamma")
    for r in range(2):
        ref_l = sm.GLM(pos.astype(float), X, family=sm.families.Binomial(),
                       freq_weights=W[r]).fit(tol=1e-12)
        ref_g = sm.GLM(y[pos], X[pos], family=sm.families.Gamma(sm.families.links.Log()),
                       freq_weights=W[r, pos]).fit(tol=1e-12)
        np.testing.assert_allclose(ours_logit[r], ref_l.params, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(ours_gamma[r], ref_g.params, rtol=1e-6, atol=1e-9)


def test_two_part_without_covariates_reproduces_the_bootstrap():
    """Both parts saturated: p_arm * mean_positive_arm = arm mean, on every resample (the
    two-part bootstrap draws the same resamples as the bootstrap model)."""
    df = arms(n=80)
    boot = cost_compare(df, cost="cost", group="arm", seed=9, n_resamples=300,
                        model="bootstrap")
    tp = cost_compare(df, cost="cost", group="arm", seed=9, n_resamples=300,
                      model="two_part")
    np.testing.assert_allclose(tp.replicates["mean_difference"],
                               boot.replicates["mean_difference"], rtol=1e-6)
    for col in ("estimate", "ci_low", "ci_high"):
        assert effect(tp, "mean_difference")[col] == pytest.approx(
            effect(boot, "mean_difference")[col], rel=1e-6)


def test_ols_without_covariates_is_welchs_t_interval():
    df = arms()
    res = cost_compare(df, cost="cost", group="arm", reference="usual care", model="ols")
    a = df.loc[df["arm"] == "usual care", "cost"]
    b = df.loc[df["arm"] == "scheme", "cost"]
    ref = stats.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    e = effect(res, "mean_difference")
    assert (e["ci_low"], e["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-8)
    assert e["p_value"] == pytest.approx(ref.pvalue, rel=1e-8)


def paired_frame(n: int = 120, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frailty = rng.gamma(2.0, 0.5, n)
    before = np.where(rng.random(n) < 0.2, 0, rng.gamma(0.8, 1500 * frailty / 0.8))
    after = np.where(rng.random(n) < 0.25, 0, rng.gamma(0.8, 1300 * frailty / 0.8))
    return pd.DataFrame({"patient": np.tile([f"P{i}" for i in range(n)], 2),
                         "year": np.repeat([2, 3], n), "cost": np.r_[before, after]})


def test_the_default_is_the_recommended_welch_interval():
    # docs/cost-coverage.md: Welch's t interval is the recommended interval for a
    # difference in mean cost; scipy's Welch test gives the reference interval
    df = arms()
    res = cost_compare(df, cost="cost", group="arm", reference="usual care")
    ref = stats.ttest_ind(df["cost"][df["arm"] == "scheme"].to_numpy(),
                          df["cost"][df["arm"] == "usual care"].to_numpy(), equal_var=False)
    ci = ref.confidence_interval(0.95)
    e = effect(res, "mean_difference")
    assert (e["ci_low"], e["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-8)


def test_paired_ols_is_the_paired_t_interval():
    df = paired_frame()
    res = cost_compare(df, cost="cost", time="year", before=2, after=3, unit="patient",
                       model="ols")
    ref = stats.ttest_rel(df["cost"][df["year"] == 3].to_numpy(),
                          df["cost"][df["year"] == 2].to_numpy())
    ci = ref.confidence_interval(0.95)
    e = effect(res, "mean_difference")
    assert (e["ci_low"], e["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-8)


def test_paired_bootstrap_resamples_patients_like_a_one_sample_bootstrap():
    df = paired_frame()
    res = cost_compare(df, cost="cost", time="year", before=2, after=3, unit="patient",
                       seed=2, n_resamples=999, model="bootstrap")
    change = (df["cost"][df["year"] == 3].to_numpy() - df["cost"][df["year"] == 2].to_numpy())
    ref = bootstrap_ci(change, seed=2, n_resamples=999)
    e = effect(res, "mean_difference")
    np.testing.assert_allclose(res.replicates["mean_difference"], ref.distribution,
                               rtol=1e-9, atol=1e-9)
    assert (e["ci_low"], e["ci_high"]) == pytest.approx((ref.ci_low, ref.ci_high), abs=1e-6)
    assert e["evidence_level"] == 1 and res.diagnostics["paired"] is True
    assert any("before/after" in w for w in res.warnings)


def test_cost_per_thousand_population_by_hand():
    df = arms()
    pop = {"usual care": 20000, "scheme": 15000}
    res = cost_compare(df, cost="cost", group="arm", reference="usual care", population=pop,
                       seed=1, n_resamples=300, model="bootstrap")
    totals = df.groupby("arm")["cost"].sum()
    expected = (totals["scheme"] / 15000 - totals["usual care"] / 20000) * 1000
    e = effect(res, "cost_per_1000_difference")
    assert e["estimate"] == pytest.approx(expected, rel=1e-9)
    assert res.arms.set_index("arm").loc["scheme", "cost_per_1000"] == pytest.approx(
        totals["scheme"] / 15000 * 1000, rel=1e-9)


def test_unit_costs_are_summed_per_patient_across_rows():
    df = arms(n=60)
    twice = pd.concat([df, df.assign(cost=df["cost"] * 0.5)])
    res = cost_compare(twice, cost="cost", group="arm", unit="patient", model="ols")
    once = cost_compare(df.assign(cost=df["cost"] * 1.5), cost="cost", group="arm",
                        model="ols")
    assert effect(res, "mean_difference")["estimate"] == pytest.approx(
        effect(once, "mean_difference")["estimate"], rel=1e-12)
    assert effect(res, "mean_difference")["n_units"] == 120


# --------------------------------------------------------------------------- records


def test_records_have_the_standard_shape_and_evidence_levels():
    df = arms(covariate=True)
    res = cost_compare(df, cost="cost", group="arm", n_resamples=200, seed=1)
    assert res.design == "cost_compare" and list(res.effects.columns) == list(EFFECT_FIELDS)
    assert set(res.effects["domain"]) == {"cost"}
    assert set(res.effects["evidence_level"]) == {1}
    e = effect(res, "mean_difference")
    diag = e["diagnostics"]
    assert {"mean", "n", "share_zero", "skewness", "model", "method"} <= set(diag)
    assert diag["n"] == {"scheme": 150, "usual care": 150}
    adjusted = cost_compare(df, cost="cost", group="arm", model="gamma", covariates=["x"])
    assert set(adjusted.effects["evidence_level"]) == {2}
    res.to_json()  # JSON-ready


def test_same_seed_same_result():
    df = arms()
    a = cost_compare(df, cost="cost", group="arm", seed=3, n_resamples=300)
    b = cost_compare(df, cost="cost", group="arm", seed=3, n_resamples=300)
    assert a.to_json() == b.to_json()


# --------------------------------------------------------------------------- bad input


def test_negative_costs_are_refused_with_rows_unless_savings():
    df = arms(n=20)
    df.loc[[3, 7], "cost"] = -50.0
    with pytest.raises(DataError, match="negative") as err:
        cost_compare(df, cost="cost", group="arm")
    assert list(err.value.rows) == [5, 9] and "savings=True" in err.value.fix
    res = cost_compare(df, cost="cost", group="arm", savings=True, n_resamples=200, seed=1)
    assert np.isfinite(effect(res, "mean_difference")["estimate"])
    with pytest.raises(DesignError, match="non-negative"):
        cost_compare(df, cost="cost", group="arm", savings=True, model="gamma")


def test_non_numeric_and_missing_costs_name_rows():
    df = arms(n=20).astype({"cost": object})
    df.loc[4, "cost"] = "£120"
    with pytest.raises(DataError, match="not a number") as err:
        cost_compare(df, cost="cost", group="arm")
    assert list(err.value.rows) == [6]
    df.loc[4, "cost"] = None
    with pytest.raises(DataError, match="missing") as err:
        cost_compare(df, cost="cost", group="arm")
    assert list(err.value.rows) == [6]


def test_missing_arm_labels_name_rows():
    df = arms(n=20)
    df.loc[[0, 11], "arm"] = None
    with pytest.raises(DataError, match="arm") as err:
        cost_compare(df, cost="cost", group="arm")
    assert list(err.value.rows) == [2, 13]


def test_one_arm_or_three_arms_are_refused():
    df = arms(n=20)
    with pytest.raises(DesignError, match="exactly two arms; found 1"):
        cost_compare(df[df["arm"] == "scheme"], cost="cost", group="arm")
    df.loc[0, "arm"] = "schme"
    with pytest.raises(DesignError, match="found 3"):
        cost_compare(df, cost="cost", group="arm")
    with pytest.raises(DesignError, match="at least 2"):
        cost_compare(arms(n=20).iloc[19:], cost="cost", group="arm")


def test_a_patient_in_both_arms_is_refused():
    df = arms(n=20)
    df.loc[25, "patient"] = df.loc[0, "patient"]
    with pytest.raises(DataError, match="both arms") as err:
        cost_compare(df, cost="cost", group="arm", unit="patient")
    assert list(err.value.rows) == [2, 27]


def test_option_errors_say_what_to_do():
    df = arms(n=20)
    with pytest.raises(DesignError, match="did you mean 'two_part'"):
        cost_compare(df, cost="cost", group="arm", model="twopart")
    with pytest.raises(DesignError, match="did"):
        cost_compare(paired_frame(), cost="cost", group="year", time="year", before=2, after=3)
    with pytest.raises(DesignError, match="covariates"):
        cost_compare(df, cost="cost", group="arm", covariates=["x"], model="bootstrap")
    with pytest.raises(DataError, match="did you mean 'cost'"):
        cost_compare(df, cost="costs", group="arm")
    with pytest.raises(DesignError, match="before"):
        cost_compare(paired_frame(), cost="cost", time="year", before=1, after=3)


# --------------------------------------------------------------------------- coverage


def simulate(n: int, seed: int) -> pd.DataFrame:
    """Zero-inflated lognormal costs, as benchmarks/cost_coverage.py's 'lognormal'."""
    rng = np.random.default_rng(seed)
    arm = np.repeat([0, 1], n)
    zero = rng.random(2 * n) < np.where(arm == 1, 0.2, 0.3)
    mean = np.where(arm == 1, 2000.0, 2500.0)
    positive = rng.lognormal(np.log(mean) - 1.2**2 / 2, 1.2)
    return pd.DataFrame({"arm": arm, "cost": np.where(zero, 0.0, positive)})


def test_bca_interval_covers_a_known_difference():
    """The recommended interval (the default, Welch's t) covers the true difference,
    0.8 * 2000 - 0.7 * 2500 = -150, in about 95% of 300 replications of 200 patients per arm
    (costs 20-30% zero, lognormal positives with log-SD 1.2, skewness about 11). The full
    study (docs/cost-coverage.md, 500 replications) gives 0.958 at this size. With
    300 replications a coverage's binomial SE is 1.3 points, so the bounds 0.90 and 0.985
    sit about 3 SEs from the study's value: a real loss of coverage fails, noise does not.
    About 2 s."""
    truth = 0.8 * 2000 - 0.7 * 2500
    covered, errors = [], []
    for rep in range(300):
        res = cost_compare(simulate(200, 50_000 + rep), cost="cost", group="arm")
        e = effect(res, "mean_difference")
        covered.append(e["ci_low"] <= truth <= e["ci_high"])
        errors.append(e["estimate"] - truth)
    assert 0.90 <= np.mean(covered) <= 0.985
    assert abs(np.mean(errors)) < 3 * np.std(errors) / np.sqrt(300)  # unbiased
