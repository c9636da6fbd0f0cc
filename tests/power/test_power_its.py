"""ITS power by simulation: against the GLS closed form, and on the synthetic panel."""

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.designs.its_model import Interruption, _ar1_inverse, design_matrix
from evalkit.errors import DesignError
from evalkit.power.its import ar1_noise, its_mde, simulate_its

REPS = 3000


def _design(n_pre, n_post, impact="step+slope"):
    codes = np.arange(n_pre + n_post)
    X = design_matrix(codes, [Interruption(n_pre, str(n_pre), impact)], first=0,
                      monthly=False)
    return X.to_numpy(float), list(X.columns).index("level_change")


def test_ar1_noise_has_unit_variance_and_lag1_correlation():
    e = ar1_noise(np.random.default_rng(0), 4000, 50, 0.6)
    assert e.var() == pytest.approx(1.0, abs=0.03)
    assert np.mean(e[:, 1:] * e[:, :-1]) == pytest.approx(0.6, abs=0.03)


def test_gaussian_ar1_spread_matches_gls_variance():
    n_pre, n_post, rho, sigma2 = 60, 24, 0.4, 4.0
    X, j = _design(n_pre, n_post)
    n = len(X)
    # The GLS variance of the level-change coefficient: sigma^2 (X' R^-1 X)^-1.
    gls = np.sqrt(sigma2 * np.linalg.inv(X.T @ _ar1_inverse(n, rho) @ X)[j, j])
    out = simulate_its(np.full(n, 10.0), X, np.zeros(n), column=j, family="gaussian",
                       rho=rho, scale=sigma2, effect=0.0, reps=REPS,
                       rng=np.random.default_rng(11), treated_post=(np.arange(n) >= n_pre))
    sd = np.std(out["estimate"], ddof=1)
    # Monte Carlo error of an SD from REPS draws is about 1/sqrt(2 REPS) = 1.3%; rho is
    # estimated in each replication, which costs a little efficiency.
    assert sd == pytest.approx(gls, rel=0.06)
    assert np.mean(out["estimate"]) == pytest.approx(0.0, abs=4 * gls / np.sqrt(REPS))


def test_planted_gaussian_effect_is_recovered():
    X, j = _design(48, 24)
    n = len(X)
    out = simulate_its(np.full(n, 10.0), X, np.zeros(n), column=j, family="gaussian",
                       rho=0.3, scale=1.0, effect=2.0, reps=1000,
                       rng=np.random.default_rng(2), treated_post=(np.arange(n) >= 48))
    assert np.mean(out["estimate"]) == pytest.approx(2.0, abs=0.05)


def test_count_spread_matches_its_power_closed_form():
    n_pre, n_post = 48, 24
    X, j = _design(n_pre, n_post, "step")
    n = len(X)
    closed = ek.its_power(n_pre=n_pre, n_post=n_post, baseline_count=200, dispersion=2.0,
                          rho=0.3)["se_log_level"]
    out = simulate_its(np.full(n, 200.0), X, np.zeros(n), column=j, family="quasipoisson",
                       rho=0.3, scale=2.0, effect=0.0, reps=REPS,
                       rng=np.random.default_rng(7), treated_post=(np.arange(n) >= n_pre))
    # ek.its_power's closed form is the default latent AR(1) estimator's variance (REML
    # limit sandwich plus Kackar-Harville's term); the Monte Carlo error of the SD is 1.3%,
    # and the first-order term leaves the simulated spread about 4% above it.
    assert np.std(out["estimate"], ddof=1) == pytest.approx(closed, rel=0.06)


@pytest.fixture(scope="module")
def wards():
    return ek.read("data/synthetic/virtual-wards/panel.csv")


@pytest.fixture(scope="module")
def controlled(wards):
    return its_mde(wards, outcome="emergency_admissions", time="month", start="2019-10",
                   treated="treated", control="comparison", denominator="list_size",
                   seasonality={"fourier": 2, "period": 12}, followups=(3, 12, 36),
                   effect=0.85, n_sims=150, seed=4)


def test_controlled_its_result_shape(controlled):
    res = controlled
    assert res.design == "controlled_its" and res.scale == "ratio"
    curve = res.plot_data()["mde_by_followup"]
    assert list(curve["followup"]) == [3, 12, 36]
    assert curve["mde"].iloc[0] > curve["mde"].iloc[-1]  # longer follow-up, smaller MDE
    assert (curve["mde_fall"] < 1).all() and (curve["mde_rise"] > 1).all()
    assert bool(curve.loc[curve["followup"] == 3, "below_minimum"].iloc[0])
    frame = res.to_frame().set_index("quantity")
    assert frame.loc["mde", "followup"] == 12
    assert frame.loc["mde", "mde_fall"] == pytest.approx(np.exp(-res.mde))
    assert 0 <= frame.loc["power", "value"] <= 1
    assert "MDE at 12 periods" in res.summary()
    # The pre-period fit keeps the series' overdispersion (the synthetic panel has some).
    assert res.diagnostics["scale"] > 1.5


def test_its_mde_is_reproducible(wards):
    kw = dict(outcome="emergency_admissions", time="month", start="2019-10",
              treated="treated", denominator="list_size", followups=(12,), n_sims=60)
    a, b = its_mde(wards, seed=9, **kw), its_mde(wards, seed=9, **kw)
    pd.testing.assert_frame_equal(a.curve, b.curve)
    assert a.design == "its"


def test_its_mde_refuses_negbin(wards):
    with pytest.raises(DesignError, match="quasipoisson"):
        its_mde(wards, outcome="emergency_admissions", time="month", start="2019-10",
                family="negbin")
