"""Benchmark: Callaway-Sant'Anna in a fresh process, evalkit beside diff-diff (issue 27).

A user's first analysis pays for starting Python and importing the package. This script
writes one synthetic staggered panel (6,500 units x 60 periods by default) to a Parquet
file once, then starts fresh Python processes that each read it, import one package and
run ATT(g,t) with never-treated controls and the dynamic aggregation once (analytic
standard errors, or 999 multiplier-bootstrap draws). The packages and modes alternate,
run after run, so that both meet the same load. 'seconds' is the wall-clock time of the
whole process as the parent sees it (start-up, imports, reading the file, the call, exit);
the child also reports its read, import and call times (evalkit's ``import evalkit`` loads
no design: the first ``ek.staggered_did`` call imports its module, so the import and call
are shown together). The 1-minute load average is read
before and after every process.

Writes the table to ``docs/benchmarks.md`` (section "Cold start").

Run: ``python benchmarks/cold_start.py [--size 6500x60] [--repeat 5] [--no-write]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _table import write_section

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

# The child's code: what a user types, plus timers and the dynamic ATT for comparison.
CHILD = {
    "evalkit": """
import time; t0 = time.perf_counter()
import pandas as pd
d = pd.read_parquet({path!r}); t1 = time.perf_counter()
import evalkit as ek; t2 = time.perf_counter()
r = ek.staggered_did(d, outcome="y", unit="unit", time="t", cohort="g", n_boot={n_boot},
                     seed=1)
att = float(r.effects.set_index("estimand").loc["att_dynamic", "estimate"])
t3 = time.perf_counter()
import json; print(json.dumps({{"read": t1 - t0, "import": t2 - t1, "call": t3 - t2,
                                "att": att}}))
""",
    "diff-diff": """
import time; t0 = time.perf_counter()
import pandas as pd
d = pd.read_parquet({path!r}); t1 = time.perf_counter()
import diff_diff as dd; t2 = time.perf_counter()
cs = dd.CallawaySantAnna(control_group="never_treated", estimation_method="reg",
                         n_bootstrap={n_boot}, seed=1)
res = cs.fit(d, outcome="y", unit="unit", time="t", first_treat="g", aggregate="event_study")
post = [v["effect"] for e, v in res.event_study_effects.items() if e >= 0]
att = sum(post) / len(post)
t3 = time.perf_counter()
import json; print(json.dumps({{"read": t1 - t0, "import": t2 - t1, "call": t3 - t2,
                                "att": att}}))
""",
}


def panel(units: int, periods: int, seed: int = 0) -> pd.DataFrame:
    """The panel of benchmarks/staggered_did.py (same seed, same numbers)."""
    sys.path.insert(0, str(HERE))
    from staggered_did import panel as sdid_panel

    return sdid_panel(units, periods, seed)


def one(package: str, path: str, n_boot: int) -> dict:
    """One fresh process: wall-clock seconds as the parent sees them, and the child's own."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    code = CHILD[package].format(path=path, n_boot=n_boot)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(f"{package} failed: {out.stderr.strip()[-500:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {**r, "seconds": seconds, "load": (load0 + os.getloadavg()[0]) / 2}


def rng_text(x: list[float], digits: int = 2) -> str:
    return f"{min(x):.{digits}f}-{max(x):.{digits}f}"


def main(size: str, repeat: int, write: bool) -> None:
    units, periods = map(int, size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "panel.parquet")
        panel(units, periods).to_parquet(path)
        runs: list[dict] = []
        load_start = os.getloadavg()[0]
        for i in range(repeat):
            for n_boot in (0, 999):
                order = ("evalkit", "diff-diff") if i % 2 == 0 else ("diff-diff", "evalkit")
                for package in order:
                    r = one(package, path, n_boot)
                    runs.append({"package": package, "n_boot": n_boot, "run": i + 1, **r})
                    print(runs[-1], flush=True)
        load_end = os.getloadavg()[0]
    df = pd.DataFrame(runs)
    rows = []
    for n_boot in (0, 999):
        sub = df[df["n_boot"] == n_boot]
        med = {p: sub.loc[sub["package"] == p, "seconds"].median() for p in CHILD}
        # per-run ratio: diff-diff's time over evalkit's in the same round
        ratio = (sub[sub["package"] == "diff-diff"].set_index("run")["seconds"]
                 / sub[sub["package"] == "evalkit"].set_index("run")["seconds"])
        att = sub.groupby("package")["att"].first()
        for package in CHILD:
            s = sub[sub["package"] == package]
            row = {"inference": "analytic" if n_boot == 0 else "999 bootstrap draws",
                   "package": package, "runs": len(s),
                   "fresh process, seconds (median)": f"{s['seconds'].median():.2f}",
                   "seconds (min-max)": rng_text(list(s["seconds"])),
                   "import + first call (median)":
                       f"{(s['import'] + s['call']).median():.2f}",
                   "read Parquet (median)": f"{s['read'].median():.2f}",
                   "load (min-max)": rng_text(list(s["load"]), 1),
                   "dynamic ATT - evalkit's": f"{att[package] - att['evalkit']:.1e}"}
            if package == "evalkit":
                row["diff-diff / evalkit (median; min-max of rounds)"] = (
                    f"{med['diff-diff'] / med['evalkit']:.2f} ({rng_text(list(ratio))})")
                row["evalkit faster in every round"] = "yes" if (ratio > 1).all() else "no"
            rows.append(row)
    table = pd.DataFrame(rows).fillna("")
    notes = (f"`python -c \"import evalkit as ek; "
             f"ek.staggered_did(...)\"` against diff-diff's `CallawaySantAnna(...).fit(...)` in "
             f"fresh Python processes on one synthetic staggered panel of {units:,} units x "
             f"{periods} periods (benchmarks/staggered_did.py's panel, written once to a Parquet "
             f"file that every process reads): ATT(g,t), never-treated controls, the dynamic "
             f"aggregation, analytic or 999 bootstrap draws. 'fresh process, seconds' is the "
             f"wall-clock time of the whole process as the parent sees it, so it INCLUDES "
             f"starting Python, importing pandas and the package, reading the file, the call "
             f"and exit; 'import + first call' and 'read Parquet' are the child's own timers "
             f"('import evalkit' loads no design: the first ek.staggered_did call imports its "
             f"module, so the two are shown together). Each "
             f"round runs both packages, alternating which goes first, {repeat} rounds; the "
             f"ratio column is diff-diff's median over evalkit's, with the range of the "
             f"per-round ratios. Load is the 1-minute load average (2 cores) around each "
             f"process; {load_start:.1f} at the start of the run and {load_end:.1f} at its end "
             f"(the machine is shared with other jobs). Target of issue 27: evalkit's fresh "
             f"process faster than diff-diff's, analytic and with 999 draws.")
    print(table.to_markdown(index=False))
    if write:
        print(write_section("Cold start", table, notes))
    else:
        print(notes)
    print(platform.platform())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="6500x60")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    np.seterr(all="ignore")
    main(args.size, args.repeat, not args.no_write)
