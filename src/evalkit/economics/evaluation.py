"""The economic evaluation of a scheme, as an evaluation-spec design (``economic``).

From patient-level resource use (a cost per patient and period, and optionally an effect
such as QALYs) and the scheme's staffing table, :func:`economic` estimates, per patient
served:

- the scheme's cost (:func:`~evalkit.economics.costing.scheme_costs`, discounted over
  ``years`` and divided by the patients it serves);
- the change in resource-use cost the scheme caused, by one of three comparisons of the
  change from the ``before`` period to the ``after`` period:

  ``"before_after"``  the enrolled patients only (Maryland level 1: any regression to the
  mean after enrolment on a costly year counts as a saving);
  ``"did"``           enrolled against all other patients (level 3);
  ``"matched"``       enrolled against patients matched on every pre-period cost and
  effect, 1:1 nearest-neighbour propensity matching with a caliper (level 4 when every
  |SMD| <= 0.1 after matching, else 3). This is the comparison to use when enrolment
  followed a high-cost period;

- the incremental cost (scheme cost plus the change in resource-use cost: negative means
  the scheme saves money), net cost, return on investment, and, with an effect, the
  incremental effect, the ICER with its quadrant, the incremental net monetary benefit
  at each willingness to pay, the CEAC and the EVPI.

Uncertainty is by the non-parametric bootstrap (percentile intervals), resampling
patients within arms (or matched pairs) and keeping each patient's cost and effect
together, so the cost-effectiveness plane shows their correlation. Where patients are
nested in practices (``cluster``; by default the data's ``practice`` or ``area`` column
when every patient belongs to one), whole practices are resampled instead, within the
kinds of practice the arms make (scheme practices, which hold enrolled and other
patients, and the rest), so the intervals allow for costs and effects that correlate
within a practice (see :mod:`evalkit.economics.bootstrap` and ``docs/cost-coverage.md``).
The joint replicates of the changes are then spread about the point estimate by the
small-sample factor ``t_{df, 1 - alpha/2} / z_{1 - alpha/2}`` (``df`` = practices less
resampling strata; :func:`evalkit.economics.bootstrap.cluster_t_factor`), and everything
read from them uses the scaled replicates alike: the intervals, net-benefit intervals,
the plane's shares, the CEAC, the probability of saving or of being cost-effective, the
EVPI and the PSA (which pairs them with a scheme-cost draw); so a 95% net-benefit
interval excludes 0 exactly when the CEAC there is beyond 2.5% or 97.5%. Standard errors
are the SD of the unscaled replicates. Matched pairs go with the enrolled patient's
practice. The scheme's cost is
treated as known there, and varied in two sensitivity analyses:

- one-way (frame ``one_way``, a tornado diagram): the incremental net monetary benefit at
  the lower willingness to pay (without an effect, the net cost per patient) with the
  scheme's cost per patient 25% lower and higher (``scheme_cost_range``), the change in
  resource-use cost and the effect at the ends of their intervals, the willingness to pay
  across its range and, over more than one year, the discount rate at 0% and 1.5%;
- probabilistic (frame ``psa``): the scheme's cost per patient drawn from a gamma
  distribution with a relative standard error of ``scheme_cost_se`` (20%: salaries,
  on-costs and overheads are known only roughly), paired with the bootstrap replicates of
  the resource-use cost change and the effect (their joint sampling distribution), giving
  the probability of saving money and of being cost-effective with every input uncertain.

The overall verdict (:data:`VERDICTS`) is read from the point estimates by
:func:`evalkit.economics.wording.classify`: ``dominant`` (saves money, no loss of
effect), ``cost-saving`` (saves money, no effect measured), ``cost-effective`` (at every
threshold: costs more with an ICER at or below the lower threshold, or saves money and
loses effect with a saving per unit lost at or above the upper one), ``cost-effective at
the upper threshold`` (costs more and gains; ICER between the thresholds), ``cost-effective
at the lower threshold`` (saves and loses; saving per unit lost between the thresholds),
``not cost-effective``, ``dominated`` (costs more, no gain) and ``cost-increasing`` (costs
more, no effect measured).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.arguments import check_choice, check_conf_level, check_whole
from evalkit.data.inputs import takes_frame
from evalkit.economics.bootstrap import (
    Seed,
    _cluster_cells,
    _cluster_codes,
    _cluster_df,
    _cluster_resampled_means,
    _make_cells,
    _resampled_means,
    _rng,
    _t_factor,
    _widen,
)
from evalkit.economics.cost_effectiveness import (
    NICE_WTP,
    WTP_GRID,
    _column,
    ceac,
    evpi,
    incremental,
)
from evalkit.economics.costing import DISCOUNT_RATE, SENSITIVITY_RATES, scheme_costs
from evalkit.economics.net_cost import net_cost
from evalkit.economics.sensitivity import draw_parameters, one_way
from evalkit.economics.wording import classify
from evalkit.errors import DataError, DesignError
from evalkit.evidence.maryland import maryland_level
from evalkit.evidence.narrative import format_gbp as gbp
from evalkit.evidence.narrative import format_number
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["economic", "verdict", "COMPARISONS", "VERDICTS"]

DESIGN = "economic"
COMPARISONS = ("before_after", "did", "matched")
VERDICTS = ("dominant", "cost-saving", "cost-effective", "cost-effective at the upper threshold",
            "cost-effective at the lower threshold", "not cost-effective", "dominated",
            "cost-increasing")


def _wide(data: pd.DataFrame, *, patient: str, time: str, treated: str, cost: str,
          effect: str | None, periods: Sequence[Any], file: str | None) -> pd.DataFrame:
    """One row per patient: treated, and cost (and effect) in each period."""
    for name, what in ((patient, "patient"), (time, "time"), (treated, "treated"),
                       (cost, "cost")):
        _column(data, name, what, file)
    if effect is not None:
        _column(data, effect, "effect", file)
    values = [cost] + ([effect] if effect else [])
    for col in values:
        v = pd.to_numeric(data[col], errors="coerce")
        bad = v.isna().to_numpy()
        if bad.any():
            raise DataError(f"'{col}' has missing or non-numeric values", file=file,
                            column=col, rows=[int(i) + 2 for i in np.flatnonzero(bad)[:20]],
                            fix="fill or drop those rows")
    if (pd.to_numeric(data[cost]) < 0).any():
        rows = np.flatnonzero(pd.to_numeric(data[cost]).to_numpy() < 0) + 2
        raise DataError(f"'{cost}' has negative costs", file=file, column=cost,
                        rows=[int(r) for r in rows[:20]],
                        fix="resource-use costs cannot be negative; savings are estimated, "
                            "not entered")
    t = pd.to_numeric(data[treated], errors="coerce")
    if not t.isin([0, 1]).all():
        bad = np.flatnonzero(~t.isin([0, 1]).to_numpy()) + 2
        raise DataError(f"'{treated}' must be 0 or 1", file=file, column=treated,
                        rows=[int(r) for r in bad[:20]], fix="mark enrolled patients 1")
    keep = data[time].isin(list(periods))
    sub = data.loc[keep, [patient, time, treated, *values]]
    dup = sub.duplicated([patient, time])
    if dup.any():
        raise DataError(f"patients appear more than once in a {time}", file=file,
                        column=patient, rows=[int(i) + 2 for i in np.flatnonzero(
                            keep.to_numpy())[dup.to_numpy()][:20]],
                        fix="give one row per patient and period")
    wide = sub.pivot(index=patient, columns=time, values=values)
    wide.columns = [f"{v}_{p}" for v, p in wide.columns]
    missing = wide.isna().any(axis=1)
    if missing.any():
        raise DataError(f"{int(missing.sum())} patients lack a row in some of the periods "
                        f"{', '.join(map(str, periods))} (e.g. "
                        f"{', '.join(map(str, wide.index[missing][:3]))})", file=file,
                        column=time, fix="give every patient a row (zero cost) in every "
                                         "period, or drop them")
    arm = sub.groupby(patient)[treated].agg(["min", "max"])
    if (arm["min"] != arm["max"]).any():
        bad = arm.index[arm["min"] != arm["max"]][:3]
        raise DataError(f"'{treated}' changes over time for some patients (e.g. "
                        f"{', '.join(map(str, bad))})", file=file, column=treated,
                        fix="mark a patient enrolled in every period once they are enrolled")
    wide[treated] = arm["max"].reindex(wide.index).astype(int)
    return wide


AUTO_CLUSTERS = ("practice", "area")


def _practices(data: pd.DataFrame, wide: pd.DataFrame, *, patient: str, cluster: str | None,
               file: str | None) -> tuple[str | None, np.ndarray | None, str]:
    """The cluster column and each patient's cluster (in ``wide``'s order), or None.

    ``cluster="auto"`` takes the first of :data:`AUTO_CLUSTERS` in the data in which every
    patient has one value; a named column must be so. The third value says why.
    """
    if cluster is None or str(cluster).lower() == "none":
        return None, None, "patients resampled (cluster: none)"
    auto = str(cluster) == "auto"
    names = [c for c in AUTO_CLUSTERS if c in data.columns] if auto else [str(cluster)]
    if not auto:
        _column(data, names[0], "cluster", file)
    for name in names:
        per = data.groupby(patient, sort=False)[name]
        spread = per.nunique(dropna=False)
        if (spread > 1).any():
            if auto:
                continue
            bad = spread.index[spread > 1][:3]
            raise DataError(f"patients are not nested in '{name}': some belong to more than "
                            f"one (e.g. {', '.join(map(str, bad))})", file=file, column=name,
                            fix="give each patient one practice (e.g. at enrolment), or set "
                                "cluster: none")
        labels = per.first().reindex(wide.index)
        if labels.isna().any():
            raise DataError(f"'{name}' is missing for some patients (e.g. "
                            f"{', '.join(map(str, labels.index[labels.isna()][:3]))})",
                            file=file, column=name,
                            fix="give every patient's practice, or set cluster: none")
        return name, labels.astype(str).to_numpy(), f"practices resampled ({name})"
    if auto and names:
        return None, None, (f"patients resampled: they move between {names[0]}s, so no "
                            "practice holds a patient's whole record")
    return None, None, "patients resampled (no practice column)"


def _draw(x: np.ndarray, codes: np.ndarray, labels: tuple, practice: np.ndarray | None,
          name: str | None, n_resamples: int, rng: np.random.Generator, diag: dict[str, Any]
          ) -> tuple[np.ndarray, tuple[int, ...]]:
    """Group means of each replicate (B, G, k): patients, or whole practices, resampled.

    With practices, ``diag["cluster_df"]`` gets the small-sample degrees of freedom.
    """
    if practice is None:
        cells = _make_cells(x, codes, labels, None)
        return _resampled_means(cells, n_resamples, rng), ()
    c_codes, c_names = _cluster_codes(practice, len(practice), name or "cluster")
    ccells = _cluster_cells(x, codes, labels, c_codes, c_names, name=name or "cluster")
    diag["cluster_df"] = _cluster_df(ccells)
    return _cluster_resampled_means(ccells, n_resamples, rng), ccells.n_clusters


def _comparison_draws(wide: pd.DataFrame, d_cols: list[str], treated: str, comparison: str,
                      *, pre_cols: list[str], caliper: float, n_resamples: int,
                      rng: np.random.Generator, file: str | None,
                      practice: np.ndarray | None = None, cluster: str | None = None
                      ) -> tuple[np.ndarray, np.ndarray, dict[str, Any], list[str]]:
    """Point estimate and bootstrap draws of the change caused, for each d column.

    ``practice`` (one label per row of ``wide``) resamples whole practices.
    """
    t = wide[treated].to_numpy()
    D = wide[d_cols].to_numpy(dtype=float)
    diag: dict[str, Any] = {"comparison": comparison, "n_enrolled": int(t.sum())}
    warnings: list[str] = []
    if t.sum() == 0:
        raise DataError("no patient is enrolled", file=file, column=treated,
                        fix="mark enrolled patients 1")
    if comparison == "before_after":
        x = D[t == 1]
        point = x.mean(axis=0)
        means, n_cl = _draw(x, np.zeros(len(x), int), ("enrolled",),
                            None if practice is None else practice[t == 1], cluster,
                            n_resamples, rng, diag)
        if n_cl:
            diag["n_clusters"] = {"enrolled": n_cl[0]}
        return point, means[:, 0, :], diag, warnings
    if (t == 0).sum() == 0:
        raise DataError("there are no patients outside the scheme to compare with",
                        file=file, column=treated,
                        fix="use comparison: before_after, or add comparison patients")
    if comparison == "did":
        point = D[t == 1].mean(axis=0) - D[t == 0].mean(axis=0)
        m, n_cl = _draw(D, t, (0, 1), practice, cluster, n_resamples, rng, diag)
        diag["n_comparison"] = int((t == 0).sum())
        if n_cl:
            diag["n_clusters"] = {"comparison": n_cl[0], "enrolled": n_cl[1]}
        return point, m[:, 1, :] - m[:, 0, :], diag, warnings
    from evalkit.designs.matching import match

    frame = wide.reset_index(drop=True)
    m = match(frame, treated=treated, covariates=pre_cols, method="nearest",
              caliper=caliper, file=file)
    pairs = m.matched_pairs
    tr = frame.index.get_indexer(pairs["treated"])
    co = frame.index.get_indexer(pairs["control"])
    x = D[tr] - D[co]
    point = x.mean(axis=0)
    means, n_cl = _draw(x, np.zeros(len(x), int), ("pairs",),
                        None if practice is None else practice[tr], cluster, n_resamples, rng,
                        diag)
    draws = means[:, 0, :]
    if n_cl:
        diag["n_clusters"] = {"enrolled": n_cl[0]}
    diag.update(n_matched_pairs=int(len(pairs)), balance_ok=bool(m.diagnostics["balance_ok"]),
                max_abs_smd_after=float(m.diagnostics["max_abs_smd_after"]),
                matched_on=list(pre_cols))
    warnings.extend(m.warnings)
    return point, draws, diag, warnings


def _e_value_diag(comparison: str, estimate: float, ci: tuple[float, float], sd: float
                  ) -> dict[str, float]:
    """E-values of a matched difference (standardised by the outcome's SD after)."""
    from evalkit.evidence.e_value import e_values

    if comparison != "matched":
        return {}
    e, e_ci = e_values(estimate, *ci, scale="difference", sd=float(sd))
    return {"e_value": e, "e_value_ci": e_ci}


def _selection(wide: pd.DataFrame, treated: str, cols: list[str], pre: list[Any],
               labels: tuple[str, str]) -> dict[str, Any]:
    """The selection-at-a-peak check on the patients as enrolled (before any matching):
    the change from the second-last to the last pre-period, enrolled against the others,
    for the cost (a rise) and the effect (a change either way); it fires if either fires."""
    from evalkit.evidence.selection import selection_at_peak

    if len(pre) < 2:
        return {}
    n, t = len(wide), wide[treated].to_numpy() == 1
    out: dict[str, Any] = {}
    for col, label, way in zip(cols, labels, ("up", "either"), strict=False):
        chk = selection_at_peak(
            np.concatenate([wide[f"{col}_{pre[-2]}"], wide[f"{col}_{pre[-1]}"]]),
            unit=np.tile(np.arange(n), 2), period=np.repeat([0, 1], n),
            treated=np.tile(t, 2), start=2, window=1, reference=1, scale="difference",
            direction=way,
            label=lambda c: str(pre[-2] if c == 0 else pre[-1]))
        if chk is not None and (not out or chk.fired and not out["selection_at_peak"]):
            out = chk.as_dict(str(label).replace("_", " "))
    return out


def verdict(inc_cost: float, inc_effect: float | None, wtp: np.ndarray) -> str:
    """The economic verdict (one of :data:`VERDICTS`) from incremental cost and effect.

    The quadrant rules are those of :func:`evalkit.economics.wording.classify` (the
    function every report classifies a scheme with): in the south-west quadrant the
    scheme is cost-effective where the saving per unit of effect lost is at or above the
    threshold.

    Parameters
    ----------
    inc_cost, inc_effect
        Incremental cost and effect per patient (``inc_effect=None``: no effect measured).
    wtp
        The willingness-to-pay thresholds.
    """
    return classify(inc_cost, inc_effect, np.atleast_1d(wtp)).verdict


def _one_way(*, sc_table: pd.DataFrame, years: int, discount_rate: float,
             price_year: str | None, served: float, change: float,
             change_ci: tuple[float, float], effect: tuple[float, tuple[float, float]] | None,
             wtp: np.ndarray, cost_range: float, effect_label: str) -> pd.DataFrame:
    """The one-way sensitivity table of the economic result (see the module notes)."""
    cost_at = {discount_rate: scheme_costs(sc_table, years=years, discount_rate=discount_rate,
                                           price_year=price_year).total_discounted}
    if years > 1:
        for r in SENSITIVITY_RATES:
            cost_at[r] = scheme_costs(sc_table, years=years, discount_rate=r,
                                      price_year=price_year).total_discounted
    per = cost_at[discount_rate] / (served * years)

    def model(scheme_cost_factor, resource_change, effect_change, wtp_value, rate):
        inc_cost = scheme_cost_factor * cost_at[rate] / (served * years) + resource_change
        return inc_cost if effect is None else wtp_value * effect_change - inc_cost

    base = {"scheme_cost_factor": 1.0, "resource_change": change,
            "effect_change": 0.0 if effect is None else effect[0],
            "wtp_value": float(wtp.min()), "rate": discount_rate}
    ranges = {"scheme_cost_factor": (1 - cost_range, 1 + cost_range),
              "resource_change": change_ci}
    labels = {"scheme_cost_factor": f"Scheme cost per patient ({gbp(per * (1 - cost_range))}"
                                    f" to {gbp(per * (1 + cost_range))})",
              "resource_change": f"Change in resource-use cost ({gbp(change_ci[0])} to "
                                 f"{gbp(change_ci[1])})"}
    if effect is not None:
        ranges["effect_change"] = effect[1]
        labels["effect_change"] = (f"{effect_label} gained "
                                   f"({format_number(effect[1][0], '.3f')} to "
                                   f"{format_number(effect[1][1], '.3f')})")
        if wtp.size > 1:
            ranges["wtp_value"] = (float(wtp.min()), float(wtp.max()))
            labels["wtp_value"] = f"Willingness to pay ({gbp(wtp.min())} to {gbp(wtp.max())})"
    if years > 1:
        ranges["rate"] = (min(SENSITIVITY_RATES), max(SENSITIVITY_RATES))
        labels["rate"] = (f"Discount rate ({min(SENSITIVITY_RATES):.1%} to "
                          f"{max(SENSITIVITY_RATES):.1%})")
    return one_way(model, base, ranges, label=labels)


def _psa(per_patient: float, rel_se: float, draws: np.ndarray, with_effect: bool,
         rng: np.random.Generator) -> pd.DataFrame:
    """PSA draws: a gamma scheme cost beside the joint bootstrap replicates."""
    n = draws.shape[0]
    cost = draw_parameters({"scheme_cost": {"dist": "gamma", "mean": per_patient,
                                            "se": rel_se * per_patient}}, n,
                           seed=rng)["scheme_cost"].to_numpy()
    out = {"draw": np.arange(1, n + 1), "scheme_cost": cost, "inc_cost": cost + draws[:, 0]}
    if with_effect:
        out["inc_effect"] = draws[:, 1]
    return pd.DataFrame(out)


@takes_frame
def economic(data: pd.DataFrame, *, outcome: str = "cost", scheme: str = "",
             scheme_costs_table: pd.DataFrame, patients_served: float,
             patient: str = "patient_id", time: str = "year", treated: str = "enrolled",
             before: Any, after: Any, effect: str | None = None,
             effect_label: str = "QALYs", comparison: str = "did",
             match_periods: Sequence[Any] | None = None, caliper: float = 0.2,
             match_on: Sequence[str] | None = None,
             covariates_table: pd.DataFrame | None = None,
             years: int = 1, discount_rate: float = DISCOUNT_RATE,
             price_year: str | None = None, wtp: Sequence[float] = NICE_WTP,
             unit_cost_avoided: float | None = None, activity: str | None = None,
             activity_label: str | None = None, n_resamples: int = 2000,
             conf_level: float = 0.95, seed: Seed = 20260601,
             scheme_cost_range: float = 0.25, scheme_cost_se: float = 0.2,
             cluster: str | None = "auto", file: str | None = None) -> DesignResult:
    """Economic evaluation of a scheme per patient served: costs, savings and value.

    Parameters
    ----------
    data
        Patient-level resource use: one row per patient and period with ``cost`` (the
        ``outcome`` column, GBP) and optionally ``effect`` (e.g. QALYs in that period).
    outcome
        The cost column.
    scheme_costs_table
        The scheme's staffing table (see :func:`~evalkit.economics.costing.scheme_costs`);
        in a spec, the name of a data table.
    patients_served
        Patients the scheme serves in a year: its cost per patient is its discounted
        cost over ``years`` divided by ``patients_served * years``.
    patient, time, treated
        Columns: patient id, period, and 0/1 enrolment.
    before, after
        The period before enrolment and the period after.
    effect, effect_label
        The effect column (e.g. ``qaly``) and its unit for the text.
    comparison
        ``"before_after"``, ``"did"`` or ``"matched"`` (see the module notes).
    match_periods
        For ``"matched"``: the periods whose cost (and effect) are matched on; by default
        every period up to ``before``.
    caliper
        For ``"matched"``: in SDs of the propensity score's log-odds.
    match_on, covariates_table
        For ``"matched"``: more patient characteristics to match on (e.g. the risk score
        that enrolment used), from ``covariates_table`` (one row per patient, joined on
        ``patient``; in a spec, the name of a data table) or, if it is not given, from
        the first row of each patient in ``data``.
    years, discount_rate, price_year
        The scheme's costing horizon (in years), discount rate and price year.
    wtp
        Willingness to pay per unit of effect (NICE's 20,000 and 30,000 per QALY).
    unit_cost_avoided, activity, activity_label
        The cost of one unit of the activity the scheme aims to avoid and its column in
        ``data`` (e.g. ``3000`` and ``nonelective_admissions``): gives the break-even
        activity and the activity the scheme avoided.
    n_resamples, conf_level, seed
        The bootstrap (the PSA uses as many draws, from the same seed).
    scheme_cost_range, scheme_cost_se
        The one-way range (a fraction either side) and the PSA's relative standard error
        of the scheme's cost per patient.
    cluster
        The practice column patients are nested in: the bootstrap (and so the PSA, which
        pairs with its replicates) resamples whole practices. ``"auto"`` (default) uses
        ``practice`` (else ``area``) when the data have it and every patient belongs to
        one; ``None`` resamples patients one by one, which understates uncertainty when
        costs or effects correlate within practices.

    Returns
    -------
    DesignResult
        Effect records ``scheme_cost_per_patient``, ``resource_cost_change``,
        ``incremental_cost`` and ``roi`` (domain ``cost``); with an effect also
        ``incremental_effect``, ``icer`` and ``inc_nmb_<wtp>``; with an activity,
        ``activity_change``. Frames ``ce_draws`` (the bootstrap replicates), ``ceac``,
        ``evpi``, ``net_cost``, ``scheme_costs`` (cost by role), ``one_way`` (the tornado
        table, see :func:`~evalkit.economics.sensitivity.one_way`) and ``psa`` (draws of
        the scheme cost, incremental cost and effect). Diagnostics include the
        ``verdict``, the ``probability_saving`` and, per threshold, the probability that
        the scheme is cost-effective, each also under the PSA (``..._psa``).
    """
    check_choice("comparison", comparison, COMPARISONS)
    check_whole("n_resamples", n_resamples, 20)
    check_conf_level(conf_level)
    for name, value in (("scheme_cost_range", scheme_cost_range),
                        ("scheme_cost_se", scheme_cost_se)):
        if not (isinstance(value, (int, float)) and 0 < value < 1):
            raise DesignError(f"{name} must be a fraction between 0 and 1, not {value!r}",
                              fix=f"e.g. {name}: 0.2")
    if not (isinstance(patients_served, (int, float)) and patients_served > 0):
        raise DesignError(f"patients_served must be a positive number, not {patients_served!r}",
                          fix="give the number of patients the scheme serves in a year")
    wtp_arr = np.asarray(sorted(float(w) for w in wtp))
    if before == after:
        raise DesignError("before and after are the same period",
                          fix="give the period before enrolment and the period after")
    periods_all = sorted(pd.unique(data[time])) if time in data.columns else []
    for name, value in (("before", before), ("after", after)):
        if value not in periods_all:
            raise DesignError(f"{name} = {value!r} is not a value of '{time}'",
                              fix=f"use one of {', '.join(map(str, periods_all[:10]))}")
    pre = list(match_periods) if match_periods is not None else \
        [p for p in periods_all if p <= before]
    periods = sorted(set(pre) | {before, after})
    if activity is not None:
        _column(data, activity, "activity", file)
    wide = _wide(data, patient=patient, time=time, treated=treated, cost=outcome,
                 effect=effect, periods=periods, file=file)
    cols = [outcome] + ([effect] if effect else [])
    if activity is not None:
        act = data[data[time].isin([before, after])].pivot(index=patient, columns=time,
                                                            values=activity)
        wide[f"{activity}_{before}"] = act[before].reindex(wide.index).to_numpy(dtype=float)
        wide[f"{activity}_{after}"] = act[after].reindex(wide.index).to_numpy(dtype=float)
        cols.append(activity)
    d_cols = []
    for c in cols:
        wide[f"d_{c}"] = wide[f"{c}_{after}"] - wide[f"{c}_{before}"]
        d_cols.append(f"d_{c}")
    pre_cols = [f"{c}_{p}" for c in ([outcome] + ([effect] if effect else [])) for p in pre]
    if match_on:
        if comparison != "matched":
            raise DesignError("match_on is used only with comparison: matched",
                              fix="set comparison: matched, or drop match_on")
        source = covariates_table if covariates_table is not None else \
            data.groupby(patient, sort=False).first().reset_index()
        for col in [patient, *match_on]:
            _column(source, col, "covariate", None)
        extra = source.drop_duplicates(patient).set_index(patient)[list(match_on)]
        missing = ~wide.index.isin(extra.index)
        if missing.any():
            raise DataError(f"{int(missing.sum())} patients have no row in the covariates "
                            f"table (e.g. {', '.join(map(str, wide.index[missing][:3]))})",
                            column=patient, fix="give every patient a row")
        for col in match_on:
            wide[col] = extra[col].reindex(wide.index).to_numpy()
        pre_cols = [*match_on, *pre_cols]
    cluster_col, practice, resampled = _practices(data, wide, patient=patient,
                                                  cluster=cluster, file=file)
    rng = _rng(seed)
    point, draws, diag, warnings = _comparison_draws(
        wide, d_cols, treated, comparison, pre_cols=pre_cols, caliper=caliper,
        n_resamples=n_resamples, rng=rng, file=file, practice=practice, cluster=cluster_col)
    diag.update(cluster=cluster_col, resampled=resampled)
    factor = 1.0
    if "cluster_df" in diag:  # practices resampled: the small-sample factor
        factor = _t_factor(diag["cluster_df"], conf_level)
        draws = _widen(draws, point, factor)
        diag["t_factor"] = factor
    if comparison != "before_after":
        diag.update(_selection(wide, treated, [outcome] + ([effect] if effect else []), pre,
                               labels=(outcome, effect_label)))

    sc = scheme_costs(scheme_costs_table, years=years, discount_rate=discount_rate,
                      price_year=price_year)
    per_patient = sc.total_discounted / (patients_served * years)
    inc_cost_point = per_patient + point[0]
    inc_cost_draws = per_patient + draws[:, 0]
    alpha = 1 - conf_level

    def interval(x: np.ndarray) -> tuple[float, float]:
        lo, hi = np.quantile(x, [alpha / 2, 1 - alpha / 2])
        return float(lo), float(hi)

    def sd(x: np.ndarray) -> float:
        """The SD of the unscaled replicates (each x is linear in the scaled draws)."""
        return float(x.std(ddof=1) / factor)

    level = maryland_level(DESIGN, comparison, diag)
    diag.update(scheme_cost_total=sc.total_discounted, scheme_cost_annual=sc.annual_recurrent,
                scheme_setup=sc.setup, patients_served=float(patients_served), years=years,
                discount_rate=discount_rate, price_year=price_year, n_resamples=n_resamples,
                seed=seed if isinstance(seed, (int, np.integer)) else None,
                interval="bootstrap percentile"
                + (f", {cluster_col}s resampled whole, spread by t/z = {factor:.3f} "
                   f"({diag['cluster_df']} df)" if cluster_col else ""),
                before=before, after=after,
                evidence_level=level)
    nc = net_cost(per_patient, -draws[:, 0], unit_cost=unit_cost_avoided,
                  activity_avoided=None if activity is None else -draws[:, -1],
                  activity=activity_label or activity or "activity", conf_level=conf_level,
                  savings_estimate=-point[0],
                  activity_estimate=None if activity is None else -point[-1])
    nc_table = nc.table
    diag["probability_saving"] = nc.probability_saving

    def rec(estimand: str, estimate: float, lo_hi=(np.nan, np.nan), *, out: str = outcome,
            domain: str = "cost", se: float = np.nan, extra: dict | None = None):
        d = dict(diag) if extra is None else {**diag, **extra}
        return EffectRecord(scheme=scheme, domain=domain, outcome=out, design=DESIGN,
                            estimand=estimand, scale="difference", estimate=float(estimate),
                            se=float(se), ci_low=lo_hi[0], ci_high=lo_hi[1],
                            conf_level=conf_level, p_value=np.nan,
                            n_units=int(diag["n_enrolled"]), pre_periods=len(pre),
                            post_periods=1, evidence_level=level, diagnostics=d,
                            warnings=tuple(warnings))

    records = [
        rec("scheme_cost_per_patient", per_patient),
        rec("resource_cost_change", point[0], interval(draws[:, 0]), se=sd(draws[:, 0]),
            extra=_e_value_diag(comparison, point[0], interval(draws[:, 0]),
                                wide[f"{outcome}_{after}"].std())),
        rec("incremental_cost", inc_cost_point, interval(inc_cost_draws),
            se=sd(inc_cost_draws)),
        rec("roi", -point[0] / per_patient - 1, interval(-draws[:, 0] / per_patient - 1)),
    ]
    frames: dict[str, pd.DataFrame] = {"net_cost": nc_table, "scheme_costs": sc.by_role}
    inc_effect_point = None
    if effect is not None:
        inc_effect_point = float(point[1])
        e_draws = draws[:, 1]
        ce_draws = pd.DataFrame({"replicate": np.arange(1, n_resamples + 1),
                                 "inc_cost": inc_cost_draws, "inc_effect": e_draws})
        frames["ce_draws"] = ce_draws
        gains = e_draws > 0  # the plane's quadrants, as shares of the replicates
        diag["share_saving_gaining"] = float(np.mean(gains & (inc_cost_draws <= 0)))
        diag["share_costing_gaining"] = float(np.mean(gains & (inc_cost_draws > 0)))
        curve = ceac(ce_draws, wtp=sorted(set(WTP_GRID) | set(wtp_arr)))
        frames["ceac"] = curve[curve["strategy"] == "scheme"].reset_index(drop=True)
        frames["evpi"] = evpi(ce_draws, wtp=wtp_arr)
        ratio = incremental(inc_cost_point, inc_effect_point)
        diag.update(icer_quadrant=ratio["quadrant"], icer_note=ratio["note"])
        records.append(rec("incremental_effect", inc_effect_point, interval(e_draws),
                           out=effect, domain="outcome", se=sd(e_draws),
                           extra=_e_value_diag(comparison, inc_effect_point,
                                               interval(e_draws),
                                               wide[f"{effect}_{after}"].std())))
        records.append(rec("icer", ratio["icer"]))
        for lv in wtp_arr:
            inb = lv * e_draws - inc_cost_draws
            diag[f"prob_cost_effective_{int(lv)}"] = float(np.mean(inb > 0))
            records.append(rec(f"inc_nmb_{int(lv)}", lv * inc_effect_point - inc_cost_point,
                               interval(inb), se=sd(inb)))
    if activity is not None:
        records.append(rec("activity_change", point[-1], interval(draws[:, -1]), out=activity,
                           domain="outcome", se=sd(draws[:, -1])))
    diag["verdict"] = verdict(inc_cost_point, inc_effect_point, wtp_arr)
    frames["one_way"] = _one_way(
        sc_table=scheme_costs_table, years=years, discount_rate=discount_rate,
        price_year=price_year, served=float(patients_served), change=point[0],
        change_ci=interval(draws[:, 0]),
        effect=(inc_effect_point, interval(draws[:, 1])) if effect is not None else None,
        wtp=wtp_arr, cost_range=scheme_cost_range, effect_label=effect_label)
    unit = effect_label[:-1] if effect_label.endswith("s") else effect_label  # QALYs: QALY
    diag["one_way_output"] = (f"incremental net monetary benefit at GBP {wtp_arr.min():,.0f} "
                              f"per {unit} (GBP per patient)" if effect is not None
                              else "net cost per patient (GBP)")
    psa_draws = _psa(per_patient, scheme_cost_se, draws, effect is not None, rng)
    frames["psa"] = psa_draws
    diag["scheme_cost_se"] = scheme_cost_se
    diag["probability_saving_psa"] = float(np.mean(psa_draws["inc_cost"] < 0))
    if effect is not None:
        for lv in wtp_arr:
            diag[f"prob_cost_effective_{int(lv)}_psa"] = float(np.mean(
                lv * psa_draws["inc_effect"] - psa_draws["inc_cost"] > 0))
    # every record shares the final diagnostics
    records = [replace(r, diagnostics={**diag, **{k: v for k, v in r.diagnostics.items()
                                                  if k.startswith("e_value")}})
               for r in records]
    options = {"comparison": comparison, "patients_served": patients_served, "before": before,
               "after": after, "effect": effect, "effect_label": effect_label,
               "wtp": [float(w) for w in wtp_arr], "years": years,
               "discount_rate": discount_rate, "price_year": price_year,
               "activity": activity, "activity_label": activity_label,
               "unit_cost_avoided": unit_cost_avoided, "scheme_cost_range": scheme_cost_range,
               "scheme_cost_se": scheme_cost_se, "cluster": cluster_col}
    return DesignResult(DESIGN, effects_frame(records), diagnostics=diag,
                        warnings=tuple(warnings) + tuple(sc.warnings), options=options,
                        frames=frames)


# spec options that name a data table, resolved by run_spec
economic.table_options = ("scheme_costs_table", "covariates_table")
