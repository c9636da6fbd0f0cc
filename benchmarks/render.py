"""Benchmark: every synthetic scheme's evidence summary to HTML, PDF and DOCX (issue 10).

Renders ``reports/evidence-summary.qmd`` for the synthetic schemes (``data/synthetic/*``,
found by :func:`evalkit.report.context.known_schemes`) and times, in the same run:

- one scheme's HTML, cold: a fresh Python process running what ``evalkit report
  --scheme NAME --to html`` runs, into an empty folder, so the time includes starting
  Python, the imports and the Jupyter kernel (by default for virtual-wards, the scheme
  the report renders without parameters);
- evalkit's batch renderer, :func:`~evalkit.report.context.render_reports` with the default
  number of worker processes, cold (an empty output folder, so nothing is cached) and
  then warm (the same folder again: every scheme is cached, nothing renders);
- a sequential loop that renders each scheme and format separately from scratch (one
  format per call, ``jobs=1``, a fresh output folder per call), as a naive
  ``for s in schemes; for f in formats: quarto render ... -P scheme:$s --to $f`` loop
  does. ``--loop-schemes N`` times it on the first N schemes and scales per scheme (the
  table says so). The loop runs in this process, so it pays no interpreter start-up per
  call: that favours the loop.

Where the time goes is measured with timers wrapped around the renderer's own functions
(``render_folder``, ``execute_qmd`` and the per-format converters; inherited by the
batch's forked workers): running the report's chunks, the rest of execution (starting
the kernel, parsing, injecting parameters, assembling the Markdown), converting with
pandoc/typst, and everything else (the render key's hashing, publishing the files,
process start-up). An untimed warm-up first imports the packages in a separate process
(so that byte-code is compiled) and runs pandoc once.

Targets: cold batch at least 3x faster than the loop; warm batch under 2 s; one
scheme's HTML, cold, under 10 s.

Writes the section "Rendering" of ``docs/benchmarks.md`` unless ``--no-write``.

Run: ``python benchmarks/render.py [--schemes all|a,b] [--formats html,pdf,docx]
[--loop-schemes N] [--one-scheme NAME] [--jobs N] [--engine auto] [--blas-threads N]
[--no-write]``; a quick check: ``python benchmarks/render.py --schemes
rapid-response,dementia-service --loop-schemes 1 --no-write``. ``--blas-threads 1`` sets
``OPENBLAS_NUM_THREADS`` (and OMP, MKL) for every run's kernels, to measure what capping
the BLAS's threads would gain (two kernels with a BLAS thread per core each oversubscribe
the cores). ``--profile [SCHEME]`` profiles one scheme's render with cProfile instead (the
renderer in this process, and the chunks inside the kernel) and prints where the time
goes. ``--quarto [QUARTO]`` adds rows for the Quarto engine (default: the test harness in
``.quarto-harness``): one scheme cold in every format in a fresh process, and the cold
batch of every scheme.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from _table import write_section

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
QMD = ROOT / "reports" / "evidence-summary.qmd"
DATA = ROOT / "data" / "synthetic"
TARGETS = {"cold": 3.0, "warm": 2.0, "one": 10.0}
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: Where the timers append their records (a JSON object a line). Set before a run;
#: forked worker processes inherit it.
_LOG: Path | None = None


# -- timers around the renderer's own functions ------------------------------------------
def _record(**entry) -> None:
    if _LOG is not None:
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**entry, "pid": os.getpid()}) + "\n")


def chunk_seconds(nb) -> float:
    """Seconds the kernel spent running the notebook's cells (nbclient's timestamps)."""
    total = 0.0
    for cell in getattr(nb, "cells", []):
        ex = cell.get("metadata", {}).get("execution", {})
        start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
        if start and end:
            total += (datetime.fromisoformat(end.replace("Z", "+00:00"))
                      - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
    return total


def install_timers() -> None:
    """Wrap ``render_folder``, ``execute_qmd`` and each format's converter with timers."""
    import evalkit.report.batch as reporting
    import evalkit.report.render as render
    from evalkit.report.render import writers

    if getattr(reporting.render_folder, "_timed", False):
        return
    render_folder, execute_qmd = reporting.render_folder, render.execute_qmd

    def timed_folder(*args, **kwargs):
        t0 = time.perf_counter()
        status = render_folder(*args, **kwargs)
        _record(kind="render", scheme=status.get("scheme"), seconds=time.perf_counter() - t0,
                ok=status["ok"], cached=bool(status.get("cached")))
        return status

    def timed_execute(*args, **kwargs):
        t0 = time.perf_counter()
        executed = execute_qmd(*args, **kwargs)
        _record(kind="execute", seconds=time.perf_counter() - t0,
                chunks=chunk_seconds(getattr(executed, "notebook", None)))
        return executed

    def timed_converter(fmt, converter):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            out = converter(*args, **kwargs)
            _record(kind="convert", format=fmt, seconds=time.perf_counter() - t0)
            return out
        return timed

    timed_folder._timed = True
    reporting.render_folder = timed_folder
    render.execute_qmd = timed_execute
    # the converters by format (a private table: if it goes, conversion is not split out)
    converters = getattr(writers, "_CONVERTERS", {})
    for fmt, converter in list(converters.items()):
        converters[fmt] = timed_converter(fmt, converter)


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# -- the runs ----------------------------------------------------------------------------
@dataclass
class Run:
    """One timed run: its wall-clock seconds, statuses and timer records."""

    label: str
    seconds: float
    statuses: list[dict]
    entries: list[dict]
    extra: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[dict]:
        return [s for s in self.statuses if not s["ok"]]

    @property
    def workers(self) -> int:
        return len({e["pid"] for e in self.entries if e["kind"] == "render"}) or 1

    def split(self, total: float | None = None) -> dict:
        """Seconds in chunks, the rest of execution, conversion and other, of ``total``
        (default: the summed render time of every call, i.e. worker-seconds)."""
        kind = {k: [e for e in self.entries if e["kind"] == k]
                for k in ("render", "execute", "convert")}
        render = sum(e["seconds"] for e in kind["render"])
        execute = sum(e["seconds"] for e in kind["execute"])
        chunks = sum(e["chunks"] for e in kind["execute"])
        convert = sum(e["seconds"] for e in kind["convert"])
        total = render if total is None else total
        by_format = {}
        for e in kind["convert"]:
            by_format.setdefault(e["format"], []).append(e["seconds"])
        return {"total": total, "chunks": chunks, "kernel": execute - chunks,
                "convert": convert, "other": max(total - execute - convert, 0.0),
                "by_format": {f: sum(v) / len(v) for f, v in by_format.items()},
                "per_scheme": {e["scheme"]: e["seconds"] for e in kind["render"]}}


def stamps(schemes: list[str], out: Path) -> dict[str, str | None]:
    """Each scheme's stored render key in ``out`` (None where there is none)."""
    from evalkit.report.batch import RENDER_KEY

    return {s: (out / s / RENDER_KEY).read_text() if (out / s / RENDER_KEY).is_file()
            else None for s in schemes}


def _fresh_log(work: Path, name: str) -> Path:
    global _LOG
    _LOG = work / f"{name}.jsonl"
    _LOG.unlink(missing_ok=True)
    return _LOG


def run_batch(label: str, schemes: list[str], formats: list[str], out: Path, work: Path,
              args, engine: str | None = None) -> Run:
    """``render_reports`` over every scheme and format, in worker processes."""
    from evalkit.report.batch import render_reports

    log = _fresh_log(work, label)
    t0 = time.perf_counter()
    statuses = render_reports(QMD, schemes, formats=formats, out=out, data_root=DATA,
                              engine=engine or args.engine, jobs=args.jobs, progress=False)
    seconds = time.perf_counter() - t0
    return Run(label, seconds, statuses, read_log(log))


def run_loop(schemes: list[str], loop_schemes: list[str], formats: list[str], work: Path,
             args) -> Run:
    """One scheme and one format per call, from scratch, one after another."""
    from evalkit.report.batch import render_reports

    log = _fresh_log(work, "loop")
    statuses = []
    t0 = time.perf_counter()
    for scheme in loop_schemes:
        for fmt in formats:
            out = work / "loop" / f"{scheme}-{fmt}"
            statuses += render_reports(QMD, [scheme], formats=[fmt], out=out, data_root=DATA,
                                       engine=args.engine, jobs=1, progress=False,
                                       force=True)
            print(f"  loop: {scheme} {fmt} done at {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr)
    seconds = time.perf_counter() - t0
    return Run("loop", seconds * len(schemes) / len(loop_schemes), statuses, read_log(log),
               extra={"measured": seconds})


def run_one(scheme: str, work: Path, args, *, engine: str | None = None,
            formats: tuple[str, ...] = ("html",), label: str = "one") -> Run:
    """One scheme's HTML (or ``formats``) in a fresh process, into an empty folder."""
    log = work / f"{label}.jsonl"
    log.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE), "--job", "one", "--one-scheme", scheme,
           "--engine", engine or args.engine, "--out", str(work / label), "--log", str(log),
           "--formats", ",".join(formats)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    try:
        statuses = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        print(proc.stderr[-3000:], file=sys.stderr)
        statuses = [{"scheme": scheme, "ok": False, "error": "the job process failed"}]
    return Run(label, seconds, statuses, read_log(log))


def job_one(args) -> None:
    """In the fresh process: render one scheme's HTML as ``evalkit report`` does."""
    global _LOG
    _LOG = Path(args.log)
    install_timers()
    from evalkit.report.batch import render_reports

    statuses = render_reports(QMD, [args.one_scheme], formats=args.formats.split(","),
                              out=args.out, data_root=DATA, engine=args.engine, jobs=1,
                              progress=False)
    print(json.dumps(statuses))


def warm_up(engine: str) -> str:
    """Compile byte-code and load pandoc once (untimed); the engine's description."""
    subprocess.run([sys.executable, "-c", "import evalkit.report.context, evalkit.report.render, "
                    "matplotlib.pyplot, nbclient, papermill, pypandoc, typst"], check=True)
    from evalkit.report.render import engine_version

    return engine_version(engine)


# -- the table ---------------------------------------------------------------------------
def _pct(part: float, total: float) -> str:
    return f"{100 * part / total:.0f}%" if total > 0 else ""


def _short(error: str | None, n: int = 70) -> str:
    """An error without the report's path, cut to ``n`` characters."""
    text = (error or "").replace(f"{QMD}: ", "")
    return text if len(text) <= n else text[: n - 3] + "..."


def _succeeded(run: Run, *, cached: bool = False) -> str:
    if run.failed:
        names = ", ".join(f"{s['scheme']} ({_short(s.get('error'))})" for s in run.failed)
        return f"NO: {len(run.failed)} of {len(run.statuses)} failed: {names}"
    if cached:
        fresh = [s["scheme"] for s in run.statuses if not s.get("cached")]
        if not fresh:
            return "yes (all cached)"
        changed = run.extra.get("changed", [])
        why = ("their inputs changed after the cold batch (files edited during the run)"
               if set(fresh) <= set(changed) else "NOT cached although unchanged")
        return f"yes, but {len(fresh)} of {len(run.statuses)} rendered again: {why}"
    return "yes"


def table(one: Run | None, cold: Run, warm: Run, loop: Run | None, schemes, formats,
          loop_schemes) -> tuple[pd.DataFrame, dict]:
    """The table's rows, and the splits behind them (for the notes)."""
    n_s, n_f = len(schemes), len(formats)
    rows, facts = [], {}

    def row(run: Run, name: str, split: dict, *, target: str = "",
            met: bool | str | None = None, ok: str = "", speed: str = "",
            workers: int | None = None, n_schemes: int = n_s, n_formats: int = n_f) -> None:
        facts[run.label] = split
        measured = run.label == "warm" or any(e["kind"] == "execute" for e in run.entries)
        share = (lambda part: _pct(part, split["total"])) if measured else (lambda _: "n/a")
        rows.append({
            "run": name, "renders": f"{n_schemes} x {n_formats}",
            "workers": run.workers if workers is None else workers,
            "seconds": round(run.seconds, 2),
            "per scheme (s)": round(run.seconds / n_schemes, 2),
            "vs loop": speed, "target": target,
            "met": met if isinstance(met, str) else "" if met is None
            else "yes" if met else "NO",
            "chunks": share(split["chunks"]),
            "kernel, parse, assemble": share(split["kernel"]),
            "pandoc/typst": share(split["convert"]),
            "other": share(split["other"]),
            "every render succeeded": ok})

    if one is not None:
        row(one, f"one scheme's HTML, cold, fresh process ({one.statuses[0]['scheme']})",
            one.split(total=one.seconds), target=f"< {TARGETS['one']:g} s",
            met=one.seconds < TARGETS["one"] and not one.failed, ok=_succeeded(one),
            workers=1, n_schemes=1, n_formats=1)
    speed = loop.seconds / cold.seconds if loop else None
    row(cold, "evalkit batch, cold (empty output folder)", cold.split(),
        target=f">= {TARGETS['cold']:g}x faster than the loop",
        met=None if speed is None else speed >= TARGETS["cold"] and not cold.failed,
        ok=_succeeded(cold), speed=f"{speed:.1f}x faster" if speed else "")
    fresh = [st["scheme"] for st in warm.statuses if not st.get("cached")]
    edited = bool(fresh) and set(fresh) <= set(warm.extra.get("changed", []))
    met = ("not measured" if edited
           else warm.seconds < TARGETS["warm"] and not warm.failed and not fresh)
    row(warm, "evalkit batch, warm (same folder, all cached)", warm.split(),
        target=f"< {TARGETS['warm']:g} s", met=met, ok=_succeeded(warm, cached=True),
        speed=f"{loop.seconds / warm.seconds:.0f}x faster" if loop else "")
    if loop is not None:
        name = "sequential loop, one scheme and format per call, from scratch"
        if len(loop_schemes) < n_s:
            name += f" (timed on {len(loop_schemes)} of {n_s} schemes, scaled)"
            facts["loop_measured"] = loop.extra["measured"]
            facts["loop_schemes"] = list(loop_schemes)
        row(loop, name, loop.split(), ok=_succeeded(loop), speed="1x", workers=1)
    return pd.DataFrame(rows), facts


def quarto_rows(one: Run, cold: Run, schemes, formats, columns) -> pd.DataFrame:
    """Rows for the Quarto engine beside the built-in ones (execution and conversion are
    not timed apart under Quarto)."""
    rows = []
    for run, name, n_s in ((one, f"Quarto: one scheme, {', '.join(formats)}, cold, fresh "
                                 f"process ({one.statuses[0]['scheme']})", 1),
                           (cold, "Quarto: batch, cold (empty output folder)", len(schemes))):
        rows.append({"run": name, "renders": f"{n_s} x {len(formats)}",
                     "workers": 1 if run is one else run.workers,
                     "seconds": round(run.seconds, 2),
                     "per scheme (s)": round(run.seconds / n_s, 2), "vs loop": "",
                     "target": "", "met": "", "chunks": "n/a",
                     "kernel, parse, assemble": "n/a", "pandoc/typst": "n/a", "other": "n/a",
                     "every render succeeded": _succeeded(run)})
    return pd.DataFrame(rows, columns=columns)


def use_quarto(quarto: str) -> str:
    """Put ``quarto`` first on PATH, with this Python (and this evalkit) for its chunks;
    return its version."""
    bin_dir = str(Path(quarto).resolve().parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ["QUARTO_PYTHON"] = sys.executable
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    from evalkit.report.render import engine_version

    return engine_version("quarto")


def notes(args, schemes, formats, engine: str, facts: dict, load: tuple, cold: Run) -> str:
    conv = facts["cold"]["by_format"]
    per = facts["cold"]["per_scheme"]
    slow = max(per, key=per.get) if per else None
    fast = min(per, key=per.get) if per else None
    text = (
        f"`reports/evidence-summary.qmd` for {len(schemes)} synthetic scheme(s) "
        f"({', '.join(schemes)}) to {', '.join(formats)}; engine: {engine}; batch workers: "
        f"{cold.workers} ("
        + (f"--jobs {args.jobs}" if args.jobs else "render_reports' default, one per core")
        + "). Targets: cold batch at "
        "least 3x faster than the loop; warm batch under 2 s; one scheme's HTML, cold, "
        "under 10 s. The batch executes each scheme once and converts it to every format, "
        "schemes in parallel; the loop (in this process, so without an interpreter "
        "start-up per call) executes once per scheme and format. The one-scheme row runs "
        "in a fresh Python process, so its time includes starting Python and the imports "
        "('other'). The shares are of the summed render time of every call (for the "
        "batch, worker-seconds, more than its wall-clock time; for the one-scheme row, "
        "its wall-clock time): 'chunks' is the report's own code in the kernel (running "
        "the spec's analyses, building tables and figures), 'kernel, parse, assemble' the "
        "rest of execution (starting and stopping the Jupyter kernel, parsing, injecting "
        "the parameters, assembling the Markdown), 'pandoc/typst' the conversions, "
        "'other' the rest (the render key's hashing, publishing files, process start-up).")
    if engine.startswith("quarto"):
        text += (" With Quarto the renderer's execution and conversion cannot be timed "
                 "apart ('n/a').")
    blas = {n: os.environ[n] for n in BLAS_THREADS if n in os.environ}
    text += (" BLAS threads: " + (", ".join(f"{k}={v}" for k, v in blas.items())
                                  + (" (set by --blas-threads)" if args.blas_threads else "")
                                  if blas else "one per report kernel (the renderer's "
                                  "default; the kernel's analyses may use the cores left "
                                  "to each scheme, EVALKIT_JOBS)")
             + ".")
    if conv:
        text += (" Mean conversion per format in the cold batch: "
                 + ", ".join(f"{f} {s:.2f} s" for f, s in conv.items()) + ".")
    if slow:
        text += (f" Scheme render times in the cold batch ({cold.workers} at once): "
                 f"{per[fast]:.1f} s ({fast}) to {per[slow]:.1f} s ({slow}).")
    if facts.get("loop_measured") is not None:
        text += (f" The loop was timed on {', '.join(facts['loop_schemes'])} "
                 f"({facts['loop_measured']:.1f} s) and scaled by {len(schemes)}/"
                 f"{len(facts['loop_schemes'])} schemes.")
    text += (f" Load average when the run started: {load[0]:.2f}; when it ended: "
             f"{load[1]:.2f}. evalkit at {git_state()}.")
    return text


def git_state() -> str:
    """The checkout's commit, and whether it has uncommitted changes."""
    def git(*cmd: str) -> str:
        out = subprocess.run(["git", "-C", str(ROOT), *cmd], capture_output=True, text=True,
                             check=False)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "no git commit"
    return f"commit {commit}" + (" (uncommitted changes)" if git("status", "--porcelain")
                                 else "")


# -- profiling ---------------------------------------------------------------------------
def _top(prof: cProfile.Profile | pstats.Stats, n: int, restrict: str | None = None) -> str:
    buffer = io.StringIO()
    stats = prof if isinstance(prof, pstats.Stats) else pstats.Stats(prof, stream=buffer)
    stats.stream = buffer
    stats.sort_stats("cumulative")
    if restrict:
        stats.print_stats(restrict, n)
    else:
        stats.print_stats(n)
    return buffer.getvalue()


def profile(scheme: str, formats: list[str], work: Path, top: int) -> None:
    """cProfile one scheme's render: the renderer here, and the chunks inside the kernel."""
    import nbformat

    from evalkit.report.render import convert, execute_qmd
    from evalkit.report.render.notebook import build_notebook, run_notebook
    from evalkit.report.render.qmd import parse_qmd

    params = {"scheme": scheme, "spec": str((DATA / scheme / "spec.yaml").resolve())}
    host = cProfile.Profile()
    t0 = time.perf_counter()
    host.enable()
    executed = execute_qmd(QMD, params=params)
    t1 = time.perf_counter()
    convert(executed, formats=formats, out_dir=work / "profile", basename=QMD.stem)
    host.disable()
    t2 = time.perf_counter()
    host.dump_stats(work / "renderer.prof")
    chunks = chunk_seconds(executed.notebook)
    print(f"\n{scheme}: execute {t1 - t0:.2f} s (chunks {chunks:.2f} s, kernel start, "
          f"parse and assembly {t1 - t0 - chunks:.2f} s), convert {t2 - t1:.2f} s "
          f"({', '.join(formats)})\n")
    print("Slowest chunks:")
    timed = []
    for cell in executed.notebook.cells:
        one = nbformat.from_dict({"cells": [cell]})
        first = next((ln for ln in cell.source.splitlines() if not ln.startswith("#|")), "")
        timed.append((chunk_seconds(one), first.strip()[:70]))
    for seconds, first in sorted(timed, reverse=True)[:10]:
        print(f"  {seconds:6.2f} s  {first}")
    print("\nThe renderer in this process (cumulative; the kernel's work shows as waiting):")
    print(_top(host, top, "evalkit|pypandoc|typst|nbclient"))

    # the same document run with a profiler inside the kernel
    doc = parse_qmd(QMD)
    nb = build_notebook(doc, params)
    kernel_prof = work / "kernel.prof"
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        "import cProfile as _bench_cp\n_bench_prof = _bench_cp.Profile()\n"
        "_bench_prof.enable()"))
    nb.cells.append(nbformat.v4.new_code_cell(
        f"_bench_prof.disable()\n_bench_prof.dump_stats({str(kernel_prof)!r})"))
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    run_notebook(doc, nb)
    stats = pstats.Stats(str(kernel_prof))
    print("Inside the kernel: evalkit's functions (cumulative):")
    print(_top(stats, top, "evalkit"))
    print(f"Profiles: {work / 'renderer.prof'} and {kernel_prof} (e.g. `python -m pstats`).")


# -- main --------------------------------------------------------------------------------
def main() -> None:
    from evalkit.report.batch import known_schemes

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--schemes", default="all", help="'all' or comma-separated scheme names")
    p.add_argument("--formats", default="html,pdf,docx")
    p.add_argument("--loop-schemes", type=int, default=None,
                   help="time the loop on the first N schemes and scale per scheme "
                        "(0: no loop)")
    p.add_argument("--one-scheme", default=None,
                   help="the scheme of the one-scheme HTML row (default: virtual-wards, the "
                        "report's own default, if selected; else the first)")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="set OPENBLAS/OMP/MKL_NUM_THREADS for every run's kernels (an "
                        "experiment; by default they are left as the environment has them)")
    p.add_argument("--jobs", type=int, default=None,
                   help="batch worker processes (default: render_reports' own, one per core)")
    p.add_argument("--engine", default="auto", choices=["auto", "quarto", "builtin"])
    p.add_argument("--tmp", default=None, help="folder for the outputs (deleted afterwards)")
    p.add_argument("--keep", action="store_true", help="keep the outputs")
    p.add_argument("--profile", nargs="?", const="", default=None, metavar="SCHEME",
                   help="profile one scheme's render (default: the first) instead")
    p.add_argument("--top", type=int, default=30, help="rows of each profile shown")
    p.add_argument("--quarto", nargs="?", const=str(ROOT / ".quarto-harness" / "bin" /
                                                     "quarto"), default=None, metavar="QUARTO",
                   help="also time the Quarto engine (default executable: the test harness "
                        "in .quarto-harness): one scheme cold in every format, and the batch")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--job", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--log", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.job == "one":
        job_one(args)
        return

    known = known_schemes(DATA)
    schemes = known if args.schemes == "all" else [s.strip() for s in args.schemes.split(",")
                                                   if s.strip()]
    unknown = [s for s in schemes if s not in known]
    if unknown or not schemes:
        p.error(f"unknown scheme(s): {', '.join(unknown) or 'none'}; "
                f"choose from {', '.join(known)} or 'all'")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats or any(f not in ("html", "pdf", "docx") for f in formats):
        p.error("--formats takes html, pdf and/or docx")
    n_loop = len(schemes) if args.loop_schemes is None else args.loop_schemes
    if not 0 <= n_loop <= len(schemes):
        p.error(f"--loop-schemes must be between 0 and {len(schemes)}")
    one_scheme = args.one_scheme or ("virtual-wards" if "virtual-wards" in schemes
                                     else schemes[0])
    if args.blas_threads is not None:
        if args.blas_threads < 1:
            p.error("--blas-threads must be at least 1")
        for name in BLAS_THREADS:
            os.environ[name] = str(args.blas_threads)
    if one_scheme not in known:
        p.error(f"unknown scheme '{one_scheme}'")

    work = Path(tempfile.mkdtemp(prefix="evalkit-render-bench-", dir=args.tmp))
    try:
        engine = warm_up(args.engine)
        install_timers()
        if args.profile is not None:
            scheme = args.profile or schemes[0]
            if scheme not in known:
                p.error(f"unknown scheme '{scheme}'")
            profile(scheme, formats, work, args.top)
            return
        load_start = os.getloadavg()[0]
        print(f"engine: {engine}; {len(schemes)} scheme(s) x {len(formats)} format(s)",
              file=sys.stderr)
        one = run_one(one_scheme, work, args)
        print(f"one scheme's HTML, cold: {one.seconds:.1f} s", file=sys.stderr)
        cold = run_batch("cold", schemes, formats, work / "batch", work, args)
        print(f"batch, cold: {cold.seconds:.1f} s ("
              + ", ".join(f"{k} {v:.1f} s" for k, v in cold.split()["per_scheme"].items())
              + ")", file=sys.stderr)
        keys = stamps(schemes, work / "batch")
        warm = run_batch("warm", schemes, formats, work / "batch", work, args)
        # a scheme rendered again under a new key: its inputs changed between the runs
        warm.extra["changed"] = [s for s, k in stamps(schemes, work / "batch").items()
                                 if k is not None and k != keys[s]]
        if warm.extra["changed"]:
            print(f"inputs changed after the cold batch: {', '.join(warm.extra['changed'])} "
                  "(the report, their data or evalkit's source was edited during the run)",
                  file=sys.stderr)
        print(f"batch, warm: {warm.seconds:.2f} s", file=sys.stderr)
        loop_schemes = schemes[:n_loop]
        loop = run_loop(schemes, loop_schemes, formats, work, args) if n_loop else None
        if loop:
            print(f"loop: {loop.seconds:.1f} s", file=sys.stderr)
        load = (load_start, os.getloadavg()[0])
        for run in (one, cold, warm, loop):
            for st in (run.failed if run else []):
                print(f"FAILED in {run.label}: {st['scheme']}: {st.get('error')} "
                      f"(log: {st.get('log')})", file=sys.stderr)
        frame, facts = table(one, cold, warm, loop, schemes, formats, loop_schemes)
        text = notes(args, schemes, formats, engine, facts, load, cold)
        if args.quarto:
            q_engine = use_quarto(args.quarto)
            print(f"Quarto: {q_engine}", file=sys.stderr)
            q_load = os.getloadavg()[0]
            q_one = run_one(one_scheme, work, args, engine="quarto", formats=tuple(formats),
                            label="quarto-one")
            print(f"Quarto, one scheme cold: {q_one.seconds:.1f} s", file=sys.stderr)
            q_cold = run_batch("quarto-cold", schemes, formats, work / "qbatch", work, args,
                               engine="quarto")
            print(f"Quarto, batch cold: {q_cold.seconds:.1f} s", file=sys.stderr)
            frame = pd.concat([frame, quarto_rows(q_one, q_cold, schemes, formats,
                                                  frame.columns)], ignore_index=True)
            text += (f" Quarto rows: {q_engine} (the test harness of ../shared/quarto), "
                     "each document executed once and converted to every format (the "
                     "executed notebook kept for the later formats); execution and "
                     "conversion are not timed apart ('n/a'). Load average when the Quarto "
                     f"runs started: {q_load:.2f}; when they ended: "
                     f"{os.getloadavg()[0]:.2f}.")
        print(frame.to_markdown(index=False))
        print("\n" + text)
        if not args.no_write:
            write_section("Rendering", frame, text)
    finally:
        if args.keep:
            print(f"outputs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
