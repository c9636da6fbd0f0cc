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
from scipy import stats

from ..contract import check_panel, nearest, never_treated
from ..errors import DataError, DesignError
from ..periods import parse_period, parse_periods
from ..results import DesignResult, EffectRecord, effects_frame
from ._options import check_choice, check_conf_level, check_whole

__all__ = ["staggered_did", "ESTIMATORS"]

DESIGN = "staggered_did"
ESTIMATORS = ("dr", "ipw", "reg")


@dataclass
class _Cell:
    cohort: int  # position of g in the period list
    time: int  # position of t
    base: int
    att: float
    inf: np.ndarray | None  # full-sample influence function (length n), or None
    n_treated: int
    n_control: int


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
        standard errors and pointwise intervals only).
    seed
        Seed of the bootstrap.
    cluster
        A column to cluster by (constant within unit); units by default.
    conf_level
        Confidence level.
    scheme, domain
        Labels for the effect records.

    Returns
    -------
    DesignResult
        ``effects`` holds ``att_simple``, ``att_group`` and ``att_group:<g>``,
        ``att_dynamic`` and ``att_event:<e>``, ``att_calendar`` and ``att_calendar:<t>``.
        ``plot_data()["att_gt"]`` (also ``result.att_gt``) has one row per cohort and
        period with ``cohort, time, att, se``, intervals and the uniform band.

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
    covariates = list(covariates or [])
    file = data.attrs.get("source")
    check_panel(data, unit=unit, time=time,
                outcomes={outcome: "poisson" if denominator else "gaussian"},
                denominator=denominator, covariates=covariates, file=file).raise_for_errors()
    for col in [cohort] + ([cluster] if cluster else []):
        if col not in data.columns:
            guess = nearest(col, map(str, data.columns))
            raise DataError(f"the column '{col}' is missing", file=file, column=col,
                            fix=f"did you mean '{guess}'?" if guess else "add it")
    codes, axis = parse_periods(data[time], file=file, column=time)
    periods = np.unique(codes)
    T = periods.size
    pos = {int(c): i for i, c in enumerate(periods)}

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
    per_unit = pd.DataFrame({"u": uidx, "g": g_code}).groupby("u")["g"]
    varying = per_unit.nunique() > 1
    if varying.any():
        bad = units[varying.to_numpy()][:3]
        raise DataError(f"the cohort changes within {int(varying.sum())} unit(s), e.g. "
                        f"{', '.join(map(str, bad))}: treatment reverses or is recoded",
                        file=file, column=cohort,
                        fix="give each unit one first-treated period (0 if never treated)")
    G = per_unit.first().to_numpy()
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
    Gpos = np.array([pos[int(g)] if g >= 0 else -1 for g in G])
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
        cl = pd.DataFrame({"u": uidx, "c": data[cluster].to_numpy()}).groupby("u")["c"]
        if (cl.nunique() > 1).any():
            raise DataError("the cluster changes within a unit", file=file, column=cluster,
                            fix="cluster by a level that contains whole units")
        clusters = pd.factorize(cl.first())[0]

    cohorts = sorted(set(Gpos[Gpos >= 0].tolist()))
    cells: list[_Cell] = []
    for g in cohorts:
        treated_mask = Gpos == g
        for t in range(T):
            post = t >= g - anticipation
            if post or base_period == "universal":
                base = g - 1 - anticipation
            else:
                base = t - 1
            if base < 0 or t == base:
                continue
            if control_group == "never":
                control_mask = is_never.copy()
            else:
                horizon = max(t, base) + anticipation
                control_mask = is_never | ((Gpos > horizon) & (Gpos != g))
            cell = _att_cell(Y, t, base, treated_mask, control_mask, X, estimator, n)
            cell.cohort, cell.time = g, t
            if cell.inf is None:
                warnings.append(f"Cohort {axis.label(periods[g])} at "
                                f"{axis.label(periods[t])}: too few units "
                                f"({cell.n_treated} treated, {cell.n_control} controls); "
                                "reported as missing.")
            cells.append(cell)
    if not cells:
        raise DesignError("no group-time effect can be estimated", file=file,
                          fix="check the cohorts and the periods")
    ok = [c for c in cells if c.inf is not None]
    if control_group == "notyet" and not ok:
        raise DataError("no not-yet-treated units to compare with", file=file, column=cohort,
                        fix="use control_group='never' or add later-treated units")

    att = np.array([c.att for c in ok])
    IF = np.column_stack([c.inf for c in ok])
    group = np.array([c.cohort for c in ok])
    tt = np.array([c.time for c in ok])
    pg_cohort = {g: float(np.mean(Gpos == g)) for g in cohorts}
    pg = np.array([pg_cohort[g] for g in group])

    aggs = _aggregate(att, IF, group, tt, pg, Gpos)
    rng = np.random.default_rng(seed)
    boot = None
    if n_boot:
        boot = _MultiplierBootstrap(IF, clusters, n_boot, rng, conf_level)
    if boot is None:
        se_gt, ucrit = _se(IF, clusters), np.nan
    else:
        se_gt, ucrit = boot.se_and_uniform_crit(IF)
    crit = stats.norm.ppf(1 - (1 - conf_level) / 2)
    att_gt = pd.DataFrame({
        "cohort": [axis.label(periods[g]) for g in group],
        "time": [axis.label(periods[t]) for t in tt],
        "event_time": tt - group,
        "att": att, "se": se_gt,
        "ci_low": att - crit * se_gt, "ci_high": att + crit * se_gt,
        "band_low": att - ucrit * se_gt, "band_high": att + ucrit * se_gt,
        "post": tt >= group,
    })
    # Pre-trends: a joint Wald test of the pre-adoption event-time effects (the 12 closest
    # to adoption at most, and fewer than the clusters, so the covariance is not singular).
    n_cl = n if clusters is None else int(clusters.max() + 1)
    pre_keys = sorted((int(k.split(":")[1]) for k in aggs if k.startswith("att_event:")
                       and int(k.split(":")[1]) < 0), reverse=True)[: min(12, n_cl - 1)]
    if pre_keys:
        pre_att = np.array([aggs[f"att_event:{e}"][0] for e in pre_keys])
        pre_if = np.column_stack([aggs[f"att_event:{e}"][1] for e in pre_keys])
        pretrend_p = _wald(pre_att, pre_if, clusters)
    else:
        pretrend_p = np.nan

    diag = {"control_group": control_group, "rate_per": per if denominator else None,
            "estimator": estimator,
            "covariates": covariates, "anticipation": anticipation,
            "base_period": base_period, "units": int(n),
            "cohorts": [axis.label(periods[g]) for g in cohorts],
            "never_treated_units": int(is_never.sum()), "pretrend_p": pretrend_p,
            "pretrend_event_times": pre_keys,
            "inference": ("multiplier bootstrap" if n_boot else "analytic")
            + (f", clustered by {cluster}" if cluster else ""),
            "n_boot": int(n_boot), "uniform_critical_value": float(ucrit)}
    if np.isfinite(pretrend_p) and pretrend_p < 0.05:
        warnings.append(f"Pre-treatment group-time effects are jointly non-zero (p = "
                        f"{pretrend_p:.3f}): parallel trends are in doubt.")
    records = []
    agg_if = np.column_stack([inf for _, inf, _ in aggs.values()])
    agg_se = _se(agg_if, clusters) if boot is None else boot.se_and_uniform_crit(agg_if)[0]
    for (name, (value, _inf, label_extra)), se in zip(aggs.items(), agg_se, strict=True):
        p = float(2 * stats.norm.sf(abs(value) / se)) if se > 0 else float("nan")
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
            conf_level=float(conf_level), p_value=p, n_units=int(n),
            pre_periods=int(label_extra.get("pre", 0)), post_periods=int(label_extra.get(
                "post", 0)), evidence_level=3, diagnostics=diag, warnings=tuple(warnings)))
    options = dict(outcome=outcome, unit=unit, time=time, cohort=cohort,
                   denominator=denominator, per=per, control_group=control_group,
                   estimator=estimator, covariates=covariates,
                   anticipation=anticipation, base_period=base_period, n_boot=n_boot,
                   seed=seed, cluster=cluster, conf_level=conf_level)
    result = DesignResult(design=DESIGN, effects=effects_frame(records), diagnostics=diag,
                          warnings=tuple(dict.fromkeys(warnings)), options=options,
                          frames={"att_gt": att_gt})
    return result


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


def _att_cell(Y, t, base, treated_mask, control_mask, X, estimator, n) -> _Cell:
    dy_all = Y[:, t] - Y[:, base]
    avail = np.isfinite(dy_all)
    tr = treated_mask & avail
    co = control_mask & avail & ~treated_mask
    idx = np.flatnonzero(tr | co)
    n_t, n_c = int(tr.sum()), int(co.sum())
    cell = _Cell(-1, t, base, float("nan"), None, n_t, n_c)
    if n_t < 1 or n_c < 2 or (X is not None and n_c <= X.shape[1]):
        return cell
    D = tr[idx].astype(float)
    dy = dy_all[idx]
    n1 = idx.size
    if X is None:
        m1, m0 = dy[D == 1].mean(), dy[D == 0].mean()
        p1, p0 = D.mean(), 1 - D.mean()
        att = m1 - m0
        inf = D * (dy - m1) / p1 - (1 - D) * (dy - m0) / p0
    else:
        att, inf = _conditional(dy, D, X[idx], estimator)
    full = np.zeros(n)
    full[idx] = inf * (n / n1)
    cell.att, cell.inf = float(att), full
    return cell


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


# ------------------------------------------------------------------ aggregation and inference


def _weight_if(keepers, pg, Gpos, group, att):
    """Influence of estimating the aggregation weights, times the effects being weighted.

    R ``did``'s ``wif`` is an n x k matrix with columns ``(1[G_i = g_k] - p_k) / P`` minus
    ``sum_k (1[G_i = g_k] - p_k) p_k / P^2`` (``P`` the sum of the weights' shares); it is
    only ever multiplied by the effects ``att``, and that product needs only per-cohort
    sums, so it is computed in O(n).
    """
    total = pg[keepers].sum()
    a = np.asarray(att, dtype=float)
    cohorts = group[keepers]
    size = max(int(Gpos.max()), int(cohorts.max())) + 2
    S = np.bincount(cohorts, weights=a, minlength=size)  # sum of effects by cohort
    R = np.bincount(cohorts, minlength=size).astype(float)  # number of effects by cohort
    idx = np.where(Gpos >= 0, Gpos, size - 1)  # never treated: an empty cohort
    pa = float(pg[keepers] @ a)
    return (S[idx] - pa) / total - (R[idx] - pg[keepers].sum()) * pa / total**2


def _agg(att, IF, keepers, weights, wif_att=None):
    value = float(att[keepers] @ weights)
    inf = IF[:, keepers] @ weights
    if wif_att is not None:
        inf = inf + wif_att
    return value, inf


def _aggregate(att, IF, group, tt, pg, Gpos) -> dict[str, tuple[float, np.ndarray, dict]]:
    out: dict[str, tuple[float, np.ndarray, dict]] = {}
    post = tt >= group
    keep = np.flatnonzero(post)
    if keep.size:
        w = pg[keep] / pg[keep].sum()
        v, inf = _agg(att, IF, keep, w, _weight_if(keep, pg, Gpos, group, att[keep]))
        out["att_simple"] = (v, inf, {"post": keep.size})
    # by cohort
    glist = sorted(set(group[post].tolist()))
    g_vals, g_infs = [], []
    for g in glist:
        k = np.flatnonzero((group == g) & post)
        v, inf = _agg(att, IF, k, np.full(k.size, 1 / k.size))
        g_vals.append(v)
        g_infs.append(inf)
        out[f"att_group:{g}"] = (v, inf, {"post": k.size})
    if glist:
        pgg = np.array([pg[np.flatnonzero(group == g)[0]] for g in glist])
        cohort_idx = np.array([np.flatnonzero(group == g)[0] for g in glist])
        wif_att = _weight_if(np.arange(len(glist)), pgg, Gpos, group[cohort_idx],
                             np.array(g_vals))
        v = float(np.array(g_vals) @ (pgg / pgg.sum()))
        inf = np.column_stack(g_infs) @ (pgg / pgg.sum()) + wif_att
        out["att_group"] = (v, inf, {"post": int(post.sum())})
    # by event time
    e_all = tt - group
    e_vals, e_infs = {}, {}
    for e in sorted(set(e_all.tolist())):
        k = np.flatnonzero(e_all == e)
        w = pg[k] / pg[k].sum()
        v, inf = _agg(att, IF, k, w, _weight_if(k, pg, Gpos, group, att[k]))
        e_vals[e], e_infs[e] = v, inf
        out[f"att_event:{e}"] = (v, inf, {"post": int(e >= 0), "pre": int(e < 0)})
    epos = [e for e in e_vals if e >= 0]
    if epos:
        v = float(np.mean([e_vals[e] for e in epos]))
        inf = np.column_stack([e_infs[e] for e in epos]).mean(1)
        out["att_dynamic"] = (v, inf, {"post": len(epos)})
    # by calendar period
    t_vals, t_infs = [], []
    for t in sorted(set(tt[post].tolist())):
        k = np.flatnonzero((tt == t) & post)
        w = pg[k] / pg[k].sum()
        v, inf = _agg(att, IF, k, w, _weight_if(k, pg, Gpos, group, att[k]))
        t_vals.append(v)
        t_infs.append(inf)
        out[f"att_calendar:{t}"] = (v, inf, {"post": 1})
    if t_vals:
        out["att_calendar"] = (float(np.mean(t_vals)), np.column_stack(t_infs).mean(1),
                               {"post": len(t_vals)})
    # Order: overall estimands first.
    order = ["att_simple", "att_group", "att_dynamic", "att_calendar"]
    return {k: out[k] for k in order if k in out} | {k: v for k, v in out.items()
                                                     if k not in order}


def _cluster_sums(IF, clusters):
    if clusters is None:
        return IF
    k = clusters.max() + 1
    sums = np.zeros((k, IF.shape[1]))
    np.add.at(sums, clusters, IF)
    return sums


def _se(IF, clusters) -> np.ndarray:
    """Analytic standard errors: sqrt(sum of squared influence (cluster sums)) / n."""
    n = IF.shape[0]
    S = _cluster_sums(IF, clusters)
    return np.sqrt((S**2).sum(0)) / n


def _wald(att, IF, clusters) -> float:
    n = IF.shape[0]
    S = _cluster_sums(IF, clusters)
    V = S.T @ S / n**2
    try:
        w = float(att @ np.linalg.solve(V, att))
    except np.linalg.LinAlgError:
        w = float(att @ np.linalg.pinv(V) @ att)
    return float(stats.chi2.sf(w, att.size))


class _MultiplierBootstrap:
    """Rademacher multiplier bootstrap on (cluster sums of) influence functions."""

    def __init__(self, IF, clusters, n_boot, rng, conf_level):
        self.clusters = clusters
        n_c = IF.shape[0] if clusters is None else clusters.max() + 1
        self.xi = np.where(rng.random((n_boot, n_c)) < 0.5, -1.0, 1.0)  # Rademacher
        self.n = IF.shape[0]
        self.conf_level = conf_level
        self._z = stats.norm.ppf(0.75) - stats.norm.ppf(0.25)

    def draws(self, IF):
        return self.xi @ _cluster_sums(IF, self.clusters) / self.n  # n_boot x k

    def se_and_uniform_crit(self, IF) -> tuple[np.ndarray, float]:
        """Bootstrap standard errors (interquartile range / 1.349) and the sup-t critical
        value, from one set of draws."""
        b = self.draws(IF)
        q25, q75 = np.quantile(b, [0.25, 0.75], axis=0)
        se = (q75 - q25) / self._z
        ok = se > 0
        crit = float(np.quantile((np.abs(b[:, ok]) / se[ok]).max(1), self.conf_level)) \
            if ok.any() else float("nan")
        return se, crit
