"""Synthetic control: evalkit against pysyncon, full fit plus placebo-in-space inference.

Writes the section "Synthetic control" of ``docs/benchmarks.md``.

Rows
----
* Proposition 99 (39 states x 31 years, ADH's published predictors): evalkit's full
  inference (nested V/W search for California and for every one of the 38 donors as a
  placebo), in one process and in two worker processes.
* The same with V fixed (equal weights), beside pysyncon's ``PlaceboTest`` with the same
  fixed V: like for like, the same convex problem for W in every fit.
* One fit with each package's own search over V: pysyncon's default (Nelder-Mead from
  equal weights), evalkit's Nelder-Mead search (the same algorithm as pysyncon and Synth)
  and evalkit's default multistart search. pysyncon's placebo-in-space with its own V
  search is estimated as 39 times its single fit (it did not finish within 10 minutes
  when run), and labelled as an estimate.
* A synthetic panel of 200 donors x 60 periods (factor model, 6 predictors): evalkit's
  full inference, and pysyncon's fixed-V placebo fits timed on 10 donors and scaled to 200
  (labelled as an estimate).

pysyncon's W step uses SLSQP at its default tolerance, which stops near its uniform start
when V sums to one; V is therefore passed to pysyncon multiplied by 10,000, which does not
change the problem's solution.

Run: ``python benchmarks/synth.py`` (about 10 minutes, most of it pysyncon).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import evalkit as ek

sys.path.insert(0, str(Path(__file__).parent))
from _table import write_section  # noqa: E402

SMOKING = Path(__file__).resolve().parents[2] / "shared" / "validation" / "smoking.csv"
PREDICTORS = [
    {"variable": "lnincome", "window": [1980, 1988], "op": "mean"},
    {"variable": "retprice", "window": [1980, 1988], "op": "mean"},
    {"variable": "age15to24", "window": [1980, 1988], "op": "mean"},
    {"variable": "beer", "window": [1984, 1988], "op": "mean"},
    {"variable": "cigsale", "window": [1975, 1975], "op": "mean"},
    {"variable": "cigsale", "window": [1980, 1980], "op": "mean"},
    {"variable": "cigsale", "window": [1988, 1988], "op": "mean"},
]
PUBLISHED = {"Utah": 0.334, "Nevada": 0.234, "Montana": 0.199, "Colorado": 0.164,
             "Connecticut": 0.069}


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _pysyncon_prep(df: pd.DataFrame, treated, controls, *, specials, predictors, prior,
                   optimize, outcome, unit, time_col):
    import pysyncon

    return pysyncon.Dataprep(
        foo=df, predictors=predictors, predictors_op="mean", time_predictors_prior=prior,
        special_predictors=specials, dependent=outcome, unit_variable=unit,
        time_variable=time_col, treatment_identifier=treated, controls_identifier=controls,
        time_optimize_ssr=optimize)


def _prop99_prep(df, treated="California", controls=None):
    controls = controls or [s for s in df["state"].unique() if s != treated]
    return _pysyncon_prep(
        df, treated, controls,
        specials=[("beer", range(1984, 1989), "mean"), ("cigsale", [1975], "mean"),
                  ("cigsale", [1980], "mean"), ("cigsale", [1988], "mean")],
        predictors=["lnincome", "retprice", "age15to24"], prior=range(1980, 1989),
        optimize=range(1970, 1989), outcome="cigsale", unit="state", time_col="year")


def _max_published_gap(weights: pd.Series) -> float:
    return float(max(abs(weights.get(s, 0.0) - w) for s, w in PUBLISHED.items()))


def factor_panel(n_units: int = 201, n_periods: int = 60, t0: int = 45, seed: int = 1
                 ) -> pd.DataFrame:
    """A factor-model panel: unit 0 treated from period t0 + 1 (effect -3)."""
    rng = np.random.default_rng(seed)
    load = rng.normal(0, 1, (n_units, 3))
    load[0] = load[1:6].mean(axis=0)  # inside the donors' hull
    f = np.cumsum(rng.normal(0, 0.4, (n_periods, 3)), axis=0)
    y = 50 + f @ load.T + rng.normal(0, 0.5, (n_periods, n_units))
    y[t0:, 0] -= 3
    x = load[:, 0] + rng.normal(0, 0.1, n_units)
    return pd.DataFrame({"unit": np.repeat([f"U{i:03d}" for i in range(n_units)], n_periods),
                         "t": np.tile(np.arange(1, n_periods + 1), n_units),
                         "y": y.T.ravel(), "x": np.repeat(x, n_periods)})


FACTOR_PREDICTORS = ([{"variable": "y", "window": [a, a + 8], "op": "mean"}
                      for a in range(1, 46, 9)] + [{"variable": "x", "window": [1, 45]}])


def main(skip_slow: bool) -> None:
    rows = []
    df = pd.read_csv(SMOKING)
    kw = dict(outcome="cigsale", unit="state", time="year", treated_unit="California",
              start=1989, predictors=PREDICTORS, leave_one_out=False)
    # evalkit, full inference
    for jobs in (1, 2):
        sec, res = _timed(lambda jobs=jobs: ek.synthetic_control(df, **kw, n_jobs=jobs))
        rows.append({"data": "Prop 99 (39 x 31)", "task": "fit + 38 placebos, V searched",
                     "package": f"evalkit ({jobs} process{'es' if jobs > 1 else ''})",
                     "seconds": f"{sec:.1f}",
                     "max abs weight difference": (f"{_max_published_gap(res.weights):.3f} "
                                                   "vs published"),
                     "note": f"rank {res.diagnostics['rank']} of 39, p = {res.p_value:.3f}"})
        print(rows[-1], flush=True)
    ek_full = res
    # fixed V, like for like
    import pysyncon
    from pysyncon.utils import PlaceboTest

    v = np.full(7, 1.0)
    sec, res_fixed = _timed(lambda: ek.synthetic_control(df, **kw, v=v, n_jobs=1))
    rows.append({"data": "Prop 99 (39 x 31)", "task": "fit + 38 placebos, V fixed (equal)",
                 "package": "evalkit (1 process)", "seconds": f"{sec:.2f}",
                 "max abs weight difference": "", "note": ""})
    prep = _prop99_prep(df)
    synth = pysyncon.Synth()
    synth.fit(dataprep=prep, custom_V=v * 1e4 / 7)
    theirs = pd.Series(np.asarray(synth.W), index=prep.controls_identifier)
    diff = float(np.abs(res_fixed.weights.reindex(theirs.index) - theirs).max())
    for jobs in (1, 2):
        placebo = PlaceboTest()
        sec, _ = _timed(lambda jobs=jobs, placebo=placebo: placebo.fit(
            dataprep=prep, scm=pysyncon.Synth(), scm_options={"custom_V": v * 1e4 / 7},
            max_workers=jobs, verbose=False))
        rows.append({"data": "Prop 99 (39 x 31)", "task": "fit + 38 placebos, V fixed (equal)",
                     "package": f"pysyncon ({jobs} process{'es' if jobs > 1 else ''})",
                     "seconds": f"{sec:.2f}",
                     "max abs weight difference": f"{diff:.4f} vs evalkit", "note": ""})
        print(rows[-1], flush=True)
    # one fit with each package's own V search
    for search in ("nelder-mead", "multistart"):
        sec, r = _timed(lambda search=search: ek.synthetic_control(
            df, **kw, search=search, placebos=False))
        rows.append({"data": "Prop 99 (39 x 31)", "task": "one fit, V searched",
                     "package": f"evalkit (search='{search}')", "seconds": f"{sec:.2f}",
                     "max abs weight difference":
                         f"{_max_published_gap(r.weights):.3f} vs published",
                     "note": f"pre-period MSPE {r.diagnostics['loss_v']:.3f}"})
        print(rows[-1], flush=True)
    if not skip_slow:
        synth = pysyncon.Synth()
        sec, _ = _timed(lambda: synth.fit(dataprep=prep))
        w = pd.Series(np.asarray(synth.W), index=prep.controls_identifier)
        rows.append({"data": "Prop 99 (39 x 31)", "task": "one fit, V searched",
                     "package": "pysyncon (Nelder-Mead, equal start)",
                     "seconds": f"{sec:.1f}",
                     "max abs weight difference": f"{_max_published_gap(w):.3f} vs published",
                     "note": f"pre-period MSPE {synth.loss_V:.3f}"})
        rows.append({"data": "Prop 99 (39 x 31)", "task": "fit + 38 placebos, V searched",
                     "package": "pysyncon (estimate: 39 x one fit)",
                     "seconds": f"{39 * sec:.0f}", "max abs weight difference": "",
                     "note": "estimated, not run"})
        print(rows[-2:], flush=True)
    # 200 donors x 60 periods
    panel = factor_panel()
    big = dict(outcome="y", unit="unit", time="t", treated_unit="U000", start=46,
               predictors=FACTOR_PREDICTORS, leave_one_out=False)
    sec, r = _timed(lambda: ek.synthetic_control(panel, **big, n_jobs=2))
    rows.append({"data": "factor panel (201 x 60)", "task": "fit + 200 placebos, V searched",
                 "package": "evalkit (2 processes)", "seconds": f"{sec:.1f}",
                 "max abs weight difference": "",
                 "note": f"gap {r.effects['estimate'].iloc[0]:.2f} (truth -3), rank "
                         f"{r.diagnostics['rank']} of 201"})
    print(rows[-1], flush=True)
    vf = np.ones(len(FACTOR_PREDICTORS))
    sec, r = _timed(lambda: ek.synthetic_control(panel, **big, v=vf, n_jobs=1))
    rows.append({"data": "factor panel (201 x 60)", "task": "fit + 200 placebos, V fixed",
                 "package": "evalkit (1 process)", "seconds": f"{sec:.1f}",
                 "max abs weight difference": "", "note": ""})
    units = sorted(panel["unit"].unique())
    sample = units[1:11]
    t0 = time.perf_counter()
    for u in sample:
        p = _pysyncon_prep(panel, u, [x for x in units if x not in (u, "U000")],
                           specials=[("y", list(range(a, a + 9)), "mean")
                                     for a in range(1, 46, 9)],
                           predictors=["x"], prior=range(1, 46), optimize=range(1, 46),
                           outcome="y", unit="unit", time_col="t")
        pysyncon.Synth().fit(dataprep=p, custom_V=np.r_[vf[-1:], vf[:-1]] * 1e4 / vf.size)
    per = (time.perf_counter() - t0) / len(sample)
    rows.append({"data": "factor panel (201 x 60)", "task": "fit + 200 placebos, V fixed",
                 "package": "pysyncon (estimate: 201 x mean of 10 fits)",
                 "seconds": f"{201 * per:.0f}", "max abs weight difference": "",
                 "note": f"{per:.2f} s a fit; estimated, not run"})
    print(rows[-1], flush=True)
    notes = (f"Proposition 99 with ADH's predictors (California rank and p-value from "
             f"evalkit's placebos: {ek_full.diagnostics['rank']} of 39); a factor-model panel "
             f"of 201 units and 60 periods with 6 predictors. Seconds are wall-clock for one "
             f"call on {os.cpu_count()} cores. 'V fixed' rows solve the same convex problem "
             f"for W in both packages (pysyncon receives V times 10,000 so that its SLSQP "
             f"step converges; the solution is unchanged). pysyncon's own V search is a "
             f"different search from evalkit's default (Nelder-Mead from one start against "
             f"a gradient multistart with a Nelder-Mead polish): compare it with evalkit's "
             f"search='nelder-mead' row for like-for-like speed, and note the pre-period "
             f"MSPE it reaches. That comparison is not like for like: pysyncon's search "
             f"stops at a pre-period MSPE several times evalkit's, far from ADH's weights, "
             f"so it does less work to a worse answer; the like-for-like speed comparison "
             f"is the fixed-V rows, where both solve the same problem to the same weights. "
             f"Rows marked 'estimated' multiply a measured single fit.")
    print(write_section("Synthetic control", pd.DataFrame(rows), notes))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-slow", action="store_true",
                        help="skip pysyncon's own V search (about 3 minutes)")
    main(parser.parse_args().skip_slow)
