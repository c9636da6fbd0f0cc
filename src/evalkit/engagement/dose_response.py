"""Dose-response: does a scheme's effect grow with units' engagement?

Two forms:

:func:`dose_response` (cross-sectional)
    Unit-level effect estimates (e.g. from ``ek.its(..., unit=...)``) against an
    engagement measure (e.g. referrals per 1,000 patients from
    :func:`~evalkit.engagement.engagement`):
    ``effect_i = a + b dose_i + covariates + e_i``.

    - ``method="wls"`` (default): weighted least squares with weights ``1 / se_i^2``
      (statsmodels ``WLS``), the residual scale estimated (a multiplicative-dispersion
      meta-regression, Thompson and Sharp, 1999) and a t interval; ordinary least squares
      when no standard errors are given.
    - ``method="mixedlm"``: a linear mixed model (statsmodels ``MixedLM``, REML) with a
      random intercept per ``group``, for several effect rows per unit (e.g. per
      outcome or per period) or units nested in networks; a normal interval.

:func:`dose_response_panel` (panel)
    The outcome panel itself, with a random intercept per unit (statsmodels
    ``MixedLM``, REML): ``y_it = a + u_i + g_t + b_post post_it + b_dose post_it
    (dose_it - mean dose) + covariates + e_it``, where ``post_it`` is 1 for treated
    units once the scheme runs, ``g_t`` are period effects. ``b_dose`` is the
    dose-response slope: the change in the scheme's effect per unit of dose;
    ``b_post`` is the effect at the mean dose. Centring the dose changes ``b_post``
    only, never the slope. By default two level terms (``treated`` and the unit's mean
    dose) are added so that the slope rests on change within units: random intercepts
    alone would let a correlation between engagement and a unit's usual level of the
    outcome bias the slope. When every unit starts at once and there are no comparison
    units, the period effects absorb ``post`` and only the slope is estimated.

Evidence (Maryland SMS, descriptive rules written here, see :func:`evidence_level`): the
cross-sectional slope compares units with different engagement, a cross-sectional
comparison (level 1; level 2 with covariates); the panel slope compares change over time
between units with more and less engagement, like a difference-in-differences in dose
(level 3). Neither makes engagement random: see ``result.caveats``.

References
----------
Thompson SG, Sharp SJ. Explaining heterogeneity in meta-analysis: a comparison of
methods. *Stat Med* 1999;18:2693-2708.
Callaway B, Goodman-Bacon A, Sant'Anna PHC. Difference-in-differences with a continuous
treatment. NBER Working Paper 32117; 2024. (Why a slope across doses needs stronger
assumptions than an average effect.)
Hill AB. The environment and disease: association or causation? *Proc R Soc Med*
1965;58:295-300. (Biological gradient.)
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_choice, check_conf_level
from evalkit.data.contract import nearest
from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_periods
from evalkit.engagement.indices import EngagementResult, need_columns
from evalkit.errors import DataError, DesignError
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["dose_response", "dose_response_panel", "DoseResponseResult", "evidence_level",
           "METHODS"]

DESIGN = "dose_response"
METHODS = ("wls", "mixedlm")
_GRID = 50


@dataclass(frozen=True)
class DoseResponseResult(DesignResult):
    """A :class:`~evalkit.results.DesignResult` with the slope and caveats.

    Effects: ``dose_response_slope`` (domain ``outcome``) and, for the panel form,
    ``effect_at_mean_dose``. Frames: ``coefficients`` (term, coef, se, ci_low, ci_high,
    p_value), ``line`` (dose, effect, ci_low, ci_high: the fitted effect across the
    observed doses) and, for the cross-sectional form, ``points`` (unit, dose, effect,
    se, weight).

    Attributes
    ----------
    caveats
        Plain-language cautions about reading the slope as causal.
    """

    caveats: tuple[str, ...] = ()

    @property
    def slope(self) -> float:
        """The dose-response slope (on the log scale for ``log_effect=True``)."""
        return float(self.diagnostics["slope"])

    @property
    def ci(self) -> tuple[float, float]:
        """The slope's confidence interval (same scale as :attr:`slope`)."""
        lo, hi = self.diagnostics["slope_ci"]
        return float(lo), float(hi)

    def summary(self) -> str:
        """The effects, then the caveats."""
        return "\n".join([super().summary(), "Caveats:",
                          *(f"  - {c}" for c in self.caveats)])


def evidence_level(form: str, covariates: Sequence[str] = ()) -> int:
    """Maryland SMS level of a dose-response slope.

    ``"cross_sectional"``: 1 (2 with covariates); ``"panel"``: 3.

    Examples
    --------
    >>> evidence_level("cross_sectional", ["imd_score"])
    2
    """
    from evalkit.evidence.maryland import maryland_level

    return maryland_level("dose_response", "dose_response_slope",
                          {"form": form, "covariates": list(covariates)})


def _caveats(dose: str, covariates: Sequence[str], form: str) -> tuple[str, ...]:
    adjusted = (f"The slope is adjusted for {', '.join(covariates)}, but not for "
                "characteristics that were not measured." if covariates else
                "The slope is not adjusted for any practice characteristic.")
    out = [
        f"Engagement ({dose}) was not assigned at random. Practices that engage more differ "
        "from those that engage less, for example in list size, deprivation, age profile, "
        "staffing and leadership, and these differences can produce a gradient on their "
        f"own (confounding by practice characteristics). {adjusted}",
        "Engagement can follow need: practices with more (or recently more) admissions may "
        "refer more, and their outcomes then tend to fall back towards the average "
        "(regression to the mean), which looks like a benefit of engagement.",
        "A gradient is consistent with an effect of the scheme (Bradford Hill's biological "
        "gradient) but does not show one; no gradient does not rule one out, as errors in "
        "measuring engagement flatten the slope.",
    ]
    if form == "panel":
        out.append("The panel slope assumes that, without the scheme, outcomes of more and "
                   "less engaged practices would have changed in parallel (a stronger "
                   "assumption than for an average effect: Callaway, Goodman-Bacon and "
                   "Sant'Anna, 2024).")
    else:
        out.append("Each practice's effect is itself an estimate; the fit weights them by "
                   "their standard errors (known up to a common scale) and treats the "
                   "engagement measure as exact.")
    return tuple(out)


def _numeric(data: pd.DataFrame, column: str, *, what: str, file: str | None,
             allow_blank: bool = False) -> np.ndarray:
    raw = data[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    blank = raw.isna().to_numpy()
    bad = ~np.isfinite(values) & (~blank | (not allow_blank))
    if bad.any():
        shown = ", ".join(pd.unique(raw[bad].astype(str))[:3])
        raise DataError(f"{what} must be a number (found {shown})", file=file, column=column,
                        rows=[int(r) + 2 for r in np.flatnonzero(bad)],
                        fix="fill in or correct these values, or drop the rows")
    return values


def _coef_table(names, params, bse, pvalues, lo, hi) -> pd.DataFrame:
    return pd.DataFrame({"term": list(names), "coef": np.asarray(params, float),
                         "se": np.asarray(bse, float), "ci_low": np.asarray(lo, float),
                         "ci_high": np.asarray(hi, float),
                         "p_value": np.asarray(pvalues, float)})


def _line(dose: np.ndarray, x_at: Callable[[np.ndarray], np.ndarray], params: np.ndarray,
          cov: np.ndarray, q: float, log_effect: bool) -> pd.DataFrame:
    """The fitted effect over a grid of doses, with a pointwise interval."""
    grid = np.linspace(np.nanmin(dose), np.nanmax(dose), _GRID)
    X0 = x_at(grid)
    fit = X0 @ params
    se = np.sqrt(np.einsum("ij,jk,ik->i", X0, cov, X0))
    lo, hi = fit - q * se, fit + q * se
    if log_effect:
        fit, lo, hi = np.exp(fit), np.exp(lo), np.exp(hi)
    return pd.DataFrame({"dose": grid, "effect": fit, "ci_low": lo, "ci_high": hi})


# --------------------------------------------------------------------------- cross-section


@takes_frame
def dose_response(effects_by_unit: pd.DataFrame,
                  engagement_by_unit: pd.DataFrame | EngagementResult, *,
                  effect: str = "estimate", se: str | None = None, dose: str = "per_1000",
                  unit: str = "practice", covariates: Sequence[str] | None = None,
                  method: str = "wls", group: str | None = None,
                  estimand: str | None = None, log_effect: bool = False,
                  conf_level: float = 0.95, outcome: str | None = None,
                  scheme: str | None = None, file: str | None = None) -> DoseResponseResult:
    """Unit-level effects against engagement intensity.

    Parameters
    ----------
    effects_by_unit
        One row per unit (or several, for ``method="mixedlm"``): the unit, ``effect``
        and optionally ``se``. A table with a ``unit`` column (as ``its_batch``'s
        ``unit_effects_long``) is matched on it when ``unit`` itself is absent.
    engagement_by_unit
        One row per unit with ``dose`` (and covariates), e.g.
        ``engagement(...).by_unit``, or the :class:`EngagementResult` itself.
    effect, se
        Columns of the effect and its standard error (``se`` on the log scale when
        ``log_effect``).
    dose
        The engagement column.
    unit
        The unit column.
    covariates
        Unit characteristics to adjust for (from either table), e.g. ``list_size``,
        ``imd_score``.
    method
        ``"wls"`` or ``"mixedlm"`` (see the module notes).
    group
        For ``"mixedlm"``: the random-intercept grouping column (default ``unit``).
    estimand
        Keep only rows with this ``estimand`` (required when the effects table holds
        several).
    log_effect
        Regress ``log(effect)``, for ratio effects (rate ratios); the slope is then
        reported as a ratio per unit of dose.
    conf_level
        Level of the interval.
    outcome, scheme
        Labels for the effect record (``outcome`` defaults to the effects table's
        ``outcome`` column when it has one value, else ``effect``).
    file
        The file to name in errors.

    Returns
    -------
    DoseResponseResult

    Raises
    ------
    DataError
        Missing columns, non-numeric effects, doses or SEs, SEs of zero or less, no
        units with both an effect and a dose.
    DesignError
        An unknown method, several estimands without ``estimand=``, ``mixedlm`` with
        one row per group, log effects that are not positive, fewer units than terms.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> eng = pd.DataFrame({"practice": [f"P{i}" for i in range(40)],
    ...                     "per_1000": rng.uniform(0, 8, 40)})
    >>> eff = pd.DataFrame({"practice": eng["practice"], "se": 0.5,
    ...                     "estimate": -0.3 * eng["per_1000"] + rng.normal(0, 0.5, 40)})
    >>> res = dose_response(eff, eng, se="se")
    >>> lo, hi = res.ci
    >>> bool(lo < -0.3 < hi)
    True
    """
    check_choice("method", method, METHODS)
    check_conf_level(conf_level)
    covariates = list(covariates or [])
    if isinstance(engagement_by_unit, EngagementResult):
        if unit not in engagement_by_unit.by_unit.columns:
            unit = engagement_by_unit.options["unit"]
        engagement_by_unit = engagement_by_unit.by_unit
    need_columns(engagement_by_unit, {unit: "unit", dose: "dose (engagement)"}, file=file,
                 table="engagement")
    eff = effects_by_unit
    e_unit = unit if unit in eff.columns else ("unit" if "unit" in eff.columns else unit)
    need_columns(eff, {e_unit: "unit", effect: "effect", **({se: "standard error"}
                                                             if se else {})},
                 file=file, table="effects")
    if "estimand" in eff.columns:
        kinds = pd.unique(eff["estimand"])
        if estimand is not None:
            eff = eff[eff["estimand"] == estimand]
            if eff.empty:
                raise DataError(f"no effects with estimand '{estimand}'", file=file,
                                column="estimand",
                                fix=f"estimands present: {', '.join(map(str, kinds))}")
        elif len(kinds) > 1:
            raise DesignError(f"the effects table holds several estimands "
                              f"({', '.join(map(str, kinds))})",
                              fix="choose one with estimand=...")
    if outcome is None:
        outcome = (str(eff["outcome"].iloc[0]) if "outcome" in eff.columns
                   and eff["outcome"].nunique() == 1 else effect)
    dup = engagement_by_unit[unit].duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataError("the engagement table has several rows for a unit", file=file,
                        column=unit, rows=[int(r) + 2 for r in np.flatnonzero(dup)],
                        fix="give one engagement row per unit")
    left = eff.rename(columns={e_unit: "_unit"})
    right = engagement_by_unit.rename(columns={unit: "_unit"})
    right = right[[c for c in right.columns if c == "_unit" or c not in left.columns]]
    data = left.merge(right, on="_unit", how="inner", validate="many_to_one")
    for c in covariates:
        if c not in data.columns:
            guess = nearest(c, map(str, data.columns))
            raise DataError(f"the covariate column '{c}' is in neither table", file=file,
                            column=c, fix=f"did you mean '{guess}'?" if guess
                            else "name a column of the effects or engagement table")
    unmatched = int((~left["_unit"].isin(right["_unit"])).sum())
    warns = []
    if unmatched:
        warns.append(f"{unmatched} effect row(s) have no engagement record and were left out")
    if data.empty:
        raise DataError("no unit has both an effect and an engagement record", file=file,
                        column=unit, fix="check that both tables name units the same way")
    y = _numeric(data, effect, what="the effect", file=None)
    x = _numeric(data, dose, what="the dose", file=None)
    Z = np.column_stack([_numeric(data, c, what=f"covariate '{c}'", file=None)
                         for c in covariates]) if covariates else np.empty((len(data), 0))
    if log_effect:
        if (y <= 0).any():
            raise DesignError("log_effect needs positive effects (ratios)", column=effect,
                              fix="use log_effect=False for effects on a difference scale")
        y = np.log(y)
    s = None
    if se is not None:
        s = _numeric(data, se, what="the standard error", file=None)
        if (s <= 0).any():
            raise DataError("standard errors must be positive", file=file, column=se,
                            rows=[int(r) + 2 for r in np.flatnonzero(s <= 0)],
                            fix="drop units whose effect could not be estimated")
    X = np.column_stack([np.ones(len(y)), x, Z])
    names = ["intercept", dose, *covariates]
    if len(y) <= X.shape[1]:
        raise DesignError(f"{len(y)} unit(s) cannot fit {X.shape[1]} terms",
                          fix="add units or drop covariates")
    if np.ptp(x) == 0:
        raise DesignError("every unit has the same dose; there is no gradient to estimate",
                          column=dose, fix="use an engagement measure that varies")
    if method == "wls":
        import statsmodels.api as sm

        if s is None:
            warns.append("no standard errors given: an unweighted (OLS) fit")
            w = np.ones(len(y))
        else:
            w = 1 / s**2
        fit = sm.WLS(y, X, weights=w).fit()
        q = stats.t.ppf(1 - (1 - conf_level) / 2, fit.df_resid)
        params, cov = np.asarray(fit.params), np.asarray(fit.cov_params())
        ci = np.asarray(fit.conf_int(1 - conf_level))
        coefs = _coef_table(names, params, fit.bse, fit.pvalues, ci[:, 0], ci[:, 1])
        diag_extra = {"dispersion": float(fit.scale), "df_resid": float(fit.df_resid),
                      "weights": "1/se^2" if s is not None else "equal",
                      "interval": "t"}
        weights = w
    else:
        params, cov, coefs, q, diag_extra = _mixed_cross(y, X, names, data, group or "_unit",
                                                         conf_level, file, se, warns)
        weights = np.ones(len(y))
    k = 1
    slope, slope_se = float(params[k]), float(np.sqrt(cov[k, k]))
    lo, hi = slope - q * slope_se, slope + q * slope_se
    p = float(coefs["p_value"].iloc[k])
    zbar = Z.mean(0) if Z.size else np.empty(0)

    def x_at(g: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones_like(g), g, np.tile(zbar, (g.size, 1))])

    line = _line(x, x_at, params, cov, q, log_effect)
    points = pd.DataFrame({"unit": data["_unit"].to_numpy(), "dose": x,
                           "effect": np.exp(y) if log_effect else y,
                           "se": s if s is not None else np.nan, "weight": weights})
    level = evidence_level("cross_sectional", covariates)
    diag = {"form": "cross_sectional", "method": method, "dose": dose, "slope": slope,
            "slope_se": slope_se, "slope_ci": [lo, hi], "log_effect": log_effect,
            "covariates": covariates, "n_units": int(data["_unit"].nunique()),
            "n_rows": len(y), "dose_range": [float(x.min()), float(x.max())], **diag_extra}
    rec = EffectRecord(
        outcome=outcome, design=DESIGN, estimand="dose_response_slope",
        scale="ratio" if log_effect else "difference",
        estimate=float(np.exp(slope)) if log_effect else slope, se=slope_se,
        ci_low=float(np.exp(lo)) if log_effect else lo,
        ci_high=float(np.exp(hi)) if log_effect else hi, conf_level=conf_level,
        p_value=p, n_units=diag["n_units"], pre_periods=0, post_periods=0,
        evidence_level=level, scheme=scheme, domain="outcome", diagnostics=diag,
        warnings=tuple(warns))
    return DoseResponseResult(
        design=DESIGN, effects=effects_frame([rec]), diagnostics=diag,
        warnings=tuple(warns),
        options={"effect": effect, "se": se, "dose": dose, "unit": unit,
                 "covariates": covariates, "method": method, "group": group,
                 "estimand": estimand, "log_effect": log_effect, "conf_level": conf_level},
        frames={"coefficients": coefs, "line": line, "points": points},
        caveats=_caveats(dose, covariates, "cross_sectional"))


def _mixed_cross(y, X, names, data, group, conf_level, file, se, warns):
    import statsmodels.api as sm

    if group not in data.columns:
        need_columns(data, {group: "group"}, file=file, table="effects")
    g = data[group].to_numpy()
    sizes = pd.Series(g).value_counts()
    if (sizes < 2).all():
        raise DesignError("method='mixedlm' needs several effect rows per group (a random "
                          "intercept cannot be told apart from the residual with one)",
                          fix="use method='wls' for one effect per unit, or give group= "
                              "(e.g. the network) with several units each")
    if se is not None:
        warns.append("method='mixedlm' does not use the standard errors; every row has equal "
                     "weight")
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        fit = sm.MixedLM(y, X, groups=g).fit(reml=True)
    p = X.shape[1]
    params = np.asarray(fit.fe_params)
    cov = np.asarray(fit.cov_params())[:p, :p]
    q = stats.norm.ppf(1 - (1 - conf_level) / 2)
    bse = np.sqrt(np.diag(cov))
    pv = 2 * stats.norm.sf(np.abs(params / bse))
    coefs = _coef_table(names, params, bse, pv, params - q * bse, params + q * bse)
    if not fit.converged:
        warns.append("the mixed model did not converge; treat the estimate with caution")
    extra = {"group": group, "group_variance": float(np.asarray(fit.cov_re)[0, 0]),
             "residual_variance": float(fit.scale), "converged": bool(fit.converged),
             "interval": "normal"}
    return params, cov, coefs, q, extra


# --------------------------------------------------------------------------- panel


@takes_frame
def dose_response_panel(panel: pd.DataFrame, *, outcome: str, unit: str, time: str,
                        treated_post: str, dose: str,
                        covariates: Sequence[str] | None = None, family: str = "gaussian",
                        time_effects: bool = True, level_terms: bool = True,
                        center_dose: bool = True,
                        conf_level: float = 0.95, scheme: str | None = None,
                        file: str | None = None) -> DoseResponseResult:
    """The dose-response slope from the outcome panel (MixedLM, unit random intercepts).

    Parameters
    ----------
    panel
        One row per unit and period: ``outcome``, ``treated_post``, ``dose`` and
        covariates. Comparison units (``treated_post`` always 0) help estimate the
        period effects.
    outcome
        A numeric outcome (e.g. admissions per 1,000 patients); blank rows are left out.
    unit, time
        Unit and period columns.
    treated_post
        1 for a treated unit once the scheme runs, else 0.
    dose
        Engagement (e.g. the unit's referrals per 1,000); may vary over time, and may be
        blank where ``treated_post`` is 0 (it does not enter there).
    covariates
        Numeric columns to adjust for.
    family
        ``"gaussian"`` only (the linear mixed model); model rates or logs of counts.
    time_effects
        Period fixed effects (default); without them, a linear trend in the period.
    level_terms
        Also fit ``treated`` (1 for units ever treated) and ``treated:dose_level`` (a
        treated unit's mean dose while treated, centred like the dose), so that units'
        levels of the outcome, which may differ with engagement, cannot leak into the
        slope through the random intercepts: the slope then comes from change within
        units only. ``False`` fits exactly ``y ~ post + post:dose + period effects``.
    center_dose
        Centre the dose at its mean over treated-post rows, so that the ``post``
        coefficient is the effect at the mean dose (the slope is unchanged).
    conf_level
        Level of the normal intervals.
    scheme
        The scheme's name, for the effect records.
    file
        The file to name in errors.

    Returns
    -------
    DoseResponseResult

    Raises
    ------
    DataError
        Missing columns, a ``treated_post`` other than 0/1, a blank or non-numeric dose
        where ``treated_post`` is 1, non-numeric outcomes or covariates.
    DesignError
        A family other than gaussian, no treated-post rows, a dose that never varies.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(2)
    >>> u, t = np.repeat(np.arange(30), 10), np.tile(np.arange(10), 30)
    >>> dose = np.where(u < 20, rng.uniform(0, 5, 30)[u], 0.0)
    >>> post = ((u < 20) & (t >= 5)).astype(int)
    >>> y = rng.normal(0, 1, 30)[u] + 0.1 * t + post * (1 + 0.5 * dose) + rng.normal(0, .5, 300)
    >>> df = pd.DataFrame({"practice": u, "month": t, "y": y, "post": post, "dose": dose})
    >>> res = dose_response_panel(df, outcome="y", unit="practice", time="month",
    ...                           treated_post="post", dose="dose")
    >>> round(res.slope, 1)
    0.5
    """
    import statsmodels.api as sm

    if family != "gaussian":
        raise DesignError(f"dose_response_panel fits a linear mixed model; family "
                          f"'{family}' is not available",
                          fix="use family='gaussian' on a rate (e.g. admissions per 1,000 "
                              "patients) or on log counts")
    check_conf_level(conf_level)
    covariates = list(covariates or [])
    need_columns(panel, {unit: "unit", time: "time", outcome: "outcome",
                         treated_post: "treated-post indicator", dose: "dose",
                         **{c: "covariate" for c in covariates}}, file=file, table="panel")
    codes, _ = parse_periods(panel[time], file=file, column=time)
    raw_post = panel[treated_post]
    post = pd.to_numeric(raw_post.replace({True: 1, False: 0}), errors="coerce").to_numpy(
        dtype=float)
    bad = ~np.isin(post, [0.0, 1.0])
    if bad.any():
        shown = ", ".join(pd.unique(raw_post[bad].astype(str))[:3])
        raise DataError(f"the treated-post indicator must be 0 or 1 (found {shown})",
                        file=file, column=treated_post,
                        rows=[int(r) + 2 for r in np.flatnonzero(bad)],
                        fix="code 1 for a treated unit once the scheme runs, else 0")
    if not (post == 1).any():
        raise DesignError("no treated-post rows: nothing to relate to the dose",
                          column=treated_post, fix="check the treated_post column")
    y = _numeric(panel, outcome, what="the outcome", file=file, allow_blank=True)
    d_raw = pd.to_numeric(panel[dose], errors="coerce").to_numpy(dtype=float)
    bad = (post == 1) & ~np.isfinite(d_raw)
    if bad.any():
        raise DataError("the dose is blank or not a number where treated_post is 1",
                        file=file, column=dose, rows=[int(r) + 2 for r in np.flatnonzero(bad)],
                        fix="give every treated unit its engagement (0 if it never took part)")
    Z = np.column_stack([_numeric(panel, c, what=f"covariate '{c}'", file=file)
                         for c in covariates]) if covariates else np.empty((len(panel), 0))
    keep = np.isfinite(y)
    warns = []
    if (~keep).any():
        warns.append(f"{int((~keep).sum())} row(s) with a blank outcome were left out")
    treated_dose = d_raw[(post == 1) & keep]
    if np.ptp(treated_dose) == 0:
        raise DesignError("the dose is the same in every treated-post row: no gradient",
                          column=dose, fix="use an engagement measure that varies")
    centre = float(treated_dose.mean()) if center_dose else 0.0
    slope_x = np.where(post == 1, np.nan_to_num(d_raw) - centre, 0.0)
    y, post_k, slope_x, Z, codes_k = y[keep], post[keep], slope_x[keep], Z[keep], codes[keep]
    groups = panel[unit].to_numpy()[keep]
    g_codes, g_labels = pd.factorize(groups)
    ever = np.zeros(len(g_labels))
    np.maximum.at(ever, g_codes, post_k)
    tp = post_k == 1
    d_level = np.bincount(g_codes[tp], weights=slope_x[tp], minlength=len(g_labels)) / \
        np.maximum(np.bincount(g_codes[tp], minlength=len(g_labels)), 1)

    # Is post absorbed by the period effects (the same in every unit in each period)?
    per = pd.DataFrame({"t": codes_k, "p": post_k}).groupby("t")["p"].agg(["min", "max"])
    absorbed = bool(time_effects and (per["min"] == per["max"]).all())
    cols, names = [np.ones(len(y))], ["intercept"]
    if not absorbed:
        cols.append(post_k)
        names.append("post")
    else:
        warns.append("every unit starts at the same time and there are no comparison units: "
                     "the period effects absorb the average effect, so only the slope is "
                     "estimated")
    cols.append(slope_x)
    names.append(f"post:{dose}")
    if level_terms:
        if not ever.all():
            cols.append(ever[g_codes])
            names.append("treated")
        cols.append(d_level[g_codes])
        names.append(f"treated:{dose}_level")
    if time_effects:
        ut, tinv = np.unique(codes_k, return_inverse=True)
        T = np.zeros((len(y), ut.size - 1))
        rows = np.flatnonzero(tinv > 0)
        T[rows, tinv[rows] - 1] = 1.0
        cols.append(T)
        names.extend(f"period[{c}]" for c in ut[1:])
    else:
        cols.append((codes_k - codes_k.min()).astype(float))
        names.append("trend")
    if covariates:
        cols.append(Z)
        names.extend(covariates)
    X = np.column_stack(cols)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        fit = sm.MixedLM(y, X, groups=groups).fit(reml=True)
    k = X.shape[1]
    params = np.asarray(fit.fe_params)
    cov = np.asarray(fit.cov_params())[:k, :k]
    bse = np.sqrt(np.diag(cov))
    q = stats.norm.ppf(1 - (1 - conf_level) / 2)
    pv = 2 * stats.norm.sf(np.abs(params / bse))
    coefs = _coef_table(names, params, bse, pv, params - q * bse, params + q * bse)
    if not fit.converged:
        warns.append("the mixed model did not converge; treat the estimate with caution")
    js = names.index(f"post:{dose}")
    slope, slope_se = float(params[js]), float(bse[js])
    lo, hi = slope - q * slope_se, slope + q * slope_se
    # The fitted effect across doses: b_post + b_dose (dose - centre) (relative to the
    # mean dose when b_post is absorbed).
    jp = names.index("post") if "post" in names else None
    idx = [j for j in (jp, js) if j is not None]
    sub_cov = cov[np.ix_(idx, idx)]

    def x_at(g: np.ndarray) -> np.ndarray:
        parts = ([np.ones_like(g)] if jp is not None else []) + [g - centre]
        return np.column_stack(parts)

    line = _line(treated_dose, x_at, params[idx], sub_cov, q, False)
    n_units = int(pd.unique(groups).size)
    n_treated = int(pd.unique(groups[post_k == 1]).size)
    diag = {"form": "panel", "method": "mixedlm", "dose": dose, "slope": slope,
            "slope_se": slope_se, "slope_ci": [lo, hi], "centre": centre,
            "post_absorbed": absorbed, "covariates": covariates, "n_units": n_units,
            "n_treated_units": n_treated, "n_rows": len(y),
            "group_variance": float(np.asarray(fit.cov_re)[0, 0]),
            "residual_variance": float(fit.scale), "converged": bool(fit.converged),
            "time_effects": time_effects, "interval": "normal",
            "dose_range": [float(treated_dose.min()), float(treated_dose.max())],
            "line_relative": absorbed}
    pre = int(np.unique(codes_k[post_k == 0]).size)
    post_n = int(np.unique(codes_k[post_k == 1]).size)
    level = evidence_level("panel", covariates)
    common = {"outcome": outcome, "design": DESIGN, "conf_level": conf_level,
              "n_units": n_units, "pre_periods": pre, "post_periods": post_n,
              "evidence_level": level, "scheme": scheme, "domain": "outcome",
              "diagnostics": diag, "warnings": tuple(warns)}
    records = [EffectRecord(estimand="dose_response_slope", scale="difference",
                            estimate=slope, se=slope_se, ci_low=lo, ci_high=hi,
                            p_value=float(pv[js]), **common)]
    if jp is not None:
        records.append(EffectRecord(estimand="effect_at_mean_dose" if center_dose
                                    else "effect_at_zero_dose", scale="difference",
                                    estimate=float(params[jp]), se=float(bse[jp]),
                                    ci_low=float(params[jp] - q * bse[jp]),
                                    ci_high=float(params[jp] + q * bse[jp]),
                                    p_value=float(pv[jp]), **common))
    return DoseResponseResult(
        design=DESIGN, effects=effects_frame(records), diagnostics=diag,
        warnings=tuple(warns),
        options={"outcome": outcome, "unit": unit, "time": time,
                 "treated_post": treated_post, "dose": dose, "covariates": covariates,
                 "family": family, "time_effects": time_effects,
                 "level_terms": level_terms, "center_dose": center_dose,
                 "conf_level": conf_level},
        frames={"coefficients": coefs, "line": line},
        caveats=_caveats(dose, covariates, "panel"))
