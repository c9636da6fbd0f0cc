"""Event study: two-way fixed effects with leads and lags of adoption.

``y_it = a_i + l_t + sum_e b_e 1[t - g_i = e] + e_it`` for event times ``e`` from
``-leads`` to ``lags`` (the reference period, ``-1`` by default, is left out).
With ``bin_endpoints`` the first and last dummies also absorb all earlier and
later event times, so no treated observation falls back on the reference.
Fixed effects are absorbed by within-transformation; standard errors are CR1
clustered by unit (or a higher level). The leads' joint Wald test checks
pre-trends; simultaneous (sup-t) bands come from draws of the estimated joint
distribution of the coefficients (Montiel Olea and Plagborg-Moller, 2019).

With heterogeneous effects across cohorts these TWFE coefficients can be
contaminated (Sun and Abraham, 2021); prefer ``staggered_did``'s ``att_event``
aggregation, and use this for its familiar picture and pre-trend test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..contract import check_panel, never_treated
from ..errors import DataError, DesignError
from ..evidence import maryland_level
from ..inputs import takes_frame
from ..periods import parse_period, parse_periods
from ..results import DesignResult, EffectRecord, effects_frame
from ._options import check_conf_level, check_whole, unit_clusters
from .honest_did import event_time_sensitivity
from .indicator_twfe import indicator_twfe

__all__ = ["event_study"]

DESIGN = "event_study"


@takes_frame
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
        Draws for the sup-t critical value, and their seed.
    conf_level
        Confidence level.
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
    check_conf_level(conf_level)
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
    fit = indicator_twfe(y, cat, len(window), u, t, clusters)
    beta, V = fit.beta, fit.vcov
    se = np.sqrt(np.diag(V))
    G = int(clusters.max() + 1)
    q = stats.t.ppf(1 - (1 - conf_level) / 2, G - 1)
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(np.zeros(len(beta)), V, size=n_boot, method="svd")
    sup_t = float(np.quantile(np.max(np.abs(draws) / se, axis=1), conf_level))
    pre_idx = [i for i, k in enumerate(window) if k < 0]
    wald = float(beta[pre_idx] @ np.linalg.solve(V[np.ix_(pre_idx, pre_idx)], beta[pre_idx]))
    pre_p = float(stats.f.sf(wald / len(pre_idx), len(pre_idx), G - 1))
    diag: dict[str, Any] = {"pretrend_wald": wald, "pretrend_p": pre_p,
                            "sup_t_critical_value": sup_t, "clusters": G,
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
                   conf_level=conf_level, honest=honest)
    return DesignResult(design=DESIGN, effects=effects_frame(records), diagnostics=diag,
                        warnings=tuple(warnings), options=options,
                        frames={"event_study": frame})
