"""Uncontrolled before/after comparison, with a regression-to-the-mean guard.

The scheme's units are compared with themselves: a baseline window before the
start against a follow-up window after it (less any washout). This is the
weakest design (Maryland level 1): it cannot separate the scheme from secular
trends, seasonality or regression to the mean. When the data also hold units
outside the scheme, the guard estimates the regression to the mean to expect
(see :mod:`evalkit.designs.regression_to_mean`) and reports an adjusted effect
(level 2).

Estimators, by family and pairing:

- ``gaussian``: paired, the mean of unit-level differences with a t interval (as
  ``scipy.stats.ttest_rel``); unpaired, Welch's t on observation-level values.
- ``poisson``, ``quasipoisson``, ``negbin`` (counts with a denominator): the rate
  ratio. Unpaired, the crude ratio of pooled rates, with the Poisson standard error
  of the log ratio (scaled by the Pearson dispersion for quasi-Poisson; a
  negative-binomial GLM for negbin). Paired, the conditional (unit fixed-effects)
  Poisson estimate, solved on unit totals, with a model-based standard error for
  Poisson and a cluster-robust (by unit) one otherwise (Wooldridge, 1999).
- ``binomial`` (events among a denominator of people): the difference in
  proportions. Unpaired, with Newcombe's hybrid score interval; paired, the
  difference of pooled proportions with a cluster-robust (by unit) standard error.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_choice, check_conf_level, check_family, check_whole
from evalkit.data.contract import COUNT_FAMILIES, check_panel
from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_period, parse_periods
from evalkit.designs.regression_to_mean import RTMCheck
from evalkit.errors import DesignError
from evalkit.evidence.maryland import maryland_level
from evalkit.results import DOMAINS, DesignResult, EffectRecord, effects_frame

__all__ = ["prepost"]

DESIGN = "prepost"


@takes_frame
def prepost(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    start: Any,
    unit: str | None = None,
    treated: str | None = None,
    family: str = "gaussian",
    denominator: str | None = None,
    paired: bool = True,
    baseline_periods: int | None = None,
    followup_periods: int | None = None,
    washout: int = 0,
    selected_on_baseline: bool | None = None,
    per: float = 1000.0,
    conf_level: float = 0.95,
    scheme: str | None = None,
    domain: str = "outcome",
) -> DesignResult:
    """Compare a scheme's units before and after it started.

    Parameters
    ----------
    data
        A tidy panel, one row per unit per period (or per observation when unpaired).
    outcome
        The outcome column.
    time
        The period column (months as ``YYYY-MM`` or whole numbers).
    start
        The first period of the scheme.
    unit
        The unit column (practice, area, patient). Needed for ``paired=True`` and for
        the regression-to-the-mean guard.
    treated
        A 0/1 column marking scheme units. Units never marked 1 form the population
        the guard learns from; without it every unit is taken to be in the scheme.
    family
        ``"gaussian"`` (means), ``"poisson"``, ``"quasipoisson"`` or ``"negbin"`` (counts,
        reported as a rate ratio), or ``"binomial"`` (proportions, reported as a
        difference).
    denominator
        List size or population for counts; the number of people at risk for binomial.
    paired
        Compare each unit with itself (True) or pool observations (False).
    baseline_periods, followup_periods
        Window lengths; by default the whole pre-period and the whole follow-up.
    washout
        Periods from ``start`` left out as a phase-in.
    selected_on_baseline
        Declare that scheme units were chosen for high baseline values. The guard
        also detects this from the data.
    per
        Rates are reported per this many of the denominator (1,000 by default).
    conf_level
        Confidence level of the intervals.
    scheme, domain
        Labels carried into the effect records.

    Returns
    -------
    DesignResult
        Effects ``before_after`` (Maryland level 1) and, where the population allows,
        ``before_after_rtm_adjusted`` (level 2).

    Examples
    --------
    >>> import evalkit as ek
    >>> panel = ek.read("data/synthetic/virtual-wards/panel.csv")  # doctest: +SKIP
    >>> res = ek.prepost(panel, outcome="emergency_admissions", unit="practice",
    ...                  time="month", start="2019-10", treated="treated",
    ...                  family="quasipoisson", denominator="list_size",
    ...                  baseline_periods=12, followup_periods=12)  # doctest: +SKIP
    >>> res.effects[["estimand", "estimate", "ci_low", "ci_high"]]  # doctest: +SKIP
    """
    _validate_options(family=family, paired=paired, unit=unit, denominator=denominator,
                      conf_level=conf_level, baseline_periods=baseline_periods,
                      followup_periods=followup_periods, washout=washout, domain=domain)
    file = data.attrs.get("source")
    report = check_panel(
        data, unit=unit, time=time, outcomes={outcome: family}, denominator=denominator,
        treated=treated, start=start, min_pre_periods=baseline_periods or 1,
        min_post_periods=washout + (followup_periods or 1), file=file,
    )
    report.raise_for_errors()
    codes, axis = parse_periods(data[time], file=file, column=time)
    s = parse_period(start, axis)
    lo, hi = int(codes.min()), int(codes.max())
    base_lo = s - baseline_periods if baseline_periods else lo
    follow_lo = s + washout
    follow_hi = follow_lo + followup_periods - 1 if followup_periods else hi
    if follow_hi > hi:
        raise DesignError(f"the follow-up window runs to {axis.label(follow_hi)}, past the end "
                          f"of the data ({axis.label(hi)})", file=file, column=time,
                          fix="shorten followup_periods or washout")

    y = pd.to_numeric(data[outcome], errors="coerce").to_numpy(dtype=float)
    den = (pd.to_numeric(data[denominator], errors="coerce").to_numpy(dtype=float)
           if denominator else np.ones(len(data)))
    units = data[unit].astype(str).to_numpy() if unit else np.arange(len(data)).astype(str)
    if treated:
        tr = pd.to_numeric(data[treated].replace({True: 1, False: 0})).to_numpy(dtype=float)
        if unit:
            ever = pd.Series(tr).groupby(units).transform("max").to_numpy() >= 1
        else:
            ever = tr >= 1
    else:
        ever = np.ones(len(data), dtype=bool)
    if not ever.any():
        raise DesignError("no unit is marked as in the scheme", file=file, column=treated,
                          fix="mark scheme units with 1 in the treatment column")
    ok = np.isfinite(y) & np.isfinite(den)
    in_base = ok & (codes >= base_lo) & (codes < s)
    in_follow = ok & (codes >= follow_lo) & (codes <= follow_hi)
    frame = pd.DataFrame({"unit": units, "t": codes, "y": y, "den": den,
                          "post": in_follow.astype(int)})
    scheme_rows = ever & (in_base | in_follow)
    sub = frame[scheme_rows]

    if paired and unit:
        spans = sub.groupby("unit")["post"].agg(["min", "max"])
        n_both = int(((spans["min"] == 0) & (spans["max"] == 1)).sum())
        if n_both < 2:
            raise DesignError(f"only {n_both} scheme unit(s) have data both before and after "
                              "the start; a paired before/after needs at least two", file=file,
                              column=unit, fix="use paired: false to compare the periods of "
                              "one unit, or an interrupted time series")
    warnings: list[str] = []
    scale = "ratio" if family in COUNT_FAMILIES and family != "binomial" else "difference"
    est, diag = _estimate(sub, family=family, paired=paired, per=per)
    n_units = int(sub.loc[sub["post"] == 1, "unit"].nunique()) if unit else int(len(sub))
    if paired and unit:
        both = sub.groupby("unit")["post"].agg(["min", "max"])
        n_units = int(((both["min"] == 0) & (both["max"] == 1)).sum())
    pre_n = int(len(np.unique(codes[in_base & ever])))
    post_n = int(len(np.unique(codes[in_follow & ever])))
    if washout:
        diag["washout_periods"] = int(washout)
    diag.update({"baseline_window": [axis.label(base_lo), axis.label(s - 1)],
                 "followup_window": [axis.label(follow_lo), axis.label(follow_hi)],
                 "family": family, "paired": bool(paired and unit)})
    warnings.append("Uncontrolled before/after: the change includes any secular trend, "
                    "seasonal mix and regression to the mean, not only the scheme.")

    records = [_record(est, scale, conf_level, outcome=outcome, estimand="before_after",
                       scheme=scheme, domain=domain, n_units=n_units, pre=pre_n, post=post_n,
                       diagnostics=diag, warnings=list(warnings))]

    # Regression-to-the-mean guard.
    rtm, rtm_note = _rtm_guard(frame, ever=ever, in_follow=in_follow, base_lo=base_lo, s=s,
                               lo=lo, family=family, paired=paired, per=per, naive=est[0],
                               axis=axis, has_units=unit is not None and treated is not None)
    design_warnings = list(warnings)
    if rtm is None:
        note = rtm_note
        if selected_on_baseline:
            note += (" The spec says units were chosen for high baseline values, so expect the "
                     "before/after to overstate benefit.")
        design_warnings.append(note)
        records[0] = replace(records[0], warnings=records[0].warnings + (note,))
    else:
        flagged = bool(selected_on_baseline) or rtm.detected
        rtm_diag = {**rtm.as_dict(), "rtm_selected_on_baseline": flagged}
        adj_warn = ["Adjusted for regression to the mean only; secular trends and seasonality "
                    "in the follow-up are not controlled."]
        if flagged:
            if rtm.detected:
                msg = (f"Scheme units rose into their baseline faster than other units "
                       f"(z = {rtm.selection_z:.1f}): they appear to have been selected at a "
                       "peak, so regression to the mean is expected. ")
            else:
                msg = ("The spec declares that scheme units were selected on high baseline "
                       f"values, but the data show little rise into the baseline (z = "
                       f"{rtm.selection_z:.1f}). ")
            msg += rtm.describe(outcome.replace("_", " "))
            adj_warn.append(msg)
            design_warnings.append(msg)
            records[0] = replace(records[0], warnings=records[0].warnings + (msg,))
        records[0] = replace(records[0], diagnostics={**records[0].diagnostics, **rtm_diag})
        records.append(_record((rtm.adjusted, rtm.adjusted_se, np.inf), scale, conf_level,
                               outcome=outcome, estimand="before_after_rtm_adjusted",
                               scheme=scheme, domain=domain, n_units=n_units, pre=pre_n,
                               post=post_n, diagnostics={
                                   **{k: diag[k] for k in ("baseline_window",
                                                           "followup_window", "family",
                                                           "paired", "washout_periods")
                                      if k in diag},
                                   **rtm_diag,
                                   "method": "follow-up against the reference window, less "
                                             "the population's change to baseline",
                                   "se_type": "the two comparisons' variances less twice their "
                                              "covariance (correlation from unit-level "
                                              "influences)"},
                               warnings=adj_warn))

    series = _series(frame, ever=ever, per=per if scale == "ratio" else None,
                     family=family, axis=axis)
    frames = {"series": series,
              "windows": pd.DataFrame({"window": ["baseline", "followup"],
                                       "from": [axis.label(base_lo), axis.label(follow_lo)],
                                       "to": [axis.label(s - 1), axis.label(follow_hi)]})}
    options = dict(outcome=outcome, time=time, start=start, unit=unit, treated=treated,
                   family=family, denominator=denominator, paired=paired,
                   baseline_periods=baseline_periods, followup_periods=followup_periods,
                   washout=washout, selected_on_baseline=selected_on_baseline, per=per,
                   conf_level=conf_level)
    result = DesignResult(design=DESIGN, effects=effects_frame(records),
                          diagnostics={"rtm": rtm.as_dict() if rtm else None,
                                       "data_warnings": [str(p) for p in report.warnings]},
                          warnings=tuple(dict.fromkeys(design_warnings)), options=options,
                          frames=frames)
    return result


# --------------------------------------------------------------------------- helpers


def _validate_options(*, family, paired, unit, denominator, conf_level, baseline_periods,
                      followup_periods, washout, domain) -> None:
    check_family(family, denominator)
    if paired and unit is None:
        raise DesignError("a paired before/after needs the unit column",
                          fix="give unit=..., or set paired=False")
    check_conf_level(conf_level)
    check_whole("baseline_periods", baseline_periods, 1, optional=True)
    check_whole("followup_periods", followup_periods, 1, optional=True)
    check_whole("washout", washout, 0)
    check_choice("domain", domain, DOMAINS)


def _estimate(sub: pd.DataFrame, *, family: str, paired: bool, per: float):
    """The before/after estimate for a family: (estimate, se, df or interval spec), diagnostics."""
    if family in COUNT_FAMILIES and family != "binomial":
        return _rate_ratio(sub, family=family, paired=paired, per=per)
    if family == "binomial":
        return _proportion_difference(sub, paired=paired)
    return _mean_difference(sub, paired=paired)


def _rtm_guard(frame: pd.DataFrame, *, ever, in_follow, base_lo, s, lo, family, paired, per,
               naive, axis, has_units) -> tuple[RTMCheck | None, str]:
    """Check for regression to the mean using a reference window before the baseline."""
    if not has_units:
        return None, ("Regression to the mean could not be checked: the data need a unit "
                      "column and units outside the scheme.")
    if ever.all():
        return None, ("Regression to the mean could not be checked: every unit in the data is "
                      "in the scheme. If units were chosen for high recent values, the "
                      "before/after will overstate benefit.")
    length = s - base_lo
    ref_lo = max(lo, base_lo - length)
    if base_lo - ref_lo < length:
        return None, (f"Regression to the mean could not be checked: it needs {length} "
                      f"period(s) before the baseline window as a reference, and the data "
                      f"have {base_lo - ref_lo}.")
    t = frame["t"].to_numpy()
    ok = np.isfinite(frame["y"].to_numpy()) & np.isfinite(frame["den"].to_numpy())
    in_ref = ok & (t >= ref_lo) & (t < base_lo)
    in_base = ok & (t >= base_lo) & (t < s)

    def compare(rows_before, rows_after, group):
        sub = frame[group & (rows_before | rows_after)].assign(
            post=lambda f: rows_after[f.index].astype(int))
        (value, se, _), _ = _estimate(sub, family=family, paired=paired, per=per)
        return value, se, _unit_influence(sub, value, family=family, paired=paired)

    try:
        follow_vs_ref, se_fr, if_fr = compare(in_ref, in_follow, ever)
        # All units: the non-scheme units alone were selected *low* on the baseline.
        shift, se_shift, if_shift = compare(in_ref, in_base, np.ones_like(ever))
        rise, se_rise, if_rise = compare(in_ref, in_base, ever)
    except (DesignError, ZeroDivisionError, FloatingPointError) as exc:
        return None, f"Regression to the mean could not be checked: {exc}."
    return RTMCheck(
        scale="ratio" if family in COUNT_FAMILIES and family != "binomial" else "difference",
        rise_into_baseline=rise - shift,
        rise_se=_difference_se(se_rise, se_shift, if_rise, if_shift),
        adjusted=follow_vs_ref - shift,
        adjusted_se=_difference_se(se_fr, se_shift, if_fr, if_shift),
        naive=float(naive), population_shift=shift,
        reference_window=(axis.label(ref_lo), axis.label(base_lo - 1)),
        n_population=int(frame["unit"].nunique()),
    ), ""


def _unit_influence(sub: pd.DataFrame, value: float, *, family: str,
                    paired: bool) -> pd.Series:
    """Each unit's first-order contribution to a before/after estimate's error.

    The estimate less its target is approximately the sum of these over units, so the
    covariance of two estimates from overlapping data is approximately the sum of the
    products of their influences, unit by unit. Used only for the correlation of the RTM
    guard's comparisons, which share the reference window; each comparison keeps its own
    standard error.

    Parameters
    ----------
    sub
        Rows with ``unit``, ``y``, ``den`` and ``post`` (0 before, 1 after).
    value
        The estimate on its estimation scale (log ratio or difference).
    family, paired
        As for :func:`_estimate`.
    """
    post = sub["post"].to_numpy() == 1
    y, den = sub["y"].to_numpy(dtype=float), sub["den"].to_numpy(dtype=float)
    units = sub["unit"].to_numpy()
    if family == "gaussian":
        if paired and sub["unit"].nunique() < len(sub):
            means = sub.groupby(["unit", "post"])["y"].mean().unstack("post").dropna()
            d = means[1] - means[0]
            return (d - d.mean()) / len(d)
        n1, n0 = post.sum(), (~post).sum()
        m1, m0 = y[post].mean(), y[~post].mean()
        contrib = np.where(post, (y - m1) / n1, -(y - m0) / n0)
    elif family == "binomial" or not (paired and sub["unit"].nunique() < len(sub)):
        # Pooled rates or proportions: (sum y1 / sum d1) against (sum y0 / sum d0). For
        # rates this is the influence on the log ratio; for proportions on the difference.
        y1, d1, y0, d0 = y[post].sum(), den[post].sum(), y[~post].sum(), den[~post].sum()
        r1, r0 = y1 / d1, y0 / d0
        scale1, scale0 = (d1, d0) if family == "binomial" else (y1, y0)
        contrib = np.where(post, (y - r1 * den) / scale1, -(y - r0 * den) / scale0)
    else:  # conditional Poisson: the unit's score over the information
        g = sub.groupby(["unit", "post"])[["y", "den"]].sum().unstack("post", fill_value=0.0)
        Y0, Y1 = g[("y", 0)].to_numpy(), g[("y", 1)].to_numpy()
        T0, T1 = g[("den", 0)].to_numpy(), g[("den", 1)].to_numpy()
        e = np.exp(value)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(T0 + T1 * e > 0, T1 * e / (T0 + T1 * e), 0.0)
        u = Y1 - (Y0 + Y1) * p
        info = np.sum((Y0 + Y1) * p * (1 - p))
        return pd.Series(u / info, index=g.index)
    return pd.Series(contrib).groupby(units).sum()


def _difference_se(se_a: float, se_b: float, inf_a: pd.Series, inf_b: pd.Series) -> float:
    """SE of ``a - b`` for two estimates from overlapping data.

    ``Var(a - b) = se_a^2 + se_b^2 - 2 rho se_a se_b``, with the correlation ``rho``
    estimated from the two estimates' unit-level influences (:func:`_unit_influence`):
    the comparisons of the RTM guard share the reference window (and the rise shares the
    baseline window too), so they are positively correlated and adding their variances
    alone overstates the SE.
    """
    a, b = inf_a.align(inf_b, fill_value=0.0)
    norm = float(np.sqrt(np.sum(a.to_numpy() ** 2) * np.sum(b.to_numpy() ** 2)))
    rho = float(np.clip(np.sum(a.to_numpy() * b.to_numpy()) / norm, -1.0, 1.0)) if norm else 0.0
    return float(np.sqrt(max(se_a**2 + se_b**2 - 2.0 * rho * se_a * se_b, 0.0)))


def _rate_ratio(sub: pd.DataFrame, *, family: str, paired: bool, per: float):
    pre, post = sub[sub["post"] == 0], sub[sub["post"] == 1]
    y0, t0, y1, t1 = pre["y"].sum(), pre["den"].sum(), post["y"].sum(), post["den"].sum()
    if y0 <= 0 or y1 <= 0:
        raise DesignError("no events in the baseline or follow-up window, so a rate ratio "
                          "cannot be estimated", fix="use longer windows or a different outcome")
    rate0, rate1 = y0 / t0, y1 / t1
    diag: dict[str, Any] = {
        "baseline_rate": rate0 * per, "followup_rate": rate1 * per, "rate_per": per,
        "baseline_events": float(y0), "followup_events": float(y1),
        "absolute_change": (rate1 - rate0) * per,
    }
    if paired and sub["unit"].nunique() < len(sub):
        g = sub.groupby(["unit", "post"])[["y", "den"]].sum().unstack("post", fill_value=0.0)
        Y0, Y1 = g[("y", 0)].to_numpy(), g[("y", 1)].to_numpy()
        T0, T1 = g[("den", 0)].to_numpy(), g[("den", 1)].to_numpy()
        keep = (T0 > 0) & (T1 > 0) & (Y0 + Y1 > 0)
        Y0, Y1, T0, T1 = Y0[keep], Y1[keep], T0[keep], T1[keep]
        beta, se_model, se_robust = _conditional_poisson(Y0, Y1, T0, T1)
        se = se_model if family == "poisson" else se_robust
        diag.update({"method": "conditional Poisson (unit fixed effects)",
                     "se_type": "model-based" if family == "poisson" else "cluster-robust by unit",
                     "clusters": int(keep.sum())})
        return (beta, se, np.inf), diag
    beta = np.log(rate1 / rate0)
    if family == "negbin":
        import statsmodels.api as sm

        X = sm.add_constant(sub["post"].to_numpy(dtype=float))
        fit = sm.NegativeBinomial(sub["y"].to_numpy(), X, exposure=sub["den"].to_numpy()).fit(
            disp=0, maxiter=200)
        diag.update({"method": "negative binomial (NB2) regression", "se_type": "model-based",
                     "alpha": float(fit.params[-1])})
        return (float(fit.params[1]), float(fit.bse[1]), np.inf), diag
    se = np.sqrt(1.0 / y0 + 1.0 / y1)
    diag["method"] = "ratio of pooled rates"
    if family == "quasipoisson":
        mu = np.where(sub["post"] == 1, rate1, rate0) * sub["den"].to_numpy()
        phi = float(np.sum((sub["y"].to_numpy() - mu) ** 2 / mu) / (len(sub) - 2))
        se *= np.sqrt(phi)
        diag.update({"dispersion": phi, "se_type": "Pearson-scaled (quasi-Poisson)"})
    else:
        diag["se_type"] = "model-based (Poisson)"
    return (beta, se, np.inf), diag


def _conditional_poisson(Y0, Y1, T0, T1, tol: float = 1e-12, max_iter: int = 100):
    """Poisson regression with unit fixed effects and one before/after indicator.

    The unit effects are concentrated out, so the score depends only on unit totals:
    ``U(b) = sum(Y1 - (Y0 + Y1) * p)`` with ``p = T1 e^b / (T0 + T1 e^b)``.
    Returns the log rate ratio, its model-based SE and its cluster-robust SE
    (clusters = units, small-sample factor G / (G - 1)).
    """
    Y = Y0 + Y1
    b = np.log(Y1.sum() / T1.sum()) - np.log(Y0.sum() / T0.sum())
    for _ in range(max_iter):
        e = np.exp(b)
        p = T1 * e / (T0 + T1 * e)
        score = np.sum(Y1 - Y * p)
        info = np.sum(Y * p * (1 - p))
        step = score / info
        b += step
        if abs(step) < tol:
            break
    e = np.exp(b)
    p = T1 * e / (T0 + T1 * e)
    info = np.sum(Y * p * (1 - p))
    u = Y1 - Y * p
    G = len(Y)
    se_model = np.sqrt(1.0 / info)
    se_robust = np.sqrt(np.sum(u**2) * G / (G - 1)) / info
    return float(b), float(se_model), float(se_robust)


def _proportion_difference(sub: pd.DataFrame, *, paired: bool):
    pre, post = sub[sub["post"] == 0], sub[sub["post"] == 1]
    x0, n0, x1, n1 = pre["y"].sum(), pre["den"].sum(), post["y"].sum(), post["den"].sum()
    p0, p1 = x0 / n0, x1 / n1
    diff = p1 - p0
    diag: dict[str, Any] = {"baseline_proportion": p0, "followup_proportion": p1,
                            "baseline_denominator": float(n0), "followup_denominator": float(n1)}
    if paired and sub["unit"].nunique() < len(sub):
        g = sub.groupby(["unit", "post"])[["y", "den"]].sum().unstack("post", fill_value=0.0)
        z = ((g[("y", 1)] - p1 * g[("den", 1)]) / n1 - (g[("y", 0)] - p0 * g[("den", 0)]) / n0)
        G = len(z)
        se = float(np.sqrt(np.sum(z.to_numpy() ** 2) * G / (G - 1)))
        diag.update({"method": "difference of pooled proportions",
                     "se_type": "cluster-robust by unit", "clusters": G})
        return (diff, se, np.inf), diag
    se = float(np.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1))
    diag.update({"method": "difference of proportions", "se_type": "Wald (unpooled)",
                 "interval": "Newcombe hybrid score"})
    return (diff, se, ("newcombe", x0, n0, x1, n1)), diag


def _mean_difference(sub: pd.DataFrame, *, paired: bool):
    if paired and sub["unit"].nunique() < len(sub):
        means = sub.groupby(["unit", "post"])["y"].mean().unstack("post").dropna()
        if len(means) < 2:
            raise DesignError("fewer than 2 units have data both before and after",
                              fix="check the windows and the unit column")
        d = (means[1] - means[0]).to_numpy()
        se = float(d.std(ddof=1) / np.sqrt(d.size))
        diag = {"baseline_mean": float(means[0].mean()), "followup_mean": float(means[1].mean()),
                "method": "mean of unit-level differences (paired t)", "df": int(d.size - 1)}
        return (float(d.mean()), se, float(d.size - 1)), diag
    a = sub.loc[sub["post"] == 0, "y"].to_numpy()
    b = sub.loc[sub["post"] == 1, "y"].to_numpy()
    if a.size < 2 or b.size < 2:
        raise DesignError("fewer than 2 observations before or after",
                          fix="check the windows")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(va + vb))
    df = float((va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)))
    diag = {"baseline_mean": float(a.mean()), "followup_mean": float(b.mean()),
            "method": "difference in means (Welch)", "df": df}
    return (float(b.mean() - a.mean()), se, df), diag


def _wilson(x: float, n: float, z: float) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _interval(est, conf_level: float):
    """Point estimate, SE, interval and p-value from an (estimate, se, df|method) triple."""
    value, se, df = est
    alpha = 1 - conf_level
    if isinstance(df, tuple):  # Newcombe hybrid score interval for p1 - p0
        _, x0, n0, x1, n1 = df
        z = stats.norm.ppf(1 - alpha / 2)
        l0, u0 = _wilson(x0, n0, z)
        l1, u1 = _wilson(x1, n1, z)
        p0, p1 = x0 / n0, x1 / n1
        low = value - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
        high = value + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
        pooled = (x0 + x1) / (n0 + n1)
        se0 = np.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
        p = 2 * stats.norm.sf(abs(value) / se0) if se0 > 0 else np.nan
        return value, se, low, high, p
    q = stats.t.ppf(1 - alpha / 2, df) if np.isfinite(df) else stats.norm.ppf(1 - alpha / 2)
    dist = stats.t(df) if np.isfinite(df) else stats.norm
    p = 2 * dist.sf(abs(value) / se) if se > 0 else np.nan
    return value, se, value - q * se, value + q * se, p


def _record(est, scale, conf_level, *, outcome, estimand, scheme, domain, n_units, pre, post,
            diagnostics, warnings) -> EffectRecord:
    value, se, low, high, p = _interval(est, conf_level)
    if scale == "ratio":
        value, low, high = np.exp(value), np.exp(low), np.exp(high)
    return EffectRecord(
        scheme=scheme, domain=domain, outcome=outcome, design=DESIGN, estimand=estimand,
        scale=scale, estimate=float(value), se=float(se), ci_low=float(low),
        ci_high=float(high), conf_level=float(conf_level), p_value=float(p),
        n_units=n_units, pre_periods=pre, post_periods=post,
        evidence_level=maryland_level(DESIGN, estimand, diagnostics),
        diagnostics=diagnostics, warnings=tuple(warnings),
    )


def _series(frame: pd.DataFrame, *, ever, per, family, axis) -> pd.DataFrame:
    """Per-period level of the scheme group and of the rest, for plotting."""
    f = frame.assign(group=np.where(ever, "scheme", "other units"))
    f = f[np.isfinite(f["y"])]
    if family == "gaussian":
        s = f.groupby(["group", "t"])["y"].mean().rename("value").reset_index()
    else:
        g = f.groupby(["group", "t"])[["y", "den"]].sum()
        s = (g["y"] / g["den"] * (per or 1.0)).rename("value").reset_index()
    s["period"] = axis.labels(s["t"])
    return s[["group", "period", "t", "value"]]
