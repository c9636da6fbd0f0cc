"""Interrupted time series (ITS): single and controlled segmented regression.

A scheme starts on a known date and monthly data exist for years before it. The
series before the start defines the counterfactual; the change in level and
slope at the start is the effect (Lopez Bernal, Cummins and Gasparrini, 2017,
Int J Epidemiol 46:348-355). See :mod:`evalkit.designs.its_model` for the
parametrisation.

Families: ``gaussian`` (OLS), ``poisson`` and ``quasipoisson`` (log-link GLM
with a log offset of the denominator; quasi-Poisson scales by the Pearson
dispersion), ``negbin`` (NB2), ``binomial`` (logit GLM of events among the
denominator). Ratio families report rate (or odds) ratios; gaussian reports
differences.

Autocorrelation: Durbin-Watson and Breusch-Godfrey (lags 1 and 12) on the
residuals of the first fit. Remedies: ``"hac"`` (Newey-West standard errors
with the Newey-West 1994 lag rule unless ``lags`` is given), ``"ar"`` (gaussian:
Prais-Winsten GLS with AR(1) errors, rho by REML, Kenward-Roger standard errors;
counts: Zeger's 1988 latent AR(1) process on the log scale under Poisson noise, rho and
the latent variance by REML, Kenward-Roger-type standard errors (the variance that
estimating the covariance adds, Kackar and Harville 1984, counted as Kenward and Roger 1997
do); t quantiles with Satterthwaite df from the REML
information, which allow for the estimated rho and scale; ``lags`` > 1 for a single
gaussian series: statsmodels GLSAR of that order),
``"arima"`` (gaussian only: regression with ARMA(p, 0) errors via statsmodels SARIMAX),
``"none"``.
``"auto"`` (the default) is ``"ar"`` for gaussian and (quasi-)Poisson outcomes, with
or without a comparison series (whose AR(1) process is separate from the treated
series', with a common rho), and ``"hac"`` for negbin and binomial. It used to fit no
remedy unless a Breusch-Godfrey test rejected at 5%; that pre-test misses moderate
autocorrelation in short series, and the intervals of the series it waved through were
too narrow (docs/its-coverage.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_whole
from evalkit.data.contract import check_panel, nearest
from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_period, parse_periods
from evalkit.designs.its_model import (
    Interruption,
    breusch_godfrey,
    design_matrix,
    fit_ar1,
    newey_west_lags,
    satterthwaite_df,
)
from evalkit.designs.its_options import check_its_options, impact_kinds
from evalkit.errors import DataError, DesignError
from evalkit.evidence.maryland import maryland_level
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["its"]

DESIGN = "its"
MIN_POINTS, WARN_POINTS = 8, 12


@takes_frame
def its(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    start: Any,
    family: str = "gaussian",
    denominator: str | None = None,
    seasonality: str | dict | None = None,
    slope_change: bool = True,
    impact: str | Sequence[str] | None = None,
    washout: int = 0,
    treated: str | None = None,
    control: str | None = None,
    unit: str | None = None,
    autocorrelation: str = "auto",
    lags: int | None = None,
    horizons: Sequence[int] = (6, 12, 24),
    per: float = 1000.0,
    conf_level: float = 0.95,
    scheme: str | None = None,
    domain: str = "outcome",
) -> DesignResult:
    """Interrupted time series by segmented regression.

    Parameters
    ----------
    data
        Rows by period (several rows per period are summed for counts, averaged for
        gaussian outcomes).
    outcome, time
        The outcome and period columns.
    start
        The interruption, or a list of interruptions in time order.
    family
        ``gaussian``, ``poisson``, ``quasipoisson``, ``negbin`` or ``binomial``.
    denominator
        Population or list size (log offset) for counts; people at risk for binomial.
    seasonality
        None, ``"month"`` (indicators) or ``{"fourier": K, "period": 12}``.
    slope_change
        Include a slope change at each interruption (shorthand for ``impact``).
    impact
        ``"step"``, ``"slope"`` (also ``"ramp"``: a gradual change from the start) or
        ``"step+slope"``, one for all interruptions or a list.
    washout
        Periods from each interruption left out of the fit (phase-in).
    treated
        A 0/1 column: only rows marked 1 form the treated series (for panels that also
        hold other units).
    control
        A 0/1 column marking the comparison series, for controlled ITS.
    unit
        Fit each unit separately (batch ITS); see :func:`evalkit.designs.its_batch`.
    autocorrelation
        ``auto`` (AR(1) errors with rho by REML and Kenward-Roger standard errors, for
        counts a latent AR(1) process with Kenward-Roger-type standard errors;
        Newey-West for negbin and binomial), ``none``, ``hac``, ``ar`` or ``arima``.
        Coverage of each: docs/its-coverage.md. With ``unit``: ``auto`` (= ``ar``) or
        ``none``.
    lags
        Newey-West lags (``hac``) or AR order (``ar`` for a single gaussian series,
        ``arima``); ``ar`` with counts or a comparison series is AR(1).
    horizons
        Periods after the (first) interruption at which to report the effect.
    per
        Absolute effects are per this many of the denominator.
    conf_level
        Confidence level.
    scheme, domain
        Labels for the effect records.

    Returns
    -------
    DesignResult
        Estimands ``level_change``, ``slope_change``, ``effect_at_<h>`` and
        ``cumulative`` (suffixed ``:2``, ``:3`` for later interruptions). Ratio
        families give ratios; ``cumulative`` is events (or outcome units) added (+) or
        avoided (-) over the observed post-period.

    Examples
    --------
    >>> import evalkit as ek, pandas as pd
    >>> sicily = pd.read_csv("../shared/validation/sicily.csv")  # doctest: +SKIP
    >>> res = ek.its(sicily, outcome="aces", time="time", start=37, family="quasipoisson",
    ...              denominator="stdpop", slope_change=False,
    ...              autocorrelation="none")  # doctest: +SKIP
    >>> round(res.effects.set_index("estimand").loc["level_change", "estimate"], 3)
    0.894
    """
    if unit is not None:
        from evalkit.designs.its_batch import its_batch

        return its_batch(data, outcome=outcome, time=time, start=start, unit=unit,
                         family=family, denominator=denominator, seasonality=seasonality,
                         slope_change=slope_change, impact=impact, washout=washout,
                         horizons=horizons, per=per, conf_level=conf_level, scheme=scheme,
                         domain=domain, autocorrelation=autocorrelation)
    check_its_options(family=family, denominator=denominator, autocorrelation=autocorrelation,
              seasonality=seasonality, conf_level=conf_level, washout=washout)
    check_whole("lags", lags, 0, optional=True)
    file = data.attrs.get("source")
    if treated is not None or control is not None:
        data = _select_series(data, treated=treated, control=control, file=file)
        control = "_comparison" if control is not None else None
    report = check_panel(data, unit=None, time=time, outcomes={outcome: family},
                         denominator=denominator, file=file,
                         covariates=[control] if control else ())
    report.raise_for_errors()
    if control is not None:
        bad = ~pd.to_numeric(data[control], errors="coerce").isin([0, 1]).to_numpy()
        if bad.any():
            raise DataError("the comparison-series marker must be 0 or 1", file=file,
                            column=control, rows=list(np.flatnonzero(bad) + 2),
                            fix="mark the comparison series with 1 and the treated with 0")
    codes_all, axis = parse_periods(data[time], file=file, column=time)
    starts = list(start) if isinstance(start, (list, tuple)) else [start]
    impacts = impact_kinds(impact, slope_change, len(starts))
    interruptions = []
    for s, imp in zip(starts, impacts, strict=True):
        code = parse_period(s, axis)
        interruptions.append(Interruption(code, axis.label(code), imp))
    for a, b in zip(interruptions, interruptions[1:], strict=False):
        if b.code <= a.code:
            raise DesignError(f"interruptions must be in time order: {b.label} is not after "
                              f"{a.label}", fix="list the start periods in time order")

    series = _aggregate(data, outcome=outcome, codes=codes_all, denominator=denominator,
                        family=family, control=control)
    warnings = _check_points(series, interruptions, washout, axis, file)
    keep = np.ones(len(series), dtype=bool)
    for it in interruptions:
        keep &= ~((series["t"] >= it.code) & (series["t"] < it.code + washout)).to_numpy()
    fit_rows = series[keep].reset_index(drop=True)
    first = int(series["t"].min())
    monthly = axis.kind == "month"
    group = None if control is None else 1 - fit_rows["control"].to_numpy()
    X = design_matrix(fit_rows["t"].to_numpy(), interruptions, first=first,
                      seasonality=seasonality, monthly=monthly, group=group)
    y = fit_rows["y"].to_numpy(dtype=float)
    den = fit_rows["den"].to_numpy(dtype=float)
    offset = np.log(den) if family in ("poisson", "quasipoisson", "negbin") and denominator \
        else np.zeros(len(y))

    # First fit without a remedy, for the diagnostics.
    base = _fit(y, den, X, offset, family=family, remedy="none", lags=None,
                groups=None if control is None else fit_rows["control"].to_numpy())
    diag = _autocorrelation(base["resid"], X.to_numpy(), control=control,
                            groups=fit_rows["control"].to_numpy() if control else None)
    remedy, reason = _choose_remedy(autocorrelation, family, diag, control)
    if remedy == "none":
        fit = base
    else:
        fit = _fit(y, den, X, offset, family=family, remedy=remedy, lags=lags,
                   groups=None if control is None else fit_rows["control"].to_numpy())
    diag.update({"remedy": remedy, "remedy_reason": reason, "family": family,
                 "method": fit["method"], "dispersion": fit.get("scale"),
                 "n_points": int(len(y)), "controlled": control is not None,
                 "interruptions": [it.label for it in interruptions],
                 "impacts": [it.impact for it in interruptions], "washout_periods": washout,
                 "seasonality": seasonality})
    if "rho" in fit:
        diag["ar_rho"] = fit["rho"]
    if fit.get("latent_variance") is not None:
        diag["ar_latent_variance"] = fit["latent_variance"]
    if "lags" in fit:
        diag["hac_lags"] = fit["lags"]
    if control is not None:
        diag["pretrend_difference"] = float(fit["params"]["group_time"])
        diag["pretrend_p"] = _wald_p(fit, ["group_time"])
        if diag["pretrend_p"] < 0.05:
            warnings.append("The treated and comparison series' pre-period trends differ "
                            f"(p = {diag['pretrend_p']:.3f}): controlled ITS assumes parallel "
                            "pre-trends.")
        diag.update(_selection(data, codes_all, outcome=outcome, time=time, control=control,
                               denominator=denominator, family=family,
                               start=interruptions[0].code, axis=axis))

    ratio = family != "gaussian"
    n_pre = int(((series["t"] < interruptions[0].code) & (series["control"] == 0)).sum())
    n_post = int(((series["t"] >= interruptions[0].code) & (series["control"] == 0)).sum())
    common = dict(outcome=outcome, scheme=scheme, domain=domain, n_units=1 if control is None
                  else 2, pre=n_pre, post=n_post, conf_level=conf_level, fit=fit)
    records = []
    prefix = "group_" if control is not None else ""
    for k, it in enumerate(interruptions):
        sfx = "" if k == 0 else f":{k + 1}"
        for kind, has in (("level_change", it.has_step), ("slope_change", it.has_slope)):
            if not has:
                continue
            name = f"{prefix}{kind}{sfx}"
            contrast = pd.Series(0.0, index=fit["params"].index)
            contrast[name] = 1.0
            records.append(_linear_record(contrast, f"{kind}{sfx}", ratio, diag,
                                          list(warnings), **common))
    # Effect at horizons and cumulative effect, on the treated series.
    treated = series[series["control"] == 0].reset_index(drop=True)
    Xall = design_matrix(treated["t"].to_numpy(), interruptions, first=first,
                         seasonality=seasonality, monthly=monthly,
                         group=None if control is None else np.ones(len(treated)))
    Xcf = _counterfactual(Xall, control is not None)
    off_all = np.log(treated["den"].to_numpy()) if offset.any() else np.zeros(len(treated))
    s1 = interruptions[0].code
    last = int(treated["t"].max())
    for h in horizons:
        if s1 + h > last:
            continue
        row = np.flatnonzero(treated["t"].to_numpy() == s1 + h)
        if not row.size:
            continue
        i = row[0]
        contrast = pd.Series(Xall.iloc[i].to_numpy() - Xcf.iloc[i].to_numpy(),
                             index=Xall.columns)
        extra = _absolute(fit, Xall.iloc[i], Xcf.iloc[i], off_all[i], treated["den"].iloc[i],
                          family=family, per=per, conf_level=conf_level)
        records.append(_linear_record(contrast, f"effect_at_{h}", ratio, {**diag, **extra},
                                      list(warnings), **common))
    post = treated["t"].to_numpy() >= s1
    records.append(_cumulative_record(Xall[post], Xcf[post], off_all[post],
                                      family=family, diag=diag, warnings=list(warnings),
                                      **common))
    frames = _frames(fit, treated, series, Xall, Xcf, off_all, family=family, per=per,
                     conf_level=conf_level, axis=axis, control=control, first=first,
                     interruptions=interruptions, seasonality=seasonality, monthly=monthly,
                     washout=washout)
    frames["acf"] = pd.DataFrame({"lag": np.arange(1, len(diag["acf"]) + 1),
                                  "acf": diag.pop("acf"), "pacf": diag.pop("pacf")})
    frames["coefficients"] = pd.DataFrame({"term": fit["params"].index,
                                           "estimate": fit["params"].to_numpy(),
                                           "se": np.sqrt(np.diag(fit["cov"]))})
    options = dict(outcome=outcome, time=time, start=start, family=family,
                   denominator=denominator, seasonality=seasonality, slope_change=slope_change,
                   impact=impact, washout=washout, treated=treated, control=control,
                   autocorrelation=autocorrelation, lags=lags, horizons=list(horizons), per=per,
                   conf_level=conf_level)
    return DesignResult(design=DESIGN, effects=effects_frame(records),
                        diagnostics={k: v for k, v in diag.items()},
                        warnings=tuple(dict.fromkeys(warnings)), options=options, frames=frames)


# ------------------------------------------------------------------ validation and data


def _selection(data, codes, *, outcome, time, control, denominator, family, start, axis
               ) -> dict:
    """The selection-at-a-peak check on the units of a controlled ITS (12 months, or 1
    period on other axes); empty when the panel's units cannot be told apart."""
    from evalkit.evidence.selection import selection_at_peak, unit_column

    unit = unit_column(data, time)
    if unit is None:
        return {}
    ratio = family in ("poisson", "quasipoisson", "negbin", "binomial")
    chk = selection_at_peak(data[outcome], unit=data[unit], period=codes,
                            treated=data[control].to_numpy() == 0, start=start,
                            window=12 if axis.kind == "month" else 1,
                            denominator=data[denominator] if denominator and ratio else None,
                            scale="ratio" if ratio else "difference", label=axis.label)
    return {} if chk is None else chk.as_dict(outcome.replace("_", " "))


def _select_series(data: pd.DataFrame, *, treated, control, file) -> pd.DataFrame:
    """Rows of the treated series (treated == 1) and of the comparison (control == 1)."""
    for col in (treated, control):
        if col is not None and col not in data.columns:
            guess = nearest(col, map(str, data.columns))
            raise DataError(f"the column '{col}' is missing", file=file, column=col,
                            fix=f"did you mean '{guess}'?" if guess else "add it")
    def flag(col):
        values = pd.to_numeric(data[col].replace({True: 1, False: 0}), errors="coerce")
        bad = ~values.isin([0, 1]).to_numpy()
        if bad.any():
            raise DataError("must be 0 or 1", file=file, column=col,
                            rows=list(np.flatnonzero(bad) + 2), fix="code it 0/1")
        return values.to_numpy() == 1
    comp = flag(control) if control is not None else np.zeros(len(data), dtype=bool)
    treat = flag(treated) if treated is not None else ~comp
    both = treat & comp
    if both.any():
        raise DataError("rows are marked both treated and comparison", file=file,
                        column=control, rows=list(np.flatnonzero(both) + 2),
                        fix="a unit belongs to one series")
    # The series must exist before a model is fitted (an all-treated panel made the
    # controlled design matrix singular).
    if control is not None and not comp.any():
        raise DesignError("no row is in the comparison series: the column is 0 in every row",
                          file=file, column=control, fix="mark units outside the scheme with 1, "
                          "or drop 'control' for an uncontrolled time series")
    if not treat.any():
        raise DesignError("no row is in the treated series: the column is 0 in every row",
                          file=file, column=treated, fix="mark the scheme's units with 1")
    keep = treat | comp
    out = data.loc[keep].copy()
    out["_comparison"] = comp[keep].astype(int)
    out.attrs = dict(data.attrs)
    return out


def _aggregate(data, *, outcome, codes, denominator, family, control) -> pd.DataFrame:
    frame = pd.DataFrame({
        "t": codes,
        "y": pd.to_numeric(data[outcome], errors="coerce").to_numpy(dtype=float),
        "den": (pd.to_numeric(data[denominator], errors="coerce").to_numpy(dtype=float)
                if denominator else np.ones(len(data))),
        "control": (pd.to_numeric(data[control]).to_numpy(dtype=int) if control
                    else np.zeros(len(data), dtype=int)),
    }).dropna(subset=["y", "den"])
    how = "mean" if family == "gaussian" else "sum"
    out = frame.groupby(["control", "t"], as_index=False).agg(y=("y", how), den=("den", "sum"))
    return out.sort_values(["control", "t"]).reset_index(drop=True)


def _check_points(series, interruptions, washout, axis, file) -> list[str]:
    warnings = []
    if series["control"].nunique() > 1 or series["control"].iloc[0] == 1:
        treated = series[series["control"] == 0]
        if treated.empty:
            raise DesignError("no treated series: every row is marked as comparison",
                              file=file, fix="mark the comparison series with 1, others 0")
    else:
        treated = series
    t = treated["t"].to_numpy()
    bounds = [int(t.min())] + [it.code for it in interruptions] + [int(t.max()) + 1]
    for k in range(len(bounds) - 1):
        lo = bounds[k] + (washout if k > 0 else 0)
        hi = bounds[k + 1]
        n_points = int(((t >= lo) & (t < hi)).sum())
        where = (f"before {interruptions[0].label}" if k == 0 else
                 f"after {interruptions[k - 1].label}" + (f" (less a washout of {washout})"
                                                           if washout else ""))
        if k > 0 and lo >= int(t.max()) + 1:
            raise DesignError(f"the washout of {washout} period(s) swallows the post-period "
                              f"{where}", file=file, fix="shorten the washout or wait for data")
        if n_points < MIN_POINTS:
            raise DesignError(f"only {n_points} point(s) {where}; ITS needs at least "
                              f"{MIN_POINTS} on each side", file=file,
                              fix="extend the series or use fewer interruptions")
        if n_points < WARN_POINTS:
            warnings.append(f"Only {n_points} points {where}: estimates of level and slope "
                            f"are fragile below {WARN_POINTS}.")
    return warnings


# ------------------------------------------------------------------ fitting


def _fit(y, den, X, offset, *, family, remedy, lags, groups) -> dict:
    import statsmodels.api as sm

    n = len(y)
    L = int(lags) if lags else newey_west_lags(n)
    out: dict[str, Any] = {}
    if family == "gaussian":
        if remedy == "ar" and (int(lags or 1) == 1 or groups is not None):
            ar = fit_ar1(y, X, offset, family="gaussian", segments=groups)
            out.update(params=ar.params, cov=ar.cov, rho=ar.rho, scale=ar.scale, mu=ar.mu,
                       resid=y - ar.mu, df=ar.df, cov_model=ar.cov_model.to_numpy(),
                       dcov=ar.dcov, W=ar.W,
                       method="Prais-Winsten GLS with AR(1) errors (rho by REML; "
                              "Kenward-Roger standard errors)")
            return out
        if remedy == "ar":
            order = int(lags)
            model = sm.GLSAR(y, X, rho=order)
            res = model.iterative_fit(maxiter=100)
            out.update(method=f"GLSAR (Prais-Winsten) with AR({order}) errors",
                       rho=float(np.atleast_1d(model.rho)[0]))
            df = res.df_resid
        elif remedy == "arima":
            order = int(lags or 1)
            model = sm.tsa.SARIMAX(y, exog=X, order=(order, 0, 0), trend="n")
            res = model.fit(disp=False, maxiter=500)
            names = list(X.columns)
            allp = np.asarray(res.params)
            params = pd.Series(allp[: len(names)], index=names)
            cov = pd.DataFrame(np.asarray(res.cov_params())[: len(names), : len(names)],
                               index=names, columns=names)
            resid = np.asarray(res.resid)
            out.update(params=params, cov=cov, resid=resid, df=np.inf,
                       method=f"regression with AR({order}) errors (SARIMAX)",
                       rho=float(allp[len(names)]), mu=y - resid, scale=None)
            return out
        else:
            res = sm.OLS(y, X).fit()
            df = res.df_resid
            if remedy == "hac":
                res = _hac(res, L, groups)
                out.update(lags=L)
            out["method"] = "OLS" + (" with Newey-West standard errors" if remedy == "hac"
                                     else "")
        out.update(params=pd.Series(np.asarray(res.params), index=X.columns),
                   cov=pd.DataFrame(np.asarray(res.cov_params()), index=X.columns,
                                    columns=X.columns),
                   resid=np.asarray(y - res.fittedvalues), df=df, mu=np.asarray(res.fittedvalues),
                   scale=float(res.scale))
        return out
    if family in ("poisson", "quasipoisson") and remedy == "ar":
        ar = fit_ar1(y, X, offset, family="quasipoisson", segments=groups)
        out.update(params=ar.params, cov=ar.cov, rho=ar.rho, scale=ar.scale, mu=ar.mu,
                   resid=(y - ar.mu) / np.sqrt(ar.mu), df=ar.df,
                   cov_model=ar.cov_model.to_numpy(), dcov=ar.dcov, W=ar.W,
                   latent_variance=ar.tau2,
                   method="quasi-likelihood GLS with a latent AR(1) process on the log scale "
                          "(Zeger 1988; rho and its variance by REML; Kenward-Roger-type "
                          "standard errors)")
        return out
    if family == "negbin":
        model = sm.NegativeBinomial(y, X, offset=offset)
        res = model.fit(disp=0, maxiter=500)
        if remedy == "hac":
            res = model.fit(disp=0, maxiter=500, cov_type="HAC",
                            cov_kwds={"maxlags": L, "use_correction": True})
            out["lags"] = L
        names = list(X.columns)
        params = pd.Series(np.asarray(res.params)[: len(names)], index=names)
        cov = pd.DataFrame(np.asarray(res.cov_params())[: len(names), : len(names)],
                           index=names, columns=names)
        mu = np.exp(X.to_numpy() @ params.to_numpy() + offset)
        out.update(params=params, cov=cov, mu=mu, resid=(y - mu) / np.sqrt(mu), df=np.inf,
                   scale=float(np.asarray(res.params)[-1]),
                   method="negative binomial (NB2) regression"
                   + (" with Newey-West standard errors" if remedy == "hac" else ""))
        return out
    if family == "binomial":
        endog = np.column_stack([y, den - y])
        glm = sm.GLM(endog, X, family=sm.families.Binomial())
    else:
        glm = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset)
    scale = "X2" if family == "quasipoisson" else 1.0
    res = glm.fit(scale=scale)
    mu = np.asarray(res.fittedvalues) * (den if family == "binomial" else 1)
    resid = np.asarray(res.resid_pearson)
    if remedy == "hac":
        res = _hac(glm.fit(), L, groups, glm=glm)
        out["lags"] = L
    out.update(params=pd.Series(np.asarray(res.params), index=X.columns),
               cov=pd.DataFrame(np.asarray(res.cov_params()), index=X.columns,
                                columns=X.columns),
               resid=resid, mu=mu, df=np.inf, scale=float(glm.fit(scale=scale).scale),
               method={"poisson": "Poisson GLM", "quasipoisson": "quasi-Poisson GLM",
                       "binomial": "binomial GLM (logit)"}[family]
               + (" with Newey-West standard errors" if remedy == "hac" else ""))
    return out


def _hac(res, lags, groups, glm=None):
    kw = {"maxlags": lags, "use_correction": True}
    model = glm if glm is not None else res.model
    if groups is not None:
        order = np.arange(len(groups))
        time_index = order - np.array([np.flatnonzero(groups == g)[0] for g in groups])
        return model.fit(cov_type="hac-panel", cov_kwds={"groups": groups, "time": time_index,
                                                           "maxlags": lags})
    return model.fit(cov_type="HAC", cov_kwds=kw)


def _autocorrelation(resid, X, *, control, groups) -> dict:
    from statsmodels.stats.stattools import durbin_watson
    from statsmodels.tsa.stattools import acf, pacf

    e = resid if groups is None else resid[groups == 0]
    Xe = X if groups is None else X[groups == 0]
    nl = min(12, max(1, e.size // 4))
    out = {"durbin_watson": float(durbin_watson(e))}
    lm1, p1 = breusch_godfrey(e, Xe, 1)
    out.update(breusch_godfrey_lag1=lm1, breusch_godfrey_lag1_p=p1)
    if e.size >= 36:
        lm12, p12 = breusch_godfrey(e, Xe, 12)
        out.update(breusch_godfrey_lag12=lm12, breusch_godfrey_lag12_p=p12)
    out["acf"] = acf(e, nlags=nl, fft=False)[1:].tolist()
    out["pacf"] = pacf(e, nlags=min(nl, e.size // 2 - 1))[1:].tolist()
    out["pacf"] += [np.nan] * (len(out["acf"]) - len(out["pacf"]))
    return out


def _choose_remedy(requested, family, diag, control) -> tuple[str, str]:
    """The remedy used. ``auto`` is AR(1) errors whatever the pre-tests say: a
    Breusch-Godfrey pre-test misses moderate autocorrelation in short series, and the
    series it waves through then get intervals that are too narrow (docs/its-coverage.md)."""
    p = min(diag["breusch_godfrey_lag1_p"], diag.get("breusch_godfrey_lag12_p", 1.0))
    if requested != "auto":
        remedy = requested
        reason = f"requested ({requested})"
    else:
        remedy = "ar"
        reason = (f"AR(1) errors by default, whatever the residual autocorrelation "
                  f"(Breusch-Godfrey {'p < 0.001' if p < 0.001 else f'p = {p:.3f}'})")
    if remedy == "arima" and family != "gaussian":
        raise DesignError("ARIMA errors are available for gaussian outcomes only",
                          fix="use autocorrelation: ar or hac for counts")
    if remedy == "arima" and control:
        raise DesignError("ARIMA errors are fitted to one series; with a comparison series "
                          "they would run on from the treated series into the comparison",
                          fix="use autocorrelation: ar (AR(1) errors in each series)")
    if remedy == "ar" and family in ("negbin", "binomial"):
        remedy, reason = "hac", reason + "; AR errors are not available here, so Newey-West"
    return remedy, reason


def _wald_p(fit, names) -> float:
    b = fit["params"][names].to_numpy()
    V = fit["cov"].loc[names, names].to_numpy()
    w = float(b @ np.linalg.solve(V, b))
    df = fit.get("df", np.inf)
    if np.isfinite(df):  # F test (a t test for one restriction), as for OLS
        return float(stats.f.sf(w / len(names), len(names), df))
    return float(stats.chi2.sf(w, len(names)))


def _counterfactual(X: pd.DataFrame, controlled: bool) -> pd.DataFrame:
    """The same rows with the intervention terms switched off."""
    cf = X.copy()
    for col in cf.columns:
        if controlled and col.startswith("group_") and ("level_change" in col
                                                        or "slope_change" in col):
            cf[col] = 0.0
        elif not controlled and col.startswith(("level_change", "slope_change")):
            cf[col] = 0.0
    return cf


# ------------------------------------------------------------------ effect records


def _quantile(fit, conf_level, grad=None):
    """The two-sided quantile and reference distribution for ``grad' beta``.

    AR(1) fits: t with Satterthwaite df for the contrast (allowing for the estimated rho
    and scale; one per row of a 2-D ``grad``); others: t on the fit's df, or normal."""
    alpha = 1 - conf_level
    if "dcov" in fit and grad is not None:
        g = np.asarray(grad, dtype=float)
        df = satterthwaite_df(g, fit["cov_model"], fit["dcov"], fit["W"])
        # Satterthwaite df below 1 say the variance's own variance swamps it (a near-flat
        # likelihood for rho); like SAS's DDFM=SATTERTH, bound them below by 1, and above
        # by the residual df, which no estimated covariance can add to.
        df = np.clip(df, 1.0, max(1.0, float(fit.get("resid_df", np.inf))))
        df = df if g.ndim == 2 else float(df[0])
    else:
        df = fit.get("df", np.inf)
    if np.all(np.isfinite(df)):
        return stats.t.ppf(1 - alpha / 2, df), stats.t(df)
    return stats.norm.ppf(1 - alpha / 2), stats.norm


def _linear_record(contrast, estimand, ratio, diag, warnings, *, outcome, scheme, domain,
                   n_units, pre, post, conf_level, fit) -> EffectRecord:
    b = float(contrast.to_numpy() @ fit["params"].to_numpy())
    se = float(np.sqrt(contrast.to_numpy() @ fit["cov"].to_numpy() @ contrast.to_numpy()))
    q, dist = _quantile(fit, conf_level, contrast.to_numpy())
    low, high = b - q * se, b + q * se
    p = float(2 * dist.sf(abs(b) / se)) if se > 0 else float("nan")
    if ratio:
        b, low, high = np.exp(b), np.exp(low), np.exp(high)
    return EffectRecord(
        scheme=scheme, domain=domain, outcome=outcome, design=DESIGN, estimand=estimand,
        scale="ratio" if ratio else "difference", estimate=float(b), se=se,
        ci_low=float(low), ci_high=float(high), conf_level=float(conf_level), p_value=p,
        n_units=n_units, pre_periods=pre, post_periods=post,
        evidence_level=maryland_level(DESIGN, estimand, diag), diagnostics=dict(diag),
        warnings=tuple(warnings))


def _inverse_link(eta, family):
    return 1 / (1 + np.exp(-eta)) if family == "binomial" else (
        eta if family == "gaussian" else np.exp(eta))


def _absolute(fit, x1, x0, offset, den, *, family, per, conf_level) -> dict:
    """The absolute effect at one period: rate difference per ``per`` of the denominator."""
    if family == "gaussian":
        return {}
    b, V = fit["params"].to_numpy(), fit["cov"].to_numpy()
    x1, x0 = x1.to_numpy(), x0.to_numpy()
    eta1, eta0 = x1 @ b, x0 @ b
    if family == "binomial":
        p1, p0 = _inverse_link(eta1, family), _inverse_link(eta0, family)
        diff, grad = p1 - p0, p1 * (1 - p1) * x1 - p0 * (1 - p0) * x0
        scale_ = 1.0
    else:
        diff, grad = np.exp(eta1) - np.exp(eta0), np.exp(eta1) * x1 - np.exp(eta0) * x0
        scale_ = per
    se = float(np.sqrt(grad @ V @ grad)) * scale_
    q, _ = _quantile(fit, conf_level, grad)
    key = "absolute_difference" if family == "binomial" else f"absolute_per_{per:g}"
    return {key: float(diff * scale_), f"{key}_ci": [float(diff * scale_ - q * se),
                                                     float(diff * scale_ + q * se)]}


def _cumulative_record(X1, X0, offset, *, family, diag, warnings, outcome, scheme, domain,
                       n_units, pre, post, conf_level, fit) -> EffectRecord:
    b, V = fit["params"].to_numpy(), fit["cov"].to_numpy()
    A1, A0 = X1.to_numpy(), X0.to_numpy()
    if family == "gaussian":
        total = float((A1 - A0).sum(0) @ b)
        grad = (A1 - A0).sum(0)
    elif family == "binomial":
        p1, p0 = _inverse_link(A1 @ b, family), _inverse_link(A0 @ b, family)
        total = float((p1 - p0).sum())
        grad = ((p1 * (1 - p1))[:, None] * A1 - (p0 * (1 - p0))[:, None] * A0).sum(0)
    else:
        m1, m0 = np.exp(A1 @ b + offset), np.exp(A0 @ b + offset)
        total = float((m1 - m0).sum())
        grad = (m1[:, None] * A1 - m0[:, None] * A0).sum(0)
    se = float(np.sqrt(grad @ V @ grad))
    q, dist = _quantile(fit, conf_level, grad)
    d = {**diag, "cumulative_periods": int(len(A1)),
         "cumulative_units": "events" if family in ("poisson", "quasipoisson", "negbin")
         else ("proportion-periods" if family == "binomial" else "outcome-periods")}
    return EffectRecord(
        scheme=scheme, domain=domain, outcome=outcome, design=DESIGN, estimand="cumulative",
        scale="difference", estimate=total, se=se, ci_low=total - q * se,
        ci_high=total + q * se, conf_level=float(conf_level),
        p_value=float(2 * dist.sf(abs(total) / se)) if se > 0 else float("nan"),
        n_units=n_units, pre_periods=pre, post_periods=post,
        evidence_level=maryland_level(DESIGN, "cumulative", diag), diagnostics=d,
        warnings=tuple(warnings))


def _frames(fit, treated, series, Xall, Xcf, offset, *, family, per, conf_level, axis, control,
            first, interruptions, seasonality, monthly, washout) -> dict:
    b, V = fit["params"].to_numpy(), fit["cov"].to_numpy()
    scale_ = per if family in ("poisson", "quasipoisson", "negbin") and offset.any() else 1.0

    def band(X):
        A = X.to_numpy()
        eta = A @ b
        se = np.sqrt(np.einsum("ij,jk,ik->i", A, V, A))
        q, _ = _quantile(fit, conf_level, A)
        f = lambda v: _inverse_link(v, family) * scale_  # noqa: E731
        return f(eta), f(eta - q * se), f(eta + q * se)

    fitted, flo, fhi = band(Xall)
    cf, clo, chi = band(Xcf)
    observed = treated["y"] / treated["den"] * scale_ if family != "gaussian" else treated["y"]
    after = treated["t"].to_numpy() >= interruptions[0].code
    frame = pd.DataFrame({
        "t": treated["t"], "period": axis.labels(treated["t"]), "observed": observed,
        "fitted": fitted, "fitted_low": flo, "fitted_high": fhi,
        "counterfactual": np.where(after, cf, np.nan),
        "counterfactual_low": np.where(after, clo, np.nan),
        "counterfactual_high": np.where(after, chi, np.nan),
        "washout": np.zeros(len(treated), dtype=bool),
    })
    for it in interruptions:
        frame["washout"] |= (frame["t"] >= it.code) & (frame["t"] < it.code + washout)
    out = {"series": frame,
           "interruptions": pd.DataFrame({"period": [it.label for it in interruptions],
                                          "t": [it.code for it in interruptions],
                                          "impact": [it.impact for it in interruptions]})}
    if control is not None:
        comp = series[series["control"] == 1].reset_index(drop=True)
        Xc = design_matrix(comp["t"].to_numpy(), interruptions, first=first,
                           seasonality=seasonality, monthly=monthly,
                           group=np.zeros(len(comp)))
        cfit, _, _ = band(Xc)
        obs = comp["y"] / comp["den"] * scale_ if family != "gaussian" else comp["y"]
        out["comparison"] = pd.DataFrame({"t": comp["t"], "period": axis.labels(comp["t"]),
                                          "observed": obs, "fitted": cfit})
    out["scale"] = pd.DataFrame({"rate_per": [scale_]})
    return out
