"""Power and the minimum detectable difference in mean costs, by bootstrap.

Costs are skewed (many small, a few very large) and often clustered (patients in
practices). The standard error of the difference in mean costs under no effect comes
from resampling the observed costs: clusters (or patients) are drawn with replacement
within each arm, and each arm's mean is its resampled total over its resampled count
(a ratio estimator, as the clustered mean is). Drawing more or fewer clusters than were
observed gives the MDE at other sample sizes, without assuming normality or a design
effect. All bootstrap replicates are computed at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.inputs import takes_frame
from evalkit.errors import DataError, DesignError
from evalkit.power.mde import power_at
from evalkit.power.result import PowerResult, mde_columns

__all__ = ["cost_mde", "bootstrap_se"]

UNIT_MULTIPLES = (0.25, 0.5, 1.0, 2.0, 4.0)


def _arm_means(totals: np.ndarray, counts: np.ndarray, draws: int, size: int,
               rng: np.random.Generator) -> np.ndarray:
    idx = rng.integers(0, totals.size, (draws, size))
    return totals[idx].sum(axis=1) / counts[idx].sum(axis=1)


def bootstrap_se(cost: np.ndarray, arm: np.ndarray, cluster: np.ndarray | None = None, *,
                 multiple: float = 1.0, n_boot: int = 2000, seed: int = 1
                 ) -> tuple[float, float]:
    """Bootstrap standard error (and skewness) of the difference in mean cost between arm 1
    and arm 0, resampling clusters (or people) within arms, ``multiple`` times as many as
    observed."""
    rng = np.random.default_rng(seed)
    cl = np.arange(cost.size) if cluster is None else cluster
    diffs = []
    for a in (1, 0):
        sel = arm == a
        frame = pd.DataFrame({"c": cl[sel], "y": cost[sel]}).groupby("c")["y"].agg(
            ["sum", "count"])
        size = max(1, int(round(multiple * len(frame))))
        diffs.append(_arm_means(frame["sum"].to_numpy(float), frame["count"].to_numpy(float),
                                n_boot, size, rng))
    d = diffs[0] - diffs[1]
    return float(np.std(d, ddof=1)), float(stats.skew(d))


@takes_frame
def cost_mde(data: pd.DataFrame, *, cost: str, treated: str, cluster: str | None = None,
             effect: float | None = None, alpha: float = 0.05, power: float = 0.8,
             unit_multiples: Sequence[float] = UNIT_MULTIPLES, n_boot: int = 2000,
             seed: int = 20260701) -> PowerResult:
    """MDE of a difference in mean costs by a (cluster) bootstrap.

    Parameters
    ----------
    data
        One row a person (or person-period of follow-up).
    cost, treated
        The cost column and the 0/1 arm column.
    cluster
        A clustering column (e.g. practice): clusters are resampled whole.
    effect
        A difference in mean cost to give the power for (normal approximation with the
        bootstrap standard error).
    alpha, power, unit_multiples, n_boot, seed
        Level, target power, multiples of the observed number of clusters (or people) for
        the by-units frame, bootstrap replicates and seed.

    Returns
    -------
    PowerResult
    """
    file = data.attrs.get("source")
    for col in [cost, treated] + ([cluster] if cluster else []):
        if col not in data.columns:
            raise DataError(f"no column {col!r}", file=file, column=col,
                            fix="name a column of the costs table")
    y = pd.to_numeric(data[cost], errors="coerce")
    arm = pd.to_numeric(data[treated], errors="coerce")
    ok = (y.notna() & arm.isin([0, 1])).to_numpy()
    y, arm = y.to_numpy(float)[ok], arm.to_numpy(int)[ok]
    cl = None if cluster is None else pd.factorize(data[cluster].to_numpy()[ok])[0]
    if (arm == 1).sum() < 2 or (arm == 0).sum() < 2:
        raise DesignError("the cost power calculation needs at least 2 people in each arm",
                          file=file, fix="check the treated column")
    level = float(y[arm == 0].mean())
    rows = []
    for k, m in enumerate(sorted(set(unit_multiples) | {1.0})):
        se, skew = bootstrap_se(y, arm, cl, multiple=m, n_boot=n_boot, seed=seed + k)
        rows.append({"multiple": m, "se": se, "skew": skew})
    units = pd.DataFrame(rows)
    n_obs = len(y) if cl is None else int(np.unique(cl).size)
    units.insert(1, "n_units", np.round(units["multiple"] * n_obs).astype(int))
    cols = mde_columns(units["se"].to_numpy(), scale="difference", baseline=level,
                       alpha=alpha, power=power)
    units = pd.concat([units.drop(columns="se"), pd.DataFrame(cols)], axis=1)
    planned = units[units["multiple"] == 1.0].iloc[0]
    curve = pd.DataFrame([{"followup": np.nan, **{c: planned[c] for c in cols},
                           "n_draws": n_boot, "skew": planned["skew"]}])
    warnings = []
    if abs(planned["skew"]) > 0.5:
        warnings.append(f"The bootstrap distribution of the difference is skewed "
                        f"({planned['skew']:.2f}): a normal-theory interval would be off; "
                        "use the bootstrap interval.")
    what = f"clusters ({cluster})" if cluster else "people"
    return PowerResult(
        design="costs", outcome=cost, scale="difference", curve=curve, followup=None,
        method=f"bootstrap of {what} within arms ({n_boot} replicates)",
        units=units if len(unit_multiples) > 1 else pd.DataFrame(), effect=effect,
        power=None if effect is None else float(power_at(effect, planned["se"], alpha)),
        alpha=alpha, target_power=power, baseline=level,
        diagnostics={"n_units": n_obs, "clustered": cluster is not None},
        warnings=tuple(warnings))
