"""Generate one synthetic case study: panel, engagement, costs and the truth.

Everything is drawn from one seeded :class:`numpy.random.Generator`, so a scheme
is the same every time it is generated.

The practice panel follows a log-linear rate model per practice and month:
age and deprivation gradients, a practice effect, winter seasonality, a secular
trend and a transient practice-level AR(1) shock (a 'bad spell'), with
gamma-Poisson counts. A scheme multiplies its units' rates by the true effect,
ramped up over the first months and scaled by each practice's engagement.
Where scheme units were chosen for high recent values, the transient shock
makes them regress to the mean afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evalkit.data.periods import PeriodAxis, parse_period
from evalkit.synthetic import engagement_tables
from evalkit.synthetic.schemes import FIRST_MONTH, N_MONTHS, SchemeDef

__all__ = ["OUTCOMES", "UNIT_COSTS", "CaseStudy", "generate"]

AXIS = PeriodAxis("month")

#: Outcome definitions: family, base monthly rate per 1,000 (counts), seasonal
#: amplitude, yearly trend, weight of the transient shock, gamma shape (over-dispersion).
OUTCOMES = {
    "emergency_admissions": dict(label="Emergency admissions", family="quasipoisson",
                                 base=9.5, season=0.08, trend=0.01, shock=1.0, shape=40.0,
                                 age=4.0, imd=0.012),
    "ae_attendances": dict(label="A&E attendances", family="quasipoisson", base=30.0,
                           season=0.03, trend=0.015, shock=1.0, shape=60.0, age=1.5, imd=0.01),
    "bed_days": dict(label="Emergency bed days", family="quasipoisson", base=55.0,
                     season=0.12, trend=-0.005, shock=1.2, shape=10.0, age=5.0, imd=0.012),
    "patient_experience": dict(label="Patients rating their practice good (%)",
                               family="gaussian", base=82.0, sd_unit=4.0, sd_noise=2.0,
                               shock_scale=25.0, trend=-0.4),
    "continuity": dict(label="Continuity of care (Usual Provider of Care index)",
                       family="gaussian", base=0.55, sd_unit=0.06, sd_noise=0.02,
                       shock_scale=0.3, trend=-0.008),
    "deaths_at_home": dict(label="Deaths at home (share of deaths)", family="binomial",
                           base=0.24),
    "bed_days_last90": dict(label="Hospital bed days in the last 90 days of life, per death",
                            family="quasipoisson", base=13.0, shape=12.0),
}

#: Illustrative unit costs (GBP, 2021/22 prices) used only to cost the synthetic
#: patient-level resource use. They are round figures of the order of the PSSRU
#: Unit Costs of Health and Social Care and the NHS National Cost Collection, not
#: quotations from either.
UNIT_COSTS = {"gp_consultations": 42.0, "ae_attendances": 180.0,
              "nonelective_admissions": 1700.0, "bed_days": 400.0,
              "community_contacts": 55.0, "social_care_hours": 28.0}


@dataclass
class CaseStudy:
    """The tables and truth of one synthetic scheme."""

    scheme: SchemeDef
    panel: pd.DataFrame
    referrals: pd.DataFrame
    mdt: pd.DataFrame
    survey: pd.DataFrame
    patient_costs: pd.DataFrame
    scheme_costs: pd.DataFrame
    truth: dict
    localities: pd.DataFrame | None = None
    patient_cohort: pd.DataFrame | None = None
    care_plans: pd.DataFrame | None = None
    maturity: pd.DataFrame | None = None
    consultations: pd.DataFrame | None = None


def _months() -> np.ndarray:
    first = parse_period(FIRST_MONTH, AXIS)
    return np.arange(first, first + N_MONTHS)


def _units(rng: np.random.Generator, s: SchemeDef) -> pd.DataFrame:
    n = s.n_units
    if s.unit_kind == "area":
        size = np.clip(rng.lognormal(np.log(45000), 0.4, n), 15000, 150000).round()
        prefix = "AREA"
    else:
        size = np.clip(rng.lognormal(np.log(9000), 0.55, n), 1000, 40000).round()
        prefix = "P"
    units = pd.DataFrame({
        "unit": [f"{prefix}{i + 1:03d}" for i in range(n)],
        "size0": size.astype(int),
        "pct_65plus": np.clip(rng.beta(6, 27, n), 0.05, 0.35).round(3),
        "imd_score": np.clip(rng.gamma(2.5, 9.0, n), 3, 70).round(1),
        "effect_u": rng.normal(0, 0.12, n),
        "growth": rng.normal(0.01, 0.01, n),
    })
    if s.waves:
        feds = list(s.waves)
        units["federation"] = [feds[i % len(feds)] for i in rng.permutation(n)]
    return units


def _ar1(rng: np.random.Generator, n: int, t: int, sd: float, rho: float = 0.85) -> np.ndarray:
    x = np.empty((n, t))
    x[:, 0] = rng.normal(0, sd, n)
    innov = rng.normal(0, sd * np.sqrt(1 - rho**2), (n, t))
    for j in range(1, t):
        x[:, j] = rho * x[:, j - 1] + innov[:, j]
    return x


def _ramp(months: np.ndarray, start: np.ndarray, ramp: int) -> np.ndarray:
    """0 before start, rising linearly to 1 over ``ramp`` months (n x t)."""
    since = months[None, :] - start[:, None]
    return np.clip((since + 1) / ramp, 0, 1) * (since >= 0)


def generate(s: SchemeDef) -> CaseStudy:
    """Generate the synthetic case study for one scheme definition."""
    rng = np.random.default_rng(s.seed)
    months = _months()
    n, t = s.n_units, months.size
    units = _units(rng, s)
    start = parse_period(s.start, AXIS)
    years = (months - months[0]) / 12.0
    season = np.cos(2 * np.pi * (months % 12) / 12.0)  # peaks in January
    size = units["size0"].to_numpy()[:, None] * (1 + units["growth"].to_numpy()[:, None]) ** years
    size = np.maximum(size.round(), 500)
    shock = _ar1(rng, n, t, s.transient_sd)
    concentration = 5.0
    engagement = np.clip(rng.beta(concentration * s.engagement_mean,
                                  concentration * (1 - s.engagement_mean), n), 0.02, 1.0)

    # Linear predictor shared by the count outcomes, before the scheme.
    def log_rate(spec: dict) -> np.ndarray:
        lr = (np.log(spec["base"] / 1000.0)
              + spec.get("age", 0) * (units["pct_65plus"].to_numpy() - 0.18)[:, None]
              + spec.get("imd", 0) * (units["imd_score"].to_numpy() - 22)[:, None]
              + units["effect_u"].to_numpy()[:, None]
              + spec.get("trend", 0) * years[None, :]
              + spec.get("season", 0) * season[None, :]
              + spec.get("shock", 1.0) * shock)
        return lr

    # Who is in the scheme, and from when.
    first_treated = np.full(n, np.iinfo(np.int64).max)
    if s.selection == "staggered":
        wave = units["federation"].map(s.waves)
        has = wave.astype(bool).to_numpy()
        first_treated[has] = [parse_period(w, AXIS) for w in wave[has]]
    else:
        if s.selection == "random":
            chosen = rng.choice(n, s.n_treated, replace=False)
        elif s.selection == "large":
            p = units["size0"].to_numpy() ** 1.0
            chosen = rng.choice(n, s.n_treated, replace=False, p=p / p.sum())
        elif s.selection == "high":
            # Chosen on the counts actually observed in the year before the start.
            spec = OUTCOMES[s.select_on]
            before = months < start
            mu = size[:, before] * np.exp(log_rate(spec)[:, before])
            pre_counts = rng.poisson(mu * rng.gamma(spec["shape"], 1 / spec["shape"], mu.shape))
            window = months[before] >= start - 12
            rate = pre_counts[:, window].sum(1) / size[:, before][:, window].sum(1)
            chosen = np.argsort(-rate, kind="stable")[: s.n_treated]
        else:
            raise ValueError(s.selection)
        first_treated[chosen] = start
    in_scheme = first_treated < np.iinfo(np.int64).max
    eng_scale = engagement / engagement[in_scheme].mean()
    ramp = _ramp(months, np.where(in_scheme, first_treated, 10**9), s.ramp_months)

    panel = pd.DataFrame({
        "unit": np.repeat(units["unit"].to_numpy(), t),
        "month": np.tile(AXIS.labels(months), n),
    })
    size_col = "population" if s.unit_kind == "area" else "list_size"
    panel[size_col] = size.astype(int).ravel()
    truth_effects = []
    followup = (months >= start) & (months < start + 12)
    truth_rows = (first_treated == start)[:, None] & followup[None, :]
    at_12 = (first_treated == start)[:, None] & (months == start + 12)[None, :]
    deaths = None
    expected: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # outcome: (without, with)
    for outcome, effect in s.effects.items():
        spec = OUTCOMES[outcome]
        family = spec["family"]
        if family == "quasipoisson" and outcome != "bed_days_last90":
            mu0 = size * np.exp(log_rate(spec))
            mult = np.exp(np.log(effect) * ramp * eng_scale[:, None])
            mu1 = mu0 * mult
            expected[outcome] = (mu0, mu1)
            gamma = rng.gamma(spec["shape"], 1 / spec["shape"], (n, t))
            counts = rng.poisson(mu1 * gamma)
            if s.selection == "high" and outcome == s.select_on:
                counts[:, months < start] = pre_counts  # the counts selection was based on
            panel[outcome] = counts.ravel()
            true = mu1[truth_rows].sum() / mu0[truth_rows].sum()
            truth_effects.append((outcome, "ratio", true,
                                  mu1[at_12].sum() / mu0[at_12].sum()))
        elif family == "gaussian":
            base = spec["base"] + rng.normal(0, spec["sd_unit"], n)[:, None]
            y0 = (base + spec["trend"] * years[None, :] + spec["shock_scale"] * shock
                  + rng.normal(0, spec["sd_noise"], (n, t)))
            add = effect * ramp * eng_scale[:, None]
            y = y0 + add
            if outcome == "continuity":
                y = np.clip(y, 0, 1)
            panel[outcome] = y.round(3).ravel()
            truth_effects.append((outcome, "difference", float(add[truth_rows].mean()),
                                  float(add[at_12].mean())))
        elif outcome == "deaths_at_home":
            death_rate = 0.8 / 1000 * (1 + 0.15 * season)[None, :] * np.exp(0.5 * shock)
            deaths = rng.poisson(size * death_rate)
            deaths = np.maximum(deaths, 1)
            logit0 = (np.log(spec["base"] / (1 - spec["base"])) + rng.normal(0, 0.2, n)[:, None]
                      + 0.03 * years[None, :] + 2.0 * shock)
            p0 = 1 / (1 + np.exp(-logit0))
            p1 = np.clip(p0 + effect * ramp * eng_scale[:, None], 0.01, 0.95)
            panel["deaths"] = deaths.ravel()
            panel[outcome] = rng.binomial(deaths, p1).ravel()
            w, w12 = deaths[truth_rows], deaths[at_12]
            truth_effects.append((outcome, "difference",
                                  float(np.sum((p1 - p0)[truth_rows] * w) / w.sum()),
                                  float(np.sum((p1 - p0)[at_12] * w12) / w12.sum())))
        elif outcome == "bed_days_last90":
            if deaths is None:
                raise ValueError("deaths_at_home must come before bed_days_last90")
            mu0 = deaths * spec["base"] * np.exp(0.1 * season[None, :] + shock
                                                  + units["effect_u"].to_numpy()[:, None])
            mu1 = mu0 * np.exp(np.log(effect) * ramp * eng_scale[:, None])
            gamma = rng.gamma(spec["shape"], 1 / spec["shape"], (n, t))
            panel[outcome] = rng.poisson(mu1 * gamma).ravel()
            truth_effects.append((outcome, "ratio",
                                  float(mu1[truth_rows].sum() / mu0[truth_rows].sum()),
                                  float(mu1[at_12].sum() / mu0[at_12].sum())))
        else:
            raise ValueError(outcome)
    treated_now = (months[None, :] >= first_treated[:, None]).astype(int)
    if s.selection == "staggered":
        panel["treated"] = treated_now.ravel()
        cohort = np.where(in_scheme, [AXIS.label(c) if c < 10**9 else "0"
                                      for c in np.minimum(first_treated, 10**9)], "0")
        panel["cohort"] = np.repeat(cohort, t)
        panel["first_wave"] = np.repeat((first_treated == start).astype(int), t)
        panel["federation"] = np.repeat(units["federation"].to_numpy(), t)
    else:
        panel["treated"] = np.repeat(in_scheme.astype(int), t)
    panel["comparison"] = np.repeat((~in_scheme).astype(int), t)
    panel["pct_65plus"] = np.repeat(units["pct_65plus"].to_numpy(), t)
    panel["imd_score"] = np.repeat(units["imd_score"].to_numpy(), t)
    unit_name = "area" if s.unit_kind == "area" else "practice"
    panel = panel.rename(columns={"unit": unit_name})

    tables = _engagement(rng, s, units, months, first_treated, engagement, size, unit_name)
    patients, patient_truth, latent = _patient_costs(rng, s, units, in_scheme, unit_name)
    truth = {
        "scheme": s.name,
        "synthetic": True,
        "note": "Synthetic data: true effects built into the generator. No claim about any "
                "real scheme.",
        "start": s.start,
        "selection": s.selection,
        "regression_to_the_mean_built_in": {
            "panel": s.selection == "high",
            "patient_costs": s.patients_selected_high,
        },
        "effects": [
            {"outcome": o, "data": "panel", "domain": "outcome", "scale": scale,
             "value": round(float(v), 6),
             "window": [AXIS.label(start), AXIS.label(start + 11)],
             "effect_at_12": round(float(v12), 6),
             "estimand": "effect on scheme units over the first 12 months (expected counts "
                         "with the scheme against without it); effect_at_12 is the effect in "
                         "month 12 after the start"}
            for o, scale, v, v12 in truth_effects
        ] + patient_truth,
        "engagement": {"mean_engagement": round(float(engagement[in_scheme].mean()), 4),
                       "effect_scales_with_engagement": True},
    }
    localities = cohort = None
    # Extra tables draw from their own random streams, so the tables above do not change.
    if s.localities:
        localities, loc_truth = _localities(np.random.default_rng(s.seed + 7919), s, panel,
                                            in_scheme, expected, size, months, start)
        truth["effects"].extend(loc_truth)
    if s.patient_cohort:
        cohort = _patient_cohort(np.random.default_rng(s.seed + 7927), patients, latent)
        truth["effects"].append({**patient_truth[0], "data": "patient_cohort",
                                 "outcome": "cost_y3"})
    staffing = _scheme_costs(s)
    truth["economic"] = economic_truth(s, staffing, patient_truth)
    unit_ids = units["unit"].to_numpy()
    plans = engagement_tables.care_plans(np.random.default_rng(s.seed + 7949), s, unit_ids,
                                         months, first_treated, engagement, size, unit_name)
    assessed = engagement_tables.maturity(np.random.default_rng(s.seed + 7951), s, units,
                                          first_treated, engagement)
    visits = engagement_tables.consultations(np.random.default_rng(s.seed + 7963), s,
                                             patients, unit_name)
    truth["engagement"]["continuity"] = {
        "p_usual_gp_before": engagement_tables.CONTINUITY_BASE,
        "p_usual_gp_after_enrolled": round(engagement_tables.CONTINUITY_BASE
                                           + s.continuity_change, 4),
        "note": "the chance that a GP consultation is booked with the patient's usual GP "
                "(otherwise with a GP of the practice drawn at random, who may again be the "
                "usual GP); after = the year after enrolment, enrolled patients"}
    truth["engagement"]["engagement_by_unit"] = {
        str(u): round(float(e), 4) for u, e in zip(unit_ids[in_scheme], engagement[in_scheme],
                                                   strict=True)}
    return CaseStudy(s, panel, *tables, patients, staffing, truth, localities, cohort,
                     care_plans=plans, maturity=assessed, consultations=visits)


def economic_truth(s: SchemeDef, staffing: pd.DataFrame, patient_truth: list[dict]) -> dict:
    """The true economics per patient served: what the ``economic`` analysis estimates.

    The scheme's first-year cost (set-up included, at its price year) is spread over the
    patients it serves, ``patients_served``: the first-year cost over the scheme's cost per
    patient, rounded to tens (the spec declares the same number). The true change in
    resource-use cost and the true QALY gain are the enrolled patients' expected changes in
    the year after enrolment; the verdict follows the same rule as the estimate
    (:func:`evalkit.economics.evaluation.verdict`) at NICE's thresholds.
    """
    from evalkit.economics.cost_effectiveness import NICE_WTP
    from evalkit.economics.costing import scheme_costs
    from evalkit.economics.evaluation import verdict

    first_year = scheme_costs(staffing, years=1).total_discounted
    served = int(round(first_year / s.cost_per_patient, -1))
    per = first_year / served
    change = next(t["value"] for t in patient_truth if t["outcome"] == "cost")
    gain = next(t["value"] for t in patient_truth if t["outcome"] == "qaly")
    inc = per + change
    wtp = np.asarray(NICE_WTP, dtype=float)
    return {
        "patients_served": served,
        "scheme_cost_per_patient": round(per, 2),
        "resource_cost_change": change,
        "incremental_cost": round(inc, 2),
        "incremental_effect": gain,
        "icer": round(inc / gain, 0) if gain > 0 and inc > 0 else None,
        **{f"inc_nmb_{int(w)}": round(w * gain - inc, 2) for w in wtp},
        "verdict": verdict(inc, gain, wtp),
        "note": "per patient served, the year after enrolment; the ICER is given only where "
                "the scheme costs more and gains QALYs (north-east quadrant)",
    }


def _localities(rng, s: SchemeDef, panel: pd.DataFrame, in_scheme: np.ndarray,
                expected: dict, size: np.ndarray, months: np.ndarray, start: int):
    """Practices grouped into localities: the scheme's practices form one locality and the
    others are grouped at random into ``s.localities`` comparison localities.

    Returns the locality-by-month table (summed counts and list sizes, rates per 1,000 a
    month, list-size weighted covariates) and the true effect on the scheme locality's
    rates over the whole post period (expected rate with the scheme minus without it).
    """
    unit = "area" if s.unit_kind == "area" else "practice"
    size_col = "population" if s.unit_kind == "area" else "list_size"
    names = panel[unit].unique()
    others = np.flatnonzero(~in_scheme)
    group = np.empty(len(names), dtype=object)
    group[in_scheme] = "L00 (scheme)"
    group[others] = [f"L{k % s.localities + 1:02d}" for k in rng.permutation(len(others))]
    frame = panel.assign(locality=np.repeat(group, len(months)))
    counts = [o for o in s.effects if o in expected]
    frame = frame.assign(w65=frame["pct_65plus"] * frame[size_col],
                         wimd=frame["imd_score"] * frame[size_col])
    agg = frame.groupby(["locality", "month"], sort=True)[[size_col, *counts, "w65",
                                                          "wimd"]].sum().reset_index()
    for o in counts:
        agg[f"{o}_rate"] = (1000 * agg[o] / agg[size_col]).round(4)
    agg["pct_65plus"] = (agg.pop("w65") / agg[size_col]).round(4)
    agg["imd_score"] = (agg.pop("wimd") / agg[size_col]).round(2)
    agg["treated"] = (agg["locality"] == "L00 (scheme)").astype(int)
    post = months >= start
    truth = []
    for o in counts:
        mu0, mu1 = expected[o]
        pop = size[in_scheme][:, post].sum(0)
        diff = 1000 * (mu1[in_scheme][:, post].sum(0) - mu0[in_scheme][:, post].sum(0)) / pop
        truth.append({
            "outcome": f"{o}_rate", "data": "localities", "domain": "outcome",
            "scale": "difference", "value": round(float(diff.mean()), 6),
            "window": [AXIS.label(start), AXIS.label(months[-1])],
            "estimand": "effect on the scheme locality's rate per 1,000 a month, averaged "
                        "over every month from the start (expected rate with the scheme "
                        "minus without it)"})
    return agg, truth


def _patient_cohort(rng, patients: pd.DataFrame, latent: tuple[np.ndarray, np.ndarray]
                    ) -> pd.DataFrame:
    """One row per patient: characteristics and resource use in each of the three years.

    Age, sex and the number of long-term conditions are drawn here; age and conditions
    rise with the patient's latent frailty, which also drives resource use. Patients were
    enrolled on their expected use in year 2 (a risk-stratification tool); ``risk_score``
    is that tool's score (the log of expected use, with a little measurement error, on a
    0-100-like scale), so matching on it and on the two years before enrolment removes
    nearly all of the selection.
    """
    frailty, log_risk = latent
    n = len(frailty)
    wide = patients.pivot(index="patient_id", columns="year")
    out = pd.DataFrame({"patient_id": wide.index})
    unit = [c for c in patients.columns if c in ("practice", "area")][0]
    first = patients.groupby("patient_id", sort=True).first()
    out[unit] = first[unit].to_numpy()
    out["enrolled"] = first["enrolled"].to_numpy()
    out["age"] = np.clip(np.round(76 + 5 * frailty + rng.normal(0, 6, n)), 65, 101).astype(int)
    out["female"] = (rng.random(n) < 0.56).astype(int)
    out["conditions"] = rng.poisson(np.exp(0.6 + 0.5 * frailty))
    out["risk_score"] = np.round(50 + 15 * (log_risk + rng.normal(0, 0.1, n)), 1)
    for year in (1, 2, 3):
        out[f"admissions_y{year}"] = wide[("nonelective_admissions", year)].to_numpy()
        out[f"cost_y{year}"] = wide[("cost", year)].to_numpy()
    return out


def _engagement(rng, s: SchemeDef, units, months, first_treated, engagement, size, unit_name):
    in_scheme = first_treated < 10**9
    idx = np.flatnonzero(in_scheme)
    rows = []
    for i in idx:
        active = engagement[i] >= 0.15
        for j in np.flatnonzero(months >= first_treated[i]):
            since = months[j] - first_treated[i]
            lam = size[i, j] / 1000 * 0.6 * engagement[i] * min(1.0, (since + 1) / s.ramp_months)
            rows.append((units["unit"][i], AXIS.label(months[j]),
                         int(rng.poisson(lam)) if active else 0))
    referrals = pd.DataFrame(rows, columns=[unit_name, "month", "referrals"])

    professions = {"GP": 0.75, "practice nurse": 0.85, "pharmacist": 0.7,
                   "social worker": 0.6, "mental health worker": 0.55}
    mrows = []
    for i in idx:
        for j in np.flatnonzero((months >= first_treated[i]) & (months < first_treated[i] + 24)):
            for prof, base in professions.items():
                p = np.clip(base * (0.4 + 0.8 * engagement[i]), 0.02, 0.98)
                mrows.append((units["unit"][i], AXIS.label(months[j]), prof, 1,
                              int(rng.random() < p)))
    mdt = pd.DataFrame(mrows, columns=[unit_name, "month", "profession", "invited", "attended"])

    items = ["understand_aims", "joint_working_improved", "helps_patients", "time_to_take_part"]
    offsets = [0.6, 0.0, 0.3, -0.6]
    cuts = np.array([-1.5, -0.5, 0.3, 1.2])
    srows = []
    rid = 0
    for wave, shift in (("before", 0.0), ("after", 1.0)):
        for i in idx:
            for k in range(5):
                rid += 1
                prof = list(professions)[k]
                person = rng.normal(0, 0.6)
                for item, off in zip(items, offsets, strict=True):
                    latent = off + person + rng.normal(0, 0.8) + shift * 0.8 * (engagement[i] - 0.2)
                    srows.append((f"R{rid:05d}", units["unit"][i], prof, wave, item,
                                  int(np.searchsorted(cuts, latent) + 1)))
    survey = pd.DataFrame(srows, columns=["respondent", unit_name, "profession", "wave", "item",
                                          "response"])
    return referrals, mdt, survey


def _patient_costs(rng, s: SchemeDef, units, in_scheme, unit_name):
    """Three years of resource use for older patients; enrolment before year 3."""
    n_enrol, n_other = 400, 1200
    n = n_enrol + n_other
    scheme_units = units["unit"].to_numpy()[in_scheme]
    frailty = rng.normal(0, 0.7, n)
    shock = rng.normal(0, 0.6, (n, 3))
    base = {"gp_consultations": 6.0, "ae_attendances": 0.5, "nonelective_admissions": 0.3,
            "community_contacts": 4.0}
    intensity = np.exp(frailty[:, None] + shock - 0.6**2 / 2 - 0.7**2 / 2)
    expected_cost = sum(UNIT_COSTS[k] * b * intensity for k, b in base.items()) \
        + UNIT_COSTS["bed_days"] * 7 * base["nonelective_admissions"] * intensity
    if s.patients_selected_high:
        enrolled_idx = np.argsort(-(expected_cost[:, 1] * rng.gamma(4, 0.25, n)),
                                  kind="stable")[:n_enrol]
    else:
        enrolled_idx = np.argsort(-(frailty + rng.normal(0, 1.0, n)), kind="stable")[:n_enrol]
    enrolled = np.zeros(n, dtype=bool)
    enrolled[enrolled_idx] = True
    practice = np.where(enrolled, rng.choice(scheme_units, n), rng.choice(units["unit"], n))
    # Practice effects (schemes with practice_sd only, from their own stream, so that the
    # selection above and every other scheme are unchanged): a practice-year multiplier of
    # resource use and a shift in utility, in force after patients are chosen.
    cost_mult = qaly_shift = None
    if any(s.practice_sd):
        at = pd.Index(units["unit"]).get_indexer(practice)
        cost_mult, qaly_shift = (x[at] for x in _practice_effects(
            np.random.default_rng(s.seed + 7937), len(units), s.practice_sd))
        intensity = intensity * cost_mult
    hospital = np.ones((n, 3))
    hospital[enrolled, 2] = s.patient_cost_effect
    community = np.ones((n, 3))
    community[enrolled, 2] = s.community_uplift
    no_contact = rng.random((n, 3)) < 0.12
    lam = {k: b * intensity for k, b in base.items()}
    counts = {
        "gp_consultations": rng.poisson(lam["gp_consultations"]),
        "ae_attendances": rng.poisson(lam["ae_attendances"] * hospital),
        "nonelective_admissions": rng.poisson(lam["nonelective_admissions"] * hospital),
        "community_contacts": rng.poisson(lam["community_contacts"] * community),
    }
    adm = counts["nonelective_admissions"]
    counts["bed_days"] = np.where(adm > 0, rng.negative_binomial(np.maximum(adm, 1) * 1.5,
                                                                 1.5 / (1.5 + 7)), 0)
    care = rng.random((n, 3)) < 0.25 * np.minimum(intensity, 3)
    counts["social_care_hours"] = np.where(care, rng.gamma(2.0, 60.0, (n, 3)), 0.0).round(1)
    for k in counts:
        counts[k] = np.where(no_contact, 0, counts[k])
    cost = sum(UNIT_COSTS[k] * counts[k] for k in counts)
    # Truth: expected cost with the scheme minus without it, enrolled patients, year 3.
    e = enrolled
    diff = ((UNIT_COSTS["ae_attendances"] * lam["ae_attendances"][e, 2]
             + UNIT_COSTS["nonelective_admissions"] * lam["nonelective_admissions"][e, 2]
             + UNIT_COSTS["bed_days"] * 7 * lam["nonelective_admissions"][e, 2])
            * (s.patient_cost_effect - 1)
            + UNIT_COSTS["community_contacts"] * lam["community_contacts"][e, 2]
            * (s.community_uplift - 1)) * (1 - 0.12)
    # Health-related quality of life (EQ-5D-like utility, one year = one QALY at that
    # utility), from its own random stream so that the columns above do not change: worse
    # with frailty and with a costly year; the scheme adds qaly_gain in year 3.
    qrng = np.random.default_rng(s.seed + 7933)
    utility = 0.78 - 0.09 * frailty[:, None] - 0.06 * shock + qrng.normal(0, 0.07, (n, 3))
    if qaly_shift is not None:
        utility = utility + qaly_shift
    gain = np.zeros((n, 3))
    gain[enrolled, 2] = s.qaly_gain
    qaly = np.clip(utility + gain, -0.3, 1.0)
    qaly_diff = float((qaly[enrolled, 2] - np.clip(utility[enrolled, 2], -0.3, 1.0)).mean())
    frame = pd.DataFrame({
        "patient_id": np.repeat([f"PT{i + 1:05d}" for i in range(n)], 3),
        unit_name: np.repeat(practice, 3),
        "enrolled": np.repeat(enrolled.astype(int), 3),
        "year": np.tile([1, 2, 3], n),
        **{k: v.ravel() for k, v in counts.items()},
        "cost": np.round(cost.ravel(), 2),
        "qaly": np.round(qaly.ravel(), 3),
    })
    truth = {"outcome": "cost", "data": "patient_costs", "domain": "cost",
             "scale": "difference", "value": round(float(diff.mean()), 2),
             "window": ["3", "3"],
             "estimand": "mean change in expected resource-use cost per enrolled patient in "
                         "the year after enrolment (GBP), scheme against no scheme"}
    truth = [truth, {"outcome": "qaly", "data": "patient_costs", "domain": "outcome",
                     "scale": "difference", "value": round(qaly_diff, 4), "window": ["3", "3"],
                     "estimand": "mean QALY gain per enrolled patient in the year after "
                                 "enrolment, scheme against no scheme"}]
    if any(s.practice_sd):
        truth[0]["practice_icc"] = practice_icc(s.practice_sd, s.seed)
    return frame, truth, (frailty, np.log(intensity[:, 1]))


#: Persistent share of a practice effect's variance (the rest is new each year), and the
#: correlation of the cost and utility effects (a costly practice-year is a worse one).
PRACTICE_PERSISTENT, PRACTICE_COST_QALY_CORR = 0.3, -0.5


def _practice_effects(rng: np.random.Generator, n_units: int, sd: tuple[float, float]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Practice-year effects (n_units, 3): a resource-use multiplier (lognormal, mean 1,
    log-SD ``sd[0]``) and a utility shift (normal, SD ``sd[1]``), each with 30% of its
    variance persistent and the rest new each year, correlated -0.5 between cost and
    utility."""
    z = rng.standard_normal((2, n_units, 1))
    w = rng.standard_normal((2, n_units, 3))
    f, r = PRACTICE_PERSISTENT, PRACTICE_COST_QALY_CORR
    cost = np.sqrt(f) * z[0] + np.sqrt(1 - f) * w[0]
    other = np.sqrt(f) * z[1] + np.sqrt(1 - f) * w[1]
    qaly = r * cost + np.sqrt(1 - r * r) * other
    return np.exp(sd[0] * cost - sd[0] ** 2 / 2), sd[1] * qaly


def practice_icc(sd: tuple[float, float], seed: int, n_practices: int = 4000,
                 per_practice: int = 50) -> dict:
    """The practice-level intraclass correlations the generator builds in, by simulation.

    ``n_practices x per_practice`` patients of the comparison population (no scheme) are
    drawn from the same resource-use and utility model with the practice effects of
    ``sd``; the one-way ANOVA ICC of the cost and QALYs in a year (year 3) and of their
    change from year 2 to year 3 (what the economic analysis compares) are its truth,
    to about +-0.005 (Monte Carlo).
    """
    rng = np.random.default_rng(seed + 7939)
    n = n_practices * per_practice
    frailty = rng.normal(0, 0.7, n)
    shock = rng.normal(0, 0.6, (n, 3))
    mult, shift = _practice_effects(rng, n_practices, sd)
    at = np.repeat(np.arange(n_practices), per_practice)
    intensity = np.exp(frailty[:, None] + shock - 0.6**2 / 2 - 0.7**2 / 2) * mult[at]
    cost = _resource_cost(rng, intensity, (n, 3))
    utility = 0.78 - 0.09 * frailty[:, None] - 0.06 * shock + rng.normal(0, 0.07, (n, 3))
    qaly = np.clip(utility + shift[at], -0.3, 1.0)

    def icc(x: np.ndarray) -> float:
        groups = x.reshape(n_practices, per_practice)
        within = groups.var(axis=1, ddof=1).mean()
        between = groups.mean(axis=1).var(ddof=1) - within / per_practice
        return round(float(between / (between + within)), 3)

    return {"cost": icc(cost[:, 2]), "qaly": icc(qaly[:, 2]),
            "cost_change": icc(cost[:, 2] - cost[:, 1]),
            "qaly_change": icc(qaly[:, 2] - qaly[:, 1]),
            "practice_sd": list(sd),
            "note": "intraclass correlation within practices of patients' cost and QALYs in "
                    "a year and of their change from the year before enrolment to the year "
                    "after; patients in one practice share a practice-year effect, so "
                    "intervals must resample practices, not patients"}


def _resource_cost(rng: np.random.Generator, intensity: np.ndarray, shape: tuple) -> np.ndarray:
    """Cost of the resource use of patients of ``intensity`` without a scheme (for
    :func:`practice_icc`; the same model as :func:`_patient_costs`)."""
    base = {"gp_consultations": 6.0, "ae_attendances": 0.5, "nonelective_admissions": 0.3,
            "community_contacts": 4.0}
    counts = {k: rng.poisson(b * intensity) for k, b in base.items()}
    adm = counts["nonelective_admissions"]
    counts["bed_days"] = np.where(adm > 0, rng.negative_binomial(np.maximum(adm, 1) * 1.5,
                                                                 1.5 / (1.5 + 7)), 0)
    care = rng.random(shape) < 0.25 * np.minimum(intensity, 3)
    counts["social_care_hours"] = np.where(care, rng.gamma(2.0, 60.0, shape), 0.0).round(1)
    no_contact = rng.random(shape) < 0.12
    return sum(UNIT_COSTS[k] * np.where(no_contact, 0, v) for k, v in counts.items())


def _scheme_costs(s: SchemeDef) -> pd.DataFrame:
    """A simple staffing table for the scheme (illustrative Agenda for Change costs)."""
    staff = [("clinical lead (GP)", "medical", 0.4, 110000.0), ("team manager", "8a", 1.0, 57000.0),
             ("community nurse", "6", 4.0, 41000.0), ("physiotherapist", "6", 1.5, 41000.0),
             ("pharmacist", "7", 1.0, 48000.0), ("care coordinator", "4", 2.0, 27000.0)]
    scale = max(1.0, s.n_treated / 25)
    rows = [(role, band, round(wte * scale, 1), salary, 0.28, 0.15, "recurrent")
            for role, band, wte, salary in staff]
    rows.append(("set-up: training and IT", "", 0.0, 60000.0 * scale, 0.0, 0.0, "setup"))
    return pd.DataFrame(rows, columns=["role", "band", "wte", "annual_salary", "oncost_rate",
                                       "overhead_rate", "cost_type"])
