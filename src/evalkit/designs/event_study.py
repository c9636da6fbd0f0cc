"""Event study: two-way fixed effects with leads and lags of adoption.

``y_it = a_i + l_t + sum_e b_e 1[t - g_i = e] + e_it`` for event times ``e`` from
``-leads`` to ``lags`` (the reference period, ``-1`` by default, is left out).
With ``bin_endpoints`` the first and last dummies also absorb all earlier and
later event times, so no treated observation falls back on the reference.
Fixed effects are absorbed by within-transformation; standard errors are CR1
clustered by unit (or a higher level), with the small-sample correction of fixest
(``ssc``, :mod:`evalkit.designs.cluster_se`), and pointwise intervals use t(G-1). The
leads' joint Wald test checks pre-trends. Simultaneous (sup-t) bands (Montiel Olea and
Plagborg-Moller, 2019) use the ``conf_level`` quantile of the largest absolute t-ratio
over event times, drawn from a multivariate t with the coefficients' estimated
correlation and the same G-1 degrees of freedom as the pointwise intervals, so that the
band is a simultaneous version of those intervals: never narrower than any of them (a
Monte Carlo quantile that falls below the pointwise t quantile, as it can by chance with
one event time or nearly perfectly correlated ones, is raised to it).

With heterogeneous effects across cohorts these TWFE coefficients can be
contaminated (Sun and Abraham, 2021); prefer ``staggered_did``'s ``att_event``
aggregation, and use this for its familiar picture and pre-trend test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import (
    check_choice,
    check_conf_level,
    check_whole,
    one_blas_thread,
    unit_clusters,
)
from evalkit.data.contract import check_panel, never_treated
from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_period, parse_periods
from evalkit.designs.cluster_se import SSC
from evalkit.designs.honest_did import event_time_sensitivity
from evalkit.designs.indicator_twfe import indicator_twfe
from evalkit.errors import DataError, DesignError
from evalkit.evidence.maryland import maryland_level
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["event_study", "sup_t_critical_value"]

DESIGN = "event_study"


@takes_frame
@one_blas_thread
def event_study(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    leads: int = 4,
    lags: int = 4,
    reference: int = -1,
    bin_endpoints: bool = True,
    denominator: str | None = None,
    per: float = 1000.0,
    cluster: str | None = None,
    n_boot: int = 999,
    seed: int | None = None,
    conf_level: float = 0.95,
    ssc: str = "nested",
    honest: bool = False,
    scheme: str | None = None,
    domain: str = "outcome",
) -> DesignResult:
    """Event-study regression with unit and period fixed effects.

    Parameters
    ----------
    data
        A panel: one row per unit per period.
    outcome, unit, time, cohort
        Columns; ``cohort`` is the first-treated period (0 or blank for never treated).
    leads, lags
        Event times ``-leads .. lags`` get their own coefficient.
    reference
        The omitted event time (``-1``: the period before adoption).
    bin_endpoints
        Pool event times beyond the window into the end dummies.
    denominator, per
        Analyse the outcome as a rate.
    cluster
        Cluster column; units by default.
    n_boot, seed
        Draws for the sup-t critical value, and their seed; ``n_boot=0`` gives no
        simultaneous band (its columns and critical value are NaN).
    conf_level
        Confidence level.
    ssc
        Small-sample correction of the cluster-robust covariance: ``"nested"`` (fixest's
        default), ``"full"`` (as statsmodels with dummies) or ``"none"``; see
        :mod:`evalkit.designs.cluster_se`.
    honest
        Run the Rambachan-Roth (HonestDiD) relative-magnitudes sensitivity analysis of
        the average effect over the first 12 event times (binned endpoints left out) and
        report its breakdown value; what can lift the evidence level to 4.

    Returns
    -------
    DesignResult
        Estimands ``event:<e>``; diagnostics hold the pre-trend Wald test and the sup-t
        critical value; ``plot_data()["event_study"]`` has pointwise and uniform bands.
    """
    check_whole("leads", leads, 1)
    check_whole("lags", lags, 0)
    check_whole("n_boot", n_boot, 0)
    check_conf_level(conf_level)
    check_choice("ssc", ssc, SSC)
    if not (-leads <= reference < 0):
        raise DesignError(f"leads={leads}, lags={lags}, reference={reference} do not define "
                          "an event window with a pre-period reference",
                          fix="e.g. leads: 4, lags: 4, reference: -1")
    file = data.attrs.get("source")
    check_panel(data, unit=unit, time=time, outcomes={outcome: "poisson" if denominator
                                                      else "gaussian"},
                denominator=denominator, file=file).raise_for_errors()
    if cohort not in data.columns:
        raise DataError(f"the cohort column '{cohort}' is missing", file=file, column=cohort,
                        fix="name the first-treated period column")
    codes, axis = parse_periods(data[time], file=file, column=time)
    periods = np.unique(codes)
    u, _units = pd.factorize(data[unit], sort=True)
    t = np.searchsorted(periods, codes)
    never = never_treated(data[cohort])
    g = np.full(len(data), -1)
    raw = data.loc[~never, cohort]
    lookup = {v: parse_period(v if axis.kind == "month" else int(float(v)), axis,
                              what=f"cohort {v!r}") for v in pd.unique(raw)}
    g[~never] = np.searchsorted(periods, raw.map(lookup).to_numpy(dtype=np.int64))
    if not never.any():
        raise DataError("no never-treated units (cohort 0 or blank)", file=file, column=cohort,
                        fix="an event study needs never-treated or late-treated comparisons")
    y = pd.to_numeric(data[outcome], errors="coerce").to_numpy(float)
    if denominator:
        y = y / pd.to_numeric(data[denominator]).to_numpy(float) * per
    e = np.where(g >= 0, t - g, 10**6)
    window = [k for k in range(-leads, lags + 1) if k != reference]
    # Each row's event-time indicator (-1: none), so no dummy matrix is built.
    col = {k: i for i, k in enumerate(window)}
    ee = np.clip(e, -leads, lags) if bin_endpoints else e
    cat = np.array([col.get(int(v), -1) for v in range(-leads, lags + 1)])
    inside = (g >= 0) & (ee >= -leads) & (ee <= lags)
    cat = np.where(inside, cat[np.clip(ee, -leads, lags) + leads], -1)
    clusters = unit_clusters(data, cluster, u, file=file) if cluster else u
    ok = np.isfinite(y)
    y, cat, u, t = y[ok], cat[ok], u[ok], t[ok]
    clusters = pd.factorize(clusters[ok])[0]
    counts = np.bincount(cat[cat >= 0], minlength=len(window))
    if (counts == 0).any():
        dropped = [window[i] for i in np.flatnonzero(counts == 0)]
        raise DesignError(f"event times {dropped} cannot be estimated (no observations)",
                          fix="narrow the window (leads, lags)")
    fit = indicator_twfe(y, cat, len(window), u, t, clusters, ssc=ssc)
    beta, V = fit.beta, fit.vcov
    se = np.sqrt(np.diag(V))
    G = int(clusters.max() + 1)
    q = stats.t.ppf(1 - (1 - conf_level) / 2, G - 1)
    sup_t = (sup_t_critical_value(V, G - 1, conf_level, n_boot, np.random.default_rng(seed))
             if n_boot else np.nan)
    assert np.isnan(sup_t) or sup_t >= q, "the band must contain every pointwise interval"
    pre_idx = [i for i, k in enumerate(window) if k < 0]
    wald = pre_p = np.nan  # no lead but the reference: nothing to test
    if pre_idx:
        wald = float(beta[pre_idx] @ np.linalg.solve(V[np.ix_(pre_idx, pre_idx)],
                                                     beta[pre_idx]))
        pre_p = float(stats.f.sf(wald / len(pre_idx), len(pre_idx), G - 1))
    diag: dict[str, Any] = {"pretrend_wald": wald, "pretrend_p": pre_p,
                            "sup_t_critical_value": sup_t, "sup_t_draws": int(n_boot),
                            "clusters": G, "ssc": ssc,
                            "reference": reference, "binned_endpoints": bool(bin_endpoints),
                            "rate_per": per if denominator else None}
    if honest:
        inner = [k for k in window if not (bin_endpoints and k in (-leads, lags))]
        idx = [window.index(k) for k in inner]
        diag.update(event_time_sensitivity(
            pd.Series(beta[idx], index=inner),
            pd.DataFrame(V[np.ix_(idx, idx)], index=inner, columns=inner),
            conf_level=conf_level))
    warnings = []
    if pre_p < 0.05:
        warnings.append(f"Leads are jointly non-zero (p = {pre_p:.3f}): pre-trends are not "
                        "parallel.")
    records = []
    for i, k in enumerate(window):
        p = float(2 * stats.t.sf(abs(beta[i]) / se[i], G - 1))
        records.append(EffectRecord(
            scheme=scheme, domain=domain, outcome=outcome, design=DESIGN, estimand=f"event:{k}",
            scale="difference", estimate=float(beta[i]), se=float(se[i]),
            ci_low=float(beta[i] - q * se[i]), ci_high=float(beta[i] + q * se[i]),
            conf_level=float(conf_level), p_value=p, n_units=int(u.max() + 1),
            pre_periods=leads, post_periods=lags + 1,
            evidence_level=maryland_level(DESIGN, f"event:{k}", diag), diagnostics=diag,
            warnings=tuple(warnings)))
    frame = pd.DataFrame({"event_time": window, "estimate": beta, "se": se,
                          "ci_low": beta - q * se, "ci_high": beta + q * se,
                          "band_low": beta - sup_t * se, "band_high": beta + sup_t * se})
    ref = pd.DataFrame({"event_time": [reference], "estimate": [0.0], "se": [0.0],
                        "ci_low": [0.0], "ci_high": [0.0], "band_low": [0.0],
                        "band_high": [0.0]})
    frame = pd.concat([frame, ref]).sort_values("event_time").reset_index(drop=True)
    options = dict(outcome=outcome, unit=unit, time=time, cohort=cohort, leads=leads,
                   lags=lags, reference=reference, bin_endpoints=bin_endpoints,
                   denominator=denominator, per=per, cluster=cluster, n_boot=n_boot, seed=seed,
                   conf_level=conf_level, ssc=ssc, honest=honest)
    return DesignResult(design=DESIGN, effects=effects_frame(records), diagnostics=diag,
                        warnings=tuple(warnings), options=options,
                        frames={"event_study": frame})


def sup_t_critical_value(vcov: np.ndarray, df: float, conf_level: float, n_draws: int,
                         rng: np.random.Generator) -> float:
    """The sup-t critical value of a simultaneous band for coefficients with covariance
    ``vcov``, whose pointwise intervals use t(``df``).

    The ``conf_level`` quantile of ``max_j |T_j|`` over ``n_draws`` draws of a
    multivariate t with ``df`` degrees of freedom and the correlation matrix of ``vcov``
    (``T = Z / sqrt(W / df)``, ``Z`` normal with that correlation, ``W`` chi-squared with
    ``df`` degrees of freedom, one ``W`` per draw, as :class:`scipy.stats.multivariate_t`
    defines it). ``df=numpy.inf`` gives normal draws. The value is at least the pointwise
    quantile ``t(df)^-1((1 + conf_level) / 2)``, which the population sup-t quantile
    always is; a Monte Carlo quantile below it is raised to it.

    Parameters
    ----------
    vcov
        Covariance of the estimates (positive semi-definite; only its correlation is used).
    df
        Degrees of freedom of the pointwise intervals (``G - 1`` when clustered).
    conf_level
        Confidence level of the band.
    n_draws
        Monte Carlo draws; 0 gives no band (NaN), as ``event_study(..., n_boot=0)``.
    rng
        Random number generator.

    Returns
    -------
    float
        The critical value, or NaN when ``n_draws`` is 0.
    """
    check_whole("n_draws", n_draws, 0)
    if n_draws == 0:
        return float("nan")
    se = np.sqrt(np.diag(vcov))
    scale_se = np.where(se > 0, se, 1.0)  # a coefficient without variance draws 0
    corr = vcov / np.outer(scale_se, scale_se)
    eigval, eigvec = np.linalg.eigh((corr + corr.T) / 2)
    root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))
    z = rng.standard_normal((n_draws, len(se))) @ root.T
    scale = np.sqrt(rng.chisquare(df, n_draws) / df) if np.isfinite(df) else 1.0
    largest = np.abs(z).max(axis=1) / scale
    pointwise = float(stats.t.ppf(0.5 + conf_level / 2, df))
    return max(float(np.quantile(largest, conf_level)), pointwise)
