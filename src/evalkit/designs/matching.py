"""Matched and weighted comparison groups, then a difference-in-differences on them.

This is the design the Improvement Analytics Unit (Health Foundation and NHS England)
uses to evaluate schemes that enrol patients or practices: build a comparison group
that resembles the enrolled units before enrolment, check that it does (balance), then
compare changes in outcomes (a difference-in-differences on the matched cohort).

Steps
-----
1. **Propensity model.** A logistic regression of the 0/1 ``treated`` column on an
   intercept, the numeric covariates as they are (booleans as 0/1) and, for each
   categorical (text) covariate, a 0/1 dummy for every level but the first in sorted
   order. It is fitted by Newton-Raphson (iteratively reweighted least squares) on
   internally standardised columns and equals ``statsmodels`` ``Logit`` (Rosenbaum and
   Rubin, 1983). Perfect separation, collinear or constant covariates are refused.
2. **Matching or weighting** for the average treatment effect on the treated (ATT):

   - ``"nearest"``: greedy nearest-neighbour matching on the distance ``"logit"`` (the
     linear predictor, i.e. the log-odds of the propensity score, as recommended by
     Austin, 2011; the default) or ``"ps"`` (the propensity score itself, MatchIt's
     default ``distance = "glm"``). Treated units are matched in descending order of
     the propensity score (MatchIt's ``m.order = "largest"``), each to the closest
     control still available (without replacement) or to the closest controls overall
     (with replacement). With ``ratio`` k > 1 every treated unit gets its first match
     before any gets a second, as in MatchIt. Ties in distance go to the control that
     comes first in the data. A ``caliper`` is in standard deviations of the distance
     measure (on the scale chosen by ``distance``; the SD over all units, as MatchIt's
     ``std.caliper = TRUE``); a treated unit whose nearest available control is
     further away stays unmatched. ``exact`` variables restrict matches to units with
     the same values of all of them. The search uses a sorted array of the controls'
     scores (``searchsorted`` plus a union-find of removed controls), never a distance
     matrix: 100,000 controls by 5,000 treated take a fraction of a second.
   - ``"ipw"``: inverse probability weights for the ATT (treated 1, controls
     ``ps / (1 - ps)``), optionally truncated at a quantile (``trim``), then normalised
     within each group to sum to the group's size.
   - ``"entropy"``: entropy balancing (Hainmueller, 2012). Control weights as close as
     possible (in Kullback-Leibler divergence) to uniform, subject to the weighted
     control means of the covariates (and, with ``moments=2``, of their squares)
     equalling the treated means exactly. The convex dual is solved by Newton's method
     with a backtracking line search; failure to converge is an error, never a
     silently imperfect answer. Control weights sum to the number of controls.

3. **Balance.** Standardised mean differences (SMD) before and after, with MatchIt's
   conventions for the ATT (``s.d.denom = "treated"``): the denominator is the standard
   deviation of the treated group *before* matching (n - 1 divisor; for a variable with
   two values, ``sqrt(p(1 - p))`` of the treated), the same denominator before and after.
   Weighted means and variances use the matching weights; weighted variances use the
   reliability-weights divisor ``sum(w) - sum(w^2)/sum(w)`` (n - 1 when all weights are
   equal). Balance is "ok" when every |SMD| after is at most 0.1 (Austin, 2011; Stuart,
   2010). Categorical covariates are shown one row per level.
4. **Outcomes** (:meth:`MatchResult.outcome`): weighted least squares of the outcome (or,
   for the difference-in-differences, of the change from the mean of the pre-period
   outcomes) on the treatment indicator, with the matching weights. The coefficient is
   the weighted difference in means. Its standard error is cluster-robust (CR1, the
   small-sample factor of :func:`evalkit.designs.cluster_se.cr1_factor`, as
   ``statsmodels``) clustered on matched pairs (subclasses) after matching without
   replacement, and on units (or the ``cluster`` column) after matching with replacement
   or weighting, as MatchIt's "Estimating effects" vignette recommends. The
   Abadie-Imbens (2006) standard error for matching with replacement is not
   implemented; these standard errors also treat the propensity score as known.
   Intervals use t with G - 1 degrees of freedom (G clusters).

Evidence level (:func:`evalkit.evidence.maryland.maryland_level`): a difference-in-differences on
the matched cohort (``att_did``) is level 4 when balance was achieved, else 3; a
comparison of post-period outcomes alone is level 2.

References
----------
Rosenbaum PR, Rubin DB (1983). The central role of the propensity score in observational
studies for causal effects. Biometrika 70:41-55.
Austin PC (2011). An introduction to propensity score methods for reducing the effects of
confounding in observational studies. Multivariate Behav Res 46:399-424.
Stuart EA (2010). Matching methods for causal inference: a review and a look forward.
Stat Sci 25:1-21.
Hainmueller J (2012). Entropy balancing for causal effects. Political Analysis 20:25-46.
Ho DE, Imai K, King G, Stuart EA (2011). MatchIt: nonparametric preprocessing for
parametric causal inference. J Stat Softw 42(8); MatchIt documentation and vignettes
"Getting started" and "Estimating effects after matching" (Greifer).
Abadie A, Imbens GW (2006). Large sample properties of matching estimators for average
treatment effects. Econometrica 74:235-267.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_choice, check_conf_level, check_whole
from evalkit.data.inputs import takes_frame
from evalkit.designs._cohort import _covariates, _missing_column, _rows, _treatment
from evalkit.designs.balance import _balance, _ess, _love, balance_table
from evalkit.designs.cluster_se import cluster_vcov
from evalkit.designs.propensity import PropensityModel, propensity_model
from evalkit.designs.weighting import _entropy_balance, _entropy_constraints, _ipw_weights
from evalkit.errors import DataError, DesignError, format_rows
from evalkit.evidence.e_value import e_values
from evalkit.evidence.maryland import maryland_level
from evalkit.naming import column_words
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["match", "matched", "MatchResult", "balance_table", "propensity_model",
           "PropensityModel", "BALANCE_THRESHOLD"]

DESIGN = "matched"
METHODS = ("nearest", "ipw", "entropy")
DISTANCES = ("logit", "ps")
ORDERS = ("largest", "smallest", "data", "random")
FAMILIES = ("gaussian", "binomial")
#: |SMD| at or below which a covariate counts as balanced (Austin, 2011).
BALANCE_THRESHOLD = 0.1
_SHOW_IDS = 20  # ids listed in warnings and diagnostics


# --------------------------------------------------------------------------- matching


def _nn_without(t_idx: np.ndarray, c_idx: np.ndarray, score: np.ndarray, ratio: int,
                width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy nearest-neighbour matching without replacement within one stratum.

    Treated units (``t_idx``, already in matching order) take, in turn, the closest
    control still available; with ``ratio`` > 1 in rounds (everyone's first match, then
    second...). Controls are held sorted by (score, position); removed controls are
    skipped with two union-find arrays (path halving), so each search costs about
    O(log n). Ties in distance go to the control that comes first in the data.

    Returns the treated and control positions of each pair and its distance.
    """
    order = np.lexsort((c_idx, score[c_idx]))
    cs = score[c_idx][order]
    cp = c_idx[order]
    m = len(cs)
    new_block = np.r_[True, cs[1:] != cs[:-1]]
    block_start = np.maximum.accumulate(np.where(new_block, np.arange(m), 0)).tolist()
    ts = score[t_idx]
    ins = np.searchsorted(cs, ts, side="left").tolist()
    ts, cs_l, cp_l = ts.tolist(), cs.tolist(), cp.tolist()
    right = list(range(m + 1))  # right[i]: towards the first available position >= i
    left = list(range(m + 1))   # left[i + 1]: towards the last available position <= i

    def find_right(i: int) -> int:
        while right[i] != i:
            right[i] = right[right[i]]
            i = right[i]
        return i

    def find_left(i: int) -> int:
        i += 1
        while left[i] != i:
            left[i] = left[left[i]]
            i = left[i]
        return i - 1

    out_t, out_c, out_d = [], [], []
    active = [True] * len(ts)
    t_list = t_idx.tolist()
    for _ in range(ratio):
        for k, x in enumerate(ts):
            if not active[k]:
                continue
            pos = ins[k]
            jr = find_right(pos)
            jl = find_left(pos - 1)
            if jl >= 0:  # the first available control among those tied with jl
                jl = find_right(block_start[jl])
            best, dist = -1, np.inf
            if jr < m:
                best, dist = jr, cs_l[jr] - x
            if jl >= 0:
                dl = x - cs_l[jl]
                if dl < dist or (dl == dist and cp_l[jl] < cp_l[best]):
                    best, dist = jl, dl
            if best < 0 or dist > width:
                active[k] = False
                continue
            right[best] = best + 1
            left[best + 1] = best
            out_t.append(t_list[k])
            out_c.append(cp_l[best])
            out_d.append(dist)
    return (np.array(out_t, dtype=np.int64), np.array(out_c, dtype=np.int64),
            np.array(out_d, dtype=float))


def _nn_with(t_idx: np.ndarray, c_idx: np.ndarray, score: np.ndarray, ratio: int,
             width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest-neighbour matching with replacement within one stratum, vectorised.

    Each treated unit takes its ``ratio`` closest controls. The k closest lie among the k
    nearest on each side of its score in the sorted controls; ties in distance go to the
    control that comes first in the data (the controls are sorted by (score, position)
    for the right side and (score, -position) for the left).
    """
    m = len(c_idx)
    k = min(ratio, m)
    sc = score[c_idx]
    oa = np.lexsort((c_idx, sc))
    ob = np.lexsort((-c_idx, sc))
    sa, pa, sb, pb = sc[oa], c_idx[oa], sc[ob], c_idx[ob]
    x = score[t_idx]
    ra = np.searchsorted(sa, x, side="left")[:, None] + np.arange(k)[None, :]
    lb = np.searchsorted(sb, x, side="left")[:, None] - 1 - np.arange(k)[None, :]
    ok_r, ok_l = ra < m, lb >= 0
    ra_c, lb_c = np.minimum(ra, m - 1), np.maximum(lb, 0)
    dist = np.concatenate([np.where(ok_r, sa[ra_c] - x[:, None], np.inf),
                           np.where(ok_l, x[:, None] - sb[lb_c], np.inf)], axis=1)
    pos = np.concatenate([np.where(ok_r, pa[ra_c], -1), np.where(ok_l, pb[lb_c], -1)],
                         axis=1)
    big = np.iinfo(np.int64).max
    key_pos = np.where(pos < 0, big, pos)
    row = np.repeat(np.arange(len(x)), 2 * k)
    order = np.lexsort((key_pos.ravel(), dist.ravel(), row)).reshape(len(x), 2 * k)[:, :k]
    d = dist.ravel()[order]
    c = pos.ravel()[order]
    keep = np.isfinite(d) & (d <= width)
    tt = np.broadcast_to(t_idx[:, None], d.shape)
    return tt[keep].astype(np.int64), c[keep].astype(np.int64), d[keep]


def _matching_order(t_pos: np.ndarray, ps: np.ndarray, m_order: str,
                    rng: np.random.Generator) -> np.ndarray:
    """Treated positions in the order they are matched."""
    if m_order == "largest":
        return t_pos[np.lexsort((t_pos, -ps[t_pos]))]
    if m_order == "smallest":
        return t_pos[np.lexsort((t_pos, ps[t_pos]))]
    if m_order == "random":
        return t_pos[rng.permutation(len(t_pos))]
    return t_pos


def _strata(data: pd.DataFrame, exact: Sequence[str], file: str | None) -> np.ndarray:
    """Stratum codes of the exact-matching variables (0 everywhere when none)."""
    if not exact:
        return np.zeros(len(data), dtype=np.int64)
    for e in exact:
        if e not in data.columns:
            raise _missing_column(data, e, "exact-matching", file)
        miss = data[e].isna().to_numpy()
        if miss.any():
            raise DataError(f"the exact-matching variable '{e}' has missing values",
                            file=file, column=e, rows=_rows(miss),
                            fix="fill them in or drop those rows before matching")
    codes = data[list(exact)].astype(str).agg("|".join, axis=1) if len(exact) > 1 \
        else data[exact[0]].astype(str)
    return pd.factorize(codes, sort=True)[0].astype(np.int64)


def _check_exact_strata(data: pd.DataFrame, exact: Sequence[str], strata: np.ndarray,
                        t: np.ndarray) -> None:
    """Refuse exact strata holding treated units but no controls, naming them."""
    has_t = np.bincount(strata, weights=t, minlength=strata.max() + 1) > 0
    has_c = np.bincount(strata, weights=~t, minlength=strata.max() + 1) > 0
    empty = np.flatnonzero(has_t & ~has_c)
    if empty.size:
        first = pd.Series(np.arange(len(strata))).groupby(strata).first()
        names = []
        for s in empty[:10]:
            row = data.iloc[int(first[s])]
            names.append("(" + ", ".join(f"{e}={row[e]}" for e in exact) + ")")
        n_t = int(np.isin(strata, empty)[t].sum())
        raise DesignError(f"exact matching: {len(empty)} stratum(s) with treated units have "
                          f"no comparison units: {'; '.join(names)} ({n_t} treated units)",
                          rows=_rows(np.isin(strata, empty) & t)[:50],
                          fix="coarsen or drop the exact-matching variables, or leave "
                              "those treated units out")


def _match_weights(n: int, t: np.ndarray, pt: np.ndarray, pc: np.ndarray) -> np.ndarray:
    """MatchIt's matching weights from the pairs.

    Matched treated units get 1. A control gets, summed over the treated units it is
    matched to, 1 / (that treated unit's number of controls); control weights are then
    scaled to sum to the number of distinct matched controls. Unmatched units get 0.
    """
    w = np.zeros(n)
    if pt.size == 0:
        return w
    per_t = np.bincount(pt, minlength=n).astype(float)
    w[pt] = 1.0
    raw = np.bincount(pc, weights=1.0 / per_t[pt], minlength=n)
    used = raw > 0
    w[used] = raw[used] * used.sum() / raw[used].sum()
    return w


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class MatchResult:
    """A matched or weighted comparison group and its balance.

    Attributes
    ----------
    method
        ``"nearest"``, ``"ipw"`` or ``"entropy"``.
    balance
        Balance table indexed by covariate (see :func:`balance_table`): ``smd_before``,
        ``smd_after``, ``variance_ratio`` (after), means, KS statistics.
    weights
        Series aligned to the input rows: treated 1 (0 if unmatched), matched controls
        their matching weight (MatchIt's: with replacement a control matched k times
        counts k times, scaled so control weights sum to the number of distinct matched
        controls), unmatched controls 0. For ``ipw``/``entropy`` the balancing weights
        (control weights sum to the number of controls).
    pscore
        Propensity score of every row (NaN for ``entropy`` when the logistic model
        cannot be fitted).
    ess
        Kish effective sample sizes ``{"treated": ..., "control": ...}``.
    matched_pairs
        For ``nearest``: one row per treated-control pair with ``treated`` and
        ``control`` (index labels), ``treated_id`` and ``control_id`` (when ``unit`` is
        given), ``subclass`` (pair/set id, shared by a treated unit and its controls,
        numbered in matching order) and ``distance`` (on the ``distance`` scale); None
        for weighting.
    subclass
        Series of subclass ids (matching without replacement; NaN elsewhere), or None.
    warnings
        Plain-language warnings.
    diagnostics
        Dict: ``method``, ``estimand``, ``distance``, ``n_treated``, ``n_control``,
        ``n_matched_treated``, ``n_unmatched_treated``, ``unmatched_treated_ids`` (the
        first 20, by ``unit`` or index label), ``n_controls_used``,
        ``max_abs_smd_after``, ``balance_ok`` (every |SMD| after <= 0.1),
        ``imbalanced_covariates``, ``ess_treated``, ``ess_control``, ``ess``,
        ``caliper``, ``caliper_width``, ``replace``, ``ratio``, ``exact``, ``m_order``,
        ``n_outside_support``, ``propensity_model``; for ``ipw`` ``trim`` and
        ``n_trimmed``; for ``entropy`` ``moments``, ``entropy_iterations``,
        ``entropy_constraints`` and ``entropy_dropped_constraints``.
    love
        Long frame for the Love plot: ``covariate``, ``stage`` (before/after), ``smd``.
    unmatched
        Index labels of treated units left unmatched.
    """

    method: str
    balance: pd.DataFrame
    weights: pd.Series
    pscore: pd.Series
    ess: dict[str, float]
    matched_pairs: pd.DataFrame | None
    subclass: pd.Series | None
    warnings: tuple[str, ...]
    diagnostics: dict[str, Any]
    love: pd.DataFrame
    unmatched: pd.Index
    data: pd.DataFrame = field(repr=False)
    treated: str = ""
    file: str | None = None

    def __repr__(self) -> str:
        d = self.diagnostics
        return (f"<MatchResult {self.method}: {d['n_matched_treated']} of {d['n_treated']} "
                f"treated, {d['n_controls_used']} controls, max |SMD| after "
                f"{d['max_abs_smd_after']:.3f}>")

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The frames a figure of the match draws (copies).

        Returns
        -------
        dict of DataFrame
            ``love``: ``covariate``, ``stage`` (before/after), ``smd`` (the Love plot);
            ``balance``: the balance table with ``covariate`` as a column; ``pscore``: one
            row per input row with ``treated`` (0/1), ``pscore`` and ``weight`` (the
            propensity-score overlap before and after matching or weighting).
        """
        treated = (pd.to_numeric(self.data[self.treated], errors="coerce").astype(float)
                   if self.treated in self.data.columns
                   else pd.Series(np.nan, index=self.data.index))
        overlap = pd.DataFrame({"treated": treated.to_numpy(),
                                "pscore": self.pscore.to_numpy(),
                                "weight": self.weights.to_numpy()}, index=self.data.index)
        return {"love": self.love.copy(), "balance": self.balance.reset_index(),
                "pscore": overlap}

    def outcome(self, outcome: str, *, pre: str | Sequence[str] | None = None,
                family: str = "gaussian", cluster: str | None = None,
                conf_level: float = 0.95, scheme: str | None = None,
                domain: str = "outcome") -> DesignResult:
        """Estimate the effect on an outcome in the matched or weighted sample.

        Parameters
        ----------
        outcome
            The post-period outcome column.
        pre
            Pre-period outcome column(s). When given, the headline estimand is
            ``att_did``: the weighted difference between groups in the change from the
            baseline (the mean of the ``pre`` columns) to ``outcome``. The post-only
            difference is reported too.
        family
            ``"gaussian"`` or ``"binomial"`` (a 0/1 outcome; the estimand is then a
            difference in proportions, estimated by the same linear model). A 0/1
            outcome is recognised as binary either way.
        cluster
            Cluster column for the standard errors (e.g. practice). By default: matched
            pairs (subclasses) after matching without replacement; units otherwise.
        conf_level
            Confidence level.
        scheme, domain
            Labels for the effect records.

        Returns
        -------
        DesignResult
            Design ``"matched"``. Effects: ``att_did`` (with ``pre``; 1 pre and 1 post
            period), and ``difference_in_means`` or ``difference_in_proportions`` (0 pre,
            1 post). Frames ``balance`` (with a ``covariate`` column) and ``love``.
            Diagnostics: the matching diagnostics plus ``se``, ``clusters``,
            ``observations``, ``outcome_type`` and, for the DiD, ``pre_difference``
            (weighted treated minus comparison baseline), ``pre_difference_se`` and
            ``group_means`` (weighted means of the baseline and the outcome by group:
            ``treated_pre``, ``treated_post``, ``comparison_pre``, ``comparison_post``).
        """
        check_choice("family", family, FAMILIES)
        check_conf_level(conf_level)
        data, file = self.data, self.file
        w_all = self.weights.to_numpy(dtype=float)
        use = w_all > 0
        t = _treatment(data, self.treated, file)[use]
        w = w_all[use]
        y, binary = _outcome_values(data, outcome, use, file, family)
        pre_cols = [pre] if isinstance(pre, str) else list(pre or [])
        base = None
        if pre_cols:
            base = np.column_stack([_outcome_values(data, p, use, file, "gaussian")[0]
                                    for p in pre_cols]).mean(1)
        clusters, se_text = self._clusters(cluster, use)
        diag = dict(self.diagnostics)
        diag.update({"clusters": int(clusters.max() + 1), "observations": int(use.sum()),
                     "outcome_type": "binary" if binary else "continuous", "se": se_text,
                     "pre_outcomes": pre_cols})
        warns = list(self.warnings)
        if len(pre_cols) >= 2:  # the pre-period trajectory, as enrolled (before matching)
            diag.update(_selection(data, self.treated, pre_cols, file))
        records = []
        post_name = "difference_in_proportions" if binary else "difference_in_means"
        fits = []
        if base is not None:
            b_pre, se_pre, _ = _wls_diff(base, t, w, clusters)
            diag.update({"pre_difference": b_pre, "pre_difference_se": se_pre})
            # Weighted group means before and after: the uncontrolled before/after of the
            # treated, and the change the comparison group shows without the scheme.
            diag["group_means"] = {
                f"{g}_{when}": float(np.average(v[m], weights=w[m]))
                for g, m in (("treated", t), ("comparison", ~t))
                for when, v in (("pre", base), ("post", y))}
            gm = diag["group_means"]
            gm.update({f"{g}_change": gm[f"{g}_post"] - gm[f"{g}_pre"]
                       for g in ("treated", "comparison")})
            if se_pre > 0 and abs(b_pre) > 1.96 * se_pre:
                warns.append(f"After {self.method} the groups still differ at baseline (mean "
                             f"of {', '.join(pre_cols)}: treated minus comparison {b_pre:.3g}, "
                             f"SE {se_pre:.2g}). The difference-in-differences removes a fixed "
                             "difference but over-corrects if part of it is transient "
                             "(regression to the mean); the post-only comparison ignores it.")
            fits.append(("att_did", y - base, 1))
        fits.append((post_name, y, 0))
        for estimand, dep, n_pre in fits:
            b, se, G = _wls_diff(dep, t, w, clusters)
            q = stats.t.ppf(0.5 + conf_level / 2, G - 1)
            p = float(2 * stats.t.sf(abs(b) / se, G - 1)) if se > 0 else np.nan
            level = maryland_level(DESIGN, estimand, diag)
            e, e_ci = e_values(b, b - q * se, b + q * se, scale="difference",
                               sd=float(np.std(y, ddof=1)))
            records.append(EffectRecord(
                scheme=scheme, domain=domain, outcome=outcome, design=DESIGN,
                estimand=estimand, scale="difference", estimate=b, se=se,
                ci_low=b - q * se, ci_high=b + q * se, conf_level=float(conf_level),
                p_value=p, n_units=int(use.sum()), pre_periods=n_pre, post_periods=1,
                evidence_level=level, diagnostics={**diag, "e_value": e, "e_value_ci": e_ci},
                warnings=tuple(warns)))
        frames = {"balance": self.balance.reset_index(), "love": self.love.copy()}
        options = {"outcome": outcome, "pre": pre_cols or None, "family": family,
                   "cluster": cluster, "conf_level": conf_level, "method": self.method}
        return DesignResult(design=DESIGN, effects=effects_frame(records), diagnostics=diag,
                            warnings=tuple(warns), options=options, frames=frames)

    def _clusters(self, cluster: str | None, use: np.ndarray) -> tuple[np.ndarray, str]:
        """Cluster codes of the rows used, and how they were chosen."""
        if cluster is not None:
            if cluster not in self.data.columns:
                raise _missing_column(self.data, cluster, "cluster", self.file)
            col = self.data[cluster]
            miss = col.isna().to_numpy() & use
            if miss.any():
                raise DataError("the cluster column has missing values", file=self.file,
                                column=cluster, rows=_rows(miss),
                                fix="fill them in (every unit needs a cluster)")
            codes = pd.factorize(col[use])[0]
            return codes, f"cluster-robust (CR1) by '{cluster}'"
        if self.subclass is not None and not self.diagnostics.get("replace"):
            codes = pd.factorize(self.subclass.to_numpy()[use])[0]
            return codes, "cluster-robust (CR1) by matched pair/subclass"
        how = ("by unit (matching with replacement; Abadie-Imbens SEs are not implemented)"
               if self.method == "nearest" else "by unit (weighting)")
        return np.arange(int(use.sum())), f"cluster-robust (CR1) {how}"


def _selection(data: pd.DataFrame, treated: str, pre_cols: list[str], file: str | None
               ) -> dict[str, Any]:
    """The selection-at-a-peak check on the last two pre-period columns, enrolled against
    all others (:mod:`evalkit.evidence.selection`)."""
    from evalkit.evidence.selection import selection_at_peak

    t = _treatment(data, treated, file)
    v = np.concatenate([pd.to_numeric(data[c], errors="coerce").to_numpy(float)
                        for c in pre_cols[-2:]])
    n = len(data)
    chk = selection_at_peak(v, unit=np.tile(np.arange(n), 2), period=np.repeat([0, 1], n),
                            treated=np.tile(t, 2), start=2, window=1, reference=1,
                            scale="difference", label=lambda c: pre_cols[-2:][c])
    return {} if chk is None else chk.as_dict(f"{column_words(pre_cols[-1])} (before matching)")


def _outcome_values(data: pd.DataFrame, name: str, use: np.ndarray, file: str | None,
                    family: str) -> tuple[np.ndarray, bool]:
    """Numeric values of an outcome column on the rows used; refuses missing values."""
    if name not in data.columns:
        raise _missing_column(data, name, "outcome", file)
    num = pd.to_numeric(data[name], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(num) & use
    if bad.any():
        raise DataError(f"the outcome '{name}' is missing or not a number in rows of the "
                        "matched sample", file=file, column=name, rows=_rows(bad),
                        fix="fill them in, or drop those units before matching")
    y = num[use]
    binary = bool(np.isin(y, [0.0, 1.0]).all())
    if family == "binomial" and not binary:
        raise DataError(f"family='binomial' needs a 0/1 outcome; '{name}' has other values",
                        file=file, column=name, fix="use family='gaussian'")
    return y, binary


def _wls_diff(y: np.ndarray, t: np.ndarray, w: np.ndarray, clusters: np.ndarray
              ) -> tuple[float, float, int]:
    """Weighted least squares of ``y`` on (1, t): the coefficient on t, its CR1 SE and
    the number of clusters (as statsmodels WLS with cov_type='cluster')."""
    X = np.column_stack([np.ones(len(y)), t.astype(float)])
    sw = np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    beta = np.linalg.lstsq(Xw, yw, rcond=None)[0]
    resid = yw - Xw @ beta
    codes = pd.factorize(clusters)[0]
    G = int(codes.max()) + 1
    if G < 2:
        raise DesignError("only one cluster: no cluster-robust standard error",
                          fix="cluster on a finer level")
    V = cluster_vcov(Xw, resid, codes, dof=2)
    return float(beta[1]), float(np.sqrt(V[1, 1])), G


# --------------------------------------------------------------------------- match


def _check_options(method, distance, estimand, m_order, caliper, replace, ratio, exact,
                   trim, moments) -> None:
    check_choice("method", method, METHODS)
    check_choice("distance", distance, DISTANCES)
    check_choice("m_order", m_order, ORDERS)
    if estimand != "ATT":
        raise DesignError(f"estimand '{estimand}' is not available",
                          fix="use estimand='ATT' (the effect on the treated units); for "
                              "the effect on the comparison units swap the 0/1 coding")
    check_whole("ratio", ratio, 1)
    if caliper is not None and (isinstance(caliper, bool) or not float(caliper) > 0):
        raise DesignError(f"caliper must be a positive number of SDs, not {caliper!r}",
                          fix="use e.g. caliper=0.2 (0.2 SD of the logit, Austin 2011)")
    if moments not in (1, 2):
        raise DesignError(f"moments must be 1 or 2, not {moments!r}",
                          fix="moments=1 balances means; 2 also balances squares")
    if trim is not None and not 0.5 < float(trim) < 1:
        raise DesignError(f"trim must be a quantile between 0.5 and 1, not {trim!r}",
                          fix="use e.g. trim=0.99 to cap weights at their 99th percentile")
    if method != "nearest":
        used = [n for n, v in (("caliper", caliper), ("exact", exact)) if v]
        used += ["replace"] if replace else []
        used += ["ratio"] if ratio != 1 else []
        if used:
            verb = "applies" if len(used) == 1 else "apply"
            raise DesignError(f"{', '.join(used)} {verb} only to method='nearest'",
                              fix="drop them, or use method='nearest'"
                              + ("; entropy balancing equalises the means of covariates "
                                 "exactly, so add exact variables to the covariates" if
                                 "exact" in used else ""))
    if method == "nearest" and trim is not None:
        raise DesignError("trim only applies to method='ipw'", fix="drop trim")


@takes_frame
def match(data: pd.DataFrame, *, treated: str, covariates: Sequence[str],
          method: str = "nearest", caliper: float | None = None, replace: bool = False,
          exact: Sequence[str] | str | None = None, ratio: int = 1, distance: str = "logit",
          estimand: str = "ATT", m_order: str = "largest", trim: float | None = None,
          moments: int = 1, seed: int | None = None, unit: str | None = None,
          file: str | None = None) -> MatchResult:
    """Build a matched or weighted comparison group for the treated units (ATT).

    Parameters
    ----------
    data
        One row per unit (patient or practice).
    treated
        The 0/1 treatment column (1 = enrolled).
    covariates
        Characteristics to balance. Numeric and boolean columns enter the propensity
        model as they are; text columns as dummies for every level but the first.
    method
        ``"nearest"`` (greedy nearest-neighbour propensity matching), ``"ipw"`` (inverse
        probability of treatment weights for the ATT) or ``"entropy"`` (entropy
        balancing).
    caliper
        Nearest only: the largest allowed distance, in SDs of the distance measure (the
        SD over all units, on the ``distance`` scale). Treated units without a control
        this close are dropped (warning); none matched is an error.
    replace
        Nearest only: whether a control may be matched to several treated units.
    exact
        Nearest only: variables to match on exactly (matches only within strata).
    ratio
        Nearest only: controls per treated unit.
    distance
        ``"logit"`` (the propensity score's log-odds, the default) or ``"ps"`` (the
        propensity score, MatchIt's default). Both give the same matching order.
    estimand
        Only ``"ATT"``.
    m_order
        Order in which treated units are matched: ``"largest"`` propensity first
        (MatchIt's default), ``"smallest"``, ``"data"`` or ``"random"`` (uses ``seed``).
    trim
        IPW only: truncate control weights at this quantile (e.g. 0.99) before
        normalising (Lee, Lessler and Stuart, 2011, Stat Med 30:1260).
    moments
        Entropy only: 1 balances means; 2 also balances the squares of non-binary
        covariates.
    seed
        Seed for ``m_order="random"``; matching is otherwise deterministic.
    unit
        Optional column identifying units (e.g. ``patient_id``; one row each): used to
        name unmatched units in warnings and diagnostics, and added to
        ``matched_pairs`` as ``treated_id`` and ``control_id``. Index labels otherwise.
    file
        The data's file, for messages (defaults to ``data.attrs["source"]``).

    Returns
    -------
    MatchResult

    Raises
    ------
    DataError
        Treatment not 0/1, missing columns (with the nearest name), missing covariate
        values.
    DesignError
        No treated or no comparison units; perfect separation or collinearity in the
        propensity model; no treated unit with common support or within the caliper;
        exact strata without comparison units; entropy balancing not converging.

    Examples
    --------
    >>> from evalkit.synthetic.selection import simulate_selection
    >>> sim = simulate_selection(n=2000, seed=1)
    >>> m = match(sim.data, treated="enrolled", covariates=["age", "comorbidities"],
    ...           caliper=0.2)
    >>> m.diagnostics["method"]
    'nearest'
    """
    file = file or data.attrs.get("source")
    exact = [exact] if isinstance(exact, str) else list(exact or [])
    _check_options(method, distance, estimand, m_order, caliper, replace, ratio, exact,
                   trim, moments)
    t = _treatment(data, treated, file)
    cov = _covariates(data, covariates, file)
    labels = _unit_labels(data, unit, file)
    warns: list[str] = []
    diag: dict[str, Any] = {"method": method, "n_treated": int(t.sum()),
                            "n_control": int((~t).sum()),
                            "propensity_model": "logistic regression of "
                            f"'{treated}' on an intercept and " + ", ".join(cov.design_names)}
    try:
        model = propensity_model(cov.design, t, cov.design_names)
        ps, lin = model.ps, model.linear
    except DesignError:
        if method != "entropy":
            raise
        ps = lin = np.full(len(t), np.nan)
        diag["propensity_model"] += " (not estimable; not needed for entropy balancing)"
    subclass = pairs = None
    if method == "nearest":
        w, pairs, subclass = _nearest(data, t, ps, lin, distance=distance, caliper=caliper,
                                      replace=replace, exact=exact, ratio=ratio,
                                      m_order=m_order, seed=seed, file=file, diag=diag,
                                      warns=warns, labels=labels, unit=unit)
    elif method == "ipw":
        _support(t, ps, diag, warns, hint="Consider trimming (trim=0.99) or matching with "
                 "a caliper.")
        w, n_trim = _ipw_weights(ps, t, trim)
        diag.update({"trim": trim, "n_trimmed": n_trim})
    else:
        C, names = _entropy_constraints(cov, moments)
        eb = _entropy_balance(C, names, t)
        w = np.ones(len(t))
        w[~t] = eb.weights
        diag.update({"moments": moments, "entropy_iterations": eb.iterations,
                     "entropy_constraints": eb.constraints,
                     "entropy_dropped_constraints": eb.dropped,
                     "entropy_max_gap_sd": eb.max_gap})
    return _finish(data, t, cov, w, ps, pairs, subclass, diag, warns, method=method,
                   treated=treated, file=file, labels=labels)


def _unit_labels(data: pd.DataFrame, unit: str | None, file: str | None) -> pd.Index:
    """Labels naming the units: the ``unit`` column (one row per unit) or the index."""
    if unit is None:
        return data.index
    if unit not in data.columns:
        raise _missing_column(data, unit, "unit", file)
    dup = data[unit].duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataError("units appear in more than one row; matching needs one row per unit",
                        file=file, column=unit, rows=_rows(dup),
                        fix="keep one row per unit (e.g. aggregate the periods into "
                            "columns such as admissions_pre1, admissions_pre2)")
    return pd.Index(data[unit])


def _support(t: np.ndarray, ps: np.ndarray, diag: dict, warns: list[str], *, hint: str
             ) -> np.ndarray:
    """Flag treated units whose propensity lies outside the controls' range."""
    lo, hi = ps[~t].min(), ps[~t].max()
    outside = t & ((ps < lo) | (ps > hi))
    n_out = int(outside.sum())
    diag["n_outside_support"] = n_out
    if n_out == int(t.sum()):
        raise DesignError("no common support: every treated unit's propensity score lies "
                          f"outside the comparison units' range ({lo:.3g} to {hi:.3g})",
                          rows=_rows(outside)[:50],
                          fix="the groups do not overlap on these covariates; find "
                              "comparison units that resemble the treated ones")
    if n_out:
        warns.append(f"{n_out} treated unit(s) have propensity scores outside the comparison "
                     f"units' range ({lo:.3g} to {hi:.3g}): their comparisons rely on the "
                     "closest, but still different, units. " + hint)
    return outside


def _nearest(data, t, ps, lin, *, distance, caliper, replace, exact, ratio, m_order, seed,
             file, diag, warns, labels, unit):
    """Nearest-neighbour matching: weights, pairs frame and subclass Series."""
    score = lin if distance == "logit" else ps
    width = np.inf if caliper is None else float(caliper) * float(np.std(score, ddof=1))
    strata = _strata(data, exact, file)
    if exact:
        _check_exact_strata(data, exact, strata, t)
    _support(t, ps, diag, warns, hint="The caliper drops those without a close match."
             if caliper is not None else "Consider a caliper (e.g. caliper=0.2).")
    rng = np.random.default_rng(seed)
    pos = np.arange(len(t))
    ordered = _matching_order(pos[t], ps, m_order, rng)
    chunks = []
    for s in np.unique(strata[t]):
        t_idx = ordered[strata[ordered] == s]
        c_idx = pos[~t & (strata == s)]
        fn = _nn_with if replace else _nn_without
        chunks.append(fn(t_idx, c_idx, score, ratio, width))
    pt = np.concatenate([c[0] for c in chunks])
    pc = np.concatenate([c[1] for c in chunks])
    pd_ = np.concatenate([c[2] for c in chunks])
    rank = np.empty(len(t), dtype=np.int64)
    rank[ordered] = np.arange(len(ordered))
    order = np.lexsort((pd_, rank[pt]))
    pt, pc, pd_ = pt[order], pc[order], pd_[order]
    matched_t = np.zeros(len(t), dtype=bool)
    matched_t[pt] = True
    unmatched = t & ~matched_t
    n_un = int(unmatched.sum())
    if n_un == int(t.sum()):
        raise DesignError(f"no treated unit has a comparison unit within the caliper "
                          f"({caliper} SD of the {distance} = {width:.3g})",
                          fix="widen the caliper, drop it, or revisit the covariates")
    index = data.index
    sub_ids = pd.factorize(pt)[0] + 1  # pairs numbered in matching order
    pairs = pd.DataFrame({"treated": index[pt], "control": index[pc], "subclass": sub_ids,
                          "distance": pd_})
    if unit is not None:
        pairs.insert(2, "treated_id", labels[pt])
        pairs.insert(3, "control_id", labels[pc])
    w = _match_weights(len(t), t, pt, pc)
    subclass = None
    if not replace:
        sc = np.full(len(t), np.nan)
        sc[pt] = sub_ids
        sc[pc] = sub_ids
        subclass = pd.Series(sc, index=index, name="subclass")
    diag.update({"distance": distance, "caliper": caliper,
                 "caliper_width": None if caliper is None else width, "replace": bool(replace),
                 "ratio": int(ratio), "exact": list(exact), "m_order": m_order})
    if n_un:
        ids = [_plain(v) for v in labels[unmatched][:_SHOW_IDS]]
        warns.append(f"{n_un} of {int(t.sum())} treated units have no comparison unit within "
                     f"the caliper and were dropped (ids {', '.join(map(str, ids))}"
                     f"{' ...' if n_un > _SHOW_IDS else ''}; {_rows_text(unmatched)}). The "
                     f"estimate is the effect on the {int(t.sum()) - n_un} matched treated "
                     "units, not on all treated units (ATT on the matched treated).")
    diag["_unmatched_mask"] = unmatched
    return w, pairs, subclass


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def _rows_text(mask: np.ndarray) -> str:
    return format_rows(_rows(mask))


def _finish(data, t, cov, w, ps, pairs, subclass, diag, warns, *, method, treated, file,
            labels) -> MatchResult:
    """Balance, ESS, warnings and diagnostics common to every method."""
    unmatched_mask = diag.pop("_unmatched_mask", np.zeros(len(t), dtype=bool))
    bal = _balance(cov.balance, cov.balance_names, cov.binary, t, w)
    max_smd = float(bal["smd_after"].abs().max())
    over = bal.index[bal["smd_after"].abs() > BALANCE_THRESHOLD].tolist()
    if over:
        warns.append(f"Balance not achieved: |SMD| after {method} is above "
                     f"{BALANCE_THRESHOLD} for {', '.join(map(str, over))} (largest "
                     f"{max_smd:.2f}). Consider a caliper, matching with replacement, "
                     "exact matching, entropy balancing, or adjusting for these covariates.")
    ess = {"treated": _ess(w[t]), "control": _ess(w[~t])}
    index = data.index
    unmatched = index[unmatched_mask]
    n_matched = int((t & (w > 0)).sum())
    diag.update({
        "estimand": "ATT" if n_matched == int(t.sum()) else "ATT on the matched treated",
        "n_matched_treated": n_matched, "n_unmatched_treated": int(len(unmatched)),
        "unmatched_treated_ids": [_plain(v) for v in labels[unmatched_mask][:_SHOW_IDS]],
        "n_controls_used": int((~t & (w > 0)).sum()), "max_abs_smd_after": max_smd,
        "balance_ok": bool(max_smd <= BALANCE_THRESHOLD), "imbalanced_covariates": over,
        "ess_treated": ess["treated"], "ess_control": ess["control"], "ess": dict(ess),
    })
    for key, default in (("distance", None), ("caliper", None), ("caliper_width", None),
                         ("replace", False), ("ratio", 1), ("exact", []),
                         ("m_order", None), ("n_outside_support", None)):
        diag.setdefault(key, default)
    return MatchResult(
        method=method, balance=bal, weights=pd.Series(w, index=index, name="weight"),
        pscore=pd.Series(ps, index=index, name="pscore"), ess=ess, matched_pairs=pairs,
        subclass=subclass, warnings=tuple(warns), diagnostics=diag, love=_love(bal),
        unmatched=unmatched, data=data, treated=treated, file=file)


# --------------------------------------------------------------------------- design


@takes_frame
def matched(data: pd.DataFrame, *, outcome: str, treated: str, covariates: Sequence[str],
            pre: str | Sequence[str] | None = None, method: str = "nearest",
            caliper: float | None = None, replace: bool = False,
            exact: Sequence[str] | str | None = None, ratio: int = 1,
            cluster: str | None = None, seed: int | None = None, scheme: str | None = None,
            domain: str = "outcome", file: str | None = None, conf_level: float = 0.95,
            match_on_pre: bool = True, distance: str = "logit", family: str = "gaussian",
            m_order: str = "largest", trim: float | None = None, moments: int = 1,
            unit: str | None = None) -> DesignResult:
    """Matched (or weighted) comparison, then the effect: the IAU-style design.

    Matches (:func:`match`) and estimates (:meth:`MatchResult.outcome`) in one call.
    When ``pre`` is given the headline estimand is ``att_did``, a difference-in-
    differences on the matched cohort. Units are often enrolled after a spell of high
    use, so their outcomes would have fallen anyway (regression to the mean); matching
    on the recent trajectory of the outcome gives comparison units with the same spell.
    By default (``match_on_pre=True``) every ``pre`` column not already among the
    covariates is added to them, and the diagnostic ``matched_on_pre_outcomes`` lists
    the pre-period outcomes matched on.

    Parameters
    ----------
    data
        One row per unit.
    outcome
        The post-period outcome column.
    treated, covariates, method, caliper, replace, exact, ratio, distance, m_order,
    trim, moments, seed, unit
        As :func:`match`.
    pre
        Pre-period outcome column(s), oldest to most recent; the baseline is their mean.
    cluster
        Cluster column for standard errors (see :meth:`MatchResult.outcome`).
    match_on_pre
        Add the ``pre`` columns to the matching covariates (default True).
    family
        ``"gaussian"`` or ``"binomial"`` (0/1 outcome).
    scheme, domain, file, conf_level
        Labels, the data's file for messages, and the confidence level.

    Returns
    -------
    DesignResult
        Design ``"matched"``; frames ``balance`` and ``love``; diagnostics merged from the
        matching (see :class:`MatchResult`) plus ``matched_on_pre_outcomes``.
    """
    file = file or data.attrs.get("source")
    covs = [covariates] if isinstance(covariates, str) else list(covariates)
    pre_cols = [pre] if isinstance(pre, str) else list(pre or [])
    for p in pre_cols:
        if p not in data.columns:
            raise _missing_column(data, p, "pre-period outcome", file)
    added = [p for p in pre_cols if p not in covs] if match_on_pre else []
    m = match(data, treated=treated, covariates=covs + added, method=method, caliper=caliper,
              replace=replace, exact=exact, ratio=ratio, distance=distance, m_order=m_order,
              trim=trim, moments=moments, seed=seed, unit=unit, file=file)
    on_pre = [p for p in pre_cols if p in covs + added]
    diag = dict(m.diagnostics)
    diag["matched_on_pre_outcomes"] = on_pre
    m = _replace_diag(m, diag)
    res = m.outcome(outcome, pre=pre_cols or None, family=family, cluster=cluster,
                    conf_level=conf_level, scheme=scheme, domain=domain)
    options = {"outcome": outcome, "treated": treated, "covariates": covs,
               "pre": pre_cols or None, "method": method, "caliper": caliper,
               "replace": replace, "exact": exact, "ratio": ratio, "cluster": cluster,
               "seed": seed, "conf_level": conf_level, "match_on_pre": match_on_pre,
               "distance": distance, "family": family, "m_order": m_order, "trim": trim,
               "moments": moments, "unit": unit}
    return DesignResult(design=DESIGN, effects=res.effects, diagnostics=res.diagnostics,
                        warnings=res.warnings, options=options, frames=dict(res.frames))


def _replace_diag(m: MatchResult, diag: dict[str, Any]) -> MatchResult:
    return dc_replace(m, diagnostics=diag)
