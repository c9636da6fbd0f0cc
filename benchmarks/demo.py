"""Benchmark: ``evalkit demo``, the main job, stage by stage (issue 27).

Each run is ``evalkit demo`` in a fresh Python process, as a user types it, on a copy of
``data/synthetic`` (what a fresh clone has) into a new output folder (cold), then again
into the same folder with nothing changed (warm). Timers wrapped around the demo's own
stages (no change to evalkit) split each run's wall-clock time into:

- start-up: starting Python and importing the command line;
- synth: writing (or checking) the synthetic case studies (``evalkit.cli._synth_stage``,
  or ``evalkit.synthetic.synth_each`` in versions without it);
- analyses: every scheme's spec run and written to ``<out>/<scheme>/analysis`` (from the
  end of synth to the start of the reports);
- reports: the evidence summaries, every scheme to HTML, PDF and DOCX
  (``evalkit.report.batch.render_reports``);
- comparative: the comparative synthesis (``evalkit.cli._render_comparison``);
- other: the rest (the index, the summary lines, exiting).

The runs of one evalkit (``--label``, e.g. ``before`` for the old code with ``--src``
naming its ``src`` folder, ``after`` for this checkout) are kept in
``benchmarks/demo-runs.json``; the table in ``docs/benchmarks.md`` ("Main job") shows
every label kept there side by side, the median of the repeats with their range, so that
the spread is visible. The load average of the machine before and after each run is
kept with it. Every run's ``results.json`` files are hashed: the table's notes say
whether the repeats (and the labels) wrote byte-identical results.

Run: ``python benchmarks/demo.py --label after [--cold 2] [--warm 3]``;
``python benchmarks/demo.py --label before --src /path/to/old/src``;
``--table-only`` rewrites the doc's section from the kept runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from _table import write_section

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
DATA = ROOT / "data" / "synthetic"
RUNS = HERE.parent / "demo-runs.json"
STAGES = ("start-up", "synth", "analyses", "reports", "comparative", "other", "total")


# -- inside the timed process -------------------------------------------------------------
def job(args) -> None:
    """Run ``evalkit demo`` here with timers on its stages; print the marks as JSON."""
    marks: dict[str, float] = {"start": float(args.started)}
    cpu: dict[str, float] = {"start": 0.0}  # getrusage counts from the process's start
    import evalkit.cli as cli
    import evalkit.report.batch as batch
    import evalkit.synthetic as synthetic

    def timed(name, func):
        def wrapper(*a, **k):
            marks.setdefault(f"{name}-start", time.time())
            cpu.setdefault(f"{name}-start", cpu_seconds())
            try:
                return func(*a, **k)
            finally:
                marks[f"{name}-end"] = time.time()
                cpu[f"{name}-end"] = cpu_seconds()
        return wrapper

    if hasattr(cli, "_synth_stage"):  # the stage as a whole (a warm run only checks)
        cli._synth_stage = timed("synth", cli._synth_stage)
    else:
        synthetic.synth_each = timed("synth", synthetic.synth_each)
    batch.render_reports = timed("reports", batch.render_reports)
    cli._render_comparison = timed("comparative", cli._render_comparison)
    marks["imported"] = time.time()
    cpu["imported"] = cpu_seconds()
    code = cli.main(["demo", "--data-root", args.data, "--out", args.out])
    marks["end"] = time.time()
    cpu["end"] = cpu_seconds()
    print(json.dumps({"code": code, "marks": marks, "cpu": cpu}))


def cpu_seconds() -> float:
    """CPU seconds (user and system) of this process and of its children that ended and
    were waited for (worker processes, pandoc, Quarto; not the Jupyter kernels, which
    getrusage does not count here)."""
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                      resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def stages(marks: dict[str, float], finished: float) -> dict[str, float]:
    """Seconds per stage from a run's marks (``finished``: when the process ended; for
    CPU seconds, the process's total)."""
    def span(a: str, b: str) -> float:
        return max(marks.get(b, marks.get(a, 0.0)) - marks.get(a, 0.0), 0.0)

    out = {"start-up": span("start", "imported"), "synth": span("synth-start", "synth-end"),
           "analyses": span("synth-end" if "synth-end" in marks else "imported",
                            "reports-start"),
           "reports": span("reports-start", "reports-end"),
           "comparative": span("comparative-start", "comparative-end")}
    out["total"] = finished - marks["start"]
    out["other"] = max(out["total"] - sum(v for k, v in out.items() if k != "total"), 0.0)
    return out


# -- the runs -----------------------------------------------------------------------------
def results_hash(out: Path) -> str:
    """One SHA-256 over every scheme's results.json (by path)."""
    h = hashlib.sha256()
    for p in sorted(out.glob("*/analysis/results.json")):
        h.update(p.relative_to(out).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def one_run(src: Path, data: Path, out: Path, kind: str, work: Path, n: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(src), *filter(None, [os.environ.get("PYTHONPATH")])])}
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    err = work / f"{kind}-{n}.stderr"
    with open(err, "w") as fh:
        proc = subprocess.run([sys.executable, str(HERE), "--job", "--data", str(data),
                               "--out", str(out), "--started", repr(started)],
                              stdout=subprocess.PIPE, stderr=fh, text=True, env=env,
                              cwd=ROOT, check=False)
    finished = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_total = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    try:
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        print(err.read_text()[-3000:], file=sys.stderr)
        raise SystemExit(f"the {kind} run failed") from None
    text = err.read_text(errors="replace")
    cpu = stages(doc["cpu"], cpu_total)
    run = {"kind": kind, "code": doc["code"], "stages": stages(doc["marks"], finished),
           "cpu": cpu,
           "load_before": load, "load_after": os.getloadavg()[0],
           "results": results_hash(out),
           "kernel_warnings": text.count("without encryption")}
    print(f"{kind} {n}: " + ", ".join(f"{k} {v:.1f} s" for k, v in run["stages"].items())
          + f" (exit {run['code']}, load {load:.2f}); CPU: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items()), file=sys.stderr)
    return run


def measure(src: Path, cold: int, warm: int, tmp: str | None) -> list[dict]:
    runs = []
    work = Path(tempfile.mkdtemp(prefix="evalkit-demo-bench-", dir=tmp))
    try:
        for i in range(cold):
            data, out = work / f"data-{i}", work / f"out-{i}"
            shutil.copytree(DATA, data)
            runs.append(one_run(src, data, out, "cold", work, i + 1))
        for i in range(warm):  # the last cold run's folders again, nothing changed
            runs.append(one_run(src, data, out, "warm", work, i + 1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return runs


# -- the table ----------------------------------------------------------------------------
def _cell(values: list[float]) -> str:
    if not values:
        return ""
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.1f}"
    return f"{med:.1f} ({min(values):.1f}-{max(values):.1f})"


def table(kept: dict) -> tuple[pd.DataFrame, str]:
    rows = []
    for stage in STAGES:
        row = {"stage": stage}
        for kind in ("cold", "warm"):
            for what, field in (("s", "stages"), ("CPU s", "cpu")):
                for label, entry in kept.items():
                    runs = [r for r in entry["runs"] if r["kind"] == kind and field in r]
                    if runs:
                        row[f"{label}, {kind} ({what})"] = _cell(
                            [r[field][stage] for r in runs])
        rows.append(row)
    notes = []
    for label, entry in kept.items():
        runs = entry["runs"]
        loads = [r["load_before"] for r in runs] + [r["load_after"] for r in runs]
        hashes = {r["results"] for r in runs}
        notes.append(
            f"'{label}': {entry['evalkit']}, {sum(r['kind'] == 'cold' for r in runs)} cold "
            f"and {sum(r['kind'] == 'warm' for r in runs)} warm run(s) on {entry['date']}; "
            f"load average {min(loads):.2f} to {max(loads):.2f} during its runs; exit codes "
            f"{sorted({r['code'] for r in runs})}; results.json "
            + ("byte-identical in every run" if len(hashes) == 1 else
               f"NOT identical across runs ({len(hashes)} versions)")
            + f"; kernel 'without encryption' lines on the terminal: "
            f"{sum(r['kernel_warnings'] for r in runs)}."
            + (" In its warm runs 'analyses' also holds 'other' (those runs were timed "
               "before the synth stage's timer covered a run that skips synth)."
               if any(r.get("analyses_includes_other") for r in runs) else "")
            + (f" {entry['note']}" if entry.get("note") else ""))
    labels = list(kept)
    if len(labels) > 1:
        first = {r["results"] for r in kept[labels[0]]["runs"]}
        same = all({r["results"] for r in kept[lb]["runs"]} == first for lb in labels[1:])
        notes.append("results.json the same under every label: " + ("yes." if same else "no."))
    return pd.DataFrame(rows), " ".join(notes)


def describe(src: Path) -> str:
    def git(*cmd: str) -> str:
        p = subprocess.run(["git", "-C", str(src), *cmd], capture_output=True, text=True,
                           check=False)
        return p.stdout.strip() if p.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    dirty = " (uncommitted changes)" if commit and git("status", "--porcelain", ".") else ""
    return f"commit {commit}{dirty}" if commit else str(src)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--label", default="after", help="name of this evalkit's runs")
    p.add_argument("--src", default=str(ROOT / "src"), help="the src folder of the evalkit "
                   "to time (default: this checkout's)")
    p.add_argument("--cold", type=int, default=2, help="cold runs (fresh output folder)")
    p.add_argument("--warm", type=int, default=3, help="warm runs (nothing changed)")
    p.add_argument("--tmp", default=None, help="folder for the runs' copies and outputs")
    p.add_argument("--table-only", action="store_true")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--started", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.job:
        job(args)
        return
    kept = json.loads(RUNS.read_text()) if RUNS.is_file() else {}
    if not args.table_only:
        src = Path(args.src).resolve()
        runs = measure(src, args.cold, args.warm, args.tmp)
        kept = json.loads(RUNS.read_text()) if RUNS.is_file() else {}  # others' runs since
        kept[args.label] = {"evalkit": describe(src), "date": time.strftime("%Y-%m-%d"),
                            "runs": runs}
        RUNS.write_text(json.dumps(kept, indent=2) + "\n")
    frame, notes = table(kept)
    text = ("`evalkit demo` in a fresh Python process on a copy of `data/synthetic` (as a "
            "fresh clone has it): cold into a new output folder, warm into the same folder "
            "again with nothing changed. Seconds per stage: the median of the repeats, with "
            "their range in brackets (the machine has 2 cores shared with other work, so "
            "the spread is wide; see the load averages). Stages are timed by wrapping the "
            "demo's own functions: start-up (Python and the imports of the command line), "
            "synth, analyses (every scheme's spec run and written), reports (9 schemes x "
            "HTML, PDF, DOCX), comparative (the synthesis in three formats), other (the "
            "rest). 's' columns are wall-clock seconds; 'CPU s' columns are CPU seconds "
            "(user and system) from getrusage: the demo's process, its worker processes "
            "(analyses, reports; typst runs inside them) and pandoc. They depend much less "
            "on what else the machine is doing, but they leave out the Jupyter kernels "
            "(getrusage does not see them: a kernel burning 2 s of CPU adds 0 s), so the "
            "reports' and the comparative synthesis's CPU is understated in both versions, "
            "and the kernel work saved by reusing the evaluations does not show in them; "
            "the analyses' CPU is complete. Targets: cold <= 60 s, warm <= 2 s. "
            "What changed between 'before' and 'after' (issue 27): the analyses run side by "
            "side in worker processes (one per core, one BLAS thread each), slowest first; "
            "each report's kernel and the comparative synthesis load the evaluation the "
            "analysis computed (a private cache of the run) instead of running the spec "
            "again, which was the reports' largest cost (the synthetic-control placebos ran "
            "three times per scheme: analysis, report, synthesis); a warm run checks the "
            "synthetic data, each analysis folder (stamp of its inputs and evalkit's code, "
            "files as their manifest lists them) and each report's key without "
            "regenerating the data, importing the analysis libraries or starting workers. "
            + notes)
    print(frame.to_markdown(index=False))
    print("\n" + text)
    if not args.no_write:
        write_section("Main job", frame, text)


if __name__ == "__main__":
    main()
