"""Benchmark: Callaway-Sant'Anna staggered DiD beside its peers (issue 4).

Times ATT(g,t) with never-treated controls and the dynamic aggregation, analytic
standard errors, then 999 multiplier-bootstrap draws, for evalkit and the peers
that install here (diff-diff, moderndid, csdid), on synthetic staggered panels.
Warm calls (after a first call on the same data) are timed separately from the
first call. Point estimates are compared with evalkit's. Writes the table to
``docs/benchmarks.md`` (section "Staggered DiD").

Run: ``python benchmarks/staggered_did.py [--sizes 500x20,6500x60,6500x120] [--skip PEER]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import evalkit as ek

from _table import write_section


def panel(units: int, periods: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cohorts = np.array([0] + list(range(periods // 3, periods, max(1, periods // 6))))
    g = rng.choice(cohorts, units)
    t = np.arange(1, periods + 1)
    eff = np.where((g[:, None] > 0) & (t[None, :] >= g[:, None]),
                   -0.05 * (1 + (t[None, :] - g[:, None]) / 10), 0.0)
    y = rng.normal(0, 1, (units, 1)) + 0.01 * t[None, :] + rng.normal(0, 1, (units, periods))
    return pd.DataFrame({"unit": np.repeat(np.arange(units), periods), "t": np.tile(t, units),
                         "y": (y + eff).ravel(), "g": np.repeat(g, periods)})


def run_evalkit(d, boot):
    r = ek.staggered_did(d, outcome="y", unit="unit", time="t", cohort="g",
                         n_boot=999 if boot else 0, seed=1)
    return r.effects.set_index("estimand").loc["att_dynamic", "estimate"]


def run_diff_diff(d, boot):
    import diff_diff as dd

    cs = dd.CallawaySantAnna(control_group="never_treated", estimation_method="reg",
                             n_bootstrap=999 if boot else 0, seed=1)
    res = cs.fit(d, outcome="y", unit="unit", time="t", first_treat="g", aggregate="event_study")
    post = [v["effect"] for e, v in res.event_study_effects.items() if e >= 0]
    return float(np.mean(post))  # the dynamic aggregation: mean over event times >= 0


def run_moderndid(d, boot):
    import moderndid as md

    r = md.att_gt(data=d, yname="y", tname="t", idname="unit", gname="g", est_method="reg",
                  boot=boot, biters=999)
    agg = md.aggte(r, type="dynamic")
    return float(agg.overall_att)


def run_csdid(d, boot):
    from csdid.att_gt import ATTgt

    r = ATTgt(yname="y", tname="t", idname="unit", gname="g", data=d, biters=999).fit(
        est_method="reg", bstrap=boot)
    r.aggte(typec="dynamic", bstrap=boot)
    return np.nan


PEERS = {"evalkit": run_evalkit, "diff-diff": run_diff_diff, "moderndid": run_moderndid,
         "csdid": run_csdid}


def main(sizes, skip):
    warnings.filterwarnings("ignore")
    rows = []
    for size in sizes:
        units, periods = map(int, size.split("x"))
        d = panel(units, periods)
        ref = None
        for name, fn in PEERS.items():
            if name in skip:
                continue
            row = {"size": size, "package": name}
            try:
                t0 = time.perf_counter()
                est = fn(d, False)
                row["first call (s)"] = f"{time.perf_counter() - t0:.2f}"
                t0 = time.perf_counter()
                est = fn(d, False)
                row["warm, analytic (s)"] = f"{time.perf_counter() - t0:.2f}"
                t0 = time.perf_counter()
                fn(d, True)
                row["warm, 999 bootstrap (s)"] = f"{time.perf_counter() - t0:.2f}"
                if name == "evalkit":
                    ref = est
                row["dynamic ATT - evalkit's"] = (f"{est - ref:.1e}" if ref is not None
                                                  and np.isfinite(est) else "n/a")
            except Exception as exc:  # noqa: BLE001 - a peer failing is a result to record
                row["first call (s)"] = f"failed: {type(exc).__name__}"
            rows.append(row)
            print(row, flush=True)
    notes = ("Synthetic staggered panels (units x periods), never-treated controls, no "
             "covariates (so reg, ipw and dr coincide), ATT(g,t) plus the dynamic aggregation. "
             "'first call' includes imports and warm-up costs. csdid's aggregation returns no "
             "overall value to compare.")
    print(write_section("Staggered DiD", pd.DataFrame(rows).fillna(""), notes))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="500x20,6500x60")
    parser.add_argument("--skip", default="")
    args = parser.parse_args()
    main(args.sizes.split(","), set(filter(None, args.skip.split(","))))
