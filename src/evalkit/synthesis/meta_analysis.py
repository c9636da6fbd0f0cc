"""Random-effects meta-analysis of scheme effects.

Each scheme contributes one effect ``y_i`` with a known sampling variance ``v_i`` (its
squared standard error). The random-effects model is ``y_i = mu + u_i + e_i`` with
``u_i ~ N(0, tau2)`` (between-scheme differences in the true effect) and ``e_i ~ N(0, v_i)``
(sampling error); with ``moderators`` it is the mixed-effects meta-regression
``y = X b + u + e`` (see :mod:`evalkit.synthesis.meta_regression`). Given an estimate of
``tau2``, effects are pooled by weighted least squares with weights ``w_i = 1 / (v_i + tau2)``:
``mu = sum(w_i y_i) / sum(w_i)`` with ``se(mu) = 1 / sqrt(sum(w_i))``.

Estimators of ``tau2`` (``method``)
    ``"reml"`` (default)
        Restricted maximum likelihood (Viechtbauer, 2005), by Fisher scoring,
        ``tau2 <- tau2 + (y'PPy - tr P) / tr(PP)`` with ``P = W - W X (X'WX)^-1 X'W``,
        started at the DerSimonian-Laird value, truncated at zero at every step, with
        step halving if the restricted likelihood falls, until the change is below 1e-10.
    ``"dl"``
        DerSimonian and Laird's (1986) moment estimator,
        ``tau2 = max(0, (Q - (k - p)) / tr(P_0))`` with ``P_0`` at ``tau2 = 0`` (for the
        intercept-only model ``tr(P_0) = sum(w) - sum(w^2) / sum(w)``, ``w = 1 / v``).
    ``"pm"``
        Paule and Mandel's (1982) estimator: the ``tau2`` at which the generalised
        ``Q(tau2) = sum w_i(tau2) (y_i - x_i b(tau2))^2`` equals its expectation ``k - p``,
        solved with Brent's root finder (zero when ``Q(0) <= k - p``). It equals the
        empirical Bayes estimator of Morris (1983) and Berkey et al. (1995).
    ``"fe"``
        Fixed (common) effect: ``tau2 = 0``, inverse-variance weights ``1 / v_i``.

Intervals and tests
    By default Wald (normal) intervals and tests. With ``hksj=True`` the
    Hartung-Knapp-Sidik-Jonkman method (Hartung and Knapp, 2001; Sidik and Jonkman, 2002;
    Knapp and Hartung, 2003): the variance of the estimate is multiplied by
    ``q = sum w_i (y_i - mu)^2 / (k - p)``, so that for the pooled mean
    ``se = sqrt(sum w_i (y_i - mu)^2 / ((k - 1) sum w_i))``, and intervals and tests use
    the t distribution with ``k - p`` degrees of freedom. The "ad hoc" correction that
    never lets the HKSJ interval be narrower than the Wald one (``max(1, q)``; Jackson
    et al., 2017; metafor's ``test="adhoc"``) is **not** applied by default, matching
    metafor's ``test="knha"``; pass ``hksj_floor=True`` to apply it. IntHout et al. (2014)
    show that HKSJ intervals keep close to their nominal coverage where the Wald interval
    from DerSimonian-Laird undercovers, especially with few schemes.

Prediction interval
    Where the true effect of a new scheme like these would lie (Higgins, Thompson and
    Spiegelhalter, 2009): ``mu +/- t_{k-2} sqrt(tau2 + se(mu)^2)``, with ``se(mu)`` the
    standard error that the pooled interval uses (the HKSJ one when ``hksj=True``). It
    needs at least three schemes. Note that metafor's ``predict()`` uses a normal
    quantile (or ``t_{k-1}`` with ``test="knha"``) instead of ``t_{k-2}``. A fixed-effect
    model assumes one true effect, so it has no prediction interval (NaN).

Heterogeneity
    ``Q`` is Cochran's statistic with fixed-effect weights ``1 / v_i`` on ``k - p``
    degrees of freedom. ``I2`` (a percentage) and ``H2`` follow Higgins and Thompson
    (2002) in the general form that metafor uses for every estimator:
    ``I2 = 100 tau2 / (tau2 + s2)``, ``H2 = (tau2 + s2) / s2`` with the "typical" sampling
    variance ``s2 = (k - p) / tr(P_0)``; for DerSimonian-Laird this is exactly
    ``(Q - (k - 1)) / Q``. For ``method="fe"`` they are computed from ``Q``:
    ``I2 = max(0, 100 (Q - df) / Q)``, ``H2 = Q / df``. ``tau2_ci`` is the Q-profile
    interval (Viechtbauer, 2007): the ``tau2`` at which the generalised ``Q(tau2)`` equals
    the chi-square quantiles on ``k - p`` degrees of freedom; the ``I2`` and ``H2``
    intervals are transformed from it.

Scales
    ``scale="difference"`` (or ``"percent"``) pools the estimates as they are.
    ``scale="log_ratio"`` means the estimate column already holds log ratios (log rate or
    risk ratios) with standard errors on the log scale; ``scale="ratio"`` means it holds
    ratios, with the standard error of the **log** ratio, as evalkit's effect records do
    (see :class:`~evalkit.results.EffectRecord`). Either way ratios are pooled on the log
    scale and reported as ratios (``exp``), with effect records of scale ``"ratio"``
    whose ``se`` is on the log scale. When the data have a ``scale`` column (a frame of
    effect records), it decides; a frame mixing scales is refused.

Subgroups (``group``)
    Each subgroup is pooled on its own, with its own ``tau2`` and the same method. The
    test of subgroup differences is Cochran's Q across the subgroup estimates with weights
    ``1 / se_g^2`` (the model-based, not HKSJ, standard errors) on ``G - 1`` degrees of
    freedom (Borenstein et al., 2009, ch. 19; the random-effects test of RevMan).

Strength of evidence
    A synthesis is no stronger than the evidence it pools: the Maryland SMS level of a
    pooled effect is the lowest ``evidence_level`` among its schemes (of a subgroup, the
    lowest in that subgroup). Without an ``evidence_level`` column the level is 1, with a
    warning.

References
----------
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. *Control Clin Trials*
7:177-188.
Paule RC, Mandel J (1982). Consensus values and weighting factors. *J Res Natl Bur Stand*
87:377-385.
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
random-effects model. *J Educ Behav Stat* 30:261-293.
Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in
meta-analysis. *Stat Med* 26:37-52.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. *J Stat
Softw* 36(3):1-48.
Hartung J, Knapp G (2001). A refined method for the meta-analysis of controlled clinical
trials with binary outcome. *Stat Med* 20:3875-3889.
Sidik K, Jonkman JN (2002). A simple confidence interval for meta-analysis. *Stat Med*
21:3153-3159.
Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a
single covariate. *Stat Med* 22:2693-2710.
IntHout J, Ioannidis JPA, Borm GF (2014). The Hartung-Knapp-Sidik-Jonkman method for
random effects meta-analysis is straightforward and considerably outperforms the
standard DerSimonian-Laird method. *BMC Med Res Methodol* 14:25.
Jackson D, Law M, Rücker G, Schwarzer G (2017). The Hartung-Knapp modification for
random-effects meta-analysis. *Stat Med* 36:3923-3934.
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. *Stat Med*
21:1539-1558.
Higgins JPT, Thompson SG, Spiegelhalter DJ (2009). A re-evaluation of random-effects
meta-analysis. *J R Stat Soc A* 172:137-159.
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). *Introduction to
Meta-Analysis*. Wiley.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_choice, check_conf_level
from evalkit.data.inputs import listlike, takes_frame
from evalkit.errors import DataError, DesignError
from evalkit.results import DOMAINS, DesignResult, EffectRecord, effects_frame
from evalkit.synthesis.meta_regression import design_matrix, fit_meta_regression
from evalkit.synthesis.model import (
    _FEW,
    _GRID,
    METHODS,
    ModelFit,
    _need,
    _p,
    _rows,
    fit_model,
    prediction_interval,
    q_profile,
)
from evalkit.synthesis.result import MetaResult
from evalkit.synthesis.sensitivity import loo_table

__all__ = ["meta_analysis", "INPUT_SCALES"]

DESIGN = "meta_analysis"
INPUT_SCALES = ("difference", "ratio", "log_ratio", "percent")

def _as_frame(data) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, DesignResult):
        return data.effects.reset_index(drop=True)
    if isinstance(data, Sequence) and not isinstance(data, str) and len(data) and all(
            isinstance(d, (EffectRecord, Mapping, DesignResult, pd.DataFrame)) for d in data):
        parts = []
        records = []
        for d in data:
            if isinstance(d, (EffectRecord, Mapping)):
                records.append(d)
            else:
                if records:
                    parts.append(effects_frame(records))
                    records = []
                parts.append(d.effects if isinstance(d, DesignResult) else d)
        if records:
            parts.append(effects_frame(records))
        return pd.concat(parts, ignore_index=True)
    raise DesignError(f"the data must be a pandas DataFrame (or effect records), not "
                      f"{type(data).__name__}",
                      fix="pass one row per scheme with its estimate and standard error")


def _numbers(data: pd.DataFrame, column: str, what: str, file: str | None) -> np.ndarray:
    raw = data[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    blank = raw.isna().to_numpy()
    if blank.any():
        raise DataError(f"{what} is missing", file=file, column=column, rows=_rows(blank),
                        fix="fill in every scheme's value, or drop the schemes without one")
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{what} is not a number", file=file, column=column,
                        rows=_rows(bad), fix="give plain numbers (no text or symbols)")
    return values


def _resolve_scale(data: pd.DataFrame, scale: str | None, file: str | None) -> str:
    """The input scale, from ``scale=`` and/or the data's ``scale`` column."""
    if scale is not None:
        check_choice("scale", scale, INPUT_SCALES)
    if "scale" not in data.columns:
        return scale or "difference"
    col = data["scale"]
    blank = col.isna().to_numpy()
    if blank.any():
        raise DataError("the scale of these effects is missing", file=file, column="scale",
                        rows=_rows(blank), fix="give each effect's scale (difference, ratio "
                                               "or percent), or drop the column")
    values = col.astype(str)
    kinds = list(pd.unique(values))
    if len(kinds) > 1:
        counts = values.value_counts()
        main = counts.index[0]
        raise DataError(f"effects on different scales cannot be pooled together: "
                        f"{', '.join(kinds)}", file=file, column="scale",
                        rows=_rows((values != main).to_numpy()),
                        fix="pool each scale separately, e.g. data[data['scale'] == "
                            f"'{main}'], or convert the effects to one scale first")
    found = kinds[0]
    if found not in INPUT_SCALES:
        raise DataError(f"unknown scale '{found}'", file=file, column="scale",
                        fix=f"use one of {', '.join(INPUT_SCALES)}")
    if scale is not None and scale != found:
        raise DataError(f"scale='{scale}' was asked for, but the data's scale column says "
                        f"'{found}'", file=file, column="scale",
                        fix=f"drop scale=... (the column decides) or use scale='{found}'")
    return found


def _labels(data: pd.DataFrame, label: str | None, file: str | None,
            warns: list[str]) -> list[str]:
    k = len(data)
    if label is not None:
        _need(data, label, "label", file)
        values = data[label]
        blank = values.isna().to_numpy()
        if blank.any():
            raise DataError("a scheme label is missing", file=file, column=label,
                            rows=_rows(blank), fix="name every scheme")
        names = values.astype(str).tolist()
    elif "scheme" in data.columns and data["scheme"].notna().all():
        names = data["scheme"].astype(str).tolist()
    else:
        names = [f"row {i + 2}" for i in range(k)]
    counts = pd.Series(names).value_counts()
    dups = [str(n) for n in counts.index[counts.to_numpy() > 1]]
    if dups:
        warns.append(f"{', '.join(dups[:5])} appear(s) in more than one row: effects from one "
                     "scheme are not independent, and pooling them as if they were overstates "
                     "the evidence; pool one effect per scheme")
        names = [f"{n} (row {i + 2})" if n in dups else n for i, n in enumerate(names)]
    return names


def _evidence(data: pd.DataFrame, file: str | None) -> np.ndarray | None:
    if "evidence_level" not in data.columns:
        return None
    levels = pd.to_numeric(data["evidence_level"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(levels) | (levels < 1) | (levels > 5)
    if bad.any():
        raise DataError("evidence_level must be a Maryland SMS level from 1 to 5", file=file,
                        column="evidence_level", rows=_rows(bad),
                        fix="correct those rows, or drop the evidence_level column")
    return levels.astype(int)


# --------------------------------------------------------------------------- the design
@takes_frame(also=(lambda v: isinstance(v, DesignResult) or listlike(v),
                    "a pandas DataFrame, a result or a list of effect records or results"))
def meta_analysis(data, *, estimate: str = "estimate", se: str | None = None,
                  variance: str | None = None, method: str = "reml", hksj: bool = False,
                  hksj_floor: bool = False, moderators: str | Sequence[str] | None = None,
                  reference: Mapping[str, str] | None = None, label: str | None = None,
                  scale: str | None = None, group: str | None = None,
                  conf_level: float = 0.95, outcome: str | None = None,
                  domain: str | None = None, file: str | None = None) -> MetaResult:
    """Pool scheme effects in a random-effects meta-analysis.

    Parameters
    ----------
    data
        One row per scheme with its effect and standard error (or variance): a table, or
        a frame of evalkit effect records (``result.effects``; a list of records or
        results is concatenated).
    estimate
        The effect column.
    se, variance
        The standard error or the sampling variance column: exactly one (for ratios, of
        the log ratio).
    method
        ``"reml"`` (default), ``"dl"`` (DerSimonian-Laird), ``"pm"`` (Paule-Mandel) or
        ``"fe"`` (fixed effect). See the module notes.
    hksj, hksj_floor
        Hartung-Knapp-Sidik-Jonkman standard errors with t intervals; ``hksj_floor``
        never lets them fall below the model-based ones (``max(1, q)``; off by default,
        as in metafor's ``test="knha"``).
    moderators
        Column(s) for a mixed-effects meta-regression: numeric columns enter as they are,
        text (or categorical) columns as dummies against a reference level.
    reference
        The reference level of each categorical moderator, e.g. ``{"nation": "England"}``
        (default: the first category, or the first in alphabetical order, ignoring case).
    label
        The column naming each scheme (default: ``scheme`` when present).
    scale
        ``"difference"``, ``"percent"``, ``"ratio"`` (the column holds ratios, the SE is
        of the log ratio) or ``"log_ratio"`` (the column holds log ratios). Default: the
        data's ``scale`` column, else ``"difference"``.
    group
        A column to pool within (e.g. design strength, nation), with a test of subgroup
        differences.
    conf_level
        Level of every interval.
    outcome, domain
        Labels for the effect records (default: the data's single ``outcome`` and
        ``domain``, else the estimate column and ``"outcome"``).
    file
        The file to name in errors.

    Returns
    -------
    MetaResult

    Raises
    ------
    DataError
        Missing columns; fewer than 2 effects; missing or non-numeric estimates; standard
        errors or variances that are zero, negative or missing; effects on different
        scales; ratios that are not positive; moderators or groups with missing values.
    DesignError
        Both or neither of ``se`` and ``variance``; an unknown method or scale; more
        coefficients than schemes allow; a constant or collinear moderator.

    Examples
    --------
    >>> import pandas as pd
    >>> schemes = pd.DataFrame({"scheme": ["A", "B", "C", "D"],
    ...                         "estimate": [0.80, 0.70, 0.95, 0.60],
    ...                         "se": [0.10, 0.15, 0.08, 0.20], "scale": "ratio"})
    >>> res = meta_analysis(schemes, se="se", hksj=True)
    >>> res.scale, res.k
    ('ratio', 4)
    >>> bool(res.ci[0] < res.estimate < res.ci[1])
    True
    """
    check_choice("method", method, METHODS)
    check_conf_level(conf_level)
    if (se is None) == (variance is None):
        raise DesignError("give exactly one of se= and variance=" if se is not None else
                          "neither se= nor variance= was given",
                          fix="name the standard error column (se='se') or the sampling "
                              "variance column (variance='v'), not both")
    frame = _as_frame(data)
    warns: list[str] = []
    _need(frame, estimate, "estimate", file)
    spread = se if se is not None else variance
    _need(frame, spread, "standard error" if se is not None else "variance", file)
    if len(frame) < 2:
        raise DataError(f"a meta-analysis needs at least 2 effects; the data have "
                        f"{len(frame)}", file=file, column=estimate,
                        fix="add the other schemes' effects")
    in_scale = _resolve_scale(frame, scale, file)
    ratio = in_scale in ("ratio", "log_ratio")
    raw_y = _numbers(frame, estimate, "the estimate", file)
    spread_values = _numbers(frame, spread, "the standard error" if se is not None
                             else "the variance", file)
    nonpos = spread_values <= 0
    if nonpos.any():
        what = "standard errors" if se is not None else "variances"
        raise DataError(f"{what} must be greater than zero", file=file, column=spread,
                        rows=_rows(nonpos), fix="an effect with no sampling error cannot be "
                                                "weighted: correct those rows or drop them")
    v = spread_values**2 if se is not None else spread_values
    if in_scale == "ratio":
        bad = raw_y <= 0
        if bad.any():
            raise DataError("ratios must be greater than zero", file=file, column=estimate,
                            rows=_rows(bad), fix="give ratios (e.g. rate ratios), or use "
                                                 "scale='log_ratio' for log ratios")
        y = np.log(raw_y)
    else:
        y = raw_y
    out_scale = "ratio" if ratio else in_scale
    labels = _labels(frame, label, file, warns)
    levels = _evidence(frame, file)
    if levels is None:
        warns.append("the data have no evidence_level column, so the pooled effects are "
                     "given level 1 (the weakest); give each scheme's Maryland SMS level to "
                     "rate the synthesis by its weakest scheme")
        levels = np.ones(len(frame), dtype=int)
    outcome = outcome or _single(frame, "outcome") or estimate
    if "outcome" in frame.columns and frame["outcome"].nunique() > 1:
        warns.append(f"effects on {frame['outcome'].nunique()} different outcomes are pooled "
                     f"together ({', '.join(map(str, pd.unique(frame['outcome'])[:4]))})")
    domain = domain or _single(frame, "domain") or "outcome"
    check_choice("domain", domain, DOMAINS)
    groups = None
    if group is not None:
        _need(frame, group, "group", file)
        blank = frame[group].isna().to_numpy()
        if blank.any():
            raise DataError("the group is missing", file=file, column=group,
                            rows=_rows(blank), fix="give every scheme a group, or drop "
                                                   "those rows")
        groups = frame[group]
    back = np.exp if ratio else (lambda x: x)
    k = len(y)

    fit = fit_model(y, v, method=method, hksj=hksj, hksj_floor=hksj_floor,
                    conf_level=conf_level)
    fit_fe = fit_model(y, v, method="fe", conf_level=conf_level)
    if not fit.converged:
        warns.append("REML did not converge by Fisher scoring; tau2 was found by direct "
                     "maximisation of the restricted likelihood")
    tau2_ci = q_profile(y, v, conf_level=conf_level)
    s2 = fit.s2
    i2_ci = tuple(100 * t / (t + s2) for t in tau2_ci)
    h2_ci = tuple((t + s2) / s2 for t in tau2_ci)
    mu, se_mu = float(fit.beta[0]), float(fit.se[0])
    if method == "fe":
        pi = (math.nan, math.nan)
    else:
        pi = prediction_interval(mu, se_mu, fit.tau2, k, conf_level=conf_level)
        if k < 3:
            warns.append("a prediction interval needs at least 3 schemes")
    pi_rep = tuple(float(back(x)) for x in pi)
    _heterogeneity_warnings(fit, method, hksj, k, warns)

    z = float(stats.norm.ppf(1 - (1 - conf_level) / 2))
    s_se = np.sqrt(v)
    w_pct = 100 * fit.weights / fit.weights.sum()
    studies = pd.DataFrame({
        "row": np.arange(k) + 2, "label": labels, "y": y, "v": v, "se": s_se,
        "estimate": back(y), "ci_low": back(y - z * s_se), "ci_high": back(y + z * s_se),
        "weight": w_pct, "weight_fixed": 100 * fit_fe.weights / fit_fe.weights.sum(),
        "evidence_level": levels})
    for c in frame.columns:
        if c not in studies.columns and not frame[c].map(
                lambda x: isinstance(x, (dict, list, tuple, Mapping))).any():
            studies[c] = frame[c].to_numpy()

    common = {"outcome": outcome, "design": DESIGN, "scale": out_scale, "conf_level":
              conf_level, "pre_periods": 0, "post_periods": 0, "domain": domain,
              "scheme": None}
    diag = {"method": method, "hksj": hksj, "hksj_floor": hksj_floor, "k": k,
            "tau2": fit.tau2, "tau2_ci": list(tau2_ci), "i2": fit.i2, "i2_ci": list(i2_ci),
            "h2": fit.h2, "h2_ci": list(h2_ci), "q": fit.q, "q_df": fit.q_df, "q_p": fit.q_p,
            "prediction_interval": list(pi_rep), "interval": "t" if hksj else "z",
            "df": fit.df, "hksj_scale": fit.hksj_scale if hksj else None,
            "tau2_converged": fit.converged, "tau2_iterations": fit.iterations,
            "input_scale": in_scale, "evidence_rule": "lowest level among pooled schemes",
            "schemes": labels}
    records = [_record(common, "pooled", mu, se_mu, fit.ci_low[0], fit.ci_high[0],
                       fit.p_value[0], k, int(levels.min()), back, diag, warns)]
    diag_fe = {"method": "fe", "k": k, "q": fit_fe.q, "q_df": fit_fe.q_df, "q_p": fit_fe.q_p,
               "interval": "z", "input_scale": in_scale}
    records.append(_record(common, "pooled_fixed", fit_fe.beta[0], fit_fe.se[0],
                           fit_fe.ci_low[0], fit_fe.ci_high[0], fit_fe.p_value[0], k,
                           int(levels.min()), back, diag_fe, ()))
    pooled = pd.DataFrame([
        {"model": method, "estimand": "pooled", "k": k, "y": mu, "se": se_mu,
         "estimate": float(back(mu)), "ci_low": float(back(fit.ci_low[0])),
         "ci_high": float(back(fit.ci_high[0])), "pi_low": pi_rep[0], "pi_high": pi_rep[1],
         "tau2": fit.tau2, "i2": fit.i2, "p_value": float(fit.p_value[0])},
        {"model": "fe", "estimand": "pooled_fixed", "k": k, "y": float(fit_fe.beta[0]),
         "se": float(fit_fe.se[0]), "estimate": float(back(fit_fe.beta[0])),
         "ci_low": float(back(fit_fe.ci_low[0])), "ci_high": float(back(fit_fe.ci_high[0])),
         "pi_low": math.nan, "pi_high": math.nan, "tau2": 0.0, "i2": fit_fe.i2,
         "p_value": float(fit_fe.p_value[0])}])

    frames: dict[str, pd.DataFrame] = {"studies": studies, "pooled": pooled}
    subgroup_test = None
    if groups is not None:
        sub, subgroup_test, sub_records = _subgroups(
            y, v, groups, group, levels, method=method, hksj=hksj, hksj_floor=hksj_floor,
            conf_level=conf_level, back=back, common=common, warns=warns)
        frames["subgroups"] = sub
        records.extend(sub_records)

    regression = None
    if moderators is not None:
        names = [moderators] if isinstance(moderators, str) else list(moderators)
        X, terms = design_matrix(frame, names, reference=reference, file=file)
        regression = fit_meta_regression(
            y, v, X, terms, labels=labels, method=method, hksj=hksj, hksj_floor=hksj_floor,
            conf_level=conf_level, tau2_total=fit.tau2, ratio=ratio)
        studies["weight_regression"] = 100 * regression.weights / regression.weights.sum()
        frames.update(coefficients=regression.coefficients,
                      moderator_tests=regression.moderator_tests, lines=regression.lines,
                      design_matrix=regression.design_matrix)
        records.extend(regression.records(common, k=k, level=int(levels.min())))
        warns.extend(w for w in regression.warnings if w not in warns)

    frames["loo"] = loo_table(y, v, labels, method=method, hksj=hksj, hksj_floor=hksj_floor,
                              conf_level=conf_level, ratio=ratio)
    studies["outside_funnel"] = np.abs(y - mu) > z * s_se
    grid = np.linspace(0.0, float(s_se.max()) * 1.08, _GRID)
    frames["funnel"] = pd.DataFrame({"se": grid, "centre": float(back(mu)),
                                     "lower": back(mu - z * grid),
                                     "upper": back(mu + z * grid)})
    options = {"estimate": estimate, "se": se, "variance": variance, "method": method,
               "hksj": hksj, "hksj_floor": hksj_floor, "moderators": moderators,
               "reference": dict(reference or {}), "label": label, "scale": scale,
               "input_scale": in_scale, "group": group, "conf_level": conf_level,
               "outcome": outcome, "domain": domain}
    return MetaResult(
        design=DESIGN, effects=effects_frame(records), diagnostics=diag,
        warnings=tuple(warns), options=options, frames=frames, method=method, hksj=hksj,
        scale=out_scale, conf_level=conf_level, k=k, mu=mu, se=se_mu,
        estimate=float(back(mu)), ci=(float(back(fit.ci_low[0])),
                                      float(back(fit.ci_high[0]))),
        p_value=float(fit.p_value[0]), tau2=fit.tau2, tau2_ci=tau2_ci, i2=fit.i2,
        i2_ci=i2_ci, h2=fit.h2, q=fit.q, q_df=fit.q_df, q_p=fit.q_p,
        prediction_interval=pi_rep, weights=pd.Series(w_pct, index=labels, name="weight"),
        regression=regression, subgroup_test=subgroup_test)


def _single(frame: pd.DataFrame, column: str) -> str | None:
    if column in frame.columns and frame[column].nunique() == 1 \
            and frame[column].notna().all():
        return str(frame[column].iloc[0])
    return None


def _record(common: dict, estimand: str, y: float, se: float, lo: float, hi: float,
            p: float, k: int, level: int, back, diag: dict, warns) -> EffectRecord:
    return EffectRecord(estimand=estimand, estimate=float(back(y)), se=float(se),
                        ci_low=float(back(lo)), ci_high=float(back(hi)), p_value=float(p),
                        n_units=int(k), evidence_level=int(level), diagnostics=diag,
                        warnings=tuple(warns), **common)


def _heterogeneity_warnings(fit: ModelFit, method: str, hksj: bool, k: int,
                            warns: list[str]) -> None:
    if method != "fe" and k < 5:
        warns.append(f"with {k} schemes the between-scheme variance tau2 is estimated very "
                     "imprecisely; read the pooled effect and its interval with care")
    if method != "fe" and not hksj and k < _FEW:
        warns.append(f"with fewer than {_FEW} schemes a Wald interval from a random-effects "
                     "model is usually too narrow; hksj=True gives the "
                     "Hartung-Knapp-Sidik-Jonkman interval (IntHout et al., 2014)")
    if method == "fe" and fit.q_p < 0.10:
        warns.append(f"the fixed-effect model assumes one true effect, but the schemes differ "
                     f"more than chance would explain (Q = {fit.q:.2f} on {fit.q_df} df, "
                     f"{_p(fit.q_p)}); a random-effects method is more appropriate")
    if hksj and fit.hksj_scale < 1:
        warns.append(f"the HKSJ interval is narrower than the model-based one (variance "
                     f"multiplier {fit.hksj_scale:.3g} < 1); hksj_floor=True keeps it at "
                     "least as wide")


def _subgroups(y, v, groups: pd.Series, group: str, levels: np.ndarray, *, method: str,
               hksj: bool, hksj_floor: bool, conf_level: float, back, common: dict,
               warns: list[str]):
    """Pool within each subgroup; Q between the subgroup estimates."""
    if isinstance(groups.dtype, pd.CategoricalDtype):
        order = [c for c in groups.cat.categories if (groups == c).any()]
    else:
        order = list(pd.unique(groups))
    z = float(stats.norm.ppf(1 - (1 - conf_level) / 2))
    rows, records, est, se_model = [], [], [], []
    for g in order:
        mask = (groups == g).to_numpy()
        yg, vg = y[mask], v[mask]
        kg = int(mask.sum())
        lvl = int(levels[mask].min())
        if kg == 1:
            warns.append(f"subgroup {g} has one scheme: its 'pooled' effect is that scheme's")
            m, s = float(yg[0]), float(math.sqrt(vg[0]))
            lo, hi, p = m - z * s, m + z * s, float(2 * stats.norm.sf(abs(m / s)))
            tau2, i2, q, q_df, q_p, s_model = 0.0, 0.0, 0.0, 0, math.nan, s
            pi = (math.nan, math.nan)
            diag = {"method": method, "k": 1, "group": group, "level": str(g),
                    "interval": "z"}
        else:
            f = fit_model(yg, vg, method=method, hksj=hksj, hksj_floor=hksj_floor,
                          conf_level=conf_level)
            m, s = float(f.beta[0]), float(f.se[0])
            lo, hi, p = float(f.ci_low[0]), float(f.ci_high[0]), float(f.p_value[0])
            tau2, i2, q, q_df, q_p = f.tau2, f.i2, f.q, f.q_df, f.q_p
            s_model = float(math.sqrt(f.vb[0, 0]))
            pi = ((math.nan, math.nan) if method == "fe"
                  else prediction_interval(m, s, tau2, kg, conf_level=conf_level))
            diag = {"method": method, "hksj": hksj, "k": kg, "group": group,
                    "level": str(g), "tau2": tau2, "i2": i2, "q": q, "q_df": q_df,
                    "q_p": q_p, "interval": "t" if hksj else "z"}
        est.append(m)
        se_model.append(s_model)
        rows.append({"group": str(g), "k": kg, "y": m, "se": s, "estimate": float(back(m)),
                     "ci_low": float(back(lo)), "ci_high": float(back(hi)), "p_value": p,
                     "pi_low": float(back(pi[0])), "pi_high": float(back(pi[1])),
                     "tau2": tau2, "i2": i2, "q": q, "q_df": q_df, "q_p": q_p,
                     "evidence_level": lvl})
        records.append(_record(common, f"subgroup:{g}", m, s, lo, hi, p, kg, lvl, back, diag,
                               ()))
    est_a, w = np.asarray(est), 1.0 / np.asarray(se_model) ** 2
    centre = float(w @ est_a / w.sum())
    q_between = float(w @ (est_a - centre) ** 2)
    df = len(order) - 1
    test = {"group": group, "q": q_between, "df": df,
            "p": float(stats.chi2.sf(q_between, df)) if df > 0 else math.nan,
            "weights": "1/se^2 of each subgroup's estimate (model-based)"}
    if df == 0:
        warns.append(f"every scheme is in one {group} group: no subgroup comparison")
    return pd.DataFrame(rows), test, records
