"""Vectorised non-parametric bootstrap confidence intervals for (mean) costs.

Cost data are skewed, often with many zeros, so intervals that assume normality can
mislead in small samples; the non-parametric bootstrap is the usual remedy (Barber and
Thompson, 2000; Mihaylova et al., 2011). :func:`bootstrap_ci` resamples the data with
replacement, independently within each group (arm) and, when given, within strata, and
returns a percentile, basic or bias-corrected and accelerated (BCa) interval (Efron and
Tibshirani, 1993).

Resampling
    For each sample (an arm, or a stratum within an arm) of size ``n``, in order, the
    indices of all ``B`` resamples are drawn as ``rng.integers(0, n, (B, n))`` (in row
    blocks; numpy's generator yields the same stream whatever the block size), exactly as
    :func:`scipy.stats.bootstrap` draws them with ``rng=np.random.default_rng(seed)``. For
    the mean, each block's resampled sums are one gather and one row sum, so there is no
    Python loop over replicates; generating the next block runs in a helper thread while
    the current one is summed (the stream, and so the output, is unchanged). The
    resamples equal scipy's with its default ``batch=None``; with a ``batch``, scipy
    interleaves the samples' draws batch by batch, so two-sample resamples differ (one
    sample is unaffected).

BCa
    ``z0 = Phi^-1(#{theta_b < theta} / B + #{theta_b = theta} / (2B))`` and, for samples
    ``j`` of sizes ``n_j`` with jackknife (leave-one-out) values ``theta_(i)``,
    ``U_ji = (n_j - 1)(mean_i theta_(i) - theta_(i))`` and
    ``a = sum_j sum_i U_ji^3 / n_j^3 / (6 (sum_j sum_i U_ji^2 / n_j^2)^(3/2))``
    (Efron and Tibshirani, 1993, BCa chapter; extended to several samples as in scipy).
    The interval is the ``Phi(z0 + (z0 + z_q) / (1 - a (z0 + z_q)))`` quantiles of the
    bootstrap distribution for ``z_q = Phi^-1(alpha/2)`` and ``Phi^-1(1 - alpha/2)``. For
    the mean, the leave-one-out means are ``(S - x_i) / (n - 1)``, so the jackknife costs
    O(n) rather than O(n^2).

Strata
    Each stratum is resampled at its own size, and the statistic is the stratified mean
    ``sum_s (n_s / n) mean_s`` (equal to the pooled mean of every resample). Its jackknife
    deletes one observation from one stratum, keeping the weights ``n_s / n`` fixed.

Clusters (``cluster=``)
    Where patients are nested in practices, outcomes correlate within a practice and
    resampling patients one by one understates the variance (by about the design effect
    ``1 + (m - 1) ICC`` for ``m`` patients per practice). With ``cluster`` the bootstrap
    resamples whole practices instead: each practice's sums and patient counts per group
    are formed once; the practices are split into two resampling strata, those holding
    the comparison group (the scheme's practices, which may hold reference patients too)
    and the rest (with arms in separate practices this is stratification by arm; where
    every practice holds both groups, or one practice alone would make a stratum, all
    are resampled together); and each replicate draws, in every stratum of ``a``
    practices, ``a - 1`` of them with replacement as multinomial counts. A
    replicate's group mean is ``sum_c w_c S_gc / sum_c w_c N_gc``: one matrix product of
    the counts ``(B, C)`` with the cluster sums, with no Python loop over replicates.
    Drawing ``a - 1`` rather than ``a`` makes the bootstrap variance of a mean equal the
    usual unbiased between-cluster estimate ``s_b^2 / a`` (equal cluster sizes; its
    linearised ratio form otherwise), where drawing ``a`` gives ``(a - 1) / a`` of it
    (McCarthy and Snowden, 1985; Rao and Wu, 1988). This is Davison and Hinkley's (1997,
    section 3.8) first strategy, clusters resampled and kept whole; their second,
    the two-stage bootstrap that also resamples patients within each drawn practice,
    counts the within-practice variance twice unless its residuals are shrunk (Ng, Grieve
    and Carpenter, 2013), and the cost-effectiveness quantities here (differences of mean
    cost and effect, net benefit) need only the between-practice variance of the
    practices' sums, which the one-stage bootstrap gets right. ``docs/cost-coverage.md``
    has the coverage study. The BCa jackknife leaves out one practice at a time; the
    statistic is the pooled mean, ``S_g / N_g``.

Small-sample factor (clusters)
    The cluster bootstrap's variance is unbiased, but an interval read from it has normal
    tails, while with few practices that variance is itself uncertain. As a cluster-robust
    SE is referred to a t rather than a normal distribution, the replicates' deviations
    from the estimate are multiplied by ``t_{df, 1 - alpha/2} / z_{1 - alpha/2}`` with
    ``df = G - S``, the practices less the resampling strata (one mean estimated per
    stratum; :func:`cluster_t_factor`), before the interval and p-value are read from them:
    1.033 with 20 practices per arm in separate practices (``df = 38``), 1.016 with 40,
    tending to 1. Every method is affected alike (the BCa bias correction ``z0`` and
    acceleration are unchanged by a stretch about the estimate, so its interval is the
    unscaled one stretched). The result's ``distribution`` holds the scaled replicates
    (so anything computed from them, such as the probability that a scheme is
    cost-effective, agrees with the interval) and ``se`` the SD of the unscaled ones.
    Patients resampled one by one are not scaled.

p-values
    The two-sided p-value is the smallest ``1 - conf_level`` at which the interval
    (of the chosen method) excludes the null value, found by inverting the method's
    quantile mapping; its resolution is about ``1 / B``.

References
----------
Efron B, Tibshirani RJ. *An Introduction to the Bootstrap*. Chapman & Hall; 1993.
Davison AC, Hinkley DV. *Bootstrap Methods and their Application*. Cambridge University
Press; 1997 (stratified resampling).
McCarthy PJ, Snowden CB. *The bootstrap and finite population sampling*. Vital and Health
Statistics 2(95). National Center for Health Statistics; 1985.
Rao JNK, Wu CFJ. Resampling inference with complex survey data. *J Am Stat Assoc*
1988;83:231-241.
Ng ES-W, Grieve R, Carpenter JR. Two-stage nonparametric bootstrap sampling with
shrinkage correction for clustered data. *Stata Journal* 2013;13:141-164.
Barber JA, Thompson SG. Analysis of cost data in randomized trials: an application of
the non-parametric bootstrap. *Statistics in Medicine* 2000;19:3219-3236.
Mihaylova B, Briggs A, O'Hagan A, Thompson SG. Review of statistical methods for analysing
healthcare resources and costs. *Health Economics* 2011;20:897-916.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri, stdtrit

from evalkit.data.arguments import check_choice, check_conf_level, check_whole
from evalkit.data.inputs import listlike, takes_frame
from evalkit.errors import DataError, DesignError

__all__ = ["BootstrapCI", "bootstrap_ci", "cluster_t_factor", "METHODS", "STATISTICS"]

METHODS = ("bca", "percentile", "basic")
STATISTICS = ("mean", "ratio_of_means")
#: Index elements per block (8 MB of int64 indices).
_BLOCK = 1 << 20
#: Above this many index draws, the next block is generated in a helper thread.
_PREFETCH = 1 << 22

Seed = int | np.random.Generator | None


@dataclass(frozen=True)
class BootstrapCI:
    """A bootstrap confidence interval (returned by :func:`bootstrap_ci`).

    Attributes
    ----------
    estimate
        The statistic on the data.
    ci_low, ci_high
        The interval.
    se
        The bootstrap standard error (SD of the replicates, ``ddof=1``).
    p_value
        Two-sided, against ``null`` (approximate; resolution about ``1 / n_resamples``).
    conf_level, method, statistic, n_resamples
        The options used.
    n
        Sample size of each group, in order (reference first).
    groups
        The group labels, in order: ``(reference, comparison)`` for a difference.
    z0, acceleration
        BCa bias correction and acceleration (NaN for other methods).
    distribution
        The bootstrap replicates.
    null
        The null value of the p-value (0 for a difference, 1 for a ratio).
    warnings
        Plain-words warnings (e.g. a degenerate BCa interval).
    n_clusters
        With ``cluster``: the number of clusters (practices) holding each group, in
        order; empty when patients were resampled one by one.
    df, t_factor
        With ``cluster``: the small-sample degrees of freedom (clusters minus resampling
        strata) and the factor ``t_{df, 1 - alpha/2} / z_{1 - alpha/2}`` by which the
        replicates' deviations from the estimate were scaled before the interval and
        p-value were read from them (``distribution`` holds the scaled replicates; ``se``
        is the SD of the unscaled ones). NaN and 1 when patients were resampled.
    """

    estimate: float
    ci_low: float
    ci_high: float
    se: float
    p_value: float
    conf_level: float
    method: str
    statistic: str
    n_resamples: int
    n: tuple[int, ...]
    groups: tuple[Any, ...] = ()
    z0: float = float("nan")
    acceleration: float = float("nan")
    distribution: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    null: float = 0.0
    warnings: tuple[str, ...] = ()
    n_clusters: tuple[int, ...] = ()
    df: float = float("nan")
    t_factor: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        """Everything but the replicates, as plain values."""
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "se": self.se, "p_value": self.p_value, "conf_level": self.conf_level,
                "method": self.method, "statistic": self.statistic,
                "n_resamples": self.n_resamples, "n": list(self.n),
                "groups": [str(g) for g in self.groups], "z0": self.z0,
                "acceleration": self.acceleration, "warnings": list(self.warnings),
                "n_clusters": list(self.n_clusters), "df": self.df,
                "t_factor": self.t_factor}


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class _Cells:
    """The data split into resampling cells (a group, or a stratum within a group).

    ``values[j]`` is an ``(n_j, k)`` array; ``group[j]`` its group's position; cells are
    ordered group by group, reference group first.
    """

    values: tuple[np.ndarray, ...]
    group: tuple[int, ...]
    n_group: tuple[int, ...]
    labels: tuple[Any, ...]

    @property
    def n_groups(self) -> int:
        return len(self.n_group)

    @property
    def k(self) -> int:
        return self.values[0].shape[1]


def _make_cells(values: np.ndarray, group_codes: np.ndarray, labels: Sequence[Any],
                strata: np.ndarray | None) -> _Cells:
    """Split ``values`` (n, k) into cells by group code (0..G-1) and stratum."""
    cells, owner = [], []
    for g in range(len(labels)):
        in_group = group_codes == g
        if strata is None:
            cells.append(values[in_group])
            owner.append(g)
            continue
        for s in pd.unique(strata[in_group]):  # order of first appearance
            cells.append(values[in_group & (strata == s)])
            owner.append(g)
    n_group = tuple(int((group_codes == g).sum()) for g in range(len(labels)))
    return _Cells(tuple(np.ascontiguousarray(c, dtype=float) for c in cells), tuple(owner),
                  n_group, tuple(labels))


def _rng(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise DesignError(f"seed must be a whole number or None, not {seed!r}",
                          fix="use e.g. seed=2024")
    return np.random.default_rng(seed)


def _index_blocks(rng: np.random.Generator, n: int, n_resamples: int
                  ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, indices)`` blocks of ``rng.integers(0, n, (n_resamples, n))``.

    Consecutive blocks continue one stream, so the rows equal a single draw of all
    ``n_resamples`` rows. Large jobs generate the next block in a helper thread.
    """
    rows = max(1, min(n_resamples, _BLOCK // max(n, 1)))
    starts = range(0, n_resamples, rows)
    sizes = [min(rows, n_resamples - s) for s in starts]
    if n * n_resamples < _PREFETCH or len(sizes) == 1:
        for start, size in zip(starts, sizes, strict=True):
            yield start, rng.integers(0, n, (size, n))
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(rng.integers, 0, n, (sizes[0], n))
        for i, start in enumerate(starts):
            block = future.result()
            if i + 1 < len(sizes):
                future = pool.submit(rng.integers, 0, n, (sizes[i + 1], n))
            yield start, block


def _resampled_sums(values: np.ndarray, n_resamples: int, rng: np.random.Generator
                    ) -> np.ndarray:
    """Column sums of each resample of the rows of ``values`` (n, k): shape (B, k)."""
    n, k = values.shape
    columns = [np.ascontiguousarray(values[:, c]) for c in range(k)]
    out = np.empty((n_resamples, k))
    for start, idx in _index_blocks(rng, n, n_resamples):
        for c, column in enumerate(columns):
            out[start:start + idx.shape[0], c] = np.take(column, idx).sum(axis=1)
    return out


def _weights(cells: _Cells) -> list[float]:
    return [cells.values[j].shape[0] / cells.n_group[g] for j, g in enumerate(cells.group)]


def _single(cells: _Cells) -> list[bool]:
    return [cells.group.count(g) == 1 for g in cells.group]


def _group_means(cells: _Cells) -> np.ndarray:
    """Group means (G, k): stratified means with weights n_s / n_g."""
    out = np.zeros((cells.n_groups, cells.k))
    for j, (g, w, single) in enumerate(zip(cells.group, _weights(cells), _single(cells),
                                           strict=True)):
        v = cells.values[j]
        means = np.array([v[:, c].sum() / v.shape[0] for c in range(cells.k)])
        out[g] = means if single else out[g] + w * means
    return out


def _resampled_means(cells: _Cells, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Group means of each resample, shape (B, G, k); cells drawn in order."""
    out = np.zeros((n_resamples, cells.n_groups, cells.k))
    for j, (g, w, single) in enumerate(zip(cells.group, _weights(cells), _single(cells),
                                           strict=True)):
        means = _resampled_sums(cells.values[j], n_resamples, rng) / cells.values[j].shape[0]
        out[:, g] = means if single else out[:, g] + w * means
    return out


def _jackknife_means(cells: _Cells) -> list[np.ndarray]:
    """For each cell, the group means with one of its observations left out: (n_j, G, k)."""
    full = _group_means(cells)
    out = []
    for j, (g, w) in enumerate(zip(cells.group, _weights(cells), strict=True)):
        v = cells.values[j]
        n_j = v.shape[0]
        loo = np.broadcast_to(full, (n_j, *full.shape)).copy()
        if n_j > 1 and w == 1.0:
            loo[:, g] = (v.sum(axis=0) - v) / (n_j - 1)
        elif n_j > 1:
            cell_mean = v.sum(axis=0) / n_j
            loo[:, g] = full[g] + w * ((v.sum(axis=0) - v) / (n_j - 1) - cell_mean)
        out.append(loo)
    return out


# --------------------------------------------------------------------------- clusters


@dataclass(frozen=True)
class _ClusterCells:
    """The data summed by cluster (practice) and group, for the cluster bootstrap.

    ``sums[c, g]`` is the column sums (k,) of group ``g``'s values in cluster ``c`` and
    ``sizes[c, g]`` their number; ``strata`` lists the clusters of each resampling
    stratum (clusters holding the last group, and the rest), in order of first
    appearance.
    """

    sums: np.ndarray
    sizes: np.ndarray
    strata: tuple[np.ndarray, ...]
    labels: tuple[Any, ...]
    names: tuple[Any, ...]

    @property
    def n_group(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.sizes.sum(axis=0))

    @property
    def n_clusters(self) -> tuple[int, ...]:
        return tuple(int(v) for v in (self.sizes > 0).sum(axis=0))


def _cluster_codes(cluster: Any, n: int, name: str = "cluster", file: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (order of first appearance) and labels of a cluster column."""
    labels = pd.Series(np.asarray(cluster, dtype=object).ravel())
    if labels.size != n:
        raise DesignError(f"{name} has {labels.size} values for {n} data values",
                          fix="give one cluster (practice) per value")
    missing = labels.isna().to_numpy()
    if missing.any():
        raise DataError(f"{name} is missing", file=file, column=name,
                        rows=[int(i) + 2 for i in np.flatnonzero(missing)],
                        fix="give every patient's practice, or drop the rows")
    codes, uniques = pd.factorize(labels.astype(str))
    return codes.astype(np.int64), np.asarray(uniques)


def _cluster_cells(values: np.ndarray, group_codes: np.ndarray, labels: Sequence[Any],
                   cluster_codes: np.ndarray, names: np.ndarray, *,
                   name: str = "cluster") -> _ClusterCells:
    """Sum ``values`` (n, k) by cluster and group, and stratify the clusters."""
    n_g, n_c = len(labels), int(cluster_codes.max()) + 1
    cell = cluster_codes * n_g + group_codes
    sums = np.stack([np.bincount(cell, weights=values[:, j], minlength=n_c * n_g)
                     for j in range(values.shape[1])], axis=-1).reshape(n_c, n_g, -1)
    sizes = np.bincount(cell, minlength=n_c * n_g).reshape(n_c, n_g).astype(float)
    # Kinds of cluster: those holding the last group (the scheme's practices, or the
    # comparison arm's when arms are in separate practices) and the rest.
    key = sizes[:, -1] > 0
    strata = [np.flatnonzero(key == v) for v in pd.unique(key)]
    if len(strata) == 2 and min(m.size for m in strata) == 1:
        strata = [np.arange(n_c)]  # one stray practice: resample all practices together
    if n_c < 2:
        raise DesignError(f"there is only one {name} ({names[0]}); the cluster bootstrap "
                          f"needs at least 2", column=name,
                          fix=f"drop {name}= to resample patients (intervals then ignore "
                              "clustering)")
    strata = tuple(strata)
    return _ClusterCells(sums, sizes, strata, tuple(labels), tuple(names))


def _cluster_counts(strata: Sequence[np.ndarray], n_clusters: int, n_resamples: int,
                    rng: np.random.Generator, batch: tuple[int, ...] = ()) -> np.ndarray:
    """Multinomial counts ``(*batch, B, C)``: ``a - 1`` draws from each stratum of ``a``."""
    out = np.zeros((*batch, n_resamples, n_clusters))
    for members in strata:
        a = members.size
        out[..., members] = rng.multinomial(a - 1, np.full(a, 1.0 / a),
                                            size=(*batch, n_resamples))
    return out


def _weighted_means(counts: np.ndarray, sums: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Group means ``(..., G, k)`` of clusters weighted by ``counts`` (..., C).

    ``sums`` is ``(C, G, k)``, or ``(R, C, G, k)`` for ``R`` data sets of one cluster
    structure (``sizes`` ``(C, G)``) with counts ``(R, B, C)``: a coverage study runs
    all its replications in one product.
    """
    *lead, n_c, n_g, k = sums.shape
    flat = sums.reshape(*lead, n_c, n_g * k)
    total = (counts @ flat).reshape(*counts.shape[:-1], n_g, k)
    n = counts @ sizes
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / n[..., None]


def _cluster_group_means(cells: _ClusterCells) -> np.ndarray:
    """Pooled group means (G, k)."""
    return _weighted_means(np.ones(cells.sums.shape[0]), cells.sums, cells.sizes)


def _cluster_resampled_means(cells: _ClusterCells, n_resamples: int,
                             rng: np.random.Generator) -> np.ndarray:
    """Group means of each cluster-bootstrap replicate, shape (B, G, k)."""
    counts = _cluster_counts(cells.strata, cells.sums.shape[0], n_resamples, rng)
    return _weighted_means(counts, cells.sums, cells.sizes)


def _cluster_jackknife_means(cells: _ClusterCells) -> list[np.ndarray]:
    """Per stratum, the group means with one of its clusters left out: (a_j, G, k)."""
    total, n = cells.sums.sum(axis=0), cells.sizes.sum(axis=0)
    out = []
    for members in cells.strata:
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append((total - cells.sums[members]) / (n - cells.sizes[members])[..., None])
    return out


def cluster_t_factor(n_clusters: int, n_strata: int = 1, conf_level: float = 0.95) -> float:
    """The cluster bootstrap's small-sample factor ``t_{df, 1 - alpha/2} / z_{1 - alpha/2}``.

    ``df = n_clusters - n_strata`` (clusters minus resampling strata: one degree of
    freedom is spent on each stratum's mean, as for a CR1 cluster-robust SE with a t
    reference). The cluster bootstrap's replicates are spread about the estimate by this
    factor before an interval is read from them; it tends to 1 as clusters grow.

    Parameters
    ----------
    n_clusters
        Clusters (practices) in all.
    n_strata
        Resampling strata (kinds of practice resampled separately).
    conf_level
        Confidence level of the interval.

    Returns
    -------
    float

    Examples
    --------
    >>> round(cluster_t_factor(40, 2), 4)   # 20 practices per arm
    1.0329
    """
    check_whole("n_strata", n_strata, 1)
    check_whole("n_clusters", n_clusters, n_strata + 1)
    check_conf_level(conf_level)
    return _t_factor(n_clusters - n_strata, conf_level)


def _t_factor(df: float, conf_level: float) -> float:
    """``t_{df, 1 - alpha/2} / z_{1 - alpha/2}``."""
    q = 1.0 - (1.0 - conf_level) / 2.0
    return float(stdtrit(df, q) / ndtri(q))


def _cluster_df(cells: _ClusterCells) -> int:
    """Clusters minus resampling strata (the small-sample degrees of freedom)."""
    return int(sum(m.size for m in cells.strata) - len(cells.strata))


def _widen(reps: np.ndarray, theta: Any, factor: float) -> np.ndarray:
    """Replicates with their deviations from ``theta`` scaled by ``factor``."""
    if factor == 1.0:
        return reps
    return theta + factor * (reps - theta)


# --------------------------------------------------------------------------- intervals


def _mid_ecdf(reps: np.ndarray, x: float) -> float:
    return float((np.count_nonzero(reps < x) + np.count_nonzero(reps <= x)) / (2 * reps.size))


def _acceleration(theta_loo: Sequence[np.ndarray]) -> float:
    num = den = 0.0
    for th in theta_loo:
        n = th.size
        if n < 2:
            continue
        u = (n - 1) * (th.mean() - th)
        num += np.sum(u**3) / n**3
        den += np.sum(u**2) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(num / (6.0 * den**1.5))


def _summarise(theta: float, reps: np.ndarray, theta_loo: Sequence[np.ndarray] | None, *,
               method: str, conf_level: float, null: float, statistic: str,
               n: tuple[int, ...], labels: tuple[Any, ...], df: float = float("nan")
               ) -> BootstrapCI:
    """Interval, SE and p-value from the replicates (and jackknife values for BCa).

    With ``df`` (the cluster bootstrap), the replicates' deviations from ``theta`` are
    scaled by :func:`cluster_t_factor` before the interval and p-value are read from
    them; the SE is the SD of the unscaled replicates.
    """
    if np.isfinite(df):
        factor = _t_factor(df, conf_level)
        res = _summarise(theta, _widen(reps, theta, factor), theta_loo, method=method,
                         conf_level=conf_level, null=null, statistic=statistic, n=n,
                         labels=labels)
        finite = np.isfinite(reps)
        se = float(np.std(reps[finite], ddof=1)) if finite.sum() >= 2 else float("nan")
        return replace(res, se=se, df=float(df), t_factor=factor)
    warnings = []
    finite = np.isfinite(reps)
    if not finite.all():
        warnings.append(f"{int((~finite).sum())} of {reps.size} bootstrap replicates were not "
                        "finite (e.g. a resampled arm with zero mean cost) and were dropped.")
    kept = reps[finite]
    alpha = (1.0 - conf_level) / 2.0
    z0 = acc = float("nan")
    if kept.size < 2:
        return BootstrapCI(theta, np.nan, np.nan, np.nan, np.nan, conf_level, method,
                           statistic, int(reps.size), n, labels, distribution=reps, null=null,
                           warnings=tuple(warnings + ["Too few finite replicates."]))
    if method == "bca":
        z0 = float(ndtri(_mid_ecdf(kept, theta)))
        acc = _acceleration(theta_loo or [])
        z = float(ndtri(alpha))
        levels = [ndtr(z0 + (z0 + zq) / (1 - acc * (z0 + zq))) for zq in (z, -z)]
        if not np.all(np.isfinite(levels)):
            warnings.append("The BCa interval cannot be computed (degenerate bootstrap "
                            "distribution); use method='percentile'.")
            low = high = float("nan")
        else:
            low, high = np.quantile(kept, levels)
    else:
        q_low, q_high = np.quantile(kept, [alpha, 1 - alpha])
        low, high = (q_low, q_high) if method == "percentile" else \
            (2 * theta - q_high, 2 * theta - q_low)
    p = _p_value(kept, theta, null, method=method, z0=z0, acc=acc)
    return BootstrapCI(float(theta), float(low), float(high), float(np.std(kept, ddof=1)), p,
                       conf_level, method, statistic, int(reps.size), n, labels,
                       z0=z0, acceleration=acc, distribution=reps, null=null,
                       warnings=tuple(warnings))


def _p_value(reps: np.ndarray, theta: float, null: float, *, method: str, z0: float,
             acc: float) -> float:
    """Two-sided p-value: the level at which the method's interval just reaches ``null``."""
    b = reps.size
    where = 2 * theta - null if method == "basic" else null
    q = min(max(_mid_ecdf(reps, where), 0.5 / b), 1 - 0.5 / b)
    if method == "bca":
        if not (np.isfinite(z0) and np.isfinite(acc)):
            return float("nan")
        w = ndtri(q) - z0
        level = float(ndtr(w / (1 + acc * w) - z0))
    else:
        level = q
    return float(min(1.0, max(2 * min(level, 1 - level), 1.0 / b)))


# --------------------------------------------------------------------------- public


def _check_values(data: Any, name: str = "data") -> np.ndarray:
    if isinstance(data, pd.DataFrame):
        raise DesignError("bootstrap_ci takes one column of values, not a table",
                          fix="pass a column, e.g. df['cost']")
    values = pd.to_numeric(pd.Series(np.asarray(data).ravel()), errors="coerce")
    bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float))
    if bad.any():
        raise DataError(f"{name} has missing or non-numeric values", column=name,
                        rows=[int(i) + 2 for i in np.flatnonzero(bad)],
                        fix="drop or fill them before bootstrapping")
    return values.to_numpy(dtype=float)


def _group_codes(groups: Any, n: int, reference: Any) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Codes 0 (reference) and 1 (comparison) for two groups."""
    g = pd.Series(np.asarray(groups).ravel())
    if g.size != n:
        raise DesignError(f"groups has {g.size} values for {n} data values",
                          fix="give one group label per value")
    if g.isna().any():
        raise DataError("group label is missing", column="groups",
                        rows=[int(i) + 2 for i in np.flatnonzero(g.isna().to_numpy())],
                        fix="label every value's group, or drop the value")
    labels = sorted(pd.unique(g), key=lambda x: (str(type(x)), x))
    if len(labels) != 2:
        raise DesignError(f"groups must have exactly two values (found {len(labels)}: "
                          f"{', '.join(map(str, labels[:5]))})",
                          fix="compare two arms at a time")
    if reference is not None:
        if reference not in labels:
            raise DesignError(f"reference '{reference}' is not a group",
                              fix=f"use one of {', '.join(map(str, labels))}")
        labels = [reference] + [x for x in labels if x != reference]
    codes = np.where(g.to_numpy() == labels[0], 0, 1)
    return codes, tuple(labels)


def _statistic_function(statistic: str, n_groups: int) -> Callable[[np.ndarray], Any]:
    """A function of group means (..., G, k) for a named statistic."""
    if statistic == "mean":
        if n_groups == 1:
            return lambda m: m[..., 0, 0]
        return lambda m: m[..., 1, 0] - m[..., 0, 0]
    if n_groups != 2:
        raise DesignError("ratio_of_means compares two groups", fix="give groups=...")
    return lambda m: m[..., 1, 0] / m[..., 0, 0]


@takes_frame(also=(listlike, "a column of values (a Series, an array or a list)"))
def bootstrap_ci(data: Any, statistic: str | Callable[..., Any] = "mean", *,
                 groups: Any = None, reference: Any = None, n_resamples: int = 2000,
                 method: str = "bca", conf_level: float = 0.95, seed: Seed = None,
                 strata: Any = None, cluster: Any = None) -> BootstrapCI:
    """Bootstrap confidence interval for a mean, or a difference or ratio of two means.

    Parameters
    ----------
    data
        The values (e.g. cost per patient): a 1-D array or Series.
    statistic
        ``"mean"``: the mean, or with ``groups`` the difference in means (comparison minus
        reference); ``"ratio_of_means"``: comparison mean over reference mean; or a
        callable ``f(*samples, axis=-1)`` as for :func:`scipy.stats.bootstrap` (one
        sample per group). Named statistics are vectorised and their BCa jackknife is
        O(n); a callable costs memory ``n_resamples x n`` and an O(n^2) jackknife.
    groups
        A label per value for two independent groups (arms); each is resampled on its own.
    reference
        The reference group's label. By default 0 / False, else the first in sort order.
    n_resamples
        Number of bootstrap resamples (2,000 by default; BCa needs at least 1,000).
    method
        ``"bca"`` (default), ``"percentile"`` or ``"basic"``.
    conf_level
        Confidence level.
    seed
        Seed (or a ``numpy.random.Generator``); the same seed gives identical output, and
        the same resamples as ``scipy.stats.bootstrap(..., rng=np.random.default_rng(seed))``.
    strata
        A label per value; resampling is also within strata (e.g. practice), and the
        statistic uses stratified means (weights fixed at the strata's shares).
    cluster
        A label per value naming its cluster (e.g. the patient's practice). Whole
        clusters are resampled, ``a - 1`` of each kind of ``a`` (see the module notes),
        so intervals allow for outcomes that correlate within a practice; give it
        whenever patients are nested in practices. The interval has the small-sample
        factor :func:`cluster_t_factor` (see the module notes). Named statistics only;
        not with ``strata``.

    Returns
    -------
    BootstrapCI

    Raises
    ------
    DataError
        Missing or non-numeric values or group labels (rows named, header = row 1).
    DesignError
        Bad options, not exactly two groups, or a group with fewer than two values.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> cost = rng.gamma(0.5, 2000, 400)
    >>> arm = np.repeat([0, 1], 200)
    >>> res = bootstrap_ci(cost, groups=arm, seed=7)
    >>> bool(res.ci_low < res.estimate < res.ci_high)
    True
    """
    method = str(method).lower()
    check_choice("method", method, METHODS)
    check_conf_level(conf_level)
    check_whole("n_resamples", n_resamples, 1)
    if not callable(statistic):
        check_choice("statistic", statistic, STATISTICS)
    values = _check_values(data)
    if groups is None:
        codes, labels = np.zeros(values.size, dtype=int), ("all",)
    else:
        codes, labels = _group_codes(groups, values.size, reference)
    strata_arr = None
    if strata is not None:
        strata_arr = np.asarray(pd.Series(np.asarray(strata).ravel()).astype(str))
        if strata_arr.size != values.size:
            raise DesignError(f"strata has {strata_arr.size} values for {values.size} values",
                              fix="give one stratum per value")
    sizes = tuple(int((codes == g).sum()) for g in range(len(labels)))
    if min(sizes) < 2:
        small = labels[int(np.argmin(sizes))]
        raise DesignError(f"group '{small}' has {min(sizes)} value(s); the bootstrap needs at "
                          "least 2 in each group", fix="check the group labels")
    if cluster is not None:
        if callable(statistic) or strata is not None:
            raise DesignError("cluster= works with the named statistics and without strata",
                              fix="use statistic='mean' or 'ratio_of_means' and drop strata")
        c_codes, c_names = _cluster_codes(cluster, values.size)
        ccells = _cluster_cells(values[:, None], codes, labels, c_codes, c_names)
        return _cluster_bootstrap(ccells, statistic, grouped=groups is not None,
                                  n_resamples=n_resamples, method=method,
                                  conf_level=conf_level, rng=_rng(seed))
    cells = _make_cells(values[:, None], codes, labels, strata_arr)
    rng = _rng(seed)
    if callable(statistic):
        return _callable_bootstrap(cells, statistic, n_resamples=n_resamples, rng=rng,
                                   method=method, conf_level=conf_level)
    f = _statistic_function(statistic, len(labels))
    null = 1.0 if statistic == "ratio_of_means" else 0.0
    reps = np.asarray(f(_resampled_means(cells, n_resamples, rng)), dtype=float)
    theta = float(f(_group_means(cells)))
    loo = [np.asarray(f(m), dtype=float) for m in _jackknife_means(cells)] \
        if method == "bca" else None
    name = statistic if groups is not None or statistic != "mean" else "mean"
    if groups is not None and statistic == "mean":
        name = "difference_in_means"
    return _summarise(theta, reps, loo, method=method, conf_level=conf_level, null=null,
                      statistic=name, n=sizes, labels=labels)


def _cluster_bootstrap(cells: _ClusterCells, statistic: str, *, grouped: bool,
                       n_resamples: int, method: str, conf_level: float,
                       rng: np.random.Generator) -> BootstrapCI:
    """:func:`bootstrap_ci` with whole clusters resampled (named statistics)."""
    f = _statistic_function(statistic, len(cells.labels))
    null = 1.0 if statistic == "ratio_of_means" else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = np.asarray(f(_cluster_resampled_means(cells, n_resamples, rng)), dtype=float)
        theta = float(f(_cluster_group_means(cells)))
        loo = [np.asarray(f(m), dtype=float) for m in _cluster_jackknife_means(cells)] \
            if method == "bca" else None
    name = "difference_in_means" if grouped and statistic == "mean" else statistic
    res = _summarise(theta, reps, loo, method=method, conf_level=conf_level, null=null,
                     statistic=name, n=cells.n_group, labels=cells.labels,
                     df=_cluster_df(cells))
    return replace(res, n_clusters=cells.n_clusters)


def _vectorised(statistic: Callable[..., Any]) -> bool:
    try:
        return "axis" in inspect.signature(statistic).parameters
    except (TypeError, ValueError):
        return False


def _callable_bootstrap(cells: _Cells, statistic: Callable[..., Any], *, n_resamples: int,
                        rng: np.random.Generator, method: str, conf_level: float
                        ) -> BootstrapCI:
    """Bootstrap a user's statistic of the group samples (scipy's calling convention)."""
    vectorised = _vectorised(statistic)

    def apply(samples: list[np.ndarray]) -> np.ndarray:
        if vectorised:
            return np.asarray(statistic(*samples, axis=-1), dtype=float)
        rows = samples[0].shape[0]
        return np.array([statistic(*(s[r] for s in samples)) for r in range(rows)], dtype=float)

    parts: list[list[np.ndarray]] = [[] for _ in range(cells.n_groups)]
    for j, g in enumerate(cells.group):
        v = cells.values[j][:, 0]
        idx = np.empty((n_resamples, v.size), dtype=np.int64)
        for start, block in _index_blocks(rng, v.size, n_resamples):
            idx[start:start + block.shape[0]] = block
        parts[g].append(v[idx])
    resampled = [np.concatenate(p, axis=1) for p in parts]
    full = [np.concatenate([cells.values[j][:, 0] for j, g in enumerate(cells.group) if g == h])
            for h in range(cells.n_groups)]
    theta = float(np.asarray(apply([f[None, :] for f in full])).ravel()[0])
    reps = apply(resampled).ravel()
    loo = None
    if method == "bca":
        loo = []
        offsets = {}
        for j, g in enumerate(cells.group):
            start = offsets.get(g, 0)
            n_j = cells.values[j].shape[0]
            offsets[g] = start + n_j
            values = []
            rows = max(1, _BLOCK // max(full[g].size, 1))
            for first in range(0, n_j, rows):
                drop = np.arange(first, min(first + rows, n_j)) + start
                keep = np.ones((drop.size, full[g].size), dtype=bool)
                keep[np.arange(drop.size), drop] = False
                samples = [np.broadcast_to(f, (drop.size, f.size)) for f in full]
                samples[g] = full[g][None, :].repeat(drop.size, 0)[keep].reshape(
                    drop.size, full[g].size - 1)
                values.append(apply(samples).ravel())
            loo.append(np.concatenate(values))
    name = getattr(statistic, "__name__", "statistic")
    return _summarise(theta, reps, loo, method=method, conf_level=conf_level, null=0.0,
                      statistic=name, n=cells.n_group, labels=cells.labels)
