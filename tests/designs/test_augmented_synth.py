"""Ridge-augmented synthetic control: pysyncon on Proposition 99, the formula, refusals.

Peer: pysyncon's ``AugSynth`` (Ben-Michael, Feller and Rothstein 2021, following the R
package augsynth with ``progfunc = "Ridge"``), fitted on the smoking panel of Abadie,
Diamond and Hainmueller (2010) with outcomes only (``use_covariates=False``), so that it
solves the same problem as :func:`ridge_augment`. The SCM weights fed to
:func:`ridge_augment` are the ones pysyncon's ``AugSynth`` itself augments (its
``synw``: pysyncon's simplex fit to the centred pre-period outcomes), so the comparison
is like for like.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.designs.augmented_synth import (
    AugmentedFit,
    lambda_grid,
    ridge_augment,
    ridge_correction,
)
from evalkit.designs.synth_solver import simplex_least_squares

YEARS = list(range(1970, 2001))
T0 = 19                                          # 1970-1988


@pytest.fixture(scope="module")
def smoking(validation_dir) -> pd.DataFrame:
    return pd.read_csv(validation_dir / "smoking.csv")


@pytest.fixture(scope="module")
def prop99(smoking):
    """(y_treated, Y_donors, donor names) with years 1970-2000 as columns."""
    wide = smoking.pivot(index="state", columns="year", values="cigsale")
    assert list(wide.columns) == YEARS
    donors = [s for s in smoking["state"].unique() if s != "California"]
    return wide.loc["California"].to_numpy(), wide.loc[donors].to_numpy(), donors


@pytest.fixture(scope="module")
def pysyncon_aug(smoking, prop99):
    pysyncon = pytest.importorskip("pysyncon")
    if not hasattr(pysyncon, "AugSynth"):
        pytest.skip("this pysyncon has no AugSynth")
    _, _, donors = prop99
    prep = pysyncon.Dataprep(
        foo=smoking, predictors=["lnincome", "retprice", "age15to24"], predictors_op="mean",
        time_predictors_prior=range(1980, 1989),
        special_predictors=[("beer", range(1984, 1989), "mean"), ("cigsale", [1975], "mean"),
                            ("cigsale", [1980], "mean"), ("cigsale", [1988], "mean")],
        dependent="cigsale", unit_variable="state", time_variable="year",
        treatment_identifier="California", controls_identifier=donors,
        time_optimize_ssr=range(1970, 1989))
    aug = pysyncon.AugSynth()
    aug.fit(dataprep=prep, use_covariates=False)        # lambda by pysyncon's CV
    return aug, prep


def random_problem(seed: int, n: int = 12, T: int = 15, T0: int = 10):
    rng = np.random.default_rng(seed)
    Y = rng.normal(0, 1, size=(n, T)).cumsum(axis=1) + rng.normal(0, 3, size=(n, 1))
    y = rng.normal(0, 1, size=T).cumsum() + 1.0
    w = rng.dirichlet(np.ones(n))
    return y, Y, T0, w


# --------------------------------------------------------------------------- pysyncon


def test_weights_and_gaps_match_pysyncon_at_its_lambda(prop99, pysyncon_aug):
    """Same SCM weights and lambda: augmented weights to 1e-6, synthetic paths to 1e-4."""
    y, Y, donors = prop99
    aug, prep = pysyncon_aug
    theirs_scm = pd.Series(np.asarray(aug.synw), index=prep.controls_identifier)[donors]
    theirs_w = pd.Series(np.asarray(aug.W), index=prep.controls_identifier)[donors]
    fit = ridge_augment(y, Y, T0, theirs_scm.to_numpy(), lam=aug.lambda_)
    assert isinstance(fit, AugmentedFit) and fit.lam_path is None
    assert np.abs(fit.weights - theirs_w.to_numpy()).max() < 1e-6
    assert fit.weights.min() < 0                        # augmentation does extrapolate here
    Z0, Z1 = prep.make_outcome_mats(time_period=YEARS)
    their_gap = Z1.to_numpy() - Z0[donors].to_numpy() @ theirs_w.to_numpy()
    np.testing.assert_allclose(y - fit.synthetic, their_gap, atol=1e-4)
    scm_path = Y.T @ theirs_scm.to_numpy()
    np.testing.assert_allclose(fit.correction, fit.synthetic - scm_path, atol=1e-9)


def test_cross_validation_matches_pysyncon(prop99, pysyncon_aug):
    """CV errors on the shared grid points to 0.1% and the same chosen lambda.

    pysyncon's grid is augsynth's shifted by one step (it starts at lam_max / r and
    stops one value short), so 20 of the 21 points are shared. Its fold SCM fits use
    SLSQP, ours an exact active-set solver: hence a relative, not exact, tolerance.
    """
    y, Y, donors = prop99
    aug, prep = pysyncon_aug
    scm = pd.Series(np.asarray(aug.synw), index=prep.controls_identifier)[donors].to_numpy()
    fit = ridge_augment(y, Y, T0, scm)
    path = fit.lam_path
    assert list(path.columns[:2]) == ["lam", "cv_error"] and len(path) == 21
    theirs = pd.Series(aug.cv_result.errors_mean, index=np.log(aug.cv_result.lambdas))
    ours = pd.Series(path["cv_error"].to_numpy(), index=np.log(path["lam"].to_numpy()))
    shared = [k for k in ours.index if np.isclose(theirs.index, k, atol=1e-9).any()]
    assert len(shared) == 20
    for k in shared:
        their = theirs.iloc[int(np.argmin(np.abs(theirs.index - k)))]
        assert ours[k] == pytest.approx(their, rel=1e-3)
    assert fit.lam == pytest.approx(aug.lambda_, rel=1e-9)


# --------------------------------------------------------------------------- the formula


@pytest.mark.parametrize("seed", range(4))
def test_weights_follow_the_augsynth_formula(seed):
    """w + X_c (X_c'X_c + lam I)^-1 (x_1 - X_c'w), written out with a linear solve."""
    y, Y, T0_, w = random_problem(seed)
    lam = [0.01, 1.0, 10.0, 1e3][seed]
    X = Y[:, :T0_]
    X_c = X - X.mean(axis=0)
    x1_c = y[:T0_] - X.mean(axis=0)
    expected = w + X_c @ np.linalg.solve(X_c.T @ X_c + lam * np.eye(T0_), x1_c - X_c.T @ w)
    fit = ridge_augment(y, Y, T0_, w, lam=lam)
    np.testing.assert_allclose(fit.weights, expected, atol=1e-10)
    np.testing.assert_allclose(fit.synthetic, Y.T @ expected, atol=1e-9)


@pytest.mark.parametrize("lam", [0.0, 1e-6, 0.5, 50.0, 1e8])
def test_augmented_weights_sum_to_one(lam):
    """Centring makes every column of X_c sum to zero, so the correction sums to zero."""
    y, Y, T0_, w = random_problem(7, n=9, T=20, T0=14)
    fit = ridge_augment(y, Y, T0_, w, lam=lam)
    assert fit.weights.sum() == pytest.approx(1.0, abs=1e-10)


def test_large_lambda_gives_back_the_scm_weights():
    y, Y, T0_, w = random_problem(3)
    fit = ridge_augment(y, Y, T0_, w, lam=1e14)
    np.testing.assert_allclose(fit.weights, w, atol=1e-9)
    np.testing.assert_allclose(fit.correction, 0.0, atol=1e-7)


def test_exact_fit_inside_the_hull_needs_no_correction():
    """A treated unit that is a convex combination of donors: SCM fits it, ridge adds 0."""
    rng = np.random.default_rng(11)
    Y = rng.normal(0, 1, size=(15, 24)).cumsum(axis=1)
    truth = np.zeros(15)
    truth[[2, 5, 9]] = [0.5, 0.3, 0.2]
    y = Y.T @ truth
    w, ok = simplex_least_squares(Y[:, :16].T, y[:16])   # an independent SCM fit
    assert ok
    for lam in (1e-3, 1.0, None):
        fit = ridge_augment(y, Y, 16, w, lam=lam)
        np.testing.assert_allclose(fit.correction, 0.0, atol=1e-8)
        np.testing.assert_allclose(fit.synthetic, y, atol=1e-8)


def test_ridge_shrinks_the_pre_period_imbalance():
    """Residual after augmentation is lam (X_c'X_c + lam I)^-1 r: smaller, never larger."""
    y, Y, T0_, w = random_problem(5)
    r = y[:T0_] - Y[:, :T0_].T @ w
    X_c = Y[:, :T0_] - Y[:, :T0_].mean(axis=0)
    previous = np.linalg.norm(r)
    for lam in (1e4, 100.0, 1.0, 0.01):
        fit = ridge_augment(y, Y, T0_, w, lam=lam)
        after = y[:T0_] - fit.synthetic[:T0_]
        np.testing.assert_allclose(after, lam * np.linalg.solve(X_c.T @ X_c + lam * np.eye(T0_), r),
                                   atol=1e-8)
        assert np.linalg.norm(after) <= previous + 1e-12
        previous = np.linalg.norm(after)


def test_zero_lambda_interpolates_the_pre_period_when_donors_outnumber_periods():
    y, Y, _, w = random_problem(9, n=20, T=12, T0=8)
    fit = ridge_augment(y, Y, 8, w, lam=0.0)
    np.testing.assert_allclose(fit.synthetic[:8], y[:8], atol=1e-8)


def test_ridge_correction_by_svd_matches_a_direct_solve():
    rng = np.random.default_rng(2)
    X_c = rng.normal(size=(10, 6))
    r = rng.normal(size=6)
    lams = np.array([1e-3, 0.3, 30.0])
    got = ridge_correction(X_c, r, lams)
    for k, lam in enumerate(lams):
        np.testing.assert_allclose(got[k], X_c @ np.linalg.solve(X_c.T @ X_c + lam * np.eye(6), r),
                                   atol=1e-10)


def test_lambda_grid_is_augsynths():
    """lam_max = largest squared singular value; 21 values down to lam_max * 1e-8."""
    X_c = np.random.default_rng(0).normal(size=(8, 5))
    grid = lambda_grid(X_c)
    assert len(grid) == 21
    assert grid[0] == pytest.approx(np.linalg.eigvalsh(X_c.T @ X_c).max(), rel=1e-12)
    assert grid[-1] == pytest.approx(grid[0] * 1e-8, rel=1e-12)
    np.testing.assert_allclose(grid[1:] / grid[:-1], 1e-8 ** (1 / 20), rtol=1e-12)


def test_cv_rules():
    """lambda.min takes the CV minimiser; the default 1-se rule the largest lambda within 1 se."""
    y, Y, T0_, w = random_problem(4, n=15, T=20, T0=15)
    one_se = ridge_augment(y, Y, T0_, w)
    at_min = ridge_augment(y, Y, T0_, w, min_1se=False)
    path = one_se.lam_path
    best = path["cv_error"].idxmin()
    assert at_min.lam == path.loc[best, "lam"]
    within = path["cv_error"] <= path.loc[best, "cv_error"] + path.loc[best, "cv_se"]
    assert one_se.lam == path.loc[within, "lam"].max()
    assert one_se.lam >= at_min.lam
    assert len(path) == 21 and (path["cv_se"] > 0).all()


# --------------------------------------------------------------------------- refusals


def test_bad_inputs_are_refused():
    y, Y, T0_, w = random_problem(0)
    with pytest.raises(ValueError, match=r"period\(s\) but y_treated has"):
        ridge_augment(y[:-1], Y, T0_, w)
    with pytest.raises(ValueError, match="one weight per donor"):
        ridge_augment(y, Y, T0_, w[:-1])
    with pytest.raises(ValueError, match="T0 must be"):
        ridge_augment(y, Y, 0, w, lam=1.0)
    with pytest.raises(ValueError, match="T0 must be"):
        ridge_augment(y, Y, Y.shape[1] + 1, w, lam=1.0)
    y_nan = y.copy()
    y_nan[2] = np.nan
    with pytest.raises(ValueError, match="y_treated contains 1 missing"):
        ridge_augment(y_nan, Y, T0_, w)
    Y_nan = Y.copy()
    Y_nan[1, 1] = np.inf
    with pytest.raises(ValueError, match="Y_donors contains 1 missing"):
        ridge_augment(y, Y_nan, T0_, w)
    with pytest.raises(ValueError, match="non-negative and sum to one"):
        ridge_augment(y, Y, T0_, w * 2)
    with pytest.raises(ValueError, match="lam must be"):
        ridge_augment(y, Y, T0_, w, lam=-1.0)
    with pytest.raises(ValueError, match="cross-validation needs at least 3 pre-periods"):
        ridge_augment(y, Y, 2, w)
    with pytest.raises(ValueError, match="2-D"):
        ridge_augment(y, Y[0], T0_, w)
