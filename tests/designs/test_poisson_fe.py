"""Poisson PML with absorbed unit and period effects: statsmodels equivalence, drops, errors.

Reference throughout: statsmodels ``GLM(family=Poisson())`` with explicit unit dummies and
period dummies (first period dropped), ``offset=log(exposure)``, fitted with
``cov_type="cluster"``. Its default small-sample factor (``use_correction=True``, in
``statsmodels.stats.sandwich_covariance.cov_cluster``) is ``G/(G-1) * (N-1)/(N-K)`` with
``K`` all parameters including the dummies; ``df_correction`` only changes the reference
distribution, not the covariance. That is ``poisson_fe``'s ``ssc="full"`` convention, so the
comparisons below use it: coefficients agree to 1e-8 and standard errors to 1e-6
(relative). The default convention (fixest's, nested unit effects not counted) is tested
against pyfixest's ``fepois`` in test_cluster_se.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from evalkit.designs.poisson_fe import PoissonFEFit, poisson_fe
from evalkit.errors import DataError, DesignError


def simulate(n_units: int = 60, n_periods: int = 12, *, rate_ratio: float = 0.8,
             missing: float = 0.1, seed: int = 0) -> dict[str, np.ndarray]:
    """An unbalanced practice-month panel with staggered adoption and one covariate."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    time = np.tile(np.arange(n_periods), n_units)
    keep = rng.random(unit.size) >= missing
    unit, time = unit[keep], time[keep]
    never = 10**6
    starts = np.r_[np.arange(n_periods // 3, n_periods), np.full(n_periods, never)]
    start = rng.choice(starts, n_units)
    treated = (time >= start[unit]).astype(float)
    cov = rng.normal(size=unit.size) + 0.05 * time
    list_size = rng.integers(2000, 20000, n_units).astype(float)[unit]
    a = rng.normal(0, 0.3, n_units)
    lam = 0.15 * np.sin(np.arange(n_periods) / 2)
    mu = list_size / 1000 * 0.5 * np.exp(a[unit] + lam[time] + np.log(rate_ratio) * treated
                                         + 0.2 * cov)
    y = rng.poisson(mu).astype(float)
    return {"y": y, "X": np.column_stack([treated, cov]), "unit": unit, "time": time,
            "exposure": list_size}


def statsmodels_fit(d: dict[str, np.ndarray], *, exposure: bool = True, groups=None):
    """The reference: Poisson GLM with explicit dummies and clustered covariance."""
    _, u = np.unique(d["unit"], return_inverse=True)
    _, t = np.unique(d["time"], return_inverse=True)
    Z = np.column_stack([d["X"], np.eye(u.max() + 1)[u], np.eye(t.max() + 1)[t][:, 1:]])
    offset = np.log(d["exposure"]) if exposure else None
    model = sm.GLM(d["y"], Z, family=sm.families.Poisson(), offset=offset)
    return model.fit(tol=1e-13, cov_type="cluster",
                     cov_kwds={"groups": u if groups is None else groups})


def subset(d: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in d.items()}


def assert_matches(fit: PoissonFEFit, ref, k: int = 2) -> None:
    # Reference: statsmodels GLM Poisson with dummies (see module docstring).
    np.testing.assert_allclose(fit.beta, ref.params[:k], rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.se, ref.bse[:k], rtol=1e-6)
    np.testing.assert_allclose(fit.vcov, ref.cov_params()[:k, :k], rtol=1e-6)
    np.testing.assert_allclose(fit.mu, ref.mu, rtol=1e-7)
    assert fit.deviance == pytest.approx(ref.deviance, rel=1e-9)


@pytest.fixture(scope="module")
def panel() -> dict[str, np.ndarray]:
    return simulate()


def test_matches_statsmodels_glm_with_dummies(panel):
    # Reference: statsmodels GLM Poisson + unit/period dummies + offset, cov_type="cluster"
    # by unit (CR1 factor G/(G-1) (N-1)/(N-K), K counting every dummy).
    fit = poisson_fe(panel["y"], panel["X"], panel["unit"], panel["time"],
                     exposure=panel["exposure"], ssc="full")
    ref = statsmodels_fit(panel)
    assert_matches(fit, ref)
    assert fit.converged and fit.used.all()
    assert fit.dropped_units == fit.dropped_periods == 0
    assert fit.clusters == 60
    rr, low, high = fit.rate_ratio(0)
    assert rr == pytest.approx(np.exp(ref.params[0]), rel=1e-8)
    assert low < rr < high


def test_matches_statsmodels_with_coarser_clusters(panel):
    # Reference: as above, clustered by groups of 4 units (e.g. primary care networks).
    groups = panel["unit"] // 4
    fit = poisson_fe(panel["y"], panel["X"], panel["unit"], panel["time"],
                     exposure=panel["exposure"], clusters=groups, ssc="full")
    ref = statsmodels_fit(panel, groups=groups)
    assert_matches(fit, ref)
    assert fit.clusters == 15


def test_all_zero_unit_and_period_are_dropped(panel):
    # Reference: statsmodels GLM Poisson with dummies fitted on the panel without the
    # all-zero unit and period (their effects are -infinity; they add nothing).
    d = {k: v.copy() for k, v in panel.items()}
    zero = (d["unit"] == 7) | (d["time"] == 11)
    d["y"][zero] = 0.0
    fit = poisson_fe(d["y"], d["X"], d["unit"], d["time"], exposure=d["exposure"], ssc="full")
    assert fit.dropped_units == 1 and fit.dropped_periods == 1
    np.testing.assert_array_equal(fit.used, ~zero)
    ref = statsmodels_fit(subset(d, ~zero))
    assert_matches(fit, ref)
    assert fit.clusters == 59


def test_without_exposure(panel):
    # Reference: statsmodels GLM Poisson with dummies and no offset; one unit all zero.
    d = {k: v.copy() for k, v in panel.items()}
    d["y"][d["unit"] == 3] = 0.0
    fit = poisson_fe(d["y"], d["X"], d["unit"], d["time"], ssc="full")
    assert fit.dropped_units == 1 and fit.dropped_periods == 0
    ref = statsmodels_fit(subset(d, d["unit"] != 3), exposure=False)
    assert_matches(fit, ref)


def test_recovers_known_rate_ratio_in_large_panel():
    # Reference: the simulation truth (rate ratio 0.9, covariate coefficient 0.2).
    d = simulate(2000, 60, rate_ratio=0.9, missing=0.05, seed=11)
    fit = poisson_fe(d["y"], d["X"], d["unit"], d["time"], exposure=d["exposure"])
    assert abs(fit.beta[0] - np.log(0.9)) < 3 * fit.se[0]
    assert abs(fit.beta[1] - 0.2) < 3 * fit.se[1]
    rr, low, high = fit.rate_ratio(0)
    assert low < 0.9 < high
    assert fit.se[0] < 0.01


def test_non_integer_outcomes_are_allowed(panel):
    # Reference: statsmodels GLM Poisson with dummies (PPML needs only E[y]; y need not be
    # a count, e.g. admissions per 1,000 with exposure in thousands).
    d = {k: v.copy() for k, v in panel.items()}
    d["y"] = d["y"] * 0.37
    fit = poisson_fe(d["y"], d["X"], d["unit"], d["time"], exposure=d["exposure"], ssc="full")
    assert_matches(fit, statsmodels_fit(d))


def _bad(panel, **changes):
    args = {"y": panel["y"], "X": panel["X"], "unit": panel["unit"], "time": panel["time"],
            "exposure": panel["exposure"]}
    args.update(changes)
    return args


def _set(arr: np.ndarray, index: int, value: float) -> np.ndarray:
    out = np.array(arr, dtype=float, copy=True)
    out[index] = value
    return out


@pytest.mark.parametrize("change, error, words", [
    (lambda p: {"y": _set(p["y"], 4, -1.0)}, DataError, "negative"),
    (lambda p: {"y": _set(p["y"], 4, np.nan)}, DataError, "missing or infinite"),
    (lambda p: {"y": _set(p["y"], 4, np.inf)}, DataError, "missing or infinite"),
    (lambda p: {"X": _set(p["X"], 4, np.nan)}, DataError, "X has missing"),
    (lambda p: {"exposure": _set(p["exposure"], 2, 0.0)}, DataError, "not positive"),
    (lambda p: {"exposure": _set(p["exposure"], 2, -5.0)}, DataError, "not positive"),
    (lambda p: {"exposure": p["exposure"][1:]}, DataError, "exposure has"),
    (lambda p: {"X": p["X"][1:]}, DataError, "X has"),
    (lambda p: {"unit": p["unit"][1:]}, DataError, "unit has"),
    (lambda p: {"time": p["time"] + 0.5}, DataError, "integer codes"),
    (lambda p: {"unit": p["unit"] - 1}, DataError, "negative codes"),
    (lambda p: {"y": np.zeros_like(p["y"])}, DesignError, "every outcome is zero"),
    # A treated-group flag is constant within units: absorbed by the unit effects.
    (lambda p: {"X": np.column_stack([p["X"], (p["unit"] < 30).astype(float)])}, DesignError,
     "no variation"),
    (lambda p: {"X": np.column_stack([p["X"], p["time"] ** 2])}, DesignError, "no variation"),
    (lambda p: {"X": np.column_stack([p["X"], 2 * p["X"][:, 1] + 1])}, DesignError,
     "collinear"),
    (lambda p: {"clusters": np.zeros_like(p["unit"])}, DesignError, "at least 2 clusters"),
])
def test_bad_input_is_refused_with_a_fix(panel, change, error, words):
    # Reference: evalkit.errors contract (a clear message and a fix).
    with pytest.raises(error, match=words) as info:
        poisson_fe(**_bad(panel, **change(panel)))
    assert info.value.fix


def test_non_convergence_is_reported(panel):
    # Reference: evalkit.errors contract; IRLS needs several iterations here.
    with pytest.raises(DesignError, match="did not converge") as info:
        poisson_fe(panel["y"], panel["X"], panel["unit"], panel["time"],
                   exposure=panel["exposure"], max_iter=2)
    assert "max_iter" in info.value.fix


def test_separation_by_a_regressor_is_reported(panel):
    # Reference: Correia, Guimaraes and Zylkin (2020): a regressor non-zero only where y = 0
    # sends its coefficient to -infinity; it must not be returned as a finite estimate.
    d = {k: v.copy() for k, v in panel.items()}
    d["y"][:3] = 0.0  # three of unit 0's months; its other months have admissions
    assert d["y"][d["unit"] == 0].sum() > 0
    flag = np.zeros(d["y"].size)
    flag[:3] = 1.0
    with pytest.raises(DesignError, match="separation"):
        poisson_fe(d["y"], np.column_stack([d["X"], flag]), d["unit"], d["time"],
                   exposure=d["exposure"])
