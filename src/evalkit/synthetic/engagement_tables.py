"""Synthetic engagement tables beyond referrals, MDTs and the survey.

Each case study also gets, from random streams of their own (so the other tables do not
change):

- ``care_plans.csv``: by scheme unit and month from the start, patients on the scheme's
  register due a care plan (``eligible``) and plans completed (``completed``); completion
  rises with the unit's engagement and ramps up over the first months;
- ``maturity.csv``: a network maturity self-assessment against the ten building blocks of
  high-performing primary care (Bodenheimer et al., 2014), scored 1-5 by three raters in
  each network at the start (``baseline``) and a year later (``year 1``); networks whose
  practices engage more improve more;
- ``consultations.csv``: the GP consultations of a sample of the patients in
  ``patient_costs.csv`` (one row per consultation, with a date and a clinician), whose
  counts per year equal that table's ``gp_consultations``; each patient has a usual GP,
  seen with probability ``CONTINUITY_BASE`` at each consultation, and enrolled patients
  see them with probability ``CONTINUITY_BASE + continuity_change`` in the year after
  enrolment. The truth is the probability itself, so indices built on it (UPC, COC,
  SECON) can be checked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.data.periods import PeriodAxis, parse_period
from evalkit.synthetic.schemes import SchemeDef

__all__ = ["BLOCKS", "CONTINUITY_BASE", "care_plans", "maturity", "consultations"]

#: The ten building blocks, as short ids (labels live with the maturity analysis).
BLOCKS = ("leadership", "data", "resources_to_need", "team_based_care", "person_centred",
          "population_health", "continuity", "flexibility", "comprehensive_network",
          "future_of_care")
#: Difficulty of each block (higher: scored lower), so the profile is not flat.
_BLOCK_OFFSET = np.array([0.4, -0.5, -0.2, 0.3, 0.2, -0.6, -0.1, 0.0, -0.3, -0.4])
#: The chance that a consultation is with the patient's usual GP, before the scheme.
CONTINUITY_BASE = 0.55
#: Patients of ``patient_costs.csv`` in ``consultations.csv``: all enrolled, and this
#: many others.
N_OTHER_CONSULTING = 400
MONTHS = PeriodAxis("month")


def care_plans(rng: np.random.Generator, s: SchemeDef, units: np.ndarray,
               months: np.ndarray, first_treated: np.ndarray, engagement: np.ndarray,
               size: np.ndarray, unit_name: str) -> pd.DataFrame:
    """Care plans due and completed by scheme unit and month, from the start."""
    idx = np.flatnonzero(first_treated < 10**9)
    cells = [(i, j) for i in idx for j in np.flatnonzero(months >= first_treated[i])]
    i, j = (np.array(v, dtype=int) for v in zip(*cells, strict=True))
    since = months[j] - first_treated[i]
    ramp = np.minimum(1.0, (since + 1) / max(s.ramp_months, 1))
    eligible = rng.poisson(size[i, j] / 1000 * 1.2)
    p = np.clip((0.15 + 0.75 * engagement[i]) * ramp, 0.01, 0.97)
    completed = rng.binomial(eligible, p)
    return pd.DataFrame({unit_name: units[i], "month": MONTHS.labels(months[j]),
                         "eligible": eligible, "completed": completed})


def _networks(s: SchemeDef, units: pd.DataFrame, in_scheme: np.ndarray) -> np.ndarray:
    """The network of each scheme unit: its federation, or groups of about five."""
    idx = np.flatnonzero(in_scheme)
    if "federation" in units:
        return units["federation"].to_numpy()[idx]
    k = max(2, round(idx.size / 5))
    return np.array([f"N{(n % k) + 1:02d}" for n in range(idx.size)])


def maturity(rng: np.random.Generator, s: SchemeDef, units: pd.DataFrame,
             first_treated: np.ndarray, engagement: np.ndarray) -> pd.DataFrame:
    """Three raters per network score the ten blocks 1-5 at the start and a year on."""
    in_scheme = first_treated < 10**9
    nets = _networks(s, units, in_scheme)
    eng = pd.Series(engagement[in_scheme]).groupby(nets).mean()
    start = parse_period(s.start, MONTHS)
    waves = (("baseline", MONTHS.label(start)), ("year 1", MONTHS.label(start + 12)))
    raters = ("clinical director", "practice manager", "network manager")
    rows = []
    level = rng.normal(0, 0.35, eng.size)  # each network's own starting point
    for w, (wave, when) in enumerate(waves):
        gain = w * (0.2 + 1.4 * eng.to_numpy())
        for rater in raters:
            lean = rng.normal(0, 0.25)  # raters differ in how generously they score
            latent = (2.6 + level[:, None] + gain[:, None] + _BLOCK_OFFSET[None, :] + lean
                      + rng.normal(0, 0.45, (eng.size, len(BLOCKS))))
            score = np.clip(np.rint(latent), 1, 5).astype(int)
            for n, net in enumerate(eng.index):
                rows.extend((net, wave, when, rater, b, int(score[n, k]))
                            for k, b in enumerate(BLOCKS))
    return pd.DataFrame(rows, columns=["network", "wave", "month", "rater", "block", "score"])


def consultations(rng: np.random.Generator, s: SchemeDef, patients: pd.DataFrame,
                  unit_name: str) -> pd.DataFrame:
    """GP consultations of the enrolled patients and some others, with clinicians."""
    wide = patients.pivot(index="patient_id", columns="year", values="gp_consultations")
    first = patients.drop_duplicates("patient_id").set_index("patient_id")
    enrolled = first["enrolled"].reindex(wide.index).to_numpy() == 1
    others = np.flatnonzero(~enrolled)[:N_OTHER_CONSULTING]
    keep = np.sort(np.r_[np.flatnonzero(enrolled), others])
    ids = wide.index.to_numpy()[keep]
    practice = first[unit_name].reindex(ids).to_numpy()
    counts = wide.to_numpy()[keep].astype(int)                 # patients x 3 years
    # each practice has 4 to 9 GPs; each patient a usual GP among them
    codes, inverse = np.unique(practice, return_inverse=True)
    n_gps = rng.integers(4, 10, codes.size)
    usual = (rng.random(keep.size) * n_gps[inverse]).astype(int)
    start = pd.Timestamp(MONTHS.label(parse_period(s.start, MONTHS)) + "-01")
    year_start = [start - pd.DateOffset(years=2 - y) for y in range(3)]
    pat = np.repeat(np.arange(keep.size), counts.sum(axis=1))
    year = np.concatenate([np.repeat(np.arange(3), c) for c in counts])
    p_usual = np.where(enrolled[keep][pat] & (year == 2),
                       CONTINUITY_BASE + s.continuity_change, CONTINUITY_BASE)
    with_usual = rng.random(pat.size) < p_usual
    other = (rng.random(pat.size) * n_gps[inverse[pat]]).astype(int)
    gp = np.where(with_usual, usual[pat], other)
    days = rng.integers(0, 365, pat.size)
    date = np.array(year_start, dtype="datetime64[D]")[year] + days.astype("timedelta64[D]")
    frame = pd.DataFrame({
        "patient_id": ids[pat], unit_name: practice[pat],
        "date": pd.to_datetime(date).strftime("%Y-%m-%d"),
        "clinician": [f"{p}-GP{g + 1}" for p, g in zip(practice[pat], gp, strict=True)]})
    return frame.sort_values(["patient_id", "date", "clinician"], kind="stable",
                             ignore_index=True)
