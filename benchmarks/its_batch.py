"""Benchmark: batch ITS for every unit of a national panel (issue 3).

Fits quasi-Poisson ITS (log offset, level and slope change, two harmonics) to
6,500 units x 60 months with evalkit's vectorised batch fitter and with a plain
loop of statsmodels GLM fits, in the same run; checks the estimates agree and
writes the table to ``docs/benchmarks.md`` (section "Batch ITS").

Run: ``python benchmarks/its_batch.py [--units 6500] [--loop-units N]``. The
loop can be timed on a subset (``--loop-units``) and scaled to all units; the
table says when it was.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

import evalkit as ek
from evalkit.designs.its_model import Interruption, design_matrix

from _table import write_section


def panel(units: int, months: int = 60, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    size = rng.integers(1000, 40000, units)
    base = 9.5 / 1000 * np.exp(rng.normal(0, 0.2, units))
    mu = (size * base)[:, None] * np.exp(0.001 * t + 0.08 * np.cos(2 * np.pi * t / 12)
                                          - 0.05 * (t >= 36))[None, :]
    y = rng.poisson(mu * rng.gamma(30, 1 / 30, mu.shape))
    return pd.DataFrame({"unit": np.repeat(np.arange(units), months),
                         "t": np.tile(t, units), "y": y.ravel(),
                         "size": np.repeat(size, months)})


def main(units: int, loop_units: int | None) -> None:
    warnings.filterwarnings("ignore")
    data = panel(units)
    opts = dict(outcome="y", time="t", start=36, family="quasipoisson", denominator="size",
                seasonality={"fourier": 2, "period": 12}, unit="unit")
    ek.its(panel(50), **opts)  # warm up imports and first-call costs
    t0 = time.perf_counter()
    res = ek.its(data, **opts)
    t_batch = time.perf_counter() - t0

    n_loop = min(units, loop_units or units)
    X = design_matrix(np.arange(60), [Interruption(36, "36")], first=0,
                      seasonality={"fourier": 2, "period": 12}, monthly=False)
    t0 = time.perf_counter()
    loop = []
    for u, g in data[data["unit"] < n_loop].groupby("unit"):
        fit = sm.GLM(g["y"].to_numpy(), X, family=sm.families.Poisson(),
                     offset=np.log(g["size"].to_numpy())).fit(scale="X2")
        loop.append((str(u), fit.params["level_change"], fit.bse["level_change"]))
    t_loop = (time.perf_counter() - t0) * units / n_loop
    ref = pd.DataFrame(loop, columns=["unit", "b", "se"]).set_index("unit")
    ours = res.plot_data()["unit_effects_long"]
    ours = ours[ours["estimand"] == "level_change"].set_index("unit").loc[ref.index]
    diff_b = float(np.max(np.abs(np.log(ours["estimate"]) - ref["b"])))
    diff_se = float(np.max(np.abs(ours["se"] - ref["se"])))
    rows = [
        {"method": "evalkit batch ITS (vectorised IRLS)", "units": units,
         "seconds": f"{t_batch:.2f}", "speed-up": f"{t_loop / t_batch:.0f}x"},
        {"method": "loop of statsmodels GLM fits" + ("" if n_loop == units else
                                                    f" (timed on {n_loop}, scaled)"),
         "units": units, "seconds": f"{t_loop:.1f}", "speed-up": "1x"},
    ]
    notes = (f"Quasi-Poisson ITS with log offset, level and slope change and two harmonics, "
             f"{units:,} units x 60 months. Largest difference from statsmodels over "
             f"{n_loop:,} units: {diff_b:.1e} in the log level change, {diff_se:.1e} in its "
             "standard error. Targets: at least 30x faster than the loop, under 2 s, same "
             "estimates to 1e-6.")
    print(write_section("Batch ITS", pd.DataFrame(rows), notes))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=6500)
    parser.add_argument("--loop-units", type=int, default=None)
    args = parser.parse_args()
    main(args.units, args.loop_units)
