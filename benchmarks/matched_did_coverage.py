"""Coverage study for the matched difference-in-differences (``evalkit.designs.matching``).

Simulation with a known truth (``evalkit.synthetic.selection.simulate_selection``):
5,000 people aged 65 and over, about 10% enrolled into a scheme after a spell of high
emergency admissions (selection on the most recent pre-period year), three pre-period
years and one post-period year, additive effect -0.3 admissions a person a year (slightly
less on average, because expected admissions cannot go below zero).

In each replication:

- **Matched DiD** (headline): nearest-neighbour 1:1 propensity matching without
  replacement on age, sex, deprivation, comorbidities and the three pre-period years
  (caliper 0.2 SD of the logit; Austin, 2011), then ``att_did``: the difference between
  groups in the change from the mean of the pre-period years, with standard errors
  clustered on matched pairs. Also without the caliper, with replacement, and with
  inverse probability weights and entropy balancing; each also post-period only
  (``difference_in_means``).
- **Uncontrolled before/after** of the enrolled: post minus the most recent pre year,
  with a paired t interval; it is biased by regression to the mean.

The truth for a matched estimate is the mean true effect over the treated units it
keeps (all enrolled people unless the caliper drops some). Writes
``docs/matched-did-coverage.md``. Run: ``python benchmarks/matched_did_coverage.py
[--reps 500] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.designs.matching import match
from evalkit.synthetic.selection import simulate_selection

ROOT = Path(__file__).resolve().parents[1]
N_PEOPLE = 5000

VARIANTS = {
    "nearest, caliper 0.2": dict(caliper=0.2),
    "nearest, no caliper": dict(),
    "nearest with replacement, caliper 0.2": dict(replace=True, caliper=0.2),
    "inverse probability weights": dict(method="ipw"),
    "entropy balancing (means)": dict(method="entropy"),
}
ESTIMANDS = ("att_did", "difference_in_means")


def replicate(seed: int) -> dict:
    """One simulated cohort: every estimator's error, SE and coverage."""
    warnings.filterwarnings("ignore")
    sim = simulate_selection(n=N_PEOPLE, seed=seed)
    d = sim.data
    enrolled = (d["enrolled"] == 1).to_numpy()
    out: dict = {"truth": sim.truth, "rtm_bias": sim.rtm_bias}
    change = (d[sim.post] - d[sim.pre[-1]]).to_numpy()[enrolled]
    est = change.mean()
    se = change.std(ddof=1) / np.sqrt(change.size)
    q = stats.t.ppf(0.975, change.size - 1)
    out.update({"ba_error": est - sim.truth, "ba_se": se,
                "ba_covers": abs(est - sim.truth) <= q * se})
    covariates = list(sim.covariates) + list(sim.pre)
    for name, kw in VARIANTS.items():
        m = match(d, treated="enrolled", covariates=covariates, **kw)
        effects = m.outcome(sim.post, pre=list(sim.pre)).effects.set_index("estimand")
        kept = (m.weights.to_numpy() > 0) & enrolled
        truth = float(sim.individual.to_numpy()[kept].mean())
        for estimand in ESTIMANDS:
            row = effects.loc[estimand]
            out[f"{name}|{estimand}|error"] = row["estimate"] - truth
            out[f"{name}|{estimand}|se"] = row["se"]
            out[f"{name}|{estimand}|covers"] = bool(row["ci_low"] <= truth <= row["ci_high"])
        out[f"{name}|dropped"] = m.diagnostics["n_unmatched_treated"]
        out[f"{name}|balance_ok"] = m.diagnostics["balance_ok"]
    return out


def wilson(k: float, n: int, z: float = 1.96) -> str:
    """Coverage with its 95% Wilson score interval."""
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return f"{p:.1%} ({max(centre - half, 0):.1%} to {min(centre + half, 1):.1%})"


def table(res: pd.DataFrame) -> pd.DataFrame:
    reps = len(res)
    rows = [{"estimator": "uncontrolled before/after of the enrolled",
             "estimand": "post minus last pre year", "bias": res["ba_error"].mean(),
             "empirical SE": res["ba_error"].std(), "mean SE": res["ba_se"].mean(),
             "95% CI covers the truth": wilson(res["ba_covers"].sum(), reps),
             "treated dropped (mean)": 0.0, "balance ok": ""}]
    for name in VARIANTS:
        for estimand in ESTIMANDS:
            err = res[f"{name}|{estimand}|error"]
            rows.append({"estimator": name, "estimand": estimand, "bias": err.mean(),
                         "empirical SE": err.std(),
                         "mean SE": res[f"{name}|{estimand}|se"].mean(),
                         "95% CI covers the truth": wilson(
                             res[f"{name}|{estimand}|covers"].sum(), reps),
                         "treated dropped (mean)": res[f"{name}|dropped"].mean(),
                         "balance ok": f"{res[f'{name}|balance_ok'].mean():.0%}"})
    out = pd.DataFrame(rows)
    for col in ("bias", "empirical SE", "mean SE"):
        out[col] = out[col].map(lambda v: f"{v:.3f}")
    out["treated dropped (mean)"] = out["treated dropped (mean)"].map(lambda v: f"{v:.1f}")
    return out


def main(reps: int, workers: int) -> str:
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        res = pd.DataFrame(pool.map(replicate, range(reps), chunksize=10))
    seconds = time.perf_counter() - t0
    tab = table(res)
    machine = f"{platform.platform()}, Python {platform.python_version()}"

    def stat(name: str, estimand: str) -> dict:
        err = res[f"{name}|{estimand}|error"]
        return {"bias": err.mean(), "emp": err.std(),
                "se": res[f"{name}|{estimand}|se"].mean(),
                "cov": res[f"{name}|{estimand}|covers"].mean()}

    head = stat("nearest, caliper 0.2", "att_did")
    head_dim = stat("nearest, caliper 0.2", "difference_in_means")
    nocal = stat("nearest, no caliper", "att_did")
    ent = stat("entropy balancing (means)", "att_did")
    ipw = stat("inverse probability weights", "att_did")
    ba_bias, ba_cov = res["ba_error"].mean(), res["ba_covers"].mean()
    text = f"""# Matched difference-in-differences coverage study

Generated by `python benchmarks/matched_did_coverage.py --reps {reps}` ({seconds:.0f} s
on {machine}). All data are simulated (`evalkit.synthetic.selection.simulate_selection`),
so the truth is known. Coverage is shown with its 95% Wilson interval over the
{reps} replications.

## The simulation

{N_PEOPLE:,} people aged 65 and over. Each has a persistent risk of emergency admission
(rising with age, comorbidities and deprivation, plus an unobserved part) and independent
year-to-year shocks; admissions are Poisson. About 10% are enrolled, with a probability
that rises steeply with their admissions in the year before enrolment (a spell of high
use) and with comorbidities. The scheme lowers expected admissions in the year after
enrolment by 0.3 a person (by {abs(res['truth'].mean()):.3f} on average over the enrolled,
because expected admissions cannot fall below zero). Enrolled people would have had fewer
admissions anyway: on average the year after was {abs(res['rtm_bias'].mean()):.2f}
admissions below the year before without the scheme (regression to the mean, partly offset by a
small upward trend).

The matched estimators use age, sex, deprivation quintile, comorbidities and the three
pre-period years (the recent trajectory, as `evalkit.designs.matching.matched`
does by default). `att_did` is the weighted difference between groups in the change from the
mean of the three pre-period years to the post year; `difference_in_means` compares the
post year only. Standard errors are cluster-robust (CR1) on matched pairs after matching
without replacement, and on people otherwise; intervals use t(G-1). The truth for a
matched estimate is the mean true effect over the treated it keeps. Bias and empirical SE
are the mean and SD of the error over replications; mean SE is the average reported SE.

{tab.to_markdown(index=False)}

## Findings

- **The uncontrolled before/after is badly biased by regression to the mean** (bias
  {ba_bias:.2f} admissions, against a true effect of about {res['truth'].mean():.2f}):
  it attributes the fall that would have happened anyway to the scheme, and its interval
  covered the truth in {ba_cov:.1%} of replications.
- **The matched difference-in-differences with a caliper recovers the truth**: its 95%
  intervals covered it in {head['cov']:.1%} of replications, and the mean reported SE
  ({head['se']:.3f}) matches the empirical SE ({head['emp']:.3f}). A small bias remains
  ({head['bias']:.3f}, {abs(head['bias']) / head['emp']:.2f} empirical SEs; the post-only
  comparison's is {head_dim['bias']:+.3f}). Greedy matching leaves the enrolled with
  slightly more admissions in the pre-period years than their matches (well within the
  0.1 SMD threshold), reflecting slightly higher risk: the post-only comparison
  under-corrects for it, while the difference-in-differences subtracts the whole
  baseline difference, part of which is transient (Poisson noise and yearly shocks do
  not persist), and so over-corrects a little.
- **Without a caliper** the enrolled people with the most admissions get poorer matches
  (few comparison people had such a year): bias {nocal['bias']:.3f}, coverage
  {nocal['cov']:.1%}, below nominal. The caliper trades a few dropped treated units (the
  estimand becomes the effect on the matched treated) for better comparability.
- Entropy balancing makes the pre-period means equal exactly, so its
  difference-in-differences and post-only estimates coincide; its robust standard errors
  ignore that the weights were estimated and are conservative for the
  difference-in-differences (mean SE {ent['se']:.3f} against an empirical SE of
  {ent['emp']:.3f}). With inverse probability weights a few people enrolled after very
  high use get large weights: the difference-in-differences' mean SE ({ipw['se']:.3f}) is
  below its empirical SE ({ipw['emp']:.3f}), although coverage was {ipw['cov']:.1%}.
"""
    (ROOT / "docs" / "matched-did-coverage.md").write_text(text, encoding="utf-8")
    print(text)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    main(args.reps, args.workers)
    sys.exit(0)
