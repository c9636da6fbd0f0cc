"""Everything a spec's ``engagement:`` block supports, measured once for a scheme.

:func:`profile_engagement` runs the engagement measures of :mod:`evalkit.engagement`,
the SPC charts of :mod:`evalkit.variation.spc`, the funnel plot of :mod:`evalkit.variation` and the
continuity indices of :mod:`evalkit.engagement.continuity` on the tables the spec names, and returns
an :class:`EngagementProfile`. Reports, notebooks and ``results.json`` read it; nothing in
it is re-estimated elsewhere.

What it holds, where the data allow:

- ``indices``: referrals, share of units referring, MDT attendance, care plans,
  concentration and time to first referral (:func:`~evalkit.engagement.engagement`);
- ``referral_spc``: a u-chart of the scheme units' referrals per 1,000 patients a month;
- ``funnel``: each unit's referrals per 1,000 patients a year against its list size, with
  95% and 99.8% limits allowing for overdispersion;
- ``survey``, ``survey_change``, ``reliability``: staff agreement before and after, the
  proportional odds ratio of each item (ordinal logistic regression) and Cronbach's alpha;
- ``maturity``: the network maturity self-assessment;
- ``continuity``: UPC, COC and SECON of enrolled and other patients before and after the
  start (enrolment from the spec's ``patient_costs`` table);
- ``dose_response``: whether units that referred more changed more, on the headline outcome
  (:func:`~evalkit.engagement.dose_response_panel`, unit random intercepts);
- ``outcome_spc``: the headline outcome of the scheme's units a month as an XmR chart with
  separate limits before and after the start: the before and after at a glance.

Disclosure control
    Everything is computed on the full counts; what may be published is marked with the
    profile's :class:`~evalkit.evidence.disclosure.DisclosureRules` (NHS HES small numbers by
    default), so that every table, sentence, figure and results file that shows the
    profile hides the same things (:mod:`evalkit.evidence.disclosure`): MDT attendance by
    profession and the survey's shares (``hidden`` columns), each unit's referrals
    (``referrals_hidden`` in the indices' ``by_unit``; the funnel's ``units`` have
    ``hidden``: a point drawn at its rate and patient-years would give the count away),
    and the SPC charts' points whose numerator is a small count (``hidden`` in their
    ``points``: not drawn, nor their limits).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from evalkit.engagement import (
    DoseResponseResult,
    EngagementResult,
    LikertSummary,
    MaturityResult,
    ReliabilityResult,
    cronbach_alpha,
    dose_response_panel,
    engagement,
    likert_change,
    likert_summary,
    maturity,
)
from evalkit.engagement.continuity import ContinuityResult, continuity
from evalkit.evidence.disclosure import DisclosureRules, small_counts
from evalkit.results import DesignResult, effects_frame
from evalkit.variation import FunnelResult, funnel
from evalkit.variation.spc import SPCResult, u_chart, xmr

__all__ = ["EngagementProfile", "profile_engagement"]


@dataclass(frozen=True)
class EngagementProfile:
    """The engagement measures of one scheme (see the module notes)."""

    scheme: str
    unit: str
    time: str
    start: str | None
    indices: EngagementResult | None = None
    referral_spc: SPCResult | None = None
    funnel: FunnelResult | None = None
    survey: LikertSummary | None = None
    survey_change: Mapping[str, DesignResult] = field(default_factory=dict)
    reliability: ReliabilityResult | None = None
    maturity: MaturityResult | None = None
    continuity: ContinuityResult | None = None
    dose_response: DoseResponseResult | None = None
    outcome_spc: SPCResult | None = None
    outcome: str | None = None
    outcome_per: float = 1000.0
    notes: tuple[str, ...] = ()

    @property
    def outcome_unit(self) -> str:
        """How the headline outcome is expressed: a percentage or a rate per 1,000."""
        return "%" if self.outcome_per == 100.0 else "per 1,000 a month"

    @property
    def effects(self) -> pd.DataFrame:
        """The engagement effect records (indices, survey changes, dose-response)."""
        frames = [r.effects for r in (self.indices, *self.survey_change.values(),
                                      self.dose_response) if r is not None]
        if not frames:
            return effects_frame([])
        out = pd.concat(frames, ignore_index=True)
        out["scheme"] = self.scheme
        return out

    def to_frame(self) -> pd.DataFrame:
        """The effect records (a copy)."""
        return self.effects.copy()

    def summary(self) -> str:
        """Plain text: the headline and the effect records."""
        lines = [self.indices.headline()] if self.indices is not None else []
        cols = ["outcome", "estimand", "estimate", "ci_low", "ci_high"]
        lines.append(self.effects[cols].to_string(index=False))
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines)


def _start(spec) -> str | None:
    start = spec.engagement.get("start")
    return None if start is None else str(start)


def _kind_table(evaluation, kind: str) -> pd.DataFrame | None:
    names = [n for n, s in evaluation.spec.data.items() if s.kind == kind]
    return evaluation.table(names[0]) if names else None


def _headline_outcome(spec, panel: pd.DataFrame) -> str | None:
    """The first outcome of the panel with a denominator (a rate), else the first."""
    for name, o in spec.outcomes.items():
        if name in panel.columns and o.get("denominator") in panel.columns:
            return name
    return None


def _treated_from(panel: pd.DataFrame, unit: str, time: str, start: str | None
                  ) -> pd.Series:
    """The first treated period of each scheme unit (``cohort`` where the waves differ)."""
    if "cohort" in panel.columns:
        c = panel.groupby(unit)["cohort"].first()
        return c[c.astype(str) != "0"].astype(str)
    treated = panel.groupby(unit)["treated"].max() if "treated" in panel else pd.Series()
    return pd.Series(start, index=treated.index[treated == 1])


def _hide_points(chart: SPCResult, times: pd.Series, numerators: pd.Series,
                 rules: DisclosureRules) -> SPCResult:
    """The chart with ``hidden`` on each point whose numerator is a small count.

    ``times`` and ``numerators`` are the series the chart was drawn from; a point with no
    numerator (none there) is hidden, to be safe. A phase holding a hidden point also
    loses its mean and limits (NaN in ``points`` and ``limits``, whose ``hidden`` says
    so), and the chart's sentence says they are not shown: the phase mean and the other
    points would give the hidden value back (the mean is their average; for p- and
    u-charts, nearly, as denominators change little from month to month).
    """
    at = chart.points["time"]
    dates = pd.api.types.is_datetime64_any_dtype(at)
    key = pd.to_datetime(times.astype(str)) if dates else times.astype(str)
    num = pd.Series(numerators.to_numpy(float), index=key.to_numpy())
    found = (at if dates else at.astype(str)).map(num)
    hidden = small_counts(found.fillna(1), rules)
    points = chart.points.assign(hidden=hidden)
    phases = set(points.loc[hidden, "phase"])
    limits = chart.limits.assign(hidden=chart.limits["phase"].isin(phases))
    overview = chart.overview
    if phases:
        lines = ["mean", "upper", "lower", "upper_2sigma", "lower_2sigma"]
        points.loc[points["phase"].isin(phases), [c for c in lines if c in points]] = np.nan
        limits.loc[limits["hidden"], [c for c in lines if c in limits]] = np.nan
        name = {"xmr": "XmR chart", "u": "u-chart", "p": "p-chart"}.get(chart.chart,
                                                                          chart.chart)
        overview = overview.copy()
        overview.loc[:, [c for c in lines if c in overview]] = np.nan
        overview = overview.assign(sentence=(
            f"On the {name}, {int(hidden.sum())} "
            f"{'month' if int(hidden.sum()) == 1 else 'months'} with a small count and the mean "
            "and limits of their phase are not shown (disclosure control: small numbers)."))
    return replace(chart, points=points, limits=limits, overview=overview)


def _hide_dose_range(dr: DoseResponseResult, doses: pd.Series, hidden: pd.Series
                     ) -> DoseResponseResult:
    """The result with each end of its dose range withheld (``None``) when it is the dose
    of a unit whose referrals are a small count: with the unit's list size, it would
    give the count away."""
    if doses.empty or not hidden.any():
        return dr
    ends = [doses.idxmin(), doses.idxmax()]
    lo_hi = list(dr.diagnostics["dose_range"])
    new = [None if bool(hidden.get(u, False)) else v for u, v in zip(ends, lo_hi,
                                                                      strict=True)]
    if new == lo_hi:
        return dr
    diag = {**dr.diagnostics, "dose_range": new}
    effects = dr.effects.assign(diagnostics=[{**d, "dose_range": new}
                                             for d in dr.effects["diagnostics"]])
    # the fitted line is drawn from the lowest dose to the highest: start (or end) it at
    # a round dose inside the range instead
    line = dr.frames["line"]
    lo, hi = float(line["dose"].min()), float(line["dose"].max())
    step = 5 * 10 ** (np.floor(np.log10(max(hi - lo, 1e-12))) - 1)
    a = np.floor(lo / step) * step + step if new[0] is None else lo
    b = np.ceil(hi / step) * step - step if new[1] is None else hi
    grid = np.linspace(a, b if b > a else hi, len(line))
    redrawn = pd.DataFrame({c: grid if c == "dose" else np.interp(grid, line["dose"], line[c])
                            for c in line.columns})
    return replace(dr, diagnostics=diag, effects=effects,
                   frames={**dr.frames, "line": redrawn})


def profile_engagement(evaluation, *, rules: DisclosureRules | None = None
                       ) -> EngagementProfile | None:
    """Measure a scheme's engagement from the tables its spec's ``engagement:`` names.

    Parameters
    ----------
    evaluation
        An :class:`~evalkit.evaluation.pipeline.Evaluation` (its tables are read once and cached).
    rules
        The disclosure-control rules marking what may be published (default: NHS HES
        small numbers; see the module notes).

    Returns
    -------
    EngagementProfile or None
        ``None`` when the spec declares no engagement data.
    """
    spec = evaluation.spec
    e = spec.engagement
    if not e or "referrals" not in e or "panel" not in e:
        return None
    rules = rules or DisclosureRules()
    unit, time, start = e.get("unit", "practice"), e.get("time", "month"), _start(spec)
    panel = evaluation.table(e["panel"])
    table = {k: evaluation.table(e[k]) if k in e else None
             for k in ("referrals", "mdt", "survey", "care_plans", "maturity",
                       "consultations")}
    notes: list[str] = []
    size = "population" if "population" in panel.columns else "list_size"
    sizes = panel[[unit, time, size]]
    # in a staggered roll-out each unit's first year starts at its own launch
    launch = None if "cohort" in panel.columns else start
    indices = engagement(table["referrals"], sizes=sizes, unit=unit, time=time, start=launch,
                         mdt=table["mdt"], care_plans=table["care_plans"],
                         scheme=spec.scheme, disclosure=rules)
    # referrals per 1,000 patients a month across the scheme's units, as a u-chart
    monthly = indices.frames["by_period"].groupby(time, as_index=False)[
        ["referrals", "list_size"]].sum().rename(columns={"list_size": "registered patients"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short series: the chart says its limits are trial
        referral_spc = u_chart(monthly, numerator="referrals",
                               denominator="registered patients",
                               time=time, per=1000.0, improvement="increase")
    referral_spc = _hide_points(referral_spc, monthly[time], monthly["referrals"], rules)
    by_unit = indices.frames["by_unit"]
    years = by_unit["list_size"] * by_unit["periods_observed"] / 12.0
    funnel_res = funnel(by_unit.assign(patient_years=years), numerator="referrals",
                        denominator="patient_years", unit=unit, kind="rate",
                        multiplier=1000.0, overdispersion=True)
    funnel_res = replace(funnel_res, units=funnel_res.units.assign(
        hidden=funnel_res.units["unit"].map(by_unit.set_index(unit)["referrals_hidden"])
        .fillna(False).astype(bool).to_numpy()))
    survey = change = reliability = None
    if table["survey"] is not None:
        sv = table["survey"]
        survey = likert_summary(sv, disclosure=rules)
        change = {item: likert_change(sv, item=item, scheme=spec.scheme)
                  for item in sorted(sv["item"].unique())}
        reliability = cronbach_alpha(sv, items=sorted(sv["item"].unique()), wave="wave")
    mat = maturity(table["maturity"]) if table["maturity"] is not None else None
    cont = _continuity(evaluation, table["consultations"], start)
    outcome = _headline_outcome(spec, panel)
    dose = outcome_spc = None
    per = 1000.0
    if outcome is not None:
        den = spec.outcomes[outcome]["denominator"]
        first = _treated_from(panel, unit, time, start)
        per = 100.0 if spec.outcomes[outcome].get("family") == "binomial" else 1000.0
        dose, outcome_spc = _outcome_views(panel, outcome=outcome, den=den, per=per, unit=unit,
                                           time=time, first=first, start=start,
                                           dose=by_unit.set_index(unit)["per_1000"],
                                           dose_hidden=by_unit.set_index(unit)[
                                               "referrals_hidden"],
                                           better=spec.outcomes[outcome].get("better"),
                                           scheme=spec.scheme, rules=rules)
    return EngagementProfile(scheme=spec.scheme, unit=unit, time=time, start=start,
                             indices=indices, referral_spc=referral_spc, funnel=funnel_res,
                             survey=survey, survey_change=change or {},
                             reliability=reliability, maturity=mat, continuity=cont,
                             dose_response=dose, outcome_spc=outcome_spc, outcome=outcome,
                             outcome_per=per,
                             notes=tuple(notes))


def _continuity(evaluation, visits: pd.DataFrame | None, start: str | None
                ) -> ContinuityResult | None:
    """Continuity of enrolled and other patients, before and after the start."""
    if visits is None or start is None:
        return None
    costs = _kind_table(evaluation, "patient_costs")
    v = visits.copy()
    after = pd.to_datetime(v["date"]) >= pd.Timestamp(f"{start}-01")
    period = np.where(after, "after", "before")
    if costs is not None and {"patient_id", "enrolled"} <= set(costs.columns):
        enrolled = costs.groupby("patient_id")["enrolled"].max()
        arm = np.where(v["patient_id"].map(enrolled).fillna(0).to_numpy() == 1,
                       "enrolled", "not enrolled")
        v["group"] = pd.Series(arm, index=v.index) + ", " + period
    else:
        v["group"] = period
    return continuity(v, patient="patient_id", provider="clinician", date="date",
                      group="group")


def _outcome_views(panel: pd.DataFrame, *, outcome: str, den: str, per: float, unit: str,
                   time: str,
                   first: pd.Series, start: str | None, dose: pd.Series, better: Any,
                   scheme: str, rules: DisclosureRules, dose_hidden: pd.Series
                   ) -> tuple[DoseResponseResult | None, SPCResult | None]:
    """The dose-response slope and the before/after SPC chart of the headline outcome."""
    p = panel[[unit, time, outcome, den]].copy()
    p["rate"] = p[outcome] / p[den] * per
    begins = p[unit].map(first)
    p["treated_post"] = (begins.notna() & (p[time].astype(str) >= begins.fillna("~"))
                         ).astype(int)
    p["dose"] = p[unit].map(dose)
    p.loc[p["treated_post"] == 0, "dose"] = np.nan
    dr = _hide_dose_range(dose_response_panel(p, outcome="rate", unit=unit, time=time,
                                              treated_post="treated_post", dose="dose",
                                              scheme=scheme),
                          p.loc[p["dose"].notna()].groupby(unit)["dose"].first(), dose_hidden)
    scheme_units = p[p[unit].isin(first.index)]
    series = scheme_units.groupby(time, as_index=False)[[outcome, den]].sum()
    name = outcome.replace("_", " ") + (" (%)" if per == 100.0 else " per 1,000")
    series[name] = series[outcome] / series[den] * per
    improvement = {"lower": "decrease", "higher": "increase"}.get(better)
    rebase = start if start is not None and start in set(series[time].astype(str)) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chart = xmr(series, value=name, time=time, rebase=rebase, improvement=improvement)
    return dr, _hide_points(chart, series[time], series[outcome], rules)
