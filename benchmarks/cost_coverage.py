"""Coverage study for mean cost differences (costs and economic evaluation).

Simulates two arms of patient costs that are skewed and zero-inflated, with a KNOWN
difference in mean cost, and records how often each method's 95% interval covers it.
Writes ``docs/cost-coverage.md``.

Scenarios (each patient's cost is 0 with probability ``p``, else drawn from the positive
distribution; arms are independent samples of equal size ``n``):

- ``lognormal``: positive costs lognormal with log-SD 1.2 (skewness about 11), mean
  2,500 (reference) and 2,000 (comparison); ``p`` = 0.3 and 0.2. True difference
  ``0.8 * 2000 - 0.7 * 2500 = -150``.
- ``gamma``: positive costs gamma with shape 0.5 (skewness 2.8), the same means and
  zero shares. True difference -150.
- ``covariate``: a two-part process with a patient covariate ``x ~ N(0, 1)``:
  ``P(cost > 0) = expit(0.85 + 0.3 arm + 0.5 x)``, positive costs gamma with shape 0.7
  and mean ``exp(7.6 - 0.2 arm + 0.6 x)``. The truth, the difference in marginal mean
  cost, is integrated over ``x`` by Gauss-Hermite quadrature. The covariate-adjusted
  models (gamma GLM, two-part) use ``x``; the others ignore it (valid, as the arms are
  randomised).

Methods: the bootstrap with BCa and percentile intervals (2,000 resamples), Welch's t
interval (``model="ols"``), the gamma GLM's recycled-prediction difference (delta method,
robust SE) and, in the covariate scenario, the two-part model (BCa, 2,000 resamples).
Without covariates the two-part model reproduces the bootstrap exactly (both parts are
saturated; tested in tests/test_cost_models.py), so it is run only where it differs.

Run: ``python benchmarks/cost_coverage.py [--reps 500] [--recommended-reps 2000]
[--workers 2] [--rows output/cost-coverage-rows.csv]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from evalkit.economics import cost_compare

ROOT = Path(__file__).resolve().parents[1]
SIZES = (25, 50, 100, 200, 500, 1000)
COVARIATE_SIZES = (50, 100, 200, 500)
ZERO = (0.3, 0.2)
POSITIVE_MEAN = (2500.0, 2000.0)
LOG_SD = 1.2
GAMMA_SHAPE = 0.5
COV = dict(a=0.85, b=0.3, c=0.5, d=7.6, e=-0.2, f=0.6, shape=0.7)


def truth(scenario: str) -> float:
    """The true difference in mean cost, comparison minus reference."""
    if scenario != "covariate":
        return (1 - ZERO[1]) * POSITIVE_MEAN[1] - (1 - ZERO[0]) * POSITIVE_MEAN[0]
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    means = [np.sum(weights * expit(COV["a"] + COV["b"] * g + COV["c"] * nodes)
                    * np.exp(COV["d"] + COV["e"] * g + COV["f"] * nodes)) for g in (0, 1)]
    return float(means[1] - means[0])


def simulate(scenario: str, n: int, seed: int) -> pd.DataFrame:
    """Two arms of ``n`` patients each."""
    rng = np.random.default_rng(seed)
    arm = np.repeat([0, 1], n)
    if scenario == "covariate":
        x = rng.normal(size=2 * n)
        positive = rng.random(2 * n) < expit(COV["a"] + COV["b"] * arm + COV["c"] * x)
        mean = np.exp(COV["d"] + COV["e"] * arm + COV["f"] * x)
        cost = np.where(positive, rng.gamma(COV["shape"], mean / COV["shape"]), 0.0)
        return pd.DataFrame({"arm": arm, "x": x, "cost": cost})
    zero = rng.random(2 * n) < np.where(arm == 1, ZERO[1], ZERO[0])
    mean = np.where(arm == 1, POSITIVE_MEAN[1], POSITIVE_MEAN[0])
    if scenario == "lognormal":
        positive = rng.lognormal(np.log(mean) - LOG_SD**2 / 2, LOG_SD)
    else:
        positive = rng.gamma(GAMMA_SHAPE, mean / GAMMA_SHAPE)
    return pd.DataFrame({"arm": arm, "cost": np.where(zero, 0.0, positive)})


METHODS = {
    "bootstrap BCa": dict(model="bootstrap", method="bca"),
    "bootstrap percentile": dict(model="bootstrap", method="percentile"),
    "t interval (Welch)": dict(model="ols"),
    "gamma GLM (delta)": dict(model="gamma"),
}


def one(job: tuple) -> list[dict]:
    scenario, n, rep, *only = job
    warnings.filterwarnings("ignore")
    seed = 1_000_003 * rep + 7919 * n + (0 if scenario == "lognormal" else
                                         1 if scenario == "gamma" else 2)
    data = simulate(scenario, n, seed)
    true = truth(scenario)
    methods = dict(METHODS)
    if scenario == "covariate":
        methods["gamma GLM (delta)"] = dict(model="gamma", covariates=["x"])
        methods["two-part (BCa)"] = dict(model="two_part", method="bca", covariates=["x"])
    if only and only[0]:
        methods = {only[0]: methods[only[0]]}
    rows = []
    for name, opts in methods.items():
        res = cost_compare(data, cost="cost", group="arm", seed=seed, **opts)
        e = res.effects.set_index("estimand").loc["mean_difference"]
        rows.append({"scenario": scenario, "n_per_arm": n, "method": name,
                     "error": e["estimate"] - true, "width": e["ci_high"] - e["ci_low"],
                     "covered": bool(e["ci_low"] <= true <= e["ci_high"]),
                     "below": bool(e["ci_high"] < true)})
    return rows


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (scenario, n, method), g in frame.groupby(["scenario", "n_per_arm", "method"],
                                                   sort=False):
        k, r = int(g["covered"].sum()), len(g)
        lo, hi = wilson(k, r)
        out.append({"scenario": scenario, "n per arm": n, "method": method, "reps": r,
                    "coverage": k / r, "Wilson 95% CI": f"{lo:.3f}-{hi:.3f}",
                    "misses above / below": f"{int((~g['covered'] & ~g['below']).sum())} / "
                                            f"{int(g['below'].sum())}",
                    "in 93-97%": "yes" if 0.93 <= k / r <= 0.97 else "no",
                    "bias": g["error"].mean(), "mean width": g["width"].mean()})
    return pd.DataFrame(out)


def _run(jobs: list[tuple], workers: int) -> pd.DataFrame:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return pd.DataFrame([row for chunk in pool.map(one, jobs, chunksize=10)
                             for row in chunk])


def _jobs(reps: range, only: str | None = None) -> list[tuple]:
    jobs = [(s, n, r, only) for s in ("lognormal", "gamma") for n in SIZES for r in reps]
    return jobs + [("covariate", n, r, only) for n in COVARIATE_SIZES for r in reps]


def main(reps: int, workers: int, rows: str | None = None,
         recommended_reps: int = 0) -> pd.DataFrame:
    """Every method with ``reps`` replications (or the replicates saved in ``rows``), and
    the recommended method alone up to ``recommended_reps``."""
    t0 = time.perf_counter()
    raw = ROOT / "output" / "cost-coverage-rows.csv"
    if rows:
        frame = pd.read_csv(rows)
        reps = int(frame.groupby(["scenario", "n_per_arm", "method"]).size().min())
    else:
        frame = _run(_jobs(range(reps)), workers)
        raw.parent.mkdir(exist_ok=True)
        frame.to_csv(raw, index=False)  # every replicate, for re-summarising (not committed)
    rec = frame[frame["method"] == RECOMMENDED]
    if recommended_reps > reps:
        rec = pd.concat([rec, _run(_jobs(range(reps, recommended_reps), RECOMMENDED),
                                   workers)], ignore_index=True)
    elapsed = time.perf_counter() - t0
    table = summarise(frame)
    write(table, summarise(rec), reps, max(reps, recommended_reps), elapsed,
          reused=rows is not None)
    return table


RECOMMENDED = "t interval (Welch)"  # cost_compare's default, model="ols"


def recommendation(table: pd.DataFrame, reps: int) -> str:
    """Where the recommended method's coverage is within 93-97%, read from its table."""
    rec = table[table["method"] == RECOMMENDED]
    lines = [f"## The recommended method\n\n`cost_compare`'s default (`model=\"ols\"`), "
             f"Welch's t interval, with {reps:,} replications per cell (its own run, the "
             "first replications being those of the tables below), covers the true "
             "difference in:\n"]
    for scenario, g in rec.groupby("scenario", sort=False):
        ok = g[(g["coverage"] >= 0.93) & (g["coverage"] <= 0.97)]["n per arm"].tolist()
        low = g[g["coverage"] < 0.93]
        cells = ", ".join(f"{n}: {c:.1%}" for n, c in zip(g["n per arm"], g["coverage"],
                                                            strict=True))
        text = (f"- `{scenario}` ({cells}); within 93-97% at n per arm = "
                f"{', '.join(map(str, ok)) or 'none'}")
        if len(low):
            text += ("; below 93% at n = " + ", ".join(map(str, low["n per arm"])))
        lines.append(text + ".")
    smallest = {s: g[g["coverage"] >= 0.93]["n per arm"] for s, g in rec.groupby("scenario")}
    safe = [int(v.min()) for v in smallest.values() if len(v)]
    if safe and (rec["coverage"] < 0.93).any():
        lines.append(
            f"\nWith fewer than about {max(safe)} patients per arm and costs this skewed, "
            "the recommended interval can undercover (the mean of a skewed cost converges "
            "slowly to normality); report it with that caveat, or pool more patients.")
    return "\n".join(lines) + "\n"


def write(table: pd.DataFrame, rec_table: pd.DataFrame, reps: int, rec_reps: int,
          elapsed: float, reused: bool = False) -> None:
    fmt = table.assign(coverage=table["coverage"].map("{:.3f}".format),
                       bias=table["bias"].map("{:.1f}".format),
                       **{"mean width": table["mean width"].map("{:,.0f}".format)})
    parts = [
        "# Coverage of intervals for a difference in mean cost\n",
        "Written by `benchmarks/cost_coverage.py` "
        f"(`python benchmarks/cost_coverage.py --reps {reps}"
        + (f" --recommended-reps {rec_reps}" if rec_reps > reps else "")
        + f"`; {elapsed / 60:.0f} minutes"
        + (", re-summarising the saved replicates of an earlier run of every method"
           if reused else "") + "). "
        "Two arms of skewed, zero-inflated patient costs with a known difference in mean "
        "cost; each row is the share of nominal 95% intervals that cover it, with a Wilson "
        "interval for that share. 'misses above / below' counts intervals lying wholly "
        "above or below the truth.\n",
        "Scenarios: `lognormal` (30% / 20% zeros, positive costs lognormal with log-SD 1.2, "
        "skewness about 11, true difference "
        f"{truth('lognormal'):.0f}); `gamma` (same zeros, gamma positives with shape 0.5, "
        f"true difference {truth('gamma'):.0f}); `covariate` (a two-part process whose "
        "zero probability and positive mean depend on a patient covariate, true marginal "
        f"difference {truth('covariate'):.1f}; the gamma GLM and two-part model adjust for "
        "the covariate, the rest do not). 2,000 bootstrap resamples.\n",
    ]
    parts.append(recommendation(rec_table, rec_reps))
    logn = table[table["scenario"] == "lognormal"]

    def below(method: str) -> str:
        g = logn[(logn["method"] == method) & (logn["coverage"] < 0.93)]
        return ", ".join(map(str, g["n per arm"])) or "none"

    parts.append(
        "Why not the bootstrap: on the most skewed costs (`lognormal`) the BCa interval "
        f"covers less than 93% at n per arm = {below('bootstrap BCa')}, and the percentile "
        f"interval at {below('bootstrap percentile')}. BCa corrects the percentile "
        "interval with the sample skewness of the jackknife values, which is itself "
        "unstable when costs are this heavy-tailed (evalkit's BCa equals scipy.stats.bootstrap's; "
        "tests/test_bootstrap_ci.py). Nixon, Wonderling and Grieve (2010, Health Econ "
        "19:316-333) found the same: central-limit-theorem intervals did as well as or "
        "better than the bootstrap for mean costs. The bootstrap stays the method for the "
        "ratio of means, costs per population and joint cost-effect uncertainty.\n")
    for scenario, g in fmt.groupby("scenario", sort=False):
        parts.append(f"## {scenario}\n\n{g.drop(columns='scenario').to_markdown(index=False)}\n")
    parts.append("_Run on " + time.strftime("%Y-%m-%d") + f", Python {sys.version.split()[0]}._\n")
    (ROOT / "docs" / "cost-coverage.md").write_text("\n".join(parts), encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", help="re-summarise saved replicates (output/"
                        "cost-coverage-rows.csv) instead of simulating every method again")
    parser.add_argument("--recommended-reps", type=int, default=2000,
                        help="replications of the recommended method alone")
    args = parser.parse_args()
    print(main(args.reps, args.workers, args.rows, args.recommended_reps).to_string(index=False))
