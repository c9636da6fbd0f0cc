"""Staff surveys on Likert scales: distributions, change between waves, reliability.

The survey table has one row per respondent and statement (item): ``respondent``, the
unit, ``profession``, ``wave`` (e.g. ``before``/``after``), ``item`` and ``response``,
a whole number on a declared scale (1 to 5 by default: 1 strongly disagree, 5 strongly
agree).

- :func:`likert_summary`: the count and share at each level by item and wave, and the
  share agreeing (``agree_from`` or above) with Wilson (1927) intervals;
- :func:`likert_change`: a proportional-odds (ordinal logistic) regression of one
  item's responses on an after-wave indicator (and covariates), statsmodels
  ``OrderedModel`` with ``distr="logit"`` (McCullagh, 1980). ``exp(coefficient)`` is the
  odds ratio of answering in a higher category after than before, assumed the same at
  every cut-point;
- :func:`cronbach_alpha`: Cronbach's (1951) alpha of a set of items,
  ``alpha = k / (k - 1) * (1 - sum(var_i) / var_total)`` (sample variances of each
  item and of the respondents' totals), with Feldt's (1965) F-based interval:
  ``(1 - alpha_pop) / (1 - alpha)`` is F-distributed with ``n - 1`` and
  ``(n - 1)(k - 1)`` degrees of freedom, so the interval is
  ``1 - (1 - alpha) F_{1-g/2}`` to ``1 - (1 - alpha) F_{g/2}`` (Feldt, Woodruff and
  Salih, 1987).

A response outside the declared scale, or not a whole number, is refused (rows, values
and the scale named); a blank response is left out, with a warning. A blank wave is
refused, and so is a comparison whose before or after wave has no responses.

References
----------
Wilson EB. Probable inference, the law of succession, and statistical inference. *J Am
Stat Assoc* 1927;22:209-212.
McCullagh P. Regression models for ordinal data. *J R Stat Soc B* 1980;42:109-142.
Cronbach LJ. Coefficient alpha and the internal structure of tests. *Psychometrika*
1951;16:297-334.
Feldt LS. The approximate sampling distribution of Kuder-Richardson reliability
coefficient twenty. *Psychometrika* 1965;30:357-370.
Feldt LS, Woodruff DJ, Salih FA. Statistical inference for coefficient alpha. *Appl
Psychol Meas* 1987;11:93-103.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_conf_level
from evalkit.data.contract import nearest
from evalkit.data.inputs import takes_frame
from evalkit.engagement.indices import _wilson, need_columns
from evalkit.errors import DataError, DesignError
from evalkit.evidence.disclosure import DisclosureRules, share_hidden, small_counts
from evalkit.evidence.maryland import maryland_level
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["likert_summary", "likert_change", "cronbach_alpha", "feldt_interval", "LikertSummary",
           "ReliabilityResult", "FIVE_POINT_LABELS"]

#: Labels of the usual 1-5 agreement scale.
FIVE_POINT_LABELS = {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree",
                     4: "Agree", 5: "Strongly agree"}


# --------------------------------------------------------------------------- checks


def _check_scale(scale, agree_from=None) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in scale)
        ok = lo < hi and tuple(scale) == (lo, hi)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DesignError(f"scale must be two whole numbers (lowest, highest), not {scale!r}",
                          fix="e.g. scale=(1, 5)")
    if agree_from is not None and not (lo < agree_from <= hi):
        raise DesignError(f"agree_from {agree_from!r} is not inside the scale {lo} to {hi}",
                          fix=f"use a level above {lo} and at most {hi}, e.g. {hi - 1}")
    return lo, hi


def _responses(data: pd.DataFrame, response: str, scale: tuple[int, int], *,
               file: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Responses as floats and the mask of answered rows; refuses values off the scale."""
    lo, hi = scale
    raw = data[response]
    blank = raw.isna().to_numpy()
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~blank & (~np.isfinite(values) | (values != np.round(values)) | (values < lo)
                    | (values > hi))
    if bad.any():
        shown = ", ".join(pd.unique(raw[bad].astype(str))[:5])
        raise DataError(f"responses outside the declared scale {lo} to {hi} (found {shown})",
                        file=file, column=response,
                        rows=[int(r) + 2 for r in np.flatnonzero(bad)],
                        fix="correct these responses, blank them if unanswered, or declare "
                            "the survey's scale with scale=(lowest, highest)")
    return values, ~blank


def _no_blanks(data: pd.DataFrame, columns: Sequence[str], *, file: str | None) -> None:
    for c in columns:
        blank = data[c].isna().to_numpy()
        if blank.any():
            raise DataError(f"the {c} is blank", file=file, column=c,
                            rows=[int(r) + 2 for r in np.flatnonzero(blank)],
                            fix=f"fill in the {c} of every response, or drop those rows")


def _default_labels(scale: tuple[int, int]) -> dict[int, str]:
    return dict(FIVE_POINT_LABELS) if scale == (1, 5) else \
        {k: str(k) for k in range(scale[0], scale[1] + 1)}


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class LikertSummary:
    """Distributions and agreement of Likert items.

    Attributes
    ----------
    distribution
        One row per group (the ``by`` columns) and level: ``level``, ``label``, ``count``,
        ``share``.
    agreement
        One row per group: ``respondents``, ``agree`` (at or above ``agree_from``),
        ``share`` with ``ci_low`` and ``ci_high`` (Wilson), ``disagree`` and
        ``disagree_share`` (at or below the mirror level, ``lo + hi - agree_from``), and
        disclosure control (:mod:`evalkit.evidence.disclosure`): ``hidden`` (the share agreeing
        would give a small count away), ``disagree_hidden`` (likewise disagreeing),
        ``levels_hidden`` (some level's count, or the rest of the group, is small: the
        group's five-level distribution would give it away) and ``collapsed_hidden``
        (disagreeing, neutral or agreeing is a small count: even the three-way split, or
        the shares agreeing and disagreeing together, would give it away).
        ``distribution`` has ``hidden`` (``levels_hidden``) per group too.
    scale, agree_from, by, labels
        The declared scale, the agreement threshold, the grouping columns and the level
        labels.
    """

    distribution: pd.DataFrame
    agreement: pd.DataFrame
    scale: tuple[int, int]
    agree_from: int
    by: tuple[str, ...]
    labels: Mapping[int, str]
    conf_level: float = 0.95
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """The share agreeing per group, as plain text."""
        a = self.agreement.copy()
        a["agreeing"] = [f"{s:.0%} ({lo:.0%} to {hi:.0%})" if not h else "*" for s, lo, hi, h
                         in zip(a["share"], a["ci_low"], a["ci_high"], a["hidden"],
                                strict=True)]
        lines = [f"Share agreeing ({self.agree_from} or above on {self.scale[0]} to "
                 f"{self.scale[1]}), with {self.conf_level:.0%} Wilson intervals:",
                 a[[*self.by, "respondents", "agreeing"]].to_string(index=False)]
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The agreement table (a copy)."""
        return self.agreement.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """``distribution`` and ``agreement`` (copies)."""
        return {"distribution": self.distribution.copy(), "agreement": self.agreement.copy()}


@takes_frame
def likert_summary(survey: pd.DataFrame, *, scale: tuple[int, int] = (1, 5),
                   agree_from: int = 4, by: Sequence[str] = ("item", "wave"),
                   response: str = "response", labels: Mapping[int, str] | None = None,
                   conf_level: float = 0.95, file: str | None = None,
                   disclosure: DisclosureRules | None = None) -> LikertSummary:
    """Counts and shares at each level, and the share agreeing, by item and wave.

    Parameters
    ----------
    survey
        One row per respondent and item, with the ``by`` columns and ``response``.
    scale
        The lowest and highest levels (whole numbers).
    agree_from
        Responses at or above this level count as agreeing.
    by
        Grouping columns.
    response
        The response column.
    labels
        Level -> label (default: the five agreement labels for a 1-5 scale).
    conf_level
        Level of the Wilson intervals.
    file
        The file to name in errors.
    disclosure
        The disclosure-control rules that mark what may be published (default: NHS HES
        small numbers; see :class:`LikertSummary`).

    Returns
    -------
    LikertSummary

    Raises
    ------
    DataError
        Missing columns, a response outside the scale, a blank grouping value (e.g. wave).

    Examples
    --------
    >>> import pandas as pd
    >>> sv = pd.DataFrame({"item": "aims", "wave": ["before"] * 4 + ["after"] * 4,
    ...                    "response": [1, 2, 4, 5, 4, 4, 5, 3]})
    >>> likert_summary(sv).agreement[["wave", "share"]].values.tolist()
    [['after', 0.75], ['before', 0.5]]
    """
    lo, hi = _check_scale(scale, agree_from)
    check_conf_level(conf_level)
    by = (by,) if isinstance(by, str) else tuple(by)
    need_columns(survey, {**{c: "grouping" for c in by}, response: "response"}, file=file,
                 table="survey")
    _no_blanks(survey, by, file=file)
    values, answered = _responses(survey, response, (lo, hi), file=file)
    warns = []
    if not answered.all():
        warns.append(f"{int((~answered).sum())} blank response(s) were left out")
    levels = np.arange(lo, hi + 1)
    sub = survey.loc[answered, list(by)].assign(level=values[answered].astype(int))
    counts = (sub.groupby([*by, "level"], sort=True).size()
              .unstack("level", fill_value=0).reindex(columns=levels, fill_value=0))
    n = counts.sum(axis=1)
    dist = counts.stack().rename("count").reset_index()
    dist["share"] = dist["count"] / n.reindex(pd.MultiIndex.from_frame(dist[list(by)])
                                               if len(by) > 1 else dist[by[0]]).to_numpy()
    lab = {**_default_labels((lo, hi)), **dict(labels or {})}
    dist.insert(len(by) + 1, "label", dist["level"].map(lab))
    agree = counts.loc[:, levels >= agree_from].sum(axis=1)
    disagree = counts.loc[:, levels <= lo + hi - agree_from].sum(axis=1)
    ci_lo, ci_hi = _wilson(agree.to_numpy(), n.to_numpy(), conf_level)
    # disclosure control: a level (or the rest of its group) that is a small count hides
    # the group's distribution; the shares agreeing and disagreeing are hidden on their own
    rules = disclosure or DisclosureRules()
    nn = n.to_numpy()[:, None]
    levels_hidden = share_hidden(counts.to_numpy(), np.broadcast_to(nn, counts.shape),
                                 rules).reshape(counts.shape).any(axis=1)
    dist["hidden"] = pd.Series(levels_hidden, index=counts.index).reindex(
        pd.MultiIndex.from_frame(dist[list(by)]) if len(by) > 1 else dist[by[0]]).to_numpy()
    agreement = pd.DataFrame({"respondents": n, "agree": agree, "share": agree / n,
                              "ci_low": ci_lo, "ci_high": ci_hi, "disagree": disagree,
                              "disagree_share": disagree / n,
                              "hidden": share_hidden(agree.to_numpy(), n.to_numpy(), rules),
                              "disagree_hidden": share_hidden(disagree.to_numpy(),
                                                              n.to_numpy(), rules),
                              "levels_hidden": levels_hidden,
                              "collapsed_hidden": (small_counts(agree.to_numpy(), rules)
                                                   | small_counts(disagree.to_numpy(), rules)
                                                   | small_counts((n - agree - disagree)
                                                                  .to_numpy(), rules))
                              }).reset_index()
    return LikertSummary(distribution=dist, agreement=agreement, scale=(lo, hi),
                         agree_from=int(agree_from), by=by, labels=lab,
                         conf_level=conf_level, warnings=tuple(warns))


# --------------------------------------------------------------------------- change


def _covariate_matrix(data: pd.DataFrame, covariates: Sequence[str], *, file: str | None
                      ) -> pd.DataFrame:
    """Numeric covariates as they are; others as 0/1 indicators (first level left out)."""
    parts = []
    for c in covariates:
        col = data[c]
        blank = col.isna().to_numpy()
        if blank.any():
            raise DataError(f"covariate '{c}' is blank", file=file, column=c,
                            rows=[int(r) + 2 for r in np.flatnonzero(blank)],
                            fix="fill it in or drop those respondents")
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            parts.append(col.astype(float).rename(c))
        else:
            d = pd.get_dummies(col.astype(str), prefix=c, prefix_sep="=", drop_first=True,
                               dtype=float)
            parts.append(d)
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=data.index)


@takes_frame
def likert_change(survey: pd.DataFrame, *, item: str, wave: str = "wave",
                  before: Any = "before", after: Any = "after",
                  covariates: Sequence[str] | None = None, response: str = "response",
                  item_column: str = "item", respondent: str = "respondent",
                  scale: tuple[int, int] = (1, 5), conf_level: float = 0.95,
                  scheme: str | None = None, file: str | None = None) -> DesignResult:
    """Change in one Likert item between waves: a proportional-odds odds ratio.

    Fits ``logit P(response > j) = x' b - c_j`` (statsmodels ``OrderedModel``,
    ``distr="logit"``, Newton's method) with ``x`` the after-wave indicator and any
    covariates. The odds ratio ``exp(b_after)`` above 1 means responses moved up the
    scale (e.g. towards agreeing). Waves are treated as independent samples of staff.

    Parameters
    ----------
    survey
        The survey table (see the module notes).
    item
        The item (statement) to compare.
    wave, before, after
        The wave column and its before and after values; rows of other waves are left
        out, with a warning.
    covariates
        Columns to adjust for (e.g. ``["profession"]``); text columns become indicators.
    response, item_column, respondent
        Column names (``respondent`` only for the check of repeated respondents).
    scale
        The declared scale.
    conf_level
        Level of the interval.
    scheme
        The scheme's name, for the effect record.
    file
        The file to name in errors.

    Returns
    -------
    DesignResult
        Design ``likert_change``; one effect record (domain ``engagement``, estimand
        ``proportional_odds_ratio``, scale ``ratio``, Maryland level 1: a before/after
        comparison with no comparison group). Frames ``coefficients`` (every term's
        coefficient, SE, odds ratio, interval and p-value), ``thresholds`` (cut-points)
        and ``distribution`` (share at each level by wave).

    Raises
    ------
    DataError
        A missing item or column, a response off the scale, a blank wave, a wave with
        no responses to the item.
    DesignError
        A model that cannot be fitted (e.g. a covariate that never varies).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> sv = pd.DataFrame({"respondent": [f"R{i}" for i in range(200)], "item": "aims",
    ...                    "wave": np.repeat(["before", "after"], 100),
    ...                    "response": np.r_[rng.integers(1, 5, 100),
    ...                                      rng.integers(2, 6, 100)]})
    >>> res = likert_change(sv, item="aims")
    >>> bool(res.effects["estimate"].iloc[0] > 1)
    True
    """
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    lo, hi = _check_scale(scale)
    check_conf_level(conf_level)
    covariates = list(covariates or [])
    need_columns(survey, {item_column: "item", wave: "wave", response: "response",
                          **{c: "covariate" for c in covariates}}, file=file, table="survey")
    items = pd.unique(survey[item_column].astype(str))
    if str(item) not in items:
        guess = nearest(str(item), items)
        raise DataError(f"no responses to item '{item}'", file=file, column=item_column,
                        fix=(f"did you mean '{guess}'? " if guess else "")
                        + f"items present: {', '.join(sorted(items)[:10])}")
    rows = np.flatnonzero((survey[item_column].astype(str) == str(item)).to_numpy())
    sub = survey.iloc[rows]
    blank = sub[wave].isna().to_numpy()
    if blank.any():
        raise DataError("the wave is blank", file=file, column=wave,
                        rows=[int(r) + 2 for r in rows[blank]],
                        fix=f"give every response its wave ({before!r} or {after!r})")
    present = sorted(map(str, pd.unique(sub[wave])))
    for label, value in (("before", before), ("after", after)):
        if not (sub[wave] == value).any():
            raise DataError(f"no '{value}' ({label}) responses to item '{item}'", file=file,
                            column=wave, fix=f"waves present: {', '.join(present)}; pass "
                                             f"{label}= one of them, or add that wave")
    values, answered = _responses(sub, response, (lo, hi), file=None)
    warns = []
    in_waves = sub[wave].isin([before, after]).to_numpy()
    if (~in_waves).any():
        warns.append(f"{int((~in_waves).sum())} response(s) from other waves were left out")
    if (~answered & in_waves).any():
        warns.append(f"{int((~answered & in_waves).sum())} blank response(s) were left out")
    keep = answered & in_waves
    data = sub.loc[keep].reset_index(drop=True)
    y = values[keep].astype(int)
    post = (data[wave] == after).to_numpy(dtype=float)
    for label, mask in (("before", post == 0), ("after", post == 1)):
        if not mask.any():
            raise DataError(f"every {label} response to item '{item}' is blank", file=file,
                            column=response, fix="the comparison needs answers in both waves")
    if respondent in data.columns:
        both = set(data.loc[post == 0, respondent]) & set(data.loc[post == 1, respondent])
        if both:
            warns.append(f"{len(both)} respondent(s) answered in both waves; the model treats "
                         "the waves as independent samples, so its interval is too wide or "
                         "narrow for a paired design")
    X = pd.concat([pd.Series(post, name="after"),
                   _covariate_matrix(data, covariates, file=file)], axis=1)
    constant = [c for c in X.columns[1:] if X[c].nunique() < 2]
    if constant:
        raise DesignError(f"covariate term(s) {', '.join(constant)} do not vary among these "
                          "responses", fix="drop them from covariates")
    observed = np.unique(y)
    if observed.size < 2:
        raise DataError(f"every response to item '{item}' is {observed[0]}", file=file,
                        column=response, fix="an ordinal model needs at least two levels")
    if observed.size < hi - lo + 1:
        missing = sorted(set(range(lo, hi + 1)) - set(observed.tolist()))
        warns.append(f"level(s) {', '.join(map(str, missing))} were never chosen; the model "
                     "uses the observed levels only")
    model = OrderedModel(y, X, distr="logit")
    fit = _fit_ordered(model)
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    k = X.shape[1]
    b, se, p = (np.asarray(v)[:k] for v in (fit.params, fit.bse, fit.pvalues))
    coefs = pd.DataFrame({"term": list(X.columns), "coef": b, "se": se,
                          "odds_ratio": np.exp(b), "ci_low": np.exp(b - z * se),
                          "ci_high": np.exp(b + z * se), "p_value": p})
    cuts = model.transform_threshold_params(np.asarray(fit.params))[1:-1]
    thresholds = pd.DataFrame({"between": [f"{a}|{c}" for a, c in
                                           zip(observed[:-1], observed[1:], strict=True)],
                               "cut": cuts})
    dist = (pd.crosstab(data[wave], y, normalize="index").rename_axis(columns="level")
            .stack().rename("share").reset_index())
    diag = {"n_before": int((post == 0).sum()), "n_after": int((post == 1).sum()),
            "converged": bool(fit.mle_retvals.get("converged", True)),
            "log_likelihood": float(fit.llf), "covariates": covariates,
            "levels": observed.tolist(), "model": "proportional odds (ordered logit)",
            "interpretation": "odds of a higher response after vs before"}
    if not diag["converged"]:
        warns.append("the ordinal model did not converge; treat the estimate with caution")
    rec = EffectRecord(outcome=str(item), design="likert_change",
                       estimand="proportional_odds_ratio", scale="ratio",
                       estimate=float(np.exp(b[0])), se=float(se[0]),
                       ci_low=float(np.exp(b[0] - z * se[0])),
                       ci_high=float(np.exp(b[0] + z * se[0])), conf_level=conf_level,
                       p_value=float(p[0]), n_units=len(y), pre_periods=1, post_periods=1,
                       evidence_level=maryland_level("likert_change", "proportional_odds_ratio"),
                       scheme=scheme, domain="engagement",
                       diagnostics=diag, warnings=tuple(warns))
    return DesignResult(design="likert_change", effects=effects_frame([rec]),
                        diagnostics=diag, warnings=tuple(warns),
                        options={"item": item, "wave": wave, "before": before, "after": after,
                                 "covariates": covariates, "scale": (lo, hi),
                                 "conf_level": conf_level},
                        frames={"coefficients": coefs, "thresholds": thresholds,
                                "distribution": dist})


def _fit_ordered(model):
    """Newton's method (exact Hessian, converges in a few steps); BFGS if it fails."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", ConvergenceWarning)
        _warnings.simplefilter("ignore", RuntimeWarning)
        try:
            fit = model.fit(method="newton", maxiter=200, disp=False)
            if fit.mle_retvals.get("converged") and np.all(np.isfinite(fit.bse)):
                return fit
        except (np.linalg.LinAlgError, ValueError):
            pass
        try:
            return model.fit(method="bfgs", maxiter=5000, gtol=1e-8, disp=False)
        except (np.linalg.LinAlgError, ValueError) as err:
            raise DesignError(f"the ordinal model cannot be fitted ({err})",
                              fix="check for covariates that separate the responses, or "
                                  "fit without covariates") from None


# --------------------------------------------------------------------------- alpha


@dataclass(frozen=True)
class ReliabilityResult:
    """Cronbach's alpha per wave.

    Attributes
    ----------
    table
        One row per wave (or ``"all"``): ``alpha``, ``ci_low``, ``ci_high`` (Feldt),
        ``respondents`` (complete answers), ``items``, ``dropped`` (respondents missing
        an item), ``conf_level``.
    items
        The items in the scale (reversed ones marked in ``reversed``).
    """

    table: pd.DataFrame
    items: tuple[str, ...]
    reversed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """Alpha with its interval per wave, as plain text."""
        lines = [f"Cronbach's alpha of {len(self.items)} items "
                 f"({', '.join(self.items)}), Feldt intervals:"]
        for _, r in self.table.iterrows():
            lines.append(f"  {r['wave']}: {r['alpha']:.3f} ({r['ci_low']:.3f} to "
                         f"{r['ci_high']:.3f}), {int(r['respondents'])} respondents")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The table (a copy)."""
        return self.table.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """``alpha``: the table (a copy)."""
        return {"alpha": self.table.copy()}


def feldt_interval(alpha, n, k, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Feldt's (1965) interval for Cronbach's alpha from ``n`` respondents and ``k`` items."""
    alpha, n = np.asarray(alpha, float), np.asarray(n, float)
    g = 1 - conf_level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    with np.errstate(invalid="ignore"):
        lower = 1 - (1 - alpha) * stats.f.ppf(1 - g / 2, df1, df2)
        upper = 1 - (1 - alpha) * stats.f.ppf(g / 2, df1, df2)
    return lower, upper


@takes_frame
def cronbach_alpha(survey: pd.DataFrame, *, items: Sequence[str],
                   respondent: str = "respondent", wave: str | None = None,
                   item_column: str = "item", response: str = "response",
                   scale: tuple[int, int] = (1, 5), reverse: Sequence[str] = (),
                   conf_level: float = 0.95, file: str | None = None) -> ReliabilityResult:
    """Cronbach's alpha of a set of items, with Feldt's interval, per wave.

    Parameters
    ----------
    survey
        The survey table (long: one row per respondent and item).
    items
        The items that form the scale (at least two).
    respondent
        The respondent column.
    wave
        The wave column, for one alpha per wave; None for one alpha over all rows.
    item_column, response
        Column names.
    scale
        The declared scale.
    reverse
        Items scored in the opposite direction, recoded as ``lo + hi - response``.
    conf_level
        Level of the interval.
    file
        The file to name in errors.

    Returns
    -------
    ReliabilityResult

    Raises
    ------
    DataError
        Missing columns or items, responses off the scale, a blank wave, two answers by
        one respondent to one item (in one wave), fewer than two complete respondents.
    DesignError
        Fewer than two items, reversed items not in ``items``.

    Examples
    --------
    >>> import pandas as pd
    >>> sv = pd.DataFrame({"respondent": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                    "item": ["a", "b"] * 4, "response": [1, 2, 2, 2, 4, 5, 5, 4]})
    >>> round(float(cronbach_alpha(sv, items=["a", "b"]).table["alpha"].iloc[0]), 3)
    0.911
    """
    lo, hi = _check_scale(scale)
    check_conf_level(conf_level)
    items = [str(i) for i in items]
    if len(set(items)) < 2:
        raise DesignError("Cronbach's alpha needs at least two different items",
                          fix="list the items that make up the scale")
    reverse = [str(r) for r in reverse]
    if set(reverse) - set(items):
        raise DesignError(f"reverse names items not in items: "
                          f"{', '.join(sorted(set(reverse) - set(items)))}",
                          fix="list reversed items among items")
    cols = {respondent: "respondent", item_column: "item", response: "response"}
    if wave is not None:
        cols[wave] = "wave"
    need_columns(survey, cols, file=file, table="survey")
    present = set(survey[item_column].astype(str))
    absent = [i for i in items if i not in present]
    if absent:
        raise DataError(f"no responses to item(s) {', '.join(absent)}", file=file,
                        column=item_column,
                        fix=f"items present: {', '.join(sorted(present)[:10])}")
    rows = np.flatnonzero(survey[item_column].astype(str).isin(items).to_numpy())
    sub = survey.iloc[rows]
    if wave is not None:
        blank = sub[wave].isna().to_numpy()
        if blank.any():
            raise DataError("the wave is blank", file=file, column=wave,
                            rows=[int(r) + 2 for r in rows[blank]],
                            fix="give every response its wave")
    values, answered = _responses(sub, response, (lo, hi), file=None)
    item_of = sub[item_column].astype(str).to_numpy()
    values = np.where(np.isin(item_of, reverse), lo + hi - values, values)
    keys = [wave, respondent] if wave is not None else [respondent]
    long = sub[keys].assign(_item=item_of, _value=values).loc[answered]
    dup = long.duplicated([*keys, "_item"], keep=False).to_numpy()
    if dup.any():
        raise DataError("a respondent answered an item more than once", file=file,
                        column=respondent,
                        rows=[int(r) + 2 for r in rows[np.flatnonzero(answered)[dup]]],
                        fix="keep one answer per respondent and item"
                            + (" in each wave" if wave else ""))
    wide = long.pivot(index=keys, columns="_item", values="_value").reindex(columns=items)
    complete = wide.notna().all(axis=1)
    warns = []
    group = wide.index.get_level_values(0) if wave is not None else np.repeat("all", len(wide))
    dropped = pd.Series(~complete.to_numpy(), index=group).groupby(level=0).sum()
    if dropped.sum():
        warns.append(f"{int(dropped.sum())} respondent(s) missing an item were left out "
                     "(complete answers only)")
    full = wide[complete.to_numpy()]
    g_full = pd.Index(np.asarray(group)[complete.to_numpy()], name="wave")
    k = len(items)
    item_var = full.groupby(g_full).var(ddof=1)
    total_var = full.sum(axis=1).groupby(g_full).var(ddof=1)
    n = full.groupby(g_full).size()
    too_few = n.index[n < 2].tolist()
    if too_few or len(n) == 0:
        raise DataError(f"fewer than two respondents answered every item in wave(s) "
                        f"{', '.join(map(str, too_few)) or 'all'}", file=file,
                        column=respondent, fix="alpha needs complete answers from several "
                                               "respondents")
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = k / (k - 1) * (1 - item_var.sum(axis=1) / total_var)
    ci_lo, ci_hi = feldt_interval(alpha.to_numpy(), n.to_numpy(), k, conf_level)
    table = pd.DataFrame({"wave": alpha.index.astype(str), "alpha": alpha.to_numpy(),
                          "ci_low": ci_lo, "ci_high": ci_hi, "respondents": n.to_numpy(),
                          "items": k,
                          "dropped": dropped.reindex(alpha.index, fill_value=0).to_numpy(),
                          "conf_level": conf_level})
    if (total_var == 0).any():
        warns.append("every respondent gave the same total in some wave; alpha is undefined")
    return ReliabilityResult(table=table, items=tuple(items), reversed=tuple(reverse),
                             warnings=tuple(warns),
                             options={"wave": wave, "scale": (lo, hi),
                                      "conf_level": conf_level})
