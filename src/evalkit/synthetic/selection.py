"""Simulated patients enrolled after a spell of high use: selection on high baseline risk.

Schemes for "high-risk" patients (case management, integrated care teams, virtual wards)
usually enrol people just after a spell of high hospital use. Part of that spell is
transient, so their admissions would have fallen anyway: an uncontrolled before/after
comparison of the enrolled is biased by regression to the mean. A comparison group
matched on the same recent trajectory of admissions, and on characteristics, removes the
bias (Steventon et al., 2012, Health Foundation / Nuffield Trust; the Improvement
Analytics Unit's approach). This module simulates that setting with a known truth, for
the coverage study ``benchmarks/matched_did_coverage.py`` and the tests. Everything here
is simulated.

Data-generating process (person i, year j = 1, 2, 3 before enrolment, and the year after):

- ``age`` = 65 + Gamma(shape 2, scale 6), rounded, at most 100; ``female`` ~
  Bernoulli(0.55); ``deprivation`` = IMD quintile 1 (most deprived) to 5, uniform;
  ``comorbidities`` ~ Poisson(exp(-0.1 + 0.03 (age - 75) + 0.1 (3 - deprivation))).
- Persistent risk ``u_i = -0.9 + 0.015 (age - 75) + 0.2 comorbidities + 0.08
  (3 - deprivation) - 0.1 female + eta_i`` with ``eta_i ~ N(0, 0.35^2)`` unobserved.
- Transient shocks ``e_ij ~ N(0, 0.5^2)``, independent across years, and a common trend
  ``a_j = 0.03 j``. Expected admissions ``mu_ij = exp(u_i + a_j + e_ij)``; emergency
  admissions ``admissions_pre{j} ~ Poisson(mu_ij)`` in years 1 to 3 (3 = the year just
  before enrolment).
- Enrolment after a high-use spell: ``P(enrolled) = logistic(alpha + 0.8
  admissions_pre3 + 0.15 comorbidities)``, with ``alpha`` chosen (by bisection on the
  expected share) so that about ``enrol_share`` of people enrol. Selection depends only
  on observed variables, so matching on the covariates and the pre-period admissions
  identifies the effect.
- The year after: ``mu0_i = exp(u_i + a_4 + e_i4)`` without the scheme and ``mu1_i =
  max(mu0_i + effect, 0)`` with it; ``admissions_post ~ Poisson(mu1_i)`` for enrolled
  people and ``Poisson(mu0_i)`` for the others.

The true effect (``SelectionTruth.truth``) is the average over enrolled people of
``mu1_i - mu0_i``: the additive ``effect`` except where ``mu0_i < |effect|`` (then the
floor at zero makes it smaller); ``SelectionTruth.individual`` holds each person's
``mu1 - mu0`` (0 for people not enrolled) so the truth for any subset (e.g. the matched
treated) can be computed. ``SelectionTruth.rtm_bias`` is the bias an uncontrolled
before/after of the enrolled (post minus the most recent pre year) would have on
average: the mean over enrolled people of ``mu0_i - admissions_pre3_i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

__all__ = ["SelectionTruth", "simulate_selection"]


@dataclass(frozen=True)
class SelectionTruth:
    """Simulated cohort and its truth.

    Attributes
    ----------
    data
        One row per person: ``person_id``, ``age``, ``female``, ``deprivation``,
        ``comorbidities``, ``admissions_pre1`` to ``admissions_pre3`` (oldest to most
        recent), ``admissions_post``, ``enrolled``.
    truth
        The true effect on the enrolled: mean of ``mu1 - mu0`` over enrolled people.
    effect
        The additive effect asked for.
    individual
        Each person's ``mu1 - mu0`` (0 if not enrolled), aligned with ``data``.
    rtm_bias
        Expected bias of the uncontrolled before/after (post minus ``admissions_pre3``)
        of the enrolled: mean over enrolled of ``mu0 - admissions_pre3``.
    pre, post, covariates
        Column names of the pre-period outcomes, the post-period outcome and the
        characteristics.
    """

    data: pd.DataFrame
    truth: float
    effect: float
    individual: pd.Series
    rtm_bias: float
    pre: tuple[str, ...] = ("admissions_pre1", "admissions_pre2", "admissions_pre3")
    post: str = "admissions_post"
    covariates: tuple[str, ...] = ("age", "female", "deprivation", "comorbidities")


def _intercept_for_share(score: np.ndarray, share: float) -> float:
    """The intercept alpha with mean(logistic(alpha + score)) = share (bisection)."""
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if expit(mid + score).mean() < share:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def simulate_selection(n: int = 5000, effect: float = -0.3, *, enrol_share: float = 0.1,
                       selection: float = 0.8, shock_sd: float = 0.5,
                       frailty_sd: float = 0.35, seed: int = 0) -> SelectionTruth:
    """Older people enrolled into a scheme after a spell of high emergency admissions.

    Parameters
    ----------
    n
        People (all aged 65 and over).
    effect
        Additive effect of the scheme on expected emergency admissions in the year after
        enrolment (e.g. -0.3 admissions a person a year).
    enrol_share
        Expected share of people enrolled.
    selection
        Log-odds of enrolment per admission in the year before (how strongly enrolment
        follows a high-use spell).
    shock_sd
        SD of the transient (year-to-year) shocks on the log scale: the larger, the more
        regression to the mean.
    frailty_sd
        SD of the unobserved persistent part of risk.
    seed
        Seed; the same seed gives identical data.

    Returns
    -------
    SelectionTruth
        ``.data`` and ``.truth`` (see the module docstring for the process).

    Examples
    --------
    >>> sim = simulate_selection(n=1000, seed=1)
    >>> bool(sim.data["enrolled"].mean() > 0)
    True
    """
    rng = np.random.default_rng(seed)
    age = np.minimum(65 + np.round(rng.gamma(2.0, 6.0, n)), 100).astype(int)
    female = (rng.random(n) < 0.55).astype(int)
    deprivation = rng.integers(1, 6, n)
    comorb = rng.poisson(np.exp(-0.1 + 0.03 * (age - 75) + 0.1 * (3 - deprivation)))
    u = (-0.9 + 0.015 * (age - 75) + 0.2 * comorb + 0.08 * (3 - deprivation) - 0.1 * female
         + rng.normal(0, frailty_sd, n))
    trend = 0.03 * np.arange(1, 5)
    shocks = rng.normal(0, shock_sd, (n, 4))
    mu = np.exp(u[:, None] + trend[None, :] + shocks)
    pre = rng.poisson(mu[:, :3])
    score = selection * pre[:, 2] + 0.15 * comorb
    alpha = _intercept_for_share(score, enrol_share)
    enrolled = rng.random(n) < expit(alpha + score)
    mu0 = mu[:, 3]
    mu1 = np.maximum(mu0 + effect, 0.0)
    post = rng.poisson(np.where(enrolled, mu1, mu0))
    data = pd.DataFrame({
        "person_id": [f"P{i:06d}" for i in range(n)], "age": age, "female": female,
        "deprivation": deprivation, "comorbidities": comorb,
        "admissions_pre1": pre[:, 0], "admissions_pre2": pre[:, 1],
        "admissions_pre3": pre[:, 2], "admissions_post": post,
        "enrolled": enrolled.astype(int)})
    individual = pd.Series(np.where(enrolled, mu1 - mu0, 0.0), index=data.index,
                           name="true_effect")
    truth = float(individual[enrolled].mean()) if enrolled.any() else float("nan")
    rtm = float(np.mean(mu0[enrolled] - pre[enrolled, 2])) if enrolled.any() else float("nan")
    return SelectionTruth(data=data, truth=truth, effect=float(effect), individual=individual,
                          rtm_bias=rtm)
