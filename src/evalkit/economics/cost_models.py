"""Compare mean costs between two arms, or before and after a scheme starts.

:func:`cost_compare` estimates the mean cost per patient in each arm (or period) and the
difference, with one of four models (Barber and Thompson, 2000; Mihaylova et al., 2011).
The default, ``"ols"``, is the recommended interval for a difference in mean cost: in
evalkit's coverage study (``docs/cost-coverage.md``, 500 replications per cell, skewed and
zero-inflated costs with skewness up to 11) Welch's t interval covered the true difference
in 93-97% of replications from 25 patients per arm upward, where the bootstrap BCa interval
covered only 86-92% of them for the most skewed costs, even with 1,000 patients per arm
(the sample skewness that BCa corrects with is itself unstable in heavy tails). This agrees
with Thompson and Barber (2000) and Nixon, Wonderling and Grieve (2010). Use the bootstrap
for the ratio of means, cost per population and statistics without a standard error.

``"bootstrap"``
    The non-parametric bootstrap of the difference in means (and the ratio of means),
    resampling patients within each arm, or patients (both periods together) in a
    before/after; BCa intervals by default, percentile or basic on request
    (:mod:`evalkit.economics.bootstrap`). It targets the arithmetic mean, the quantity a
    budget needs, without assuming a distribution.
``"gamma"``
    A generalised linear model with a gamma variance and log link (statsmodels),
    ``log E[cost] = b0 + b1 * arm + covariates``. ``exp(b1)`` is the ratio of means; its
    interval uses robust (sandwich, HC0) standard errors, clustered by patient in a
    paired before/after. The difference in means is by recycled predictions: every
    patient's predicted mean cost as if in the comparison arm, less as if in the
    reference arm, averaged over the sample, ``D = mean(exp(x1 b) - exp(x0 b))``, with the
    delta-method variance ``g' V g``, ``g = mean(exp(x1 b) x1 - exp(x0 b) x0)`` (Glick
    et al., 2014). Zero costs are allowed (the gamma mean model is fitted as a
    quasi-likelihood) but not modelled; use ``"two_part"`` when zeros are common.
``"two_part"``
    A logit model for any cost above zero and a gamma log-link GLM for the positive
    costs (Mihaylova et al., 2011; Deb and Norton, 2018): ``E[cost | x] = P(cost > 0 | x)
    E[cost | cost > 0, x]``. The difference and ratio of means are by recycled
    predictions, with bootstrap intervals; each bootstrap (and jackknife, for BCa) refit
    is a frequency-weighted IRLS run for all resamples at once. Without covariates both
    parts are saturated and the estimate equals the difference in arm means.
``"ols"`` (default)
    Ordinary least squares with HC2 standard errors and a t interval. Without covariates
    this is exactly Welch's t interval (HC2 is Welch's standard error for a binary
    regressor), or the paired t interval in a before/after with ``unit``.

Evidence level (Maryland SMS, see :mod:`evalkit.evidence.maryland`): a before/after of the same
patients is level 1; a comparison of arms with no adjustment is a cross-sectional
comparison, level 1; adjusted for covariates (``ols``, ``gamma`` or ``two_part`` with
``covariates``) it is level 2 ("the same with adequate control variables").

References
----------
Barber JA, Thompson SG. Analysis of cost data in randomized trials: an application of the
non-parametric bootstrap. *Stat Med* 2000;19:3219-3236.
Mihaylova B, Briggs A, O'Hagan A, Thompson SG. Review of statistical methods for analysing
healthcare resources and costs. *Health Econ* 2011;20:897-916.
Glick HA, Doshi JA, Sonnad SS, Polsky D. *Economic Evaluation in Clinical Trials*, 2nd
ed. Oxford University Press; 2014.
Thompson SG, Barber JA. How should cost data in pragmatic randomised trials be analysed?
*BMJ* 2000;320:1197-1200.
Nixon RM, Wonderling D, Grieve RD. Non-parametric methods for cost-effectiveness analysis:
the central limit theorem and the bootstrap compared. *Health Econ* 2010;19:316-333.
Deb P, Norton EC. Modeling health care expenditures and use. *Annu Rev Public Health*
2018;39:489-505.
Efron B, Tibshirani RJ. *An Introduction to the Bootstrap*. Chapman & Hall; 1993.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from evalkit.data.arguments import check_choice, check_conf_level, check_whole
from evalkit.data.contract import nearest
from evalkit.data.inputs import takes_frame
from evalkit.economics.bootstrap import (
    METHODS,
    BootstrapCI,
    Seed,
    _cluster_cells,
    _cluster_codes,
    _cluster_counts,
    _cluster_df,
    _cluster_group_means,
    _cluster_jackknife_means,
    _cluster_resampled_means,
    _group_means,
    _index_blocks,
    _jackknife_means,
    _make_cells,
    _resampled_means,
    _rng,
    _summarise,
)
from evalkit.errors import DataError, DesignError
from evalkit.evidence.maryland import maryland_level
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["cost_compare", "MODELS"]

DESIGN = "cost_compare"
MODELS = ("bootstrap", "gamma", "two_part", "ols")
#: Replicates x rows per block of the batched IRLS.
_IRLS_BLOCK = 1 << 21


# --------------------------------------------------------------------------- data


@dataclass
class _Data:
    """The analysis data: one value per patient (unpaired) or per patient and period."""

    y: np.ndarray                    # costs, stacked: reference/before rows first
    arm: np.ndarray                  # 0 reference / before, 1 comparison / after
    labels: tuple[Any, Any]
    paired: bool
    cluster: np.ndarray              # resampling unit of each row (patient)
    X: np.ndarray                    # covariates (rows x q), possibly 0 columns
    covariate_names: list[str]
    n_units: int
    periods: tuple[int, int]
    comparison: str                  # "arms" or "before_after"
    warnings: list[str] = field(default_factory=list)
    practice: np.ndarray | None = None   # practice (cluster) of each row, when given

    def part(self, g: int) -> np.ndarray:
        return self.y[self.arm == g]


def _need_column(data: pd.DataFrame, name: str | None, what: str, file: str | None) -> None:
    if name is not None and name not in data.columns:
        guess = nearest(str(name), map(str, data.columns))
        raise DataError(f"the {what} column '{name}' is missing", file=file, column=str(name),
                        fix=f"did you mean '{guess}'?" if guess else "name an existing column")


def _rows(positions: np.ndarray, mask: np.ndarray) -> list[int]:
    return [int(p) + 2 for p in positions[mask]]


def _as_list(value: Any) -> list[str]:
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Index)):
        return [str(v) for v in value]
    return [str(value)]


def _prepare(data: pd.DataFrame, *, cost: str, group: str | None, time: str | None,
             before: Any, after: Any, unit: str | None, reference: Any,
             covariates: Sequence[str], savings: bool, model: str, file: str | None,
             cluster: str | None = None) -> _Data:
    for name, what in ((cost, "cost"), (group, "group"), (time, "time"), (unit, "unit"),
                       (cluster, "cluster")):
        _need_column(data, name, what, file)
    for c in covariates:
        _need_column(data, c, "covariate", file)
    positions = np.arange(len(data))
    keep = np.ones(len(data), dtype=bool)
    window = np.zeros(len(data), dtype=int)  # 0 before, 1 after (before/after designs)
    periods = (0, 1)
    if time is not None:
        t = data[time].astype(str).to_numpy()
        if after is None:
            raise DesignError("with time=, say which periods to compare",
                              fix="give before=... and after=... (or after=... alone to "
                                  "compare arms within those periods)")
        in_after = np.isin(t, _as_list(after))
        if not in_after.any():
            raise DesignError(f"no rows in the period(s) after={after!r}", file=file,
                              column=time, fix=f"use values of '{time}' as they appear")
        if before is not None:
            in_before = np.isin(t, _as_list(before))
            if not in_before.any():
                raise DesignError(f"no rows in the period(s) before={before!r}", file=file,
                                  column=time, fix=f"use values of '{time}' as they appear")
            if (in_before & in_after).any():
                raise DesignError("a period is both before and after", column=time,
                                  fix="give before= and after= different periods")
            keep = in_before | in_after
            window = in_after.astype(int)
            periods = (int(np.unique(t[in_before]).size), int(np.unique(t[in_after]).size))
        else:
            keep = in_after
            periods = (0, int(np.unique(t[in_after]).size))
    comparison = "before_after" if (time is not None and before is not None) else "arms"
    if comparison == "before_after" and group is not None:
        raise DesignError("cost_compare compares two arms, or one group before and after, not "
                          "both at once", fix="for change against a comparison group use "
                          "ek.did(..., domain='cost'); to compare arms within a window give "
                          "group= and after= only")
    if comparison == "arms" and group is None:
        raise DesignError("nothing to compare", fix="give group= (two arms), or time= with "
                                                    "before= and after=")
    sub = data.loc[keep]
    pos = positions[keep]
    y_raw = pd.to_numeric(sub[cost], errors="coerce")
    missing = sub[cost].isna().to_numpy()
    if missing.any():
        raise DataError("cost is missing", file=file, column=cost, rows=_rows(pos, missing),
                        fix="fill the costs (0 for no use) or drop the rows")
    bad = y_raw.isna().to_numpy() | ~np.isfinite(y_raw.to_numpy(dtype=float))
    if bad.any():
        raise DataError("cost is not a number", file=file, column=cost, rows=_rows(pos, bad),
                        fix="give costs as plain numbers of pounds (no currency signs)")
    y = y_raw.to_numpy(dtype=float)
    if (y < 0).any():
        if not savings:
            raise DataError("cost is negative", file=file, column=cost, rows=_rows(pos, y < 0),
                            fix="correct the costs, or pass savings=True if negative values "
                                "are net savings")
        if model in ("gamma", "two_part"):
            raise DesignError(f"the {model} model needs non-negative costs", column=cost,
                              fix="use model='bootstrap' or 'ols' for costs net of savings")
    if comparison == "arms":
        g = sub[group]
        gmiss = g.isna().to_numpy()
        if gmiss.any():
            raise DataError("arm (group) is missing", file=file, column=group,
                            rows=_rows(pos, gmiss), fix="label every row's arm, or drop it")
        values = g.to_numpy()
        labels = sorted(pd.unique(g), key=lambda v: (str(type(v)), v))
        if reference is not None:
            match = [v for v in labels if str(v) == str(reference)]
            if not match:
                raise DesignError(f"reference arm '{reference}' is not in column '{group}'",
                                  column=group, fix=f"use one of "
                                                    f"{', '.join(map(str, labels))}")
            labels = match + [v for v in labels if str(v) != str(reference)]
        if len(labels) != 2:
            found = ", ".join(map(str, labels[:6]))
            raise DesignError(f"the group column must hold exactly two arms; found "
                              f"{len(labels)} ({found})", file=file, column=group,
                              fix="keep two arms (filter the data), or check for typos"
                              if len(labels) > 2 else "the other arm has no rows: check the "
                                                      "data and the window")
        arm = (values == labels[1]).astype(int)
        labels_t = (labels[0], labels[1])
    else:
        arm = window[keep]
        labels_t = ("before", "after")
    X, names = _covariates(sub, covariates, pos, file)
    practice = None
    if cluster is not None:
        pmiss = sub[cluster].isna().to_numpy()
        if pmiss.any():
            raise DataError("cluster (practice) is missing", file=file, column=cluster,
                            rows=_rows(pos, pmiss), fix="give every row's practice, or drop it")
        practice = sub[cluster].astype(str).to_numpy()
    warnings: list[str] = []
    if comparison == "arms" and reference is None and not all(
            isinstance(v, (bool, int, np.integer, np.bool_)) for v in labels_t):
        warnings.append(f"No reference arm given: '{labels_t[0]}' (first in sort order) is "
                        f"the reference and differences are '{labels_t[1]}' minus it; pass "
                        "reference= to choose.")
    if unit is None:
        if comparison == "before_after":
            warnings.append("No unit given: rows before and after are treated as independent "
                            "patients; give unit= to pair each patient with themselves.")
        order = np.argsort(arm, kind="stable")
        return _Data(y[order], arm[order], labels_t, False, np.arange(y.size), X[order], names,
                     int(y.size), periods, comparison, warnings,
                     None if practice is None else practice[order])
    return _by_unit(sub, y, arm, X, names, unit=unit, labels=labels_t, pos=pos,
                    comparison=comparison, time=time, periods=periods, file=file,
                    warnings=warnings, practice=practice, cluster=cluster)


def _covariates(sub: pd.DataFrame, covariates: Sequence[str], pos: np.ndarray,
                file: str | None) -> tuple[np.ndarray, list[str]]:
    if not covariates:
        return np.empty((len(sub), 0)), []
    frame = sub[list(covariates)]
    miss = frame.isna().any(axis=1).to_numpy()
    if miss.any():
        col = next(c for c in covariates if frame[c].isna().any())
        raise DataError("covariate is missing", file=file, column=col, rows=_rows(pos, miss),
                        fix="fill or drop the rows, or leave the covariate out")
    numeric = [c for c in covariates if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    cats = [c for c in covariates if c not in numeric]
    parts = [frame[numeric].astype(float)]
    if cats:
        parts.append(pd.get_dummies(frame[cats].astype(str), drop_first=True, dtype=float))
    X = pd.concat(parts, axis=1)
    return X.to_numpy(dtype=float), [str(c) for c in X.columns]


def _by_unit(sub, y, arm, X, names, *, unit, labels, pos, comparison, time, periods, file,
             warnings, practice=None, cluster=None) -> _Data:
    """One value per unit (arms) or per unit and window (before/after)."""
    units = sub[unit].astype(str).to_numpy()
    umiss = sub[unit].isna().to_numpy()
    if umiss.any():
        raise DataError("unit is missing", file=file, column=unit, rows=_rows(pos, umiss),
                        fix="identify every row's unit, or drop it")
    of_unit = None
    if practice is not None:
        spread = pd.Series(practice).groupby(units).nunique()
        moved = pd.Series(units).map(spread).to_numpy() > 1
        if moved.any():
            raise DataError("a unit belongs to more than one cluster (practice)", file=file,
                            column=cluster, rows=_rows(pos, moved),
                            fix="give each patient one practice, e.g. at enrolment")
        of_unit = pd.Series(practice).groupby(units).first()
    frame = pd.DataFrame({"u": units, "arm": arm, "y": y})
    if comparison == "arms":
        arms_per_unit = frame.groupby("u")["arm"].nunique()
        split = frame["u"].map(arms_per_unit).to_numpy() > 1
        if split.any():
            raise DataError("a unit appears in both arms", file=file, column=unit,
                            rows=_rows(pos, split), fix="each patient belongs to one arm")
    if X.shape[1]:
        xs = pd.DataFrame(X).groupby(units).nunique().max(axis=1)
        varies = pd.Series(units).map(xs).to_numpy() > 1
        if varies.any():
            raise DataError("a covariate changes within a unit", file=file, column=names[0],
                            rows=_rows(pos, varies),
                            fix="use covariates fixed per patient (e.g. baseline values)")
    rows = frame.groupby(["u", "arm"], sort=False)["y"]
    how = "mean" if time is not None else "sum"
    agg = rows.agg(how).reset_index()
    if time is not None and rows.size().groupby(level="arm").nunique().max() > 1:
        warnings.append(f"Units have different numbers of rows in a window; each unit's cost "
                        f"is its mean per {time} observed.")
    first = pd.DataFrame(X).groupby(units, sort=False).first()
    if comparison == "arms":
        agg = agg.sort_values("arm", kind="stable")
        Xu = first.loc[agg["u"]].to_numpy(dtype=float) if X.shape[1] else \
            np.empty((len(agg), 0))
        return _Data(agg["y"].to_numpy(dtype=float), agg["arm"].to_numpy(dtype=int), labels,
                     False, np.arange(len(agg)), Xu, names, int(len(agg)), periods, comparison,
                     warnings, None if of_unit is None else of_unit.loc[agg["u"]].to_numpy())
    wide = agg.pivot(index="u", columns="arm", values="y").reindex(pd.unique(agg["u"]))
    both = wide.dropna()
    dropped = len(wide) - len(both)
    if dropped:
        warnings.append(f"{dropped} unit(s) with costs in only one window were left out of "
                        "the paired comparison.")
    if len(both) < 2:
        raise DesignError("fewer than 2 units have costs both before and after", column=unit,
                          fix="check the windows and the unit column")
    n = len(both)
    Xu = first.loc[both.index].to_numpy(dtype=float) if X.shape[1] else np.empty((n, 0))
    return _Data(np.concatenate([both[0].to_numpy(), both[1].to_numpy()]),
                 np.repeat([0, 1], n), labels, True, np.tile(np.arange(n), 2),
                 np.vstack([Xu, Xu]), names, n, periods, comparison, warnings,
                 None if of_unit is None else np.tile(of_unit.loc[both.index].to_numpy(), 2))


# --------------------------------------------------------------------------- summaries


def _arm_summary(d: _Data, population: Mapping[str, float] | None, per: float | None
                 ) -> pd.DataFrame:
    rows = []
    for g, label in enumerate(d.labels):
        v = d.part(g)
        skew = float(stats.skew(v, bias=False)) if v.size > 2 and v.std() > 0 else float("nan")
        row = {"arm": str(label), "role": ("reference", "comparison")[g]
               if d.comparison == "arms" else label, "n": int(v.size),
               "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else np.nan,
               "median": float(np.median(v)), "share_zero": float(np.mean(v == 0)),
               "skewness": skew, "total": float(v.sum())}
        if population is not None:
            row["population"] = float(population[str(label)])
            row[f"cost_per_{per:g}"] = row["total"] / row["population"] * per
        rows.append(row)
    return pd.DataFrame(rows)


def _population(population: Any, labels: tuple[Any, Any]) -> dict[str, float] | None:
    if population is None:
        return None
    if isinstance(population, Mapping):
        pop = {str(k): v for k, v in population.items()}
        missing = [str(lab) for lab in labels if str(lab) not in pop]
        if missing:
            keys = ", ".join(f"'{x}': ..." for x in labels)
            raise DesignError(f"population has no value for {', '.join(missing)}",
                              fix=f"give population={{{keys}}}")
    else:
        pop = {str(lab): population for lab in labels}
    out = {}
    for k, v in pop.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            out[k] = float("nan")
        if not np.isfinite(out[k]) or out[k] <= 0:
            raise DesignError(f"population for '{k}' must be a positive number, not {v!r}",
                              fix="give the population (e.g. registered list size) served")
    return out


# --------------------------------------------------------------------------- models


def _bootstrap_model(d: _Data, *, population, per, n_resamples, method, conf_level, seed
                     ) -> tuple[dict[str, BootstrapCI], pd.DataFrame]:
    """Difference and ratio of means (and per-population difference), same resamples."""
    rng = _rng(seed)
    if d.paired:
        n = d.n_units
        values = np.column_stack([d.y[:n], d.y[n:]])
        cells = _make_cells(values, np.zeros(n, dtype=int), ("patients",), None)
        pick = {0: lambda m: m[..., 0, 0], 1: lambda m: m[..., 0, 1]}
        sizes = (n, n)
    else:
        cells = _make_cells(d.y[:, None], d.arm, d.labels, None)
        pick = {0: lambda m: m[..., 0, 0], 1: lambda m: m[..., 1, 0]}
        sizes = (int((d.arm == 0).sum()), int((d.arm == 1).sum()))
    funcs = {"mean_difference": (lambda m: pick[1](m) - pick[0](m), 0.0),
             "ratio_of_means": (lambda m: pick[1](m) / pick[0](m), 1.0)}
    if population is not None:
        c0 = sizes[0] * per / population[str(d.labels[0])]
        c1 = sizes[1] * per / population[str(d.labels[1])]
        funcs[f"cost_per_{per:g}_difference"] = (lambda m: c1 * pick[1](m) - c0 * pick[0](m),
                                                 0.0)
    if d.practice is not None:
        n = d.n_units
        values, codes, labels = (np.column_stack([d.y[:n], d.y[n:]]), np.zeros(n, dtype=int),
                                 ("patients",)) if d.paired else (d.y[:, None], d.arm, d.labels)
        practice = d.practice[:n] if d.paired else d.practice
        ccells = _cluster_cells(values, codes, labels, *_cluster_codes(practice, len(practice)),
                                name="practice")
        reps = _cluster_resampled_means(ccells, n_resamples, rng)
        full = _cluster_group_means(ccells)
        loo = _cluster_jackknife_means(ccells) if method == "bca" else None
        df = _cluster_df(ccells)  # the small-sample factor's degrees of freedom
    else:
        df = float("nan")
        reps = _resampled_means(cells, n_resamples, rng)
        full = _group_means(cells)
        loo = _jackknife_means(cells) if method == "bca" else None
    out = {}
    for name, (f, null) in funcs.items():
        theta_loo = [np.asarray(f(m), dtype=float) for m in loo] if loo is not None else None
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = _summarise(float(f(full)), np.asarray(f(reps), dtype=float), theta_loo,
                                   method=method, conf_level=conf_level, null=null,
                                   statistic=name, n=sizes, labels=d.labels, df=df)
    replicates = pd.DataFrame({"replicate": np.arange(n_resamples),
                               f"mean_{d.labels[0]}": pick[0](reps),
                               f"mean_{d.labels[1]}": pick[1](reps),
                               "mean_difference": out["mean_difference"].distribution})
    return out, replicates


def _design(d: _Data, arm_value: float | None = None) -> np.ndarray:
    arm = d.arm.astype(float) if arm_value is None else np.full(d.y.size, arm_value)
    return np.column_stack([np.ones(d.y.size), arm, d.X])


def _gamma_fit(d: _Data):
    import statsmodels.api as sm

    family = sm.families.Gamma(sm.families.links.Log())
    model = sm.GLM(d.y, _design(d), family=family)
    if d.practice is not None:
        return model.fit(cov_type="cluster",
                         cov_kwds={"groups": pd.factorize(d.practice)[0]})
    if d.paired:
        return model.fit(cov_type="cluster", cov_kwds={"groups": d.cluster})
    return model.fit(cov_type="HC0")


def _gamma_model(d: _Data, conf_level: float) -> tuple[dict[str, tuple], dict[str, Any]]:
    """Ratio of means exp(b1) and the recycled-prediction difference (delta method)."""
    fit = _gamma_fit(d)
    beta = np.asarray(fit.params, dtype=float)
    V = np.asarray(fit.cov_params(), dtype=float)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    X1, X0 = _design(d, 1.0), _design(d, 0.0)
    mu1, mu0 = np.exp(X1 @ beta), np.exp(X0 @ beta)
    diff = float(np.mean(mu1 - mu0))
    grad = (mu1[:, None] * X1 - mu0[:, None] * X0).mean(axis=0)
    se = float(np.sqrt(grad @ V @ grad))
    b, se_b = float(beta[1]), float(np.sqrt(V[1, 1]))
    out = {
        "mean_difference": (diff, se, diff - z * se, diff + z * se,
                            float(2 * stats.norm.sf(abs(diff) / se))),
        "ratio_of_means": (float(np.exp(b)), se_b, float(np.exp(b - z * se_b)),
                           float(np.exp(b + z * se_b)), float(2 * stats.norm.sf(abs(b) / se_b))),
    }
    diag = {"glm_scale": float(fit.scale), "converged": bool(fit.converged),
            "se_type": "cluster-robust by practice" if d.practice is not None else
            "cluster-robust by unit" if d.paired else "robust (HC0 sandwich)",
            "interval": "normal (Wald); difference by recycled predictions and the delta "
                        "method", "coefficients": dict(zip(_names(d), beta.tolist(),
                                                            strict=True))}
    return out, diag


def _names(d: _Data) -> list[str]:
    return ["intercept", "arm" if d.comparison == "arms" else "after", *d.covariate_names]


def _ols_model(d: _Data, conf_level: float) -> tuple[dict[str, tuple], dict[str, Any]]:
    import statsmodels.api as sm

    if d.paired:
        n = d.n_units
        diff = d.y[n:] - d.y[:n]
        Xc = d.X[:n] - d.X[:n].mean(axis=0)
        Z = np.column_stack([np.ones(n), Xc])
        fit = sm.OLS(diff, Z).fit(cov_type="HC2")
        est, se, df = float(fit.params[0]), float(fit.bse[0]), float(n - Z.shape[1])
        how = "paired: OLS of each unit's change on centred covariates, HC2 SE"
    else:
        fit = sm.OLS(d.y, _design(d)).fit(cov_type="HC2")
        est, se = float(fit.params[1]), float(fit.bse[1])
        if d.X.shape[1]:
            df = float(d.y.size - _design(d).shape[1])
        else:
            a, b = d.part(0), d.part(1)
            va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
            df = float((va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)))
        how = "OLS with HC2 SE (Welch's t interval when there are no covariates)"
    if d.practice is not None:
        est, se, df, how = _ols_clustered(d)
    q = stats.t.ppf(0.5 + conf_level / 2, df)
    p = float(2 * stats.t.sf(abs(est) / se, df))
    return ({"mean_difference": (est, se, est - q * se, est + q * se, p)},
            {"se_type": how, "df": df, "interval": "t"})


def _ols_clustered(d: _Data) -> tuple[float, float, float, str]:
    """The OLS difference with a CR1 cluster-robust SE by practice and G - 1 df."""
    from evalkit.designs.cluster_se import cluster_vcov

    if d.paired:
        n = d.n_units
        y, X = d.y[n:] - d.y[:n], np.column_stack([np.ones(n), d.X[:n] - d.X[:n].mean(axis=0)])
        practice, col = d.practice[:n], 0
    else:
        y, X, practice, col = d.y, _design(d), d.practice, 1
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    codes = pd.factorize(practice)[0]
    V = cluster_vcov(X, y - X @ beta, codes, dof=X.shape[1])
    g = int(codes.max()) + 1
    return (float(beta[col]), float(np.sqrt(V[col, col])), float(g - 1),
            f"OLS with CR1 SE clustered by practice ({g} practices, t with {g - 1} df)")


# ----- two-part model: frequency-weighted IRLS for many weight vectors at once


def _irls(X: np.ndarray, y: np.ndarray, W: np.ndarray, beta0: np.ndarray, family: str,
          max_iter: int = 100, tol: float = 1e-10) -> np.ndarray:
    """Fit a logit or gamma log-link GLM for each row of frequency weights ``W`` (R, n).

    Returns coefficients (R, p); rows whose weighted information matrix is singular (e.g.
    a resample with no positive cost in an arm) are NaN. Same estimating equations as
    statsmodels' GLM with ``freq_weights``.
    """
    R, p = W.shape[0], X.shape[1]
    XX = (X[:, :, None] * X[:, None, :]).reshape(X.shape[0], p * p)
    beta = np.tile(beta0, (R, 1))
    active = np.ones(R, dtype=bool)
    for _ in range(max_iter):
        eta = beta[active] @ X.T
        w_act = W[active]
        if family == "logit":
            mu = np.clip(expit(eta), 1e-12, 1 - 1e-12)
            var = mu * (1 - mu)
            w = w_act * var
            z = eta + (y - mu) / var
        else:
            mu = np.exp(eta)
            w = w_act
            z = eta + (y - mu) / mu
        A = (w @ XX).reshape(-1, p, p)
        rhs = (w * z) @ X
        singular = ~np.isfinite(A).all(axis=(1, 2))
        det = np.linalg.det(np.where(singular[:, None, None], np.eye(p), A))
        scale = np.prod(np.maximum(np.einsum("rii->ri", np.abs(A)), 1e-300), axis=1)
        singular |= ~np.isfinite(det) | (np.abs(det) <= 1e-12 * scale)
        A[singular] = np.eye(p)
        new = np.linalg.solve(A, rhs[..., None])[..., 0]
        new[singular] = np.nan
        step = np.abs(new - beta[active])
        idx = np.flatnonzero(active)
        beta[idx] = new
        done = ~np.isfinite(step).all(axis=1) | (step.max(axis=1, initial=0.0)
                                                  <= tol * (1 + np.abs(new).max(axis=1)))
        active[idx[done]] = False
        if not active.any():
            break
    return beta


def _two_part_estimates(d: _Data, W: np.ndarray, b_logit: np.ndarray, b_gamma: np.ndarray,
                        has_zeros: bool) -> np.ndarray:
    """Recycled-prediction means (R, 2) for frequency weights W (R, n)."""
    X = _design(d)
    pos = d.y > 0
    if has_zeros:
        bl = _irls(X, pos.astype(float), W, b_logit, "logit")
    bg = _irls(X[pos], d.y[pos], W[:, pos], b_gamma, "gamma")
    total = W.sum(axis=1)
    out = np.empty((W.shape[0], 2))
    for g in (0, 1):
        Xg = _design(d, float(g))
        mu = np.exp(bg @ Xg.T)
        prob = expit(bl @ Xg.T) if has_zeros else 1.0
        out[:, g] = (W * prob * mu).sum(axis=1) / total
    return out


def _two_part_model(d: _Data, *, n_resamples, method, conf_level, seed
                    ) -> tuple[dict[str, BootstrapCI], dict[str, Any], pd.DataFrame]:
    import statsmodels.api as sm

    X = _design(d)
    pos = d.y > 0
    has_zeros = bool((~pos).any())
    for g in (0, 1):
        if not (pos & (d.arm == g)).any():
            raise DesignError(f"no positive costs in '{d.labels[g]}': the two-part model's "
                              "cost part cannot be fitted", fix="use model='bootstrap'")
    gamma = sm.GLM(d.y[pos], X[pos], family=sm.families.Gamma(sm.families.links.Log())).fit()
    b_gamma = np.asarray(gamma.params, dtype=float)
    if has_zeros:
        logit = sm.GLM(pos.astype(float), X, family=sm.families.Binomial()).fit()
        b_logit = np.asarray(logit.params, dtype=float)
    else:
        b_logit = np.zeros(X.shape[1])
    point = _two_part_estimates(d, np.ones((1, d.y.size)), b_logit, b_gamma, has_zeros)[0]
    # The statsmodels fits give the reported point estimate; the batched IRLS repeats it.
    mu = {g: np.exp(_design(d, float(g)) @ b_gamma) for g in (0, 1)}
    p = {g: expit(_design(d, float(g)) @ b_logit) if has_zeros else np.ones(d.y.size)
         for g in (0, 1)}
    means = np.array([np.mean(p[g] * mu[g]) for g in (0, 1)])
    rng = _rng(seed)
    reps = _weighted_replicates(d, n_resamples, rng, lambda W: _two_part_estimates(
        d, W, b_logit, b_gamma, has_zeros))
    loo = _jackknife_replicates(d, lambda W: _two_part_estimates(
        d, W, b_logit, b_gamma, has_zeros)) if method == "bca" else None
    sizes = (int((d.arm == 0).sum()), int((d.arm == 1).sum())) if not d.paired \
        else (d.n_units, d.n_units)
    strata = _practice_strata(d)[1] if d.practice is not None else ()
    df = sum(m.size for m in strata) - len(strata) if strata else float("nan")
    out = {}
    for name, f, null in (("mean_difference", lambda m: m[..., 1] - m[..., 0], 0.0),
                          ("ratio_of_means", lambda m: m[..., 1] / m[..., 0], 1.0)):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = _summarise(float(f(means)), f(reps), [f(m) for m in loo]
                                   if loo is not None else None, method=method,
                                   conf_level=conf_level, null=null, statistic=name, n=sizes,
                                   labels=d.labels, df=df)
    diag = {"logit_coefficients": dict(zip(_names(d), b_logit.tolist(), strict=True))
            if has_zeros else None,
            "gamma_coefficients": dict(zip(_names(d), b_gamma.tolist(), strict=True)),
            "recycled_means": {str(d.labels[g]): float(means[g]) for g in (0, 1)},
            "irls_check": float(np.max(np.abs(point - means))),
            "interval": f"bootstrap ({method}) of the recycled predictions, both parts refitted"
                        " in every resample"}
    replicates = pd.DataFrame({"replicate": np.arange(n_resamples),
                               f"mean_{d.labels[0]}": reps[:, 0],
                               f"mean_{d.labels[1]}": reps[:, 1],
                               "mean_difference": out["mean_difference"].distribution})
    return out, diag, replicates


def _cells_of_rows(d: _Data) -> list[np.ndarray]:
    """Resampling cells as arrays of cluster ids: arms (unpaired) or all units (paired)."""
    if d.paired:
        return [np.arange(d.n_units)]
    return [np.flatnonzero(d.arm == 0), np.flatnonzero(d.arm == 1)]


def _weighted_replicates(d: _Data, n_resamples: int, rng: np.random.Generator, estimate
                         ) -> np.ndarray:
    """Estimates for each bootstrap resample, via frequency weights.

    Draws exactly the indices the bootstrap model draws (cell by cell, all resamples of a
    cell in one stream), counts them per cluster, and refits in blocks of resamples.
    """
    if d.practice is not None:
        codes, strata = _practice_strata(d)
        counts = _cluster_counts(strata, int(codes.max()) + 1, n_resamples, rng)
        rows = max(1, _IRLS_BLOCK // d.y.size)
        out = np.empty((n_resamples, 2))
        for start in range(0, n_resamples, rows):
            out[start:start + rows] = estimate(counts[start:start + rows][:, codes])
        return out
    cells = _cells_of_rows(d)
    n_clusters = int(d.cluster.max()) + 1
    counts = np.zeros((n_resamples, n_clusters), dtype=np.uint16)
    for members in cells:
        m = members.size
        for start, idx in _index_blocks(rng, m, n_resamples):
            r = idx.shape[0]
            c = np.bincount((idx + (np.arange(r) * m)[:, None]).ravel(), minlength=r * m)
            if c.max() >= np.iinfo(np.uint16).max:  # pragma: no cover - impossible in practice
                raise DesignError("a resample repeats one patient more than 65,534 times",
                                  fix="use model='bootstrap'")
            counts[start:start + r][:, members] = c.reshape(r, m)
    rows = max(1, _IRLS_BLOCK // d.y.size)
    out = np.empty((n_resamples, 2))
    for start in range(0, n_resamples, rows):
        W = counts[start:start + rows][:, d.cluster].astype(float)
        out[start:start + rows] = estimate(W)
    return out


def _practice_strata(d: _Data) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Each row's practice code and the practices' resampling strata (kinds of practice)."""
    codes, names = _cluster_codes(d.practice, d.practice.size, "practice")
    arm = np.zeros(d.y.size, dtype=int) if d.paired else d.arm
    labels = ("patients",) if d.paired else d.labels
    cells = _cluster_cells(d.y[:, None], arm, labels, codes, names, name="practice")
    return codes, cells.strata


def _jackknife_replicates(d: _Data, estimate) -> list[np.ndarray]:
    """Estimates with each cluster left out in turn, per resampling cell: [(n_j, 2)]."""
    out = []
    rows = max(1, _IRLS_BLOCK // d.y.size)
    cluster, cells = (d.cluster, _cells_of_rows(d)) if d.practice is None else \
        _practice_strata(d)
    for members in cells:
        parts = []
        for start in range(0, members.size, rows):
            drop = members[start:start + rows]
            W = np.ones((drop.size, d.y.size))
            W[cluster[None, :] == drop[:, None]] = 0.0
            parts.append(estimate(W))
        out.append(np.concatenate(parts))
    return out


# --------------------------------------------------------------------------- records


def _evidence_level(estimand: str, diagnostics: Mapping[str, Any]) -> int:
    """Maryland level: evalkit.evidence.maryland's rule if it has one, else this module's.

    TODO(lead): move this rule into :func:`evalkit.evidence.maryland.maryland_level` as
    ``if design == "cost_compare": return 2 if diagnostics.get("comparison") == "arms"
    and diagnostics.get("adjusted") else 1`` and drop the fallback.
    """
    try:
        return maryland_level(DESIGN, estimand, dict(diagnostics))
    except KeyError:
        adjusted = diagnostics.get("comparison") == "arms" and diagnostics.get("adjusted")
        return 2 if adjusted else 1


def _record(estimand: str, scale: str, values: tuple, *, cost: str, d: _Data, conf_level,
            scheme, diagnostics, warnings) -> EffectRecord:
    est, se, low, high, p = values
    return EffectRecord(
        scheme=scheme, domain="cost", outcome=cost, design=DESIGN, estimand=estimand,
        scale=scale, estimate=float(est), se=float(se), ci_low=float(low), ci_high=float(high),
        conf_level=float(conf_level), p_value=float(p), n_units=int(d.n_units),
        pre_periods=int(d.periods[0]), post_periods=int(d.periods[1]),
        evidence_level=_evidence_level(estimand, diagnostics), diagnostics=diagnostics,
        warnings=tuple(warnings))


def _from_boot(res: BootstrapCI, scale: str) -> tuple:
    se = res.se
    if scale == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(res.distribution[np.isfinite(res.distribution)
                                           & (res.distribution > 0)])
        se = float(np.std(logs, ddof=1)) if logs.size > 1 else float("nan")
    return res.estimate, se, res.ci_low, res.ci_high, res.p_value


# --------------------------------------------------------------------------- public


@takes_frame
def cost_compare(
    data: pd.DataFrame,
    *,
    cost: str,
    group: str | None = None,
    time: str | None = None,
    before: Any = None,
    after: Any = None,
    unit: str | None = None,
    reference: Any = None,
    per: float | None = None,
    population: float | Mapping[Any, float] | None = None,
    model: str = "ols",
    method: str = "bca",
    covariates: Sequence[str] | None = None,
    n_resamples: int = 2000,
    seed: Seed = None,
    conf_level: float = 0.95,
    savings: bool = False,
    cluster: str | None = None,
    scheme: str | None = None,
    file: str | None = None,
) -> DesignResult:
    """Compare mean cost per patient between two arms, or before and after.

    Parameters
    ----------
    data
        Patient-level costs: one row per patient, or per patient and period.
    cost
        The cost column (GBP; e.g. the ``total_cost`` of
        :func:`~evalkit.economics.costing.resource_costs`).
    group
        The arm column (two values), for a comparison of arms.
    time, before, after
        The period column and the period value(s) of each window, for a before/after
        of the same patients. With ``group`` and ``after`` alone, arms are compared
        within the ``after`` window.
    unit
        The patient (or practice) column. Each unit's rows are summed (no ``time``) or
        averaged per period (with ``time``), and units are resampled whole; in a
        before/after, each unit is paired with itself.
    reference
        The reference arm (by default 0 / False, else the first in sort order).
    per, population
        Also report cost per ``per`` (default 1,000) population: ``population`` is a
        number, or ``{arm: population}``. The arm's total cost is divided by its
        population, so costs outside the data are taken to be zero.
    model
        ``"ols"`` (default: Welch's t interval without covariates, the recommended
        interval), ``"bootstrap"``, ``"gamma"`` or ``"two_part"`` (see the module notes).
    method
        Bootstrap interval: ``"bca"`` (default), ``"percentile"`` or ``"basic"``
        (``bootstrap`` and ``two_part``).
    covariates
        Adjustment variables (``ols``, ``gamma``, ``two_part``); fixed within a unit.
    n_resamples, seed
        Bootstrap resamples and seed (same seed, same output).
    conf_level
        Confidence level.
    savings
        Allow negative costs (net savings); only ``bootstrap`` and ``ols`` accept them.
    cluster
        The practice column, where patients are nested in practices (each patient, or
        ``unit``, in one practice). Every model then allows for costs that correlate
        within a practice: the bootstrap and two-part models resample whole practices
        (:mod:`evalkit.economics.bootstrap`, with its small-sample factor
        t_{df} / z, df = practices less resampling strata), ``ols`` uses a CR1
        cluster-robust SE with a t interval on (practices - 1) df and ``gamma`` a
        cluster-robust sandwich. Give it whenever patients come from practices: without
        it the intervals are too narrow by about the design effect ``1 + (m - 1) ICC``
        (``docs/cost-coverage.md``).
    scheme, file
        Labels for the effect records and error messages (``file`` defaults to
        ``data.attrs["source"]``).

    Returns
    -------
    DesignResult
        Design ``"cost_compare"``, domain ``"cost"``. Effects: ``mean_difference``
        (all models), ``ratio_of_means`` (``bootstrap``, ``gamma``, ``two_part``) and
        ``cost_per_<per>_difference`` (``bootstrap``, with ``population``). Frames:
        ``arms`` (n, mean, SD, median, share of zeros, skewness, total and cost per
        population of each arm or period) and, for bootstrap-based models,
        ``replicates`` (each arm's mean and the ``mean_difference`` the interval is read
        from: with ``cluster``, its deviations from the estimate are scaled by the
        small-sample factor of :func:`evalkit.economics.bootstrap.cluster_t_factor`, so
        it is then not the difference of the arms' unscaled means).

    Raises
    ------
    DataError
        Missing or non-numeric costs, negative costs without ``savings=True``, missing
        arms or units, a unit in both arms (rows named; the header is row 1).
    DesignError
        Not exactly two arms (one arm empty), bad options.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> df = pd.DataFrame({"arm": np.repeat(["usual care", "scheme"], 150),
    ...                    "cost": rng.gamma(0.6, 2500, 300)})
    >>> res = cost_compare(df, cost="cost", group="arm", reference="usual care", seed=1)
    >>> res.effects.set_index("estimand").loc["mean_difference", "evidence_level"]
    np.int64(1)
    """
    check_choice("model", model, MODELS)
    method = str(method).lower()
    check_choice("method", method, METHODS)
    check_conf_level(conf_level)
    check_whole("n_resamples", n_resamples, 1)
    covariates = list(covariates or [])
    if covariates and model == "bootstrap":
        raise DesignError("the bootstrap model does not adjust for covariates",
                          fix="use model='ols', 'gamma' or 'two_part' with covariates")
    if per is not None and population is None:
        raise DesignError("per= needs population=", fix="give the population served, or drop per")
    per = float(per if per is not None else 1000.0)
    file = file or data.attrs.get("source")
    d = _prepare(data, cost=cost, group=group, time=time, before=before, after=after,
                 unit=unit, reference=reference, covariates=covariates, savings=savings,
                 model=model, file=file, cluster=cluster)
    for g in (0, 1):
        if d.part(g).size < 2:
            raise DesignError(f"'{d.labels[g]}' has {d.part(g).size} patient(s); at least 2 are "
                              "needed in each arm or period", column=group or time,
                              fix="check the arms and windows")
    pop = _population(population, d.labels)
    arms = _arm_summary(d, pop, per)
    diag: dict[str, Any] = {
        "comparison": d.comparison, "paired": d.paired, "model": model,
        "adjusted": bool(covariates) and model != "bootstrap", "covariates": covariates,
        "reference": str(d.labels[0]), "comparison_label": str(d.labels[1]),
        "cluster": cluster, "n_clusters": None if d.practice is None else
        int(np.unique(d.practice).size),
        "n": {r["arm"]: r["n"] for r in arms.to_dict("records")},
        "mean": {r["arm"]: r["mean"] for r in arms.to_dict("records")},
        "share_zero": {r["arm"]: r["share_zero"] for r in arms.to_dict("records")},
        "skewness": {r["arm"]: r["skewness"] for r in arms.to_dict("records")},
    }
    if pop is not None:
        diag[f"cost_per_{per:g}"] = {r["arm"]: r[f"cost_per_{per:g}"]
                                     for r in arms.to_dict("records")}
    warnings = list(d.warnings)
    if d.comparison == "before_after":
        warnings.append("Uncontrolled before/after (Maryland level 1): the change in cost "
                        "includes any secular trend, price change and regression to the mean, "
                        "not only the scheme.")
    elif diag["adjusted"]:
        warnings.append("Comparison of arms adjusted for the covariates given (Maryland level "
                        "2): differences between arms in anything unmeasured remain.")
    else:
        warnings.append("Cross-sectional comparison of arms with no adjustment (Maryland level "
                        "1): differences in who is in each arm are not controlled.")
    small = int(arms["n"].min())
    skew = float(np.nanmax(np.abs(arms["skewness"]))) if arms["skewness"].notna().any() else 0.0
    if small < 100 and skew > 2:
        warnings.append(f"Small and skewed: {small} patients in the smallest arm and skewness "
                        f"up to {skew:.1f}; every interval tends to be too narrow here (see "
                        "docs/cost-coverage.md).")
    frames = {"arms": arms}
    records = []
    common = dict(cost=cost, d=d, conf_level=conf_level, scheme=scheme)
    if model in ("bootstrap", "two_part"):
        if model == "bootstrap":
            res, frames["replicates"] = _bootstrap_model(
                d, population=pop, per=per, n_resamples=n_resamples, method=method,
                conf_level=conf_level, seed=seed)
            extra: dict[str, Any] = {"interval": f"bootstrap ({method})"}
        else:
            if not covariates:
                warnings.append("Two-part model without covariates: both parts are saturated, "
                                "so it reproduces the difference in arm means.")
            res, extra, frames["replicates"] = _two_part_model(
                d, n_resamples=n_resamples, method=method, conf_level=conf_level, seed=seed)
        for name, r in res.items():
            scale = "ratio" if name == "ratio_of_means" else "difference"
            rdiag = {**diag, **extra, "method": method, "n_resamples": n_resamples,
                     "seed": seed if not isinstance(seed, np.random.Generator) else None,
                     "z0": r.z0, "acceleration": r.acceleration,
                     "se_type": "bootstrap SD" + (" of the log ratio" if scale == "ratio"
                                                  else "")}
            records.append(_record(name, scale, _from_boot(r, scale), diagnostics=rdiag,
                                   warnings=warnings + list(r.warnings), **common))
    else:
        if model == "gamma":
            if (d.y == 0).mean() > 0.05:
                warnings.append(f"{(d.y == 0).mean():.0%} of costs are zero: the gamma GLM "
                                "fits them through its mean model only; consider "
                                "model='two_part'.")
            res_t, extra = _gamma_model(d, conf_level)
        else:
            res_t, extra = _ols_model(d, conf_level)
        for name, values in res_t.items():
            scale = "ratio" if name == "ratio_of_means" else "difference"
            records.append(_record(name, scale, values,
                                   diagnostics={**diag, **extra, "method": model},
                                   warnings=warnings, **common))
    options = dict(cost=cost, group=group, time=time, before=before, after=after, unit=unit,
                   reference=reference, per=per if pop is not None else None,
                   population=population, model=model, method=method, covariates=covariates,
                   n_resamples=n_resamples, seed=seed, conf_level=conf_level, savings=savings,
                   cluster=cluster)
    return DesignResult(design=DESIGN, effects=effects_frame(records),
                        diagnostics={"arms": arms.to_dict("records"), **{
                            k: diag[k] for k in ("comparison", "paired", "model", "adjusted")}},
                        warnings=tuple(dict.fromkeys(warnings)), options=options, frames=frames)
