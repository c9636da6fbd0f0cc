"""Simulated staggered-adoption panels with a known truth, for checking estimators.

Used by the coverage studies (``benchmarks/did_coverage.py``), the tests and the
difference-in-differences notebook. Everything here is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["StaggeredTruth", "simulate_staggered", "simulate_few_clusters"]


@dataclass(frozen=True)
class StaggeredTruth:
    """The simulated panel and its true effects.

    ``att_gt`` has one row per cohort and period with the true ATT(g, t) (0 before
    adoption); ``att_event`` the true event-time effects (cohort-size weighted, over the
    cohorts observed at each event time); ``att_simple`` and ``att_dynamic`` the
    aggregations as defined by Callaway and Sant'Anna.
    """

    panel: pd.DataFrame
    att_gt: pd.DataFrame
    att_event: pd.Series
    att_simple: float
    att_dynamic: float


def simulate_staggered(*, units: int = 300, periods: int = 12,
                       cohorts: tuple[int, ...] = (5, 7, 9), never_share: float = 0.4,
                       effect: float = -2.0, growth: float = 0.5, cohort_gradient: float = 0.5,
                       noise: float = 1.0, seed: int = 0) -> StaggeredTruth:
    """A staggered panel where effects differ by cohort and grow with exposure.

    The effect in cohort ``g`` at event time ``e >= 0`` is
    ``effect * (1 + growth * e) * (1 + cohort_gradient * (first - g) / periods)``: earlier
    cohorts gain more, and effects build up. This is the case where two-way fixed effects
    are biased. Units differ in level, cohorts in level, periods share a trend and
    shock, and errors are independent normal with SD ``noise``: parallel trends hold.

    Parameters
    ----------
    units, periods
        Panel size; periods are numbered 1..periods.
    cohorts
        First-treated periods of the treated cohorts (each later than period 1).
    never_share
        Share of units never treated; the rest are split evenly across cohorts.
    effect, growth, cohort_gradient
        The effect at adoption, its growth per period of exposure, and how much larger it
        is in earlier cohorts.
    noise
        Error SD.
    seed
        Seed.
    """
    rng = np.random.default_rng(seed)
    n_never = int(round(units * never_share))
    g = np.concatenate([np.zeros(n_never, dtype=int),
                        np.resize(np.asarray(cohorts, dtype=int), units - n_never)])
    rng.shuffle(g)
    t = np.arange(1, periods + 1)
    first = min(cohorts)

    def tau(gg, tt):
        e = tt - gg
        size = effect * (1 + growth * e) * (1 + cohort_gradient * (first - gg) / periods)
        return np.where((gg > 0) & (e >= 0), size, 0.0)

    unit_level = rng.normal(0, 1, units) + 0.3 * np.searchsorted(sorted(set(g)), g)
    period = 0.2 * t + rng.normal(0, 0.5, periods)
    y = (unit_level[:, None] + period[None, :] + tau(g[:, None], t[None, :])
         + rng.normal(0, noise, (units, periods)))
    panel = pd.DataFrame({"unit": np.repeat(np.arange(units), periods),
                          "period": np.tile(t, units), "y": y.ravel(),
                          "cohort": np.repeat(g, periods)})
    panel["treated"] = ((panel["cohort"] > 0) & (panel["period"] >= panel["cohort"])
                        ).astype(int)
    sizes = pd.Series(g[g > 0]).value_counts()
    rows = [(c, tt, float(tau(np.array(c), np.array(tt))), int(sizes[c]))
            for c in sorted(cohorts) for tt in t]
    att_gt = pd.DataFrame(rows, columns=["cohort", "time", "att", "size"])
    att_gt["event_time"] = att_gt["time"] - att_gt["cohort"]
    post = att_gt[att_gt["event_time"] >= 0]
    event = post.groupby("event_time").apply(
        lambda d: float(np.average(d["att"], weights=d["size"])), include_groups=False)
    simple = float(np.average(post["att"], weights=post["size"]))
    return StaggeredTruth(panel, att_gt.drop(columns="size"), event, simple,
                          float(event.mean()))


def simulate_few_clusters(*, clusters: int = 40, treated_clusters: int = 8,
                          periods: int = 10, start: int = 6, effect: float = 0.0,
                          treated_sd: float = 1.0, control_sd: float = 0.5,
                          seed: int = 0) -> pd.DataFrame:
    """Practices nested in clusters (e.g. Primary Care Networks); whole clusters adopt.

    Cluster sizes vary widely (3 to 60 practices) and shocks are shared within a
    cluster and period, with standard deviation ``treated_sd`` in treated clusters and
    ``control_sd`` in the others (by default the treated are noisier): the setting in
    which cluster-robust intervals with few treated clusters are too narrow (MacKinnon
    and Webb, 2017, J Appl Econometrics 32:233-254).

    Returns a panel with ``practice, cluster, period, y, treated`` (1 from ``start`` in
    treated clusters); the true effect is ``effect``.
    """
    rng = np.random.default_rng(seed)
    sizes = np.clip(np.round(np.exp(rng.uniform(np.log(3), np.log(60), clusters))), 3, 60)
    sizes = sizes.astype(int)
    is_treated = np.zeros(clusters, dtype=bool)
    is_treated[rng.choice(clusters, treated_clusters, replace=False)] = True
    cl = np.repeat(np.arange(clusters), sizes)
    n = cl.size
    t = np.arange(1, periods + 1)
    shock_sd = np.where(is_treated, treated_sd, control_sd)
    shocks = rng.normal(0, 1, (clusters, periods)) * shock_sd[:, None]
    y = (rng.normal(0, 1, n)[:, None] + 0.1 * t[None, :] + shocks[cl]
         + rng.normal(0, 1, (n, periods)))
    D = (is_treated[cl][:, None] & (t[None, :] >= start)).astype(int)
    y = y + effect * D
    return pd.DataFrame({"practice": np.repeat(np.arange(n), periods),
                         "cluster": np.repeat(cl, periods), "period": np.tile(t, n),
                         "y": y.ravel(), "treated": D.ravel()})
