"""Difference-in-differences with staggered adoption (Callaway and Sant'Anna, 2021).

Two-way fixed-effects regressions over staggered adoption are biased when
effects change over time. Callaway and Sant'Anna (2021, J Econometrics
225:200-230) estimate a group-time average treatment effect ATT(g, t) for each
cohort ``g`` (units first treated in period ``g``) and period ``t`` from a clean
2x2 comparison, then aggregate.

For each (g, t): the outcome change from a base period to ``t`` in cohort ``g``
is compared with the same change in the control group: never-treated units, or
units not yet treated by ``max(t, base) + anticipation``. The base period is
``g - 1 - anticipation`` for post-treatment cells, and for pre-treatment cells
``t - 1`` (``base_period="varying"``) or ``g - 1 - anticipation``
(``"universal"``). With time-invariant covariates the comparison is adjusted
by outcome regression (``"reg"``), inverse probability weighting (``"ipw"``,
normalised weights) or both (``"dr"``, Sant'Anna and Zhao, 2020, J Econometrics
219:101-122).

Inference uses each estimate's influence function: analytic standard errors,
and a multiplier bootstrap (Rademacher weights, drawn per cluster) that also
gives uniform (simultaneous) confidence bands. The aggregations' influence
functions include the estimation of their weights, as in the R package ``did``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from evalkit.data.arguments import (
    check_choice,
    check_conf_level,
    check_whole,
    one_blas_thread,
    unit_clusters,
)
from evalkit.data.contract import check_panel, nearest, never_treated
from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_period, parse_periods
from evalkit.errors import DataError, DesignError
from evalkit.evidence.maryland import maryland_level
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["staggered_did", "ESTIMATORS"]

DESIGN = "staggered_did"
ESTIMATORS = ("dr", "ipw", "reg")


@takes_frame
@one_blas_thread
def staggered_did(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    denominator: str | None = None,
    per: float = 1000.0,
    control_group: str = "never",
    estimator: str = "dr",
    covariates: Sequence[str] | None = None,
    anticipation: int = 0,
    base_period: str = "varying",
    n_boot: int = 999,
    seed: int | None = None,
    cluster: str | None = None,
    conf_level: float = 0.95,
    honest: bool = False,
    scheme: str | None = None,
    domain: str = "outcome",
) -> DesignResult:
    """Callaway-Sant'Anna difference-in-differences for staggered adoption.

    Parameters
    ----------
    data
        A panel: one row per unit per period.
    outcome, unit, time
        Column names.
    cohort
        The first period each unit was treated (constant within unit; 0, blank or NaN
        for never treated).
    denominator, per
        If given, the outcome is analysed as a rate: ``outcome / denominator * per``
        (e.g. admissions per 1,000 registered patients a month).
    control_group
        ``"never"`` (never-treated units) or ``"notyet"`` (also units not yet treated).
    estimator
        ``"dr"``, ``"ipw"`` or ``"reg"`` (identical without covariates).
    covariates
        Time-invariant unit characteristics for conditional parallel trends.
    anticipation
        Periods before adoption in which units may already respond.
    base_period
        ``"varying"`` or ``"universal"``.
    n_boot
        Multiplier-bootstrap draws for standard errors and uniform bands (0 for analytic
        standard errors and pointwise intervals only: the band columns of
        ``plot_data()["att_gt"]`` and ``["event"]`` are then NaN).
    seed
        Seed of the bootstrap.
    cluster
        A column to cluster by (constant within unit); units by default.
    conf_level
        Confidence level.
    honest
        Run the Rambachan-Roth (HonestDiD) relative-magnitudes sensitivity analysis of
        the average effect over the first 12 event times, against the 6 closest leads,
        and report its breakdown value (needs ``base_period="universal"``, so that the
        leads share the reference period). It takes a few seconds; it is what can lift
        the evidence level to 4.
    scheme, domain
        Labels for the effect records.

    Returns
    -------
    DesignResult
        ``effects`` holds ``att_simple``, ``att_group`` and ``att_group:<g>``,
        ``att_dynamic`` and ``att_event:<e>``, ``att_calendar`` and ``att_calendar:<t>``.
        ``plot_data()["att_gt"]`` has one row per cohort and period with ``cohort, time,
        att, se``, intervals and the uniform band; ``plot_data()["event"]`` the event-time
        estimates with their uniform band, and ``plot_data()["event_vcov"]`` their
        covariance.

    Examples
    --------
    >>> import evalkit as ek, pandas as pd
    >>> mpdta = pd.read_csv("../shared/validation/mpdta.csv")  # doctest: +SKIP
    >>> res = ek.staggered_did(mpdta, outcome="lemp", unit="countyreal", time="year",
    ...                        cohort="first.treat", n_boot=0)  # doctest: +SKIP
    >>> round(res.effects.set_index("estimand").loc["att_simple", "estimate"], 4)
    -0.04
    """
    _validate(control_group=control_group, estimator=estimator, base_period=base_period,
              anticipation=anticipation, n_boot=n_boot, conf_level=conf_level)
    if honest and base_period != "universal":
        raise DesignError("the sensitivity analysis (honest=True) needs event-time estimates "
                          "against one reference period",
                          fix="use base_period='universal', as Rambachan and Roth recommend "
                          "for Callaway-Sant'Anna")
    covariates = list(covariates or [])
    file = data.attrs.get("source")
    check_panel(data, unit=unit, time=time,
                outcomes={outcome: "poisson" if denominator else "gaussian"},
                denominator=denominator, covariates=covariates, file=file).raise_for_errors()
    if cohort not in data.columns:
        guess = nearest(cohort, map(str, data.columns))
        raise DataError(f"the column '{cohort}' is missing", file=file, column=cohort,
                        fix=f"did you mean '{guess}'?" if guess else "add it")
    codes, axis = parse_periods(data[time], file=file, column=time)
    periods = np.unique(codes)
    T = periods.size

    uidx, units = pd.factorize(data[unit], sort=True)
    n = len(units)
    Y = np.full((n, T), np.nan)
    values = pd.to_numeric(data[outcome], errors="coerce").to_numpy(dtype=float)
    if denominator:
        values = values / pd.to_numeric(data[denominator]).to_numpy(dtype=float) * per
    Y[uidx, np.searchsorted(periods, codes)] = values

    # Cohorts: constant within unit; 0/NaN never treated; beyond the data: never treated.
    never = never_treated(data[cohort])
    g_code = np.full(len(data), -1, dtype=np.int64)
    if (~never).any():
        raw = data.loc[~never, cohort]
        lookup = {v: parse_period(v if axis.kind == "month" else int(float(v)), axis,
                                  what=f"cohort {v!r}") for v in pd.unique(raw)}
        g_code[~never] = raw.map(lookup).to_numpy(dtype=np.int64)
    G = np.empty(n, dtype=np.int64)
    G[uidx] = g_code  # any row's value; then check every row agrees with it
    varying = np.zeros(n, dtype=bool)
    varying[uidx[g_code != G[uidx]]] = True
    if varying.any():
        bad = units[varying][:3]
        raise DataError(f"the cohort changes within {int(varying.sum())} unit(s), e.g. "
                        f"{', '.join(map(str, bad))}: treatment reverses or is recoded",
                        file=file, column=cohort,
                        fix="give each unit one first-treated period (0 if never treated)")
    late = G > periods[-1]
    warnings: list[str] = []
    if late.any():
        warnings.append(f"{int(late.sum())} unit(s) first treated after the last period are "
                        "treated as never treated.")
        G[late] = -1
    first_period = (G >= 0) & (G <= periods[0])
    if first_period.any():
        raise DataError(f"{int(first_period.sum())} unit(s) are treated in the first period "
                        f"({axis.label(periods[0])}) or before, so they have no pre-period",
                        file=file, column=cohort,
                        fix="drop these units, or start the data earlier")
    off_grid = (G >= 0) & ~np.isin(G, periods)
    if off_grid.any():
        raise DataError("some cohorts are not periods of the data", file=file, column=cohort,
                        fix="give first-treated periods that appear in the time column")
    Gpos = np.where(G >= 0, np.searchsorted(periods, G), -1)
    is_never = Gpos < 0
    if control_group == "never" and not is_never.any():
        raise DataError("no never-treated units (cohort 0 or blank) to compare with",
                        file=file, column=cohort,
                        fix="use control_group='notyet', or add never-treated units")

    X = None
    if covariates:
        X = _unit_covariates(data, uidx, n, covariates, file)
    clusters = None
    if cluster:
        clusters = np.empty(n, dtype=np.int64)
        clusters[uidx] = unit_clusters(data, cluster, uidx, file=file)
        clusters = pd.factorize(clusters)[0]

    cohorts = sorted(set(Gpos[Gpos >= 0].tolist()))
    grid = _grid(cohorts, T, anticipation, base_period)
    if not len(grid):
        raise DesignError("no group-time effect can be estimated", file=file,
                          fix="check the cohorts and the periods")
    # Cohort index per unit over the list [cohorts..., never]: the bootstrap and the
    # aggregation weights' influence depend on units only through their cohort.
    K = len(cohorts) + 1
    cidx = np.where(is_never, K - 1, np.searchsorted(cohorts, np.maximum(Gpos, 0)))
    if X is None:
        cells = _unconditional(Y, Gpos, is_never, grid, control_group, anticipation)
    else:
        cells = _conditional_cells(Y, Gpos, is_never, grid, control_group, anticipation, X,
                                   estimator)
    for (g, t, _b), n_t, n_c in zip(grid[~cells.ok], cells.n_t[~cells.ok],
                                    cells.n_c[~cells.ok], strict=True):
        warnings.append(f"Cohort {axis.label(periods[g])} at {axis.label(periods[t])}: too "
                        f"few units ({n_t} treated, {n_c} controls); reported as missing.")
    if not cells.ok.any():
        if control_group == "notyet":
            raise DataError("no not-yet-treated units to compare with", file=file,
                            column=cohort,
                            fix="use control_group='never' or add later-treated units")
        raise DesignError("no group-time effect can be estimated", file=file,
                          fix="check the cohorts and the periods")

    att, IF = cells.att[cells.ok], cells.IF
    group, tt = grid[cells.ok, 0], grid[cells.ok, 1]
    pg_cohort = np.array([np.mean(Gpos == g) for g in cohorts])
    pg = pg_cohort[np.searchsorted(cohorts, group)]
    agg = _aggregate(att, group, tt, pg, cohorts, pg_cohort)
    agg_values = att @ agg.W
    agg_IF = IF @ agg.W + agg.Wc[cidx]  # n x aggregations, including the weights' influence
    n_cl = n if clusters is None else int(clusters.max() + 1)

    boot = None
    if n_boot:
        boot = _MultiplierBootstrap(n, clusters, n_boot, np.random.default_rng(seed),
                                    conf_level, cidx)
        if cells.balanced:
            cell_draws = boot.cell_draws_balanced(Y, cidx, K, grid[cells.ok], cells, cohorts,
                                                  is_never, control_group, anticipation)
        else:
            cell_draws = boot.draws(IF)
        agg_draws = cell_draws @ agg.W + boot.cohort_totals(cidx, K) @ agg.Wc / n
        se_gt, ucrit = boot.se_and_uniform_crit(cell_draws)
        agg_se, _ = boot.se_and_uniform_crit(agg_draws)
        ev = np.array([name.startswith("att_event:") for name in agg.names])
        _, ucrit_event = boot.se_and_uniform_crit(agg_draws[:, ev])
    else:
        se_gt, ucrit, ucrit_event = _se(IF, clusters), np.nan, np.nan
        agg_se = _se(agg_IF, clusters)
    crit = _norm_ppf(1 - (1 - conf_level) / 2)
    att_gt = pd.DataFrame({
        "cohort": [axis.label(periods[g]) for g in group],
        "time": [axis.label(periods[t]) for t in tt],
        "event_time": tt - group,
        "att": att, "se": se_gt,
        "ci_low": att - crit * se_gt, "ci_high": att + crit * se_gt,
        "band_low": att - ucrit * se_gt, "band_high": att + ucrit * se_gt,
        "post": tt >= group,
    })
    # Event-time estimates, their uniform band and (analytic, influence-function)
    # covariance, for the event-study plot and sensitivity analysis.
    ev_idx = [i for i, name in enumerate(agg.names) if name.startswith("att_event:")]
    ev_times = [int(agg.names[i].split(":")[1]) for i in ev_idx]
    ev_est, ev_se = agg_values[ev_idx], agg_se[ev_idx]
    event = pd.DataFrame({"event_time": ev_times, "att": ev_est, "se": ev_se,
                          "ci_low": ev_est - crit * ev_se, "ci_high": ev_est + crit * ev_se,
                          "band_low": ev_est - ucrit_event * ev_se,
                          "band_high": ev_est + ucrit_event * ev_se,
                          "post": np.array(ev_times) >= 0})
    S_ev = _cluster_sums(agg_IF[:, ev_idx], clusters)
    event_vcov = pd.DataFrame(S_ev.T @ S_ev / n**2, index=ev_times, columns=ev_times)
    # Pre-trends: a joint Wald test of the pre-adoption event-time effects (the 12 closest
    # to adoption at most). The covariance comes from G cluster sums, so the statistic is
    # referred to Hotelling's F(q, G - q), which needs q <= G - 2 leads.
    pre_keys = sorted((e for e in ev_times if e < 0), reverse=True)[: min(12, n_cl - 2)]
    if pre_keys:
        pretrend_p = _wald(event_vcov.loc[pre_keys, pre_keys].to_numpy(),
                           event.set_index("event_time").loc[pre_keys, "att"].to_numpy(),
                           n_cl)
    else:
        pretrend_p = np.nan

    diag = {"control_group": control_group, "rate_per": per if denominator else None,
            "estimator": estimator,
            "covariates": covariates, "anticipation": anticipation,
            "base_period": base_period, "units": int(n), "clusters": n_cl,
            "cohorts": [axis.label(periods[g]) for g in cohorts],
            "never_treated_units": int(is_never.sum()), "pretrend_p": pretrend_p,
            "pretrend_event_times": pre_keys,
            "inference": ("multiplier bootstrap" if n_boot else "analytic")
            + (f", clustered by {cluster}" if cluster else ""),
            "n_boot": int(n_boot), "uniform_critical_value": float(ucrit),
            "uniform_critical_value_event": float(ucrit_event)}
    if honest:
        from evalkit.designs.honest_did import (
            event_time_sensitivity,  # scipy.optimize: only when asked
        )

        diag.update(event_time_sensitivity(event.set_index("event_time")["att"], event_vcov,
                                           first_post=-anticipation, conf_level=conf_level))
    if np.isfinite(pretrend_p) and pretrend_p < 0.05:
        warnings.append(f"Pre-treatment group-time effects are jointly non-zero (p = "
                        f"{pretrend_p:.3f}): parallel trends are in doubt.")
    warnings = list(dict.fromkeys(warnings))
    p_values = 2 * _norm_sf(np.abs(agg_values) / np.where(agg_se > 0, agg_se, np.nan))
    records = []
    for name, value, se, p, extra in zip(agg.names, agg_values, agg_se, p_values, agg.extras,
                                         strict=True):
        est_name = name
        if ":" in name:
            kind, key = name.split(":")
            label = axis.label(periods[int(key)]) if kind in ("att_group", "att_calendar") \
                else str(int(key))
            est_name = f"{kind}:{label}"
        records.append(EffectRecord(
            scheme=scheme, domain=domain, outcome=outcome, design=DESIGN, estimand=est_name,
            scale="difference", estimate=float(value), se=float(se),
            ci_low=float(value - crit * se), ci_high=float(value + crit * se),
            conf_level=float(conf_level), p_value=float(p), n_units=int(n),
            pre_periods=int(extra.get("pre", 0)), post_periods=int(extra.get("post", 0)),
            evidence_level=maryland_level(DESIGN, est_name, diag),
            diagnostics=diag, warnings=tuple(warnings)))
    options = dict(outcome=outcome, unit=unit, time=time, cohort=cohort,
                   denominator=denominator, per=per, control_group=control_group,
                   estimator=estimator, covariates=covariates,
                   anticipation=anticipation, base_period=base_period, n_boot=n_boot,
                   seed=seed, cluster=cluster, conf_level=conf_level, honest=honest)
    return DesignResult(design=DESIGN, effects=effects_frame(records), diagnostics=diag,
                        warnings=tuple(warnings), options=options,
                        frames={"att_gt": att_gt, "event": event, "event_vcov": event_vcov})


# ------------------------------------------------------------------ checks and data


def _validate(*, control_group, estimator, base_period, anticipation, n_boot, conf_level):
    check_choice("control_group", control_group, ("never", "notyet"))
    check_choice("estimator", estimator, ESTIMATORS)
    check_choice("base_period", base_period, ("varying", "universal"))
    check_whole("anticipation", anticipation, 0)
    check_whole("n_boot", n_boot, 0)
    check_conf_level(conf_level)


def _unit_covariates(data, uidx, n, covariates, file) -> np.ndarray:
    frame = data[covariates].apply(pd.to_numeric, errors="coerce").assign(_u=uidx)
    spread = frame.groupby("_u")[covariates].nunique()
    varying = [c for c in covariates if (spread[c] > 1).any()]
    if varying:
        raise DataError(f"covariate(s) {', '.join(varying)} vary within units, but are assumed "
                        "time-invariant", file=file, column=varying[0],
                        fix="use each unit's value in a pre-period (e.g. the first year)")
    first = frame.groupby("_u")[covariates].first().reindex(range(n))
    if first.isna().any().any():
        raise DataError("covariates are missing for some units", file=file,
                        column=first.columns[first.isna().any()][0],
                        fix="fill them in or drop those units")
    return np.column_stack([np.ones(n), first.to_numpy(dtype=float)])


# ------------------------------------------------------------------ the 2x2 estimators


@dataclass
class _Cells:
    """Group-time cells: estimates, sizes and influence functions (columns: usable cells)."""

    att: np.ndarray
    n_t: np.ndarray
    n_c: np.ndarray
    ok: np.ndarray
    IF: np.ndarray  # n x ok.sum(), each column scaled so that var = sum(IF**2) / n**2
    m1: np.ndarray  # treated and control mean changes (unconditional cells)
    m0: np.ndarray
    balanced: bool  # no missing outcome: cohorts are whole treated and control groups


def _grid(cohorts, T, anticipation, base_period) -> np.ndarray:
    """(cohort, time, base) position triples of every group-time cell."""
    rows = []
    for g in cohorts:
        for t in range(T):
            post = t >= g - anticipation
            base = g - 1 - anticipation if (post or base_period == "universal") else t - 1
            if base >= 0 and t != base:
                rows.append((g, t, base))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def _control_masks(Gpos, is_never, g, t, base, control_group, anticipation) -> np.ndarray:
    """n x cells: the comparison units of cohort ``g``'s cells at times ``t``."""
    if control_group == "never":
        return np.broadcast_to(is_never[:, None], (Gpos.size, t.size))
    horizon = np.maximum(t, base) + anticipation
    return is_never[:, None] | ((Gpos[:, None] > horizon[None, :]) & (Gpos != g)[:, None])


def _unconditional(Y, Gpos, is_never, grid, control_group, anticipation) -> _Cells:
    """Every cell's 2x2 difference in mean changes, vectorised over the cells of a cohort.

    Within a cell, the influence of unit i is ``n (dy_i - m1) / n_t`` for treated units,
    ``-n (dy_i - m0) / n_c`` for controls and 0 otherwise.
    """
    n, m = Y.shape[0], len(grid)
    att, m1_all, m0_all = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    n_t, n_c = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
    IF = np.zeros((n, m))
    for g in np.unique(grid[:, 0]):
        sel = np.flatnonzero(grid[:, 0] == g)
        cols = slice(sel[0], sel[-1] + 1)  # the grid is sorted by cohort
        t, base = grid[cols, 1], grid[cols, 2]
        # Only the cohort and its possible controls have non-zero influence.
        later = (Gpos > np.maximum(t, base).min() + anticipation) if control_group == \
            "notyet" else False
        rg = np.flatnonzero(Gpos == g)
        rc = np.flatnonzero((is_never | later) & (Gpos != g))
        Yg, Yc = Y[rg], Y[rc]
        dg, dc = Yg[:, t] - Yg[:, base], Yc[:, t] - Yc[:, base]
        tr = np.isfinite(dg)
        co = _control_masks(Gpos[rc], is_never[rc], g, t, base, control_group,
                            anticipation) & np.isfinite(dc)
        dg, dc = np.where(tr, dg, 0.0), np.where(co, dc, 0.0)
        nt, nc = tr.sum(0), co.sum(0)
        good = (nt >= 1) & (nc >= 2)
        m1 = dg.sum(0) / np.maximum(nt, 1)
        m0 = dc.sum(0) / np.maximum(nc, 1)
        att[cols] = np.where(good, m1 - m0, np.nan)
        m1_all[cols], m0_all[cols], n_t[cols], n_c[cols] = m1, m0, nt, nc
        IF[rg, cols] = tr * ((dg - m1) * (n / np.maximum(nt, 1)))
        IF[rc, cols] = co * ((dc - m0) * (-n / np.maximum(nc, 1)))
    ok = np.isfinite(att)
    return _Cells(att, n_t, n_c, ok, IF if ok.all() else IF[:, ok], m1_all[ok], m0_all[ok],
                  balanced=bool(np.isfinite(Y).all()))


def _conditional_cells(Y, Gpos, is_never, grid, control_group, anticipation, X, estimator
                       ) -> _Cells:
    """Cells adjusted for covariates, one 2x2 estimation each (Sant'Anna and Zhao, 2020)."""
    n, m = Y.shape[0], len(grid)
    att = np.full(m, np.nan)
    n_t, n_c = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
    columns = []
    for j, (g, t, base) in enumerate(grid):
        dy_all = Y[:, t] - Y[:, base]
        avail = np.isfinite(dy_all)
        co_mask = _control_masks(Gpos, is_never, g, np.array([t]), np.array([base]),
                                 control_group, anticipation)[:, 0]
        tr = (Gpos == g) & avail
        co = co_mask & avail & ~tr
        n_t[j], n_c[j] = tr.sum(), co.sum()
        if n_t[j] < 1 or n_c[j] < 2 or n_c[j] <= X.shape[1]:
            continue
        idx = np.flatnonzero(tr | co)
        value, inf = _conditional(dy_all[idx], tr[idx].astype(float), X[idx], estimator)
        full = np.zeros(n)
        full[idx] = inf * (n / idx.size)
        att[j] = value
        columns.append(full)
    ok = np.isfinite(att)
    IF = np.column_stack(columns) if columns else np.zeros((n, 0))
    return _Cells(att, n_t, n_c, ok, IF, np.array([]), np.array([]), balanced=False)


def _logit(D, X, max_iter=100):
    """Logistic regression by Newton's method: coefficients, fitted p, (X'WX/n)^-1."""
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(X @ beta)))
        W = p * (1 - p)
        H = X.T @ (X * W[:, None])
        step = np.linalg.solve(H, X.T @ (D - p))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = 1 / (1 + np.exp(-(X @ beta)))
    H = X.T @ (X * (p * (1 - p))[:, None]) / len(D)
    return beta, np.minimum(p, 1 - 1e-6), np.linalg.inv(H)


def _conditional(dy, D, X, estimator):
    """ATT and influence function with covariates (Sant'Anna and Zhao, 2020, panel data)."""
    n = len(D)
    if estimator in ("reg", "dr"):
        c = D == 0
        beta = np.linalg.lstsq(X[c], dy[c], rcond=None)[0]
        out = X @ beta
        w_ols = 1 - D
        xpx_inv = np.linalg.inv((X * w_ols[:, None]).T @ X / n)
        lin_ols = (w_ols * (dy - out))[:, None] * X @ xpx_inv
    if estimator in ("ipw", "dr"):
        _, ps, hess = _logit(D, X)
        lin_ps = ((D - ps)[:, None] * X) @ hess
    if estimator == "reg":
        w_t = D
        eta_t = np.mean(w_t * dy) / np.mean(w_t)
        eta_c = np.mean(w_t * out) / np.mean(w_t)
        inf_t = (w_t * dy - w_t * eta_t) / np.mean(w_t)
        inf_c1 = w_t * out - w_t * eta_c
        inf_c2 = lin_ols @ np.mean(w_t[:, None] * X, axis=0)
        inf = inf_t - (inf_c1 + inf_c2) / np.mean(w_t)
        return eta_t - eta_c, inf
    w_t = D
    w_c = ps * (1 - D) / (1 - ps)
    if estimator == "ipw":
        eta_t = np.mean(w_t * dy) / np.mean(w_t)
        eta_c = np.mean(w_c * dy) / np.mean(w_c)
        inf_t = (w_t * dy - w_t * eta_t) / np.mean(w_t)
        inf_c = (w_c * dy - w_c * eta_c) / np.mean(w_c)
        m2 = np.mean((w_c * (dy - eta_c))[:, None] * X, axis=0) / np.mean(w_c)
        inf = inf_t - (inf_c + lin_ps @ m2)
        return eta_t - eta_c, inf
    # doubly robust (locally efficient, traditional)
    eta_t = np.mean(w_t * (dy - out)) / np.mean(w_t)
    eta_c = np.mean(w_c * (dy - out)) / np.mean(w_c)
    inf_t = (w_t * (dy - out) - w_t * eta_t - lin_ols @ np.mean(w_t[:, None] * X, axis=0)) \
        / np.mean(w_t)
    m2 = np.mean((w_c * (dy - out - eta_c))[:, None] * X, axis=0)
    m3 = np.mean(w_c[:, None] * X, axis=0)
    inf_c = (w_c * (dy - out) - w_c * eta_c + lin_ps @ m2 - lin_ols @ m3) / np.mean(w_c)
    return eta_t - eta_c, inf_t - inf_c


# ------------------------------------------------------------------ aggregation


@dataclass
class _Aggregation:
    """Aggregated estimands as weights on the cells.

    Estimates are ``att @ W``; influence functions ``IF @ W + Wc[cohort of unit]``, where
    ``Wc`` (cohorts x estimands) is the influence of estimating the weights themselves.
    """

    names: list[str]
    W: np.ndarray
    Wc: np.ndarray
    extras: list[dict]


def _weight_if(cell_cohort: np.ndarray, pg: np.ndarray, att: np.ndarray, K: int) -> np.ndarray:
    """Influence of estimating cohort-share weights, times the effects weighted, by cohort.

    R ``did``'s ``wif`` is an n x k matrix with columns ``(1[G_i = g_k] - p_k) / P`` minus
    ``sum_l (1[G_i = g_l] - p_l) p_k / P^2`` (``P`` the sum of the weights' shares). It is
    only ever multiplied by the effects, and that product depends on a unit only through
    its cohort: this returns it for each cohort index (the last, never treated, is 0).
    """
    total = pg.sum()
    pa = float(pg @ att)
    S = np.bincount(cell_cohort, weights=att, minlength=K)
    R = np.bincount(cell_cohort, minlength=K).astype(float)
    return (S - pa) / total - (R - total) * pa / total**2


def _aggregate(att, group, tt, pg, cohorts, pg_cohort) -> _Aggregation:
    m, K = att.size, len(cohorts) + 1
    ci = np.searchsorted(cohorts, group)
    names: list[str] = []
    Ws: list[np.ndarray] = []
    Wcs: list[np.ndarray] = []
    extras: list[dict] = []

    def add(name, w, wc, extra):
        names.append(name)
        Ws.append(w)
        Wcs.append(np.zeros(K) if wc is None else wc)
        extras.append(extra)

    def share_weights(keep):
        w = np.zeros(m)
        w[keep] = pg[keep] / pg[keep].sum()
        return w, _weight_if(ci[keep], pg[keep], att[keep], K)

    post = tt >= group
    keep = np.flatnonzero(post)
    if keep.size:
        add("att_simple", *share_weights(keep), {"post": keep.size})
    # by cohort, then their average weighted by cohort size
    glist = sorted(set(group[post].tolist()))
    group_cols = []
    for g in glist:
        k = np.flatnonzero((group == g) & post)
        w = np.zeros(m)
        w[k] = 1 / k.size
        group_cols.append(w)
    if glist:
        gi = np.searchsorted(cohorts, glist)
        pgg = pg_cohort[gi]
        Wg = np.column_stack(group_cols)
        wc = _weight_if(gi, pgg, att @ Wg, K)
        add("att_group", Wg @ (pgg / pgg.sum()), wc, {"post": int(post.sum())})
        for g, w, kk in zip(glist, group_cols, Wg.T, strict=True):
            add(f"att_group:{g}", w, None, {"post": int((kk > 0).sum())})
    # by event time, then the average over event times >= 0
    e_all = tt - group
    event_cols = []
    for e in sorted(set(e_all.tolist())):
        w, wc = share_weights(np.flatnonzero(e_all == e))
        event_cols.append((e, w, wc))
    epos = [(w, wc) for e, w, wc in event_cols if e >= 0]
    if epos:
        add("att_dynamic", np.mean([w for w, _ in epos], axis=0),
            np.mean([wc for _, wc in epos], axis=0), {"post": len(epos)})
    # by calendar period, then their average
    cal_cols = []
    for t in sorted(set(tt[post].tolist())):
        w, wc = share_weights(np.flatnonzero((tt == t) & post))
        cal_cols.append((t, w, wc))
    if cal_cols:
        add("att_calendar", np.mean([w for _, w, _ in cal_cols], axis=0),
            np.mean([wc for _, _, wc in cal_cols], axis=0), {"post": len(cal_cols)})
    for e, w, wc in event_cols:
        add(f"att_event:{e}", w, wc, {"post": int(e >= 0), "pre": int(e < 0)})
    for t, w, wc in cal_cols:
        add(f"att_calendar:{t}", w, wc, {"post": 1})
    # Overall estimands first, then the group, event and calendar detail.
    overall = ["att_simple", "att_group", "att_dynamic", "att_calendar"]
    order = [names.index(o) for o in overall if o in names] + [
        i for i, name in enumerate(names) if ":" in name]
    return _Aggregation([names[i] for i in order], np.column_stack([Ws[i] for i in order]),
                        np.column_stack([Wcs[i] for i in order]), [extras[i] for i in order])


# ------------------------------------------------------------------ inference


def _norm_ppf(q: float) -> float:
    """Standard normal quantile: ``scipy.stats.norm.ppf``'s own kernel, without importing
    scipy.stats (over a second of a fresh process's start)."""
    return float(special.ndtri(q))


def _norm_sf(x: np.ndarray) -> np.ndarray:
    """Standard normal upper tail, as ``scipy.stats.norm.sf`` computes it (NaN stays NaN)."""
    return special.ndtr(-np.asarray(x, dtype=float))


def _f_sf(x: float, dfn: float, dfd: float) -> float:
    """Upper tail of F(dfn, dfd), as ``scipy.stats.f.sf`` computes it (1 below zero)."""
    if np.isnan(x) or dfn <= 0 or dfd <= 0:
        return np.nan
    return 1.0 if x < 0 else float(special.fdtrc(dfn, dfd, x))


def _cluster_sums(V: np.ndarray, clusters: np.ndarray | None, k: int | None = None
                  ) -> np.ndarray:
    """Column sums of ``V`` within clusters (rows unchanged when clustering by unit)."""
    if clusters is None:
        return V
    from scipy import sparse  # only when clustering above the unit

    k = int(clusters.max()) + 1 if k is None else k
    A = sparse.csr_matrix((np.ones(clusters.size), (clusters, np.arange(clusters.size))),
                          shape=(k, clusters.size))
    return np.asarray(A @ V)


def _se(IF, clusters) -> np.ndarray:
    """Analytic standard errors: sqrt(sum of squared influence (cluster sums)) / n."""
    n = IF.shape[0]
    S = _cluster_sums(IF, clusters)
    return np.sqrt((S**2).sum(0)) / n


def _wald(V: np.ndarray, est: np.ndarray, n_clusters: int) -> float:
    """p-value of the joint Wald test that ``est`` is zero, with Hotelling's small-sample
    F(q, G - q) reference (the chi-squared limit when there are many clusters)."""
    try:
        w = float(est @ np.linalg.solve(V, est))
    except np.linalg.LinAlgError:
        w = float(est @ np.linalg.pinv(V) @ est)
    q, g = est.size, n_clusters
    return float(_f_sf(w * (g - q) / (q * (g - 1)), q, g - q))


class _MultiplierBootstrap:
    """Rademacher multiplier bootstrap on (cluster sums of) influence functions.

    A draw of an estimate is ``sum_i xi_c(i) IF_i / n`` with ``xi`` drawn per cluster.
    """

    def __init__(self, n, clusters, n_boot, rng, conf_level, cidx):
        self.clusters = clusters
        n_c = n if clusters is None else int(clusters.max()) + 1
        # Rademacher signs from random bytes (8 per byte). Unclustered, column j belongs to
        # the j-th unit in cohort order, so each cohort's multipliers are a contiguous block.
        bits = np.unpackbits(np.frombuffer(rng.bytes(-(-n_boot * n_c // 8)), np.uint8))
        self.xi = 1.0 - 2.0 * bits[: n_boot * n_c].reshape(n_boot, n_c)
        self.order = np.argsort(cidx, kind="stable") if clusters is None else None
        self.bounds = np.searchsorted(cidx[self.order], np.arange(cidx.max() + 2)) \
            if clusters is None else None
        self.n = n
        self.conf_level = conf_level
        self._z = _norm_ppf(0.75) - _norm_ppf(0.25)

    def draws(self, IF: np.ndarray) -> np.ndarray:
        """n_boot x k draws of the estimates whose influence functions are ``IF``."""
        if self.clusters is None:
            return self.xi @ IF[self.order] / self.n
        return self.xi @ _cluster_sums(IF, self.clusters) / self.n

    def cohort_totals(self, cidx: np.ndarray, K: int) -> np.ndarray:
        """n_boot x K: the sum of each cohort's units' multipliers."""
        if self.clusters is None:
            return np.column_stack([self.xi[:, lo:hi].sum(1) for lo, hi in
                                    zip(self.bounds[:K], self.bounds[1:K + 1], strict=True)])
        return self.draws(np.eye(K)[cidx]) * self.n

    def _cohort_sums(self, V: np.ndarray, cidx: np.ndarray, K: int) -> np.ndarray:
        """n_boot x K x T: multiplier-weighted sums of ``V``'s rows within each cohort."""
        out = np.empty((self.xi.shape[0], K, V.shape[1]))
        for h in range(K):
            if self.clusters is None:
                lo, hi = self.bounds[h], self.bounds[h + 1]
                out[:, h] = self.xi[:, lo:hi] @ V[self.order[lo:hi]]
                continue
            rows = np.flatnonzero(cidx == h)
            out[:, h] = self.xi @ _cluster_sums(V[rows], self.clusters[rows],
                                                self.xi.shape[1])
        return out

    def cell_draws_balanced(self, Y, cidx, K, grid, cells, cohorts, is_never, control_group,
                            anticipation) -> np.ndarray:
        """Draws of the unconditional cells from cohort sums, without the n x cells product.

        In a balanced panel a cell's treated group is a whole cohort and its controls are
        whole cohorts, so ``sum_i xi_i IF_i / n`` is a difference of multiplier-weighted
        cohort sums of the outcome at two periods: O(n_boot n T) instead of
        O(n_boot n cells). Equal to ``draws(IF)`` up to rounding.
        """
        S = self._cohort_sums(Y, cidx, K)
        s = self.cohort_totals(cidx, K)
        g, t, base = np.searchsorted(cohorts, grid[:, 0]), grid[:, 1], grid[:, 2]
        treated = S[:, g, t] - S[:, g, base] - cells.m1 * s[:, g]
        if control_group == "never":
            control = S[:, K - 1, t] - S[:, K - 1, base] - cells.m0 * s[:, [K - 1]]
        else:
            Ssuf = np.flip(np.cumsum(np.flip(S, 1), axis=1), 1)
            ssuf = np.flip(np.cumsum(np.flip(s, 1), axis=1), 1)
            horizon = np.maximum(t, base) + anticipation
            k = np.searchsorted(cohorts, horizon, side="right")  # first cohort after it
            control = Ssuf[:, k, t] - Ssuf[:, k, base] - cells.m0 * ssuf[:, k]
            own = grid[:, 0] > horizon  # the cohort itself is not yet treated: not a control
            control[:, own] -= (S[:, g[own], t[own]] - S[:, g[own], base[own]]
                                - cells.m0[own] * s[:, g[own]])
        return treated / cells.n_t[cells.ok] - control / cells.n_c[cells.ok]

    def se_and_uniform_crit(self, b: np.ndarray) -> tuple[np.ndarray, float]:
        """Bootstrap standard errors (interquartile range / 1.349) and the sup-t critical
        value, from draws ``b`` (n_boot x k)."""
        q25, q75 = np.quantile(b, [0.25, 0.75], axis=0)
        se = (q75 - q25) / self._z
        ok = se > 0
        crit = float(np.quantile((np.abs(b[:, ok]) / se[ok]).max(1), self.conf_level)) \
            if ok.any() else float("nan")
        return se, crit
