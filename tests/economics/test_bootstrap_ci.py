"""Bootstrap intervals against scipy.stats.bootstrap (scipy 1.11+) given the same resamples.

scipy draws each sample's resample indices as ``rng.integers(0, n, (n_resamples, n))``
(``scipy/stats/_resampling.py``, ``_bootstrap_resample``), sample by sample, with
``rng=np.random.default_rng(seed)``; evalkit draws the same stream, so with the same seed
the bootstrap distributions are identical and the intervals agree to 1e-6 (tolerance
for the O(n) closed-form jackknife against scipy's explicit leave-one-out means, and for
np.quantile against scipy.stats.quantile). BCa formulas: Efron and Tibshirani (1993),
BCa chapter. The two cases where exact agreement is impossible are tested with their
reasons: scipy's ``batch`` (it interleaves the samples' draws) and a stratified statistic
whose weights move with scipy's jackknife.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evalkit.economics import bootstrap as bmod
from evalkit.economics import bootstrap_ci
from evalkit.errors import DataError, DesignError

TOL = 1e-6
B = 999


def costs(n: int, seed: int, zero: float = 0.3, mu: float = 6.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < zero, 0.0, rng.lognormal(mu, 1.2, n))


def diff(x, y, axis=-1):
    return np.mean(y, axis=axis) - np.mean(x, axis=axis)


def scipy_ci(data, statistic, method, seed=11, n=B):
    return stats.bootstrap(data, statistic, n_resamples=n, method=method,
                           rng=np.random.default_rng(seed))


@pytest.mark.parametrize("method", ["percentile", "bca", "basic"])
def test_one_sample_mean_equals_scipy(method):
    x = costs(80, 1)
    ours = bootstrap_ci(x, n_resamples=B, method=method, seed=11)
    ref = scipy_ci((x,), np.mean, method)
    np.testing.assert_array_equal(ours.distribution, ref.bootstrap_distribution)
    assert ours.ci_low == pytest.approx(ref.confidence_interval.low, abs=TOL)
    assert ours.ci_high == pytest.approx(ref.confidence_interval.high, abs=TOL)
    assert ours.se == pytest.approx(ref.standard_error, abs=TOL)


@pytest.mark.parametrize("method", ["percentile", "bca", "basic"])
def test_difference_in_means_of_two_arms_equals_scipy(method):
    x, y = costs(70, 2), costs(55, 3, zero=0.2, mu=6.3)
    values, arm = np.concatenate([x, y]), np.repeat(["usual", "scheme"], [70, 55])
    ours = bootstrap_ci(values, groups=arm, reference="usual", n_resamples=B, method=method,
                        seed=11)
    ref = scipy_ci((x, y), diff, method)
    assert ours.groups == ("usual", "scheme") and ours.n == (70, 55)
    np.testing.assert_array_equal(ours.distribution, ref.bootstrap_distribution)
    assert ours.ci_low == pytest.approx(ref.confidence_interval.low, abs=TOL)
    assert ours.ci_high == pytest.approx(ref.confidence_interval.high, abs=TOL)


def test_ratio_of_means_bca_equals_scipy():
    x, y = costs(60, 4), costs(60, 5, mu=6.4)
    ours = bootstrap_ci(np.concatenate([x, y]), "ratio_of_means", groups=np.repeat([0, 1], 60),
                        n_resamples=B, seed=11)
    ref = scipy_ci((x, y), lambda a, b, axis=-1: np.mean(b, axis) / np.mean(a, axis), "bca")
    assert ours.ci_low == pytest.approx(ref.confidence_interval.low, abs=TOL)
    assert ours.ci_high == pytest.approx(ref.confidence_interval.high, abs=TOL)
    assert ours.null == 1.0


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_stratified_difference_equals_scipy_with_one_sample_per_stratum(method):
    """Strata are scipy's multi-sample bootstrap, one sample per arm x stratum, with the
    stratified mean sum_s (n_s / n) mean_s and the weights n_s / n held fixed."""
    x, y = costs(60, 6), costs(45, 7)
    sx, sy = np.arange(60) % 3, np.arange(45) % 2
    ours = bootstrap_ci(np.concatenate([x, y]), groups=np.repeat([0, 1], [60, 45]),
                        strata=np.concatenate([sx, sy]), n_resamples=B, method=method, seed=11)
    cells = [x[sx == s] for s in range(3)] + [y[sy == s] for s in range(2)]
    w = [c.size / 60 for c in cells[:3]] + [c.size / 45 for c in cells[3:]]

    def stratified(*c, axis=-1):
        ref_arm = sum(wi * np.mean(ci, axis=axis) for wi, ci in zip(w[:3], c[:3], strict=True))
        comp = sum(wi * np.mean(ci, axis=axis) for wi, ci in zip(w[3:], c[3:], strict=True))
        return comp - ref_arm

    ref = scipy_ci(cells, stratified, method)
    np.testing.assert_array_equal(ours.distribution, ref.bootstrap_distribution)
    assert ours.ci_low == pytest.approx(ref.confidence_interval.low, abs=TOL)
    assert ours.ci_high == pytest.approx(ref.confidence_interval.high, abs=TOL)


def test_stratified_bca_differs_from_scipy_when_the_weights_move_with_the_jackknife():
    """The one case without exact agreement, and why: if the statistic's stratum weights
    are the resampled sizes (c.shape[-1] / n), scipy's jackknife changes the weights when
    it drops an observation, so its acceleration differs; evalkit keeps the weights fixed
    (Davison and Hinkley, 1997, stratified resampling). The resamples and the percentile interval
    still agree exactly."""
    x = costs(60, 8)
    s = np.repeat([0, 1, 2], [5, 15, 40])  # unequal strata (equal ones scale U alike)
    cells = [x[s == k] for k in range(3)]

    def moving(*c, axis=-1):
        return sum(ci.shape[-1] / 60 * np.mean(ci, axis=axis) for ci in c)

    ours = bootstrap_ci(x, strata=s, n_resamples=B, method="bca", seed=11)
    ref = scipy_ci(cells, moving, "bca")
    np.testing.assert_array_equal(ours.distribution, ref.bootstrap_distribution)
    assert abs(ours.ci_low - ref.confidence_interval.low) > 100 * TOL
    pct = bootstrap_ci(x, strata=s, n_resamples=B, method="percentile", seed=11)
    assert pct.ci_low == pytest.approx(scipy_ci(cells, moving, "percentile")
                                       .confidence_interval.low, abs=TOL)


def test_scipys_batch_interleaves_two_samples_so_only_batch_none_agrees():
    """The other case without exact agreement, and why: with ``batch=b`` scipy draws b
    resamples of x, then b of y, and so on, while evalkit (like scipy's default
    batch=None) draws all of x's resamples, then all of y's. One sample is unaffected."""
    x, y = costs(40, 17), costs(30, 18)
    ours = bootstrap_ci(np.concatenate([x, y]), groups=np.repeat([0, 1], [40, 30]),
                        n_resamples=B, method="percentile", seed=11)
    batched = stats.bootstrap((x, y), diff, n_resamples=B, method="percentile", batch=100,
                              rng=np.random.default_rng(11))
    assert not np.array_equal(ours.distribution, batched.bootstrap_distribution)
    np.testing.assert_array_equal(ours.distribution,
                                  scipy_ci((x, y), diff, "percentile").bootstrap_distribution)
    one = stats.bootstrap((x,), np.mean, n_resamples=B, method="percentile", batch=100,
                          rng=np.random.default_rng(11))
    np.testing.assert_array_equal(bootstrap_ci(x, n_resamples=B, method="percentile",
                                               seed=11).distribution,
                                  one.bootstrap_distribution)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_a_callable_statistic_follows_scipys_convention(method):
    x, y = costs(40, 9), costs(35, 10)

    def median_difference(a, b, axis=-1):
        return np.median(b, axis=axis) - np.median(a, axis=axis)

    ours = bootstrap_ci(np.concatenate([x, y]), median_difference,
                        groups=np.repeat([0, 1], [40, 35]), n_resamples=B, method=method,
                        seed=11)
    ref = scipy_ci((x, y), median_difference, method)
    assert ours.ci_low == pytest.approx(ref.confidence_interval.low, abs=TOL)
    assert ours.ci_high == pytest.approx(ref.confidence_interval.high, abs=TOL)


def test_blocks_and_the_prefetch_thread_do_not_change_the_stream(monkeypatch):
    x, y = costs(300, 12), costs(250, 13)
    values, arm = np.concatenate([x, y]), np.repeat([0, 1], [300, 250])
    whole = bootstrap_ci(values, groups=arm, n_resamples=B, seed=5)
    monkeypatch.setattr(bmod, "_BLOCK", 1000)      # 3 rows per block
    monkeypatch.setattr(bmod, "_PREFETCH", 1)      # always use the helper thread
    blocked = bootstrap_ci(values, groups=arm, n_resamples=B, seed=5)
    np.testing.assert_array_equal(whole.distribution, blocked.distribution)
    assert (whole.ci_low, whole.ci_high) == (blocked.ci_low, blocked.ci_high)


def test_same_seed_same_output_and_other_seed_differs():
    x = costs(100, 14)
    a, b = bootstrap_ci(x, seed=3), bootstrap_ci(x, seed=3)
    assert a.as_dict() == b.as_dict()
    np.testing.assert_array_equal(a.distribution, b.distribution)
    assert bootstrap_ci(x, seed=4).ci_low != a.ci_low


def test_acceleration_for_the_mean_is_the_skewness_formula():
    """For the mean, U_i = x_i - mean(x), so a = sum d^3 / (6 (sum d^2)^1.5)
    (Efron and Tibshirani, 1993, BCa chapter)."""
    x = costs(150, 15)
    d = x - x.mean()
    ours = bootstrap_ci(x, n_resamples=200, seed=1)
    assert ours.acceleration == pytest.approx(np.sum(d**3) / (6 * np.sum(d**2) ** 1.5),
                                              rel=1e-9)


def test_percentile_p_value_by_hand():
    x = costs(50, 16) - 300.0  # a mean near zero
    res = bootstrap_ci(x, method="percentile", n_resamples=B, seed=2)
    reps = res.distribution
    f0 = (np.sum(reps < 0) + np.sum(reps <= 0)) / (2 * B)
    assert res.p_value == pytest.approx(max(2 * min(f0, 1 - f0), 1 / B), abs=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_degenerate_data_give_nan_like_scipy():
    x = np.full(20, 5.0)
    ours = bootstrap_ci(x, n_resamples=200, seed=1)
    with pytest.warns(stats.DegenerateDataWarning):
        ref = scipy_ci((x,), np.mean, "bca", n=200)
    assert np.isnan(ours.ci_low) and np.isnan(ref.confidence_interval.low)
    assert any("degenerate" in w for w in ours.warnings)


def test_bad_input_is_refused_with_rows_and_hints():
    with pytest.raises(DataError, match="missing or non-numeric") as err:
        bootstrap_ci([1.0, np.nan, 3.0, "x"])
    assert list(err.value.rows) == [3, 5]
    with pytest.raises(DesignError, match="exactly two values"):
        bootstrap_ci(np.arange(9.0), groups=np.arange(9) % 3)
    with pytest.raises(DesignError, match="at least 2"):
        bootstrap_ci(np.arange(5.0), groups=[0, 0, 0, 0, 1])
    with pytest.raises(DesignError, match="did you mean 'bca'"):
        bootstrap_ci(np.arange(5.0), method="bcaa")
    with pytest.raises(DesignError, match="reference"):
        bootstrap_ci(np.arange(4.0), groups=[0, 0, 1, 1], reference=2)
    with pytest.raises(DataError, match="group label is missing") as err:
        bootstrap_ci(np.arange(4.0), groups=["a", None, "b", "b"])
    assert list(err.value.rows) == [3]
