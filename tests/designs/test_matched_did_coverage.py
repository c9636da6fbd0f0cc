"""Coverage of the matched difference-in-differences against a known truth.

Simulated cohorts (``evalkit.synthetic.selection.simulate_selection``: 5,000 people,
about 10% enrolled after a spell of high emergency admissions, true effect about -0.29
admissions a person a year). The full study (500 replications, more estimators) is
``benchmarks/matched_did_coverage.py`` and its table ``docs/matched-did-coverage.md``:
there the matched DiD (1:1 nearest neighbour, caliper 0.2 SD of the logit, matching on
characteristics and the three pre-period years) covers the truth 96.0% of the time
(Wilson 93.9% to 97.4%), bias -0.014 with an empirical SE of 0.068 and a mean reported
SE of 0.069; the uncontrolled before/after is biased by about -0.80 and never covers.

This CI version runs 150 replications (about 20 s). Bounds:

- coverage in [0.90, 0.99]: the binomial SD of a coverage estimate from 150 replications
  is 1.8 points at 95%, so 0.90 is 2.8 SDs below nominal and 0.99 is 2.2 SDs above;
- |bias| < 0.04: the Monte Carlo SE of the mean error here is 0.068 / sqrt(150) = 0.006,
  so 0.04 is more than 4 Monte Carlo SEs beyond the study's -0.014; it is also under
  0.6 empirical SEs and about an eighth of the effect (the matched DiD is not exactly
  unbiased: greedy matching leaves slight residual imbalance in pre-period admissions);
- mean SE / empirical SE in [0.8, 1.25]: the SD of an SD estimated from 150 draws is
  about 6%, so the bounds are about 3.5 SDs from the study's 1.01;
- before/after: mean error below -0.5 (study -0.80, Monte Carlo SE 0.006) and coverage
  at most 5%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.designs.matching import match
from evalkit.synthetic.selection import SelectionTruth, simulate_selection

REPS = 150


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    rows = []
    for seed in range(REPS):
        sim = simulate_selection(n=5000, seed=seed)
        d = sim.data
        enrolled = (d["enrolled"] == 1).to_numpy()
        m = match(d, treated="enrolled", covariates=list(sim.covariates) + list(sim.pre),
                  caliper=0.2)
        e = m.outcome(sim.post, pre=list(sim.pre)).effects.set_index("estimand")
        truth = float(sim.individual.to_numpy()[(m.weights.to_numpy() > 0) & enrolled].mean())
        did = e.loc["att_did"]
        change = (d[sim.post] - d[sim.pre[-1]]).to_numpy()[enrolled]
        ba = change.mean()
        ba_se = change.std(ddof=1) / np.sqrt(change.size)
        rows.append({"error": did["estimate"] - truth, "se": did["se"],
                     "covers": did["ci_low"] <= truth <= did["ci_high"],
                     "ba_error": ba - sim.truth,
                     "ba_covers": abs(ba - sim.truth) <= 1.98 * ba_se})
    return pd.DataFrame(rows)


def test_matched_did_covers_the_truth(study):
    coverage = study["covers"].mean()
    assert 0.90 <= coverage <= 0.99
    assert abs(study["error"].mean()) < 0.04
    ratio = study["se"].mean() / study["error"].std()
    assert 0.8 <= ratio <= 1.25


def test_uncontrolled_before_after_is_biased_by_regression_to_the_mean(study):
    assert study["ba_error"].mean() < -0.5
    assert study["ba_covers"].mean() <= 0.05


def test_simulator_is_seeded_and_documented():
    a, b = simulate_selection(n=800, seed=3), simulate_selection(n=800, seed=3)
    assert isinstance(a, SelectionTruth)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert a.truth == b.truth
    assert not a.data.equals(simulate_selection(n=800, seed=4).data)
    cols = ["person_id", "age", "female", "deprivation", "comorbidities", *a.pre, a.post,
            "enrolled"]
    assert list(a.data.columns) == cols
    assert a.data["age"].between(65, 100).all()
    assert set(a.data["deprivation"]) <= {1, 2, 3, 4, 5}


def test_simulator_truth_and_selection():
    sim = simulate_selection(n=20000, effect=-0.3, seed=0)
    d = sim.data
    e = d["enrolled"] == 1
    assert 0.08 < e.mean() < 0.12
    # the truth is the additive effect, floored at zero expected admissions
    assert -0.3 <= sim.truth < -0.25
    assert (sim.individual[~e] == 0).all() and (sim.individual[e] >= -0.3 - 1e-12).all()
    assert sim.truth == pytest.approx(sim.individual[e].mean())
    # enrolment follows a high-use year, which then regresses to the mean
    assert d.loc[e, "admissions_pre3"].mean() > 2 * d.loc[~e, "admissions_pre3"].mean()
    assert sim.rtm_bias < -0.5
    no_effect = simulate_selection(n=2000, effect=0.0, seed=1)
    assert no_effect.truth == 0.0
