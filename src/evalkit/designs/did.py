"""Difference-in-differences by two-way fixed effects, with its diagnostics.

``did`` fits ``y_it = a_i + l_t + b D_it (+ X_it g) + e_it`` with the unit and
period effects absorbed by within-transformation (alternating projections, so
no dummy matrices are built), for a 2x2 or controlled before-after comparison
or any adoption pattern. Outcomes can be means or rates (``denominator``).

Inference: cluster-robust standard errors (CR1, by unit or a higher level; the
small-sample factor does not count unit effects nested in the clusters, as fixest and
reghdfe, unless ``ssc`` says otherwise: see :mod:`evalkit.designs.cluster_se`), or
a wild cluster bootstrap (Rademacher or Webb weights, percentile-t) which is the
default when there are fewer than 30 treated clusters (Cameron, Gelbach and
Miller, 2008), or randomisation inference over units' treatment paths.

When adoption is staggered, the TWFE estimate is a weighted average of 2x2
comparisons, some using already-treated units as controls. ``did`` reports the
Goodman-Bacon (2021) decomposition and the share of treated cells with negative
TWFE weights (de Chaisemartin and D'Haultfoeuille, 2020), and warns, pointing to
``staggered_did``, when comparisons with already-treated units carry weight.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_choice, check_conf_level, check_whole, unit_clusters
from evalkit.data.contract import check_panel
from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_period, parse_periods
from evalkit.designs.cluster_se import SSC, cluster_vcov, fixef_dof, nested_in, ssc_note
from evalkit.designs.poisson_fe import poisson_fe
from evalkit.designs.staggered_did import staggered_did
from evalkit.designs.wild_bootstrap import wild_cluster_bootstrap
from evalkit.errors import DataError, DesignError
from evalkit.evidence.maryland import maryland_level
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["did", "within", "bacon_decomposition", "cluster_vcov", "StaggeredAdoptionWarning",
           "FAMILIES"]

DESIGN = "did"
INFERENCE = ("auto", "cluster", "wild", "randomization")
#: The families ``did`` fits: linear TWFE, and Poisson PML (PPML) with two-way fixed effects
#: for counts, whose cluster-robust errors make ``"poisson"`` and ``"quasipoisson"`` the same
#: fit (see :func:`did`).
FAMILIES = ("gaussian", "poisson", "quasipoisson")
#: Families the other count designs take that ``did`` refuses, with why and what to use.
REFUSED_FAMILIES = {
    "negbin": ("the conditional negative binomial (Hausman, Hall and Griliches) is not a true "
               "fixed-effects model (Allison and Waterman 2002), and one with unit dummies is "
               "consistent only if its variance function is right",
               "use family='quasipoisson': Poisson PML with unit and period effects is "
               "consistent for the rate ratio whatever the overdispersion (Wooldridge 1999), "
               "and its cluster-robust errors allow for it"),
    "binomial": ("a logit with unit fixed effects estimates an odds ratio, with parallel trends "
                 "on the log-odds scale, not the difference in proportions that prepost "
                 "reports for this family",
                 "analyse the proportion as a rate: family='gaussian' with denominator=... "
                 "and per=100 gives the difference in percentage points"),
}


class StaggeredAdoptionWarning(UserWarning):
    """``did`` was given a panel whose treated units start at different times."""


def within(values: np.ndarray, unit: np.ndarray, time: np.ndarray, *, tol: float = 1e-12,
           max_iter: int = 1000) -> np.ndarray:
    """Remove unit and period means (two-way within transformation).

    Alternating projections (demean by unit, then by period, until nothing changes);
    one pass suffices for a balanced panel. ``values`` may be a matrix (columns
    transformed together). Memory is a few copies of ``values``.
    """
    out = np.array(values, dtype=float, copy=True)
    if out.ndim == 1:
        out = out[:, None]
    nu, nt = unit.max() + 1, time.max() + 1
    cu = np.bincount(unit, minlength=nu).astype(float)
    ct = np.bincount(time, minlength=nt).astype(float)
    for _ in range(max_iter):
        change = 0.0
        for idx, counts, n in ((unit, cu, nu), (time, ct, nt)):
            means = np.stack([np.bincount(idx, weights=out[:, j], minlength=n)
                              for j in range(out.shape[1])], axis=1) / counts[:, None]
            step = means[idx]
            out -= step
            change = max(change, float(np.abs(step).max()))
        if change < tol:
            break
    return out


@takes_frame
def did(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treated: str,
    start: Any = None,
    denominator: str | None = None,
    per: float = 1000.0,
    family: str = "gaussian",
    covariates: Sequence[str] | None = None,
    cluster: str | None = None,
    inference: str = "auto",
    weights: str = "rademacher",
    n_boot: int = 999,
    seed: int | None = None,
    conf_level: float = 0.95,
    ssc: str = "nested",
    scheme: str | None = None,
    domain: str = "outcome",
) -> DesignResult:
    """Difference-in-differences with unit and period fixed effects.

    Parameters
    ----------
    data
        A panel: one row per unit per period.
    outcome, unit, time
        Column names.
    treated
        A 0/1 column: 1 in treated periods of treated units; or, with ``start``, 1 for
        scheme units (then treated periods are those from ``start``).
    start
        The scheme's start, when ``treated`` marks scheme units.
    denominator, per
        Analyse the outcome as a rate per ``per`` of ``denominator``. With
        ``family="poisson"`` the denominator is the exposure instead.
    family
        ``"gaussian"`` (linear TWFE on the outcome or rate; estimand ``att_twfe``),
        ``"poisson"`` or ``"quasipoisson"`` (Poisson pseudo-maximum likelihood, PPML, on
        counts with unit and period fixed effects and ``log(denominator)`` as offset;
        estimand ``rate_ratio``, the ratio of expected counts with the scheme to without
        it, on the ratio scale with ``se`` that of the log ratio, as ``prepost`` and ``its``
        report count outcomes). Count inference is cluster-robust (CR1, t(G-1)), which
        allows for any overdispersion: ``"poisson"`` and ``"quasipoisson"`` give the same
        estimate and interval (pyfixest's ``fepois`` with CRV1), and the diagnostics give
        the Pearson dispersion. ``"negbin"`` and ``"binomial"`` are refused, saying why and
        what to use (:data:`REFUSED_FAMILIES`).
    covariates
        Time-varying controls.
    cluster
        Cluster column (constant within unit); units by default.
    inference
        ``"auto"`` (wild bootstrap with fewer than 30 treated clusters, else
        cluster-robust), ``"cluster"``, ``"wild"`` or ``"randomization"``.
    weights
        Wild bootstrap weights: ``"rademacher"`` or ``"webb"``.
    n_boot, seed
        Bootstrap or permutation draws, and their seed. ``n_boot=0`` is allowed where no
        draws are needed (cluster-robust inference, and the count families) and refused,
        saying so, where they are (the wild bootstrap, also when ``"auto"`` chooses it,
        and randomisation inference).
    conf_level
        Confidence level.
    ssc
        Small-sample correction of the cluster-robust SE: ``"nested"`` (fixest's and
        Stata's default: fixed effects nested in the clusters are not counted in
        ``(N-1)/(N-K)``), ``"full"`` (every fixed-effect level counted, as a regression
        with dummies in statsmodels or ``lm``) or ``"none"`` (no fixed effect counted).
        See :mod:`evalkit.designs.cluster_se` and ``docs/standard-errors.md``.
    scheme, domain
        Labels for the effect records.

    Returns
    -------
    DesignResult
        Estimand ``att_twfe`` (``rate_ratio`` for counts). ``plot_data()["means"]`` holds
        the treated and comparison groups' mean outcome by period (rates per ``per`` with a
        denominator) and the treated group's counterfactual: its pre-period mean plus the
        comparison group's change (for counts, times the comparison group's rate ratio).
        With staggered adoption (treated units starting at different times) ``did`` issues
        a :class:`StaggeredAdoptionWarning` and notes it in the warnings and in
        ``diagnostics["staggered_note"]``; the diagnostics hold the Bacon decomposition
        (also ``plot_data()["bacon"]``, linear TWFE only) and negative-weight shares.

    Warns
    -----
    StaggeredAdoptionWarning
        When treated units start at different times: TWFE is then biased if the effect
        differs between adoption cohorts or over time; ``staggered_did`` is not.
    """
    check_choice("inference", inference, INFERENCE)
    if family in REFUSED_FAMILIES:
        why, fix = REFUSED_FAMILIES[family]
        raise DesignError(f"did does not fit family='{family}': {why}", fix=fix)
    check_choice("family", family, FAMILIES)
    count = family in ("poisson", "quasipoisson")
    if count and inference in ("wild", "randomization"):
        raise DesignError(f"inference='{inference}' is not available with family='{family}'",
                          fix="use inference='cluster' (or 'auto'), or analyse rates with "
                          "family='gaussian' for the wild cluster bootstrap")
    check_choice("bootstrap weights", weights, ("rademacher", "webb"))
    check_conf_level(conf_level)
    check_choice("ssc", ssc, SSC)
    check_whole("n_boot", n_boot, 0)
    if n_boot == 0 and inference in ("wild", "randomization"):
        raise DesignError(f"inference='{inference}' needs draws, and n_boot is 0",
                          fix="set n_boot (e.g. 999), or use inference='cluster'")
    covariates = list(covariates or [])
    file = data.attrs.get("source")
    check_panel(data, unit=unit, time=time, outcomes={outcome: "poisson" if denominator
                                                      or count else "gaussian"},
                denominator=denominator, treated=treated, start=start, needs_comparison=True,
                covariates=covariates, file=file).raise_for_errors()
    codes, axis = parse_periods(data[time], file=file, column=time)
    u, units = pd.factorize(data[unit], sort=True)
    t = np.searchsorted(np.unique(codes), codes)
    y = pd.to_numeric(data[outcome], errors="coerce").to_numpy(dtype=float)
    exposure = pd.to_numeric(data[denominator]).to_numpy(dtype=float) if denominator \
        else np.ones(len(data))
    if denominator and not count:
        y = y / exposure * per
    D = pd.to_numeric(data[treated].replace({True: 1, False: 0})).to_numpy(dtype=float)
    if start is not None:
        D = D * (codes >= parse_period(start, axis))
    clusters = unit_clusters(data, cluster, u, file=file) if cluster else u
    ok = np.isfinite(y)
    Xc = data[covariates].apply(pd.to_numeric, errors="coerce").to_numpy(float) \
        if covariates else np.zeros((len(data), 0))
    ok &= np.isfinite(Xc).all(1)
    y, D, u, t, clusters, Xc = y[ok], D[ok], u[ok], t[ok], clusters[ok], Xc[ok]
    clusters = pd.factorize(clusters)[0]
    selection = _selection(y, D, u, codes[ok], exposure[ok], axis=axis,
                           ratio=count, what=outcome.replace("_", " "))
    common = dict(outcome=outcome, unit=unit, time=time, treated=treated, start=start,
                  denominator=denominator, per=per, family=family, covariates=covariates,
                  cluster=cluster, inference=inference, weights=weights, n_boot=n_boot,
                  seed=seed, conf_level=conf_level, ssc=ssc)
    labels = axis.labels(np.unique(codes))
    first = pd.Series(np.where(D > 0, t, _NEVER)).groupby(u).min()
    n_cohorts = int(first[first < _NEVER].nunique())
    staggered = n_cohorts > 1
    frames: dict[str, pd.DataFrame] = {
        "means": _group_means(y, exposure[ok] if count and denominator else None, u, t,
                              first, labels=labels, per=per, ratio=count)}
    note = _staggered_note(n_cohorts, count=count) if staggered else None
    if note:
        # stacklevel 3: the caller of did, above the takes_frame wrapper
        _warnings.warn(f"did: {note}", StaggeredAdoptionWarning, stacklevel=3)
    if count:
        return _poisson_did(y, D, Xc, u, t, clusters, exposure[ok], conf_level=conf_level,
                            ssc=ssc, scheme=scheme, domain=domain, outcome=outcome,
                            options=common, selection=selection, family=family,
                            frames=frames, note=note, n_cohorts=n_cohorts)
    Z = within(np.column_stack([y, D, Xc]), u, t)
    yt, Xt = Z[:, 0], Z[:, 1:]
    beta = np.linalg.lstsq(Xt, yt, rcond=None)[0]
    resid = yt - Xt @ beta
    dof = Xt.shape[1] + fixef_dof([np.unique(u).size, np.unique(t).size],
                                  [nested_in(u, clusters), nested_in(t, clusters)], ssc)
    V = cluster_vcov(Xt, resid, clusters, dof=dof)
    b, se = float(beta[0]), float(np.sqrt(V[0, 0]))
    G = clusters.max() + 1
    treated_clusters = int(len(np.unique(clusters[D > 0])))
    method = inference
    if inference == "auto":
        method = "wild" if treated_clusters < 30 else "cluster"
        if method == "wild" and n_boot == 0:
            raise DesignError(f"with {treated_clusters} treated clusters (fewer than 30) "
                              "inference='auto' uses the wild cluster bootstrap, which needs "
                              "draws, and n_boot is 0",
                              fix="set n_boot (e.g. 999), or inference='cluster' (whose "
                                  "intervals tend to be too narrow with few treated clusters)")
    rng = np.random.default_rng(seed)
    alpha = 1 - conf_level
    df = G - 1
    diag: dict[str, Any] = {"clusters": int(G), "treated_clusters": treated_clusters,
                            "observations": int(len(y)), "rate_per": per if denominator else None,
                            "cluster_se": se, "ssc": ssc, **selection}
    warnings: list[str] = []
    if method == "cluster":
        q = stats.t.ppf(1 - alpha / 2, df)
        low, high = b - q * se, b + q * se
        p = float(2 * stats.t.sf(abs(b) / se, df))
        diag["inference"] = f"cluster-robust (CR1{ssc_note(ssc)}), {G} clusters, t({df})"
    elif method == "wild":
        Xw, yw, how = _bootstrap_design(y, D, Xc, u, t, Z)
        # The bootstrap's p-value and interval do not depend on the small-sample factor
        # (it scales the observed and the bootstrap t alike); K here only has to cover
        # the period dummies that the bootstrap design holds as columns.
        wb = wild_cluster_bootstrap(Xw, yw, clusters, coef=0, weights=weights, n_boot=n_boot,
                                    seed=seed, conf_level=conf_level,
                                    dof=max(dof, Xw.shape[1]))
        low, high, p = wb.ci_low, wb.ci_high, wb.p_value
        diag["inference"] = f"{wb.describe()}, {treated_clusters} treated; {how}"
    else:
        low, high, p = _randomization(Z, u, t, D, data_D=D, b=b, se=se, n_boot=n_boot,
                                      rng=rng, alpha=alpha, y=y)
        diag["inference"] = f"randomisation inference ({n_boot} permutations of units' paths)"
    if treated_clusters < 30 and method == "cluster":
        warnings.append(f"Only {treated_clusters} treated clusters: cluster-robust intervals "
                        "tend to be too narrow; consider inference='wild'.")
    if staggered:
        diag.update({"staggered_adoption": True, "adoption_cohorts": n_cohorts,
                     "staggered_note": note})
        try:
            bacon = bacon_decomposition(y, D, u, t)
        except DesignError as exc:  # a diagnostic: report why, keep the estimate
            bacon = None
            diag["bacon_error"] = str(exc).splitlines()[0]
            warnings.append(f"The Goodman-Bacon decomposition was not computed: {exc}")
        forbidden = np.nan
        if bacon is not None:
            for col in ("treated_cohort", "control_cohort"):
                bacon[col] = [labels[c] if c >= 0 else "never" for c in bacon[col]]
            frames["bacon"] = bacon
            forbidden = bacon.loc[bacon["type"] == "later vs earlier treated", "weight"].sum()
        neg = _negative_weights(Z[:, 1], D, u, t)
        diag.update({"bacon_forbidden_weight": float(forbidden), **neg})
        share = ("" if np.isnan(forbidden) else f" {forbidden:.0%} of the TWFE weight comes "
                 "from comparisons with already-treated units and")
        warnings.append(f"{note} Here{share} {neg['negative_weight_share']:.0%} of treated "
                        "cells get negative weight.")
        robust = _heterogeneity_robust(y, u, t, first.to_numpy(), clusters)
        if isinstance(robust, str):
            diag["cs_att_simple_error"] = robust
            warnings.append("Staggered adoption, but the heterogeneity-robust "
                            f"(Callaway-Sant'Anna) comparison could not be made: {robust}")
        else:
            cs, cs_se, cs_control = robust
            diag.update({"cs_att_simple": cs, "cs_att_simple_se": cs_se,
                         "cs_control_group": cs_control})
            if abs(b - cs) > stats.norm.ppf(1 - alpha / 2) * cs_se:
                warnings.append(f"TWFE ({b:.4g}) and the heterogeneity-robust Callaway-Sant'Anna "
                                f"estimate ({cs:.4g}, SE {cs_se:.2g}, {cs_control} controls) "
                                "disagree: effects probably vary by cohort or over time, which "
                                "biases TWFE. Report staggered_did.")
    level = maryland_level(DESIGN, "att_twfe", diag)
    record = EffectRecord(
        scheme=scheme, domain=domain, outcome=outcome, design=DESIGN, estimand="att_twfe",
        scale="difference", estimate=b, se=se, ci_low=float(low), ci_high=float(high),
        conf_level=float(conf_level), p_value=float(p), n_units=int(np.unique(u).size),
        pre_periods=int(np.unique(t[t < t[D > 0].min()]).size),
        post_periods=int(np.unique(t[D > 0]).size),
        evidence_level=level, diagnostics=diag, warnings=tuple(warnings))
    options = common
    return DesignResult(design=DESIGN, effects=effects_frame([record]), diagnostics=diag,
                        warnings=tuple(warnings), options=options, frames=frames)


_DUMMY_BUDGET = 20_000_000  # observations x periods above which period effects are absorbed


def _bootstrap_design(y, D, Xc, u, t, Z) -> tuple[np.ndarray, np.ndarray, str]:
    """Regressors and outcome handed to the wild cluster bootstrap, and how they were made.

    Unit effects (nested within clusters) are removed by demeaning within unit, which
    commutes with the cluster weights; period effects cut across clusters, so they stay
    as dummy columns and the bootstrap equals refitting the full two-way regression in
    every draw (as boottest and wildboottest do). When observations x periods exceed
    ``_DUMMY_BUDGET`` the period effects are absorbed too (``Z``, the two-way within
    transform): the estimate and observed t are unchanged, the bootstrap residuals differ
    slightly, and the description says so.
    """
    n_t = int(t.max()) + 1
    if len(y) * n_t > _DUMMY_BUDGET:
        return Z[:, 1:], Z[:, 0], "unit and period effects absorbed before bootstrapping"
    cols = np.column_stack([y, D, Xc, np.eye(n_t)[t][:, 1:]])
    counts = np.bincount(u).astype(float)
    means = np.stack([np.bincount(u, weights=c) for c in cols.T], axis=1) / counts[:, None]
    dm = cols - means[u]
    return dm[:, 1:], dm[:, 0], ("unit effects absorbed, period effects as dummies (as a "
                                 "full refit in every draw)")


def _selection(y, D, u, codes, exposure, *, axis, ratio, what) -> dict[str, Any]:
    """The selection-at-a-peak check (:mod:`evalkit.evidence.selection`) for a single start:
    units ever treated against the others, 12 months (or 1 period) before the start."""
    from evalkit.evidence.selection import selection_at_peak

    starts = np.unique(codes[D > 0])
    first = pd.Series(np.where(D > 0, codes, np.iinfo(np.int64).max)).groupby(u).min()
    cohorts = first[first < np.iinfo(np.int64).max].unique()
    if len(cohorts) != 1 or not starts.size:
        return {}
    ever = first.reindex(u).to_numpy() < np.iinfo(np.int64).max
    chk = selection_at_peak(y, unit=u, period=codes, treated=ever, start=int(cohorts[0]),
                            window=12 if axis.kind == "month" else 1,
                            denominator=exposure if ratio else None,
                            scale="ratio" if ratio else "difference", label=axis.label)
    return {} if chk is None else chk.as_dict(what)


def _poisson_did(y, D, Xc, u, t, clusters, exposure, *, conf_level, ssc, scheme, domain,
                 outcome, options, selection, family, frames, note, n_cohorts
                 ) -> DesignResult:
    """Poisson TWFE DiD (PPML): the treatment's rate ratio with CR1 t(G-1) intervals.

    ``"poisson"`` and ``"quasipoisson"`` are the same fit: the cluster-robust covariance
    does not assume the Poisson variance, so a dispersion factor would change nothing. The
    Pearson dispersion (chi-squared over residual degrees of freedom, counting every unit
    and period effect) is reported as a diagnostic.
    """
    fit = poisson_fe(y, np.column_stack([D, Xc]), u, t, exposure=exposure, clusters=clusters,
                     ssc=ssc)
    b, se = float(fit.beta[0]), float(fit.se[0])
    ratio, low, high = fit.rate_ratio(0, conf_level)
    G = fit.clusters
    used_D, used_cl = D[fit.used], clusters[fit.used]
    treated_clusters = int(len(np.unique(used_cl[used_D > 0])))
    p = float(2 * stats.t.sf(abs(b) / se, G - 1))
    y_used = y[fit.used]
    resid_df = int(fit.used.sum()) - fit.beta.size - (np.unique(u[fit.used]).size
                                                     + np.unique(t[fit.used]).size - 1)
    dispersion = (float(np.sum((y_used - fit.mu) ** 2 / fit.mu) / resid_df) if resid_df > 0
                  else float("nan"))
    diag: dict[str, Any] = {
        "family": family, "method": "Poisson PML with unit and period fixed effects (PPML)",
        "clusters": int(G), "treated_clusters": treated_clusters,
        "observations": int(fit.used.sum()), "dropped_all_zero_units": int(fit.dropped_units),
        "dropped_all_zero_periods": int(fit.dropped_periods), "iterations": int(fit.iterations),
        "dispersion": dispersion,
        "inference": f"cluster-robust (CR1{ssc_note(ssc)}), {G} clusters, t({G - 1}), on the "
                     "log scale", "ssc": ssc, **selection}
    if family == "quasipoisson":
        diag["se_type"] = ("cluster-robust, which allows for any overdispersion: the same "
                           "estimate and interval as family='poisson'")
    warnings: list[str] = []
    if note:
        diag.update({"staggered_adoption": True, "adoption_cohorts": n_cohorts,
                     "staggered_note": note})
        warnings.append(note)
    if treated_clusters < 30:
        warnings.append(f"Only {treated_clusters} treated clusters: cluster-robust intervals "
                        "tend to be too narrow; the wild cluster bootstrap is available for "
                        "rates with family='gaussian'.")
    if fit.dropped_units:
        warnings.append(f"{fit.dropped_units} unit(s) with no events at all were left out "
                        "(they carry no information in a Poisson model with unit effects).")
    record = EffectRecord(
        scheme=scheme, domain=domain, outcome=outcome, design=DESIGN, estimand="rate_ratio",
        scale="ratio", estimate=ratio, se=se, ci_low=low, ci_high=high,
        conf_level=float(conf_level), p_value=p, n_units=int(len(np.unique(u[fit.used]))),
        pre_periods=int(np.unique(t[t < t[D > 0].min()]).size),
        post_periods=int(np.unique(t[D > 0]).size),
        evidence_level=maryland_level(DESIGN, "rate_ratio", diag), diagnostics=diag,
        warnings=tuple(warnings))
    return DesignResult(design=DESIGN, effects=effects_frame([record]), diagnostics=diag,
                        warnings=tuple(warnings), options=options, frames=frames)


_NEVER = np.iinfo(np.int64).max  # the first treated period of a unit never treated


def _staggered_note(n_cohorts: int, *, count: bool) -> str:
    """The plain-words note for a panel whose treated units start at different times."""
    model = "Poisson two-way fixed effects" if count else "Two-way fixed effects (TWFE)"
    return (f"Staggered adoption: treated units start at {n_cohorts} different times. "
            f"{model} is biased when the effect differs between adoption cohorts or changes "
            "over time, because units already treated serve as controls for later ones; "
            "prefer staggered_did (Callaway-Sant'Anna), which is not.")


def _group_means(y, exposure, u, t, first, *, labels, per, ratio) -> pd.DataFrame:
    """Treated and comparison groups' mean outcome by period, and the counterfactual.

    Treated: units ever treated; comparison: units never treated. With ``exposure`` (counts
    with a denominator) a group's value is its pooled rate per ``per``; otherwise the mean
    of its units' values (the outcome or rate the model fits). The counterfactual continues
    the treated group's mean over the periods before the first start by the comparison
    group's change from its own mean over those periods: added (linear) or multiplied (for
    counts, ``ratio``), the parallel-trends path the estimate is measured against.
    """
    ever = (first.reindex(u).to_numpy() < _NEVER)
    first_start = int(first.min()) if (first < _NEVER).any() else int(t.max()) + 1
    n_t = len(labels)
    out = {"period": list(labels), "post": np.arange(n_t) >= first_start}
    for name, rows in (("treated", ever), ("comparison", ~ever)):
        num = np.bincount(t[rows], weights=y[rows], minlength=n_t)
        den = (np.bincount(t[rows], weights=exposure[rows], minlength=n_t) / per
               if exposure is not None else np.bincount(t[rows], minlength=n_t).astype(float))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        n_u = int(u.max()) + 1
        cells = np.unique(t[rows].astype(np.int64) * n_u + u[rows])  # distinct (period, unit)
        out[f"{name}_units"] = np.bincount(cells // n_u, minlength=n_t)
    pre = ~out["post"]

    def pre_mean(values: np.ndarray) -> float:
        kept = values[pre & np.isfinite(values)]
        return float(kept.mean()) if kept.size else np.nan

    treated_pre, comparison_pre = pre_mean(out["treated"]), pre_mean(out["comparison"])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["counterfactual"] = (treated_pre * out["comparison"] / comparison_pre if ratio
                                 else treated_pre + out["comparison"] - comparison_pre)
    frame = pd.DataFrame(out)
    return frame[["period", "post", "treated", "comparison", "counterfactual",
                  "treated_units", "comparison_units"]]


def _heterogeneity_robust(y, u, t, first, clusters):
    """Callaway-Sant'Anna's overall ATT on the same data (analytic SE), or why not.

    Cohorts are the first treated period of each unit; never-treated units are the
    controls when there are any, otherwise not-yet-treated units.
    """
    never = first == _NEVER
    cohort = np.where(never, 0, first + 1)  # periods are numbered from 1 here
    frame = pd.DataFrame({"u": u, "t": t + 1, "y": y, "g": cohort[u], "c": clusters})
    control = "never" if never.any() else "notyet"
    try:
        res = staggered_did(frame, outcome="y", unit="u", time="t", cohort="g",
                            control_group=control, n_boot=0, cluster="c")
    except (DataError, DesignError) as exc:
        return str(exc).splitlines()[0]
    row = res.effects.set_index("estimand").loc["att_simple"]
    return float(row["estimate"]), float(row["se"]), control


def _randomization(Z, u, t, D, *, data_D, b, se, n_boot, rng, alpha, y):
    """Permute units' treatment paths; p-value and a shift interval under constant effects."""
    yt = Z[:, 0]
    nu = u.max() + 1
    nt = t.max() + 1
    paths = np.zeros((nu, nt))
    paths[u, t] = D
    stats_ = np.empty(n_boot)
    for i in range(n_boot):  # each permutation needs its own within-transform of D
        perm = rng.permutation(nu)
        Dp = paths[perm][u, t]
        dt = within(Dp, u, t)[:, 0]
        stats_[i] = dt @ yt / (dt @ dt)
    p = float((1 + np.sum(np.abs(stats_) >= abs(b))) / (n_boot + 1))
    half = np.quantile(np.abs(stats_), 1 - alpha)
    return b - half, b + half, p


def _negative_weights(Dt: np.ndarray, D: np.ndarray, u, t) -> dict:
    """TWFE weights on treated cells are proportional to the residualised treatment."""
    treated = D > 0
    w = Dt[treated]
    return {"negative_weight_share": float(np.mean(w < 0)),
            "negative_weight_sum": float(w[w < 0].sum() / w.sum())}


def bacon_decomposition(y: np.ndarray, D: np.ndarray, unit: np.ndarray, time: np.ndarray
                        ) -> pd.DataFrame:
    """Goodman-Bacon (2021) decomposition of the TWFE estimate (balanced panel).

    Returns one row per 2x2 comparison with its type, estimate and weight; the
    weighted sum of the estimates equals the TWFE coefficient.
    """
    nu, nt = unit.max() + 1, time.max() + 1
    if len(y) != nu * nt:
        raise DesignError("the Bacon decomposition needs a balanced panel",
                          fix="keep units observed in every period")
    Y = np.full((nu, nt), np.nan)
    Y[unit, time] = y
    P = np.zeros((nu, nt))
    P[unit, time] = D
    first = np.where(P.any(1), P.argmax(1), -1)
    if (first == 0).any():
        raise DesignError("units treated in the first period (always treated) are not "
                          "supported by the Bacon decomposition", fix="drop them")
    groups = sorted(set(first.tolist()))
    timing = [g for g in groups if g >= 0]
    n = {g: np.mean(first == g) for g in groups}
    dbar = {g: (nt - g) / nt for g in timing}
    rows = []

    def dd(treat, control, window):
        yt, yc = Y[first == treat][:, window], Y[first == control][:, window]
        cols = np.arange(nt)[window]
        post = cols >= treat
        return ((yt[:, post].mean() - yt[:, ~post].mean())
                - (yc[:, post].mean() - yc[:, ~post].mean()))

    vd = _treatment_variance(P)
    all_t = np.ones(nt, dtype=bool)
    if -1 in groups:
        for k in timing:
            nku = n[k] / (n[k] + n[-1])
            s = (n[k] + n[-1]) ** 2 * nku * (1 - nku) * dbar[k] * (1 - dbar[k]) / vd
            rows.append(("treated vs never treated", k, -1, dd(k, -1, all_t), s))
    for i, k in enumerate(timing):
        for ell in timing[i + 1:]:
            nkl = n[k] / (n[k] + n[ell])
            dk, dl = dbar[k], dbar[ell]
            s_early = (((n[k] + n[ell]) * (1 - dl)) ** 2 * nkl * (1 - nkl)
                       * ((dk - dl) / (1 - dl)) * ((1 - dk) / (1 - dl)) / vd)
            s_late = (((n[k] + n[ell]) * dk) ** 2 * nkl * (1 - nkl)
                      * (dl / dk) * ((dk - dl) / dk) / vd)
            rows.append(("earlier vs later treated", k, ell,
                         dd(k, ell, np.arange(nt) < ell), s_early))
            rows.append(("later vs earlier treated", ell, k,
                         dd(ell, k, np.arange(nt) >= k), s_late))
    return pd.DataFrame(rows, columns=["type", "treated_cohort", "control_cohort", "estimate",
                                       "weight"])


def _treatment_variance(P: np.ndarray) -> float:
    """Variance of the two-way demeaned treatment in a balanced panel."""
    Dt = P - P.mean(1, keepdims=True) - P.mean(0, keepdims=True) + P.mean()
    return float(np.mean(Dt**2))
