"""The ``evalkit`` command: a thin layer over the Python functions.

Problems the user can fix (bad data, spec or arguments) print one line and exit
with code 2; nothing partial is left behind. Output folders are replaced whole and only
when they hold nothing but evalkit's unchanged output (:mod:`evalkit.files.output_folder`);
``--force`` replaces them anyway but keeps every file evalkit did not write. A batch
(``demo``, ``report --scheme all``, ``compare``) finishes every good member, then prints
one line per failed member and exits with code 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from evalkit.errors import EvalkitError

__all__ = ["main"]

REPORT = Path("reports") / "evidence-summary.qmd"
COMPARE_REPORT = Path("reports") / "comparative-synthesis.qmd"
PLAN_REPORT = Path("reports") / "evaluation-plan.qmd"
FORMATS = ("html", "pdf", "docx")
_FORCE_OUT = ("replace output folders even if they hold files evalkit did not write or "
              "that were changed: files with the names evalkit writes are overwritten, "
              "every other file is kept (nothing evalkit did not write is deleted)")


def _formats(text: str) -> list[str]:
    chosen = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise EvalkitError(f"unknown format(s): {', '.join(bad) or text!r}",
                           fix=f"use a comma-separated list of {', '.join(FORMATS)}")
    return chosen


def cmd_synth(args) -> int:
    from evalkit.files.run_temp import clean_stale_runs
    from evalkit.synthetic import synth

    clean_stale_runs()  # what killed runs left in TMPDIR (commands that render do it too)
    folders = synth(args.out, progress=not args.quiet, force=args.force)
    print(f"Wrote {len(folders)} synthetic case studies to {Path(args.out).resolve()}")
    return 0


def cmd_check(args) -> int:
    from evalkit.evaluation.check import check

    reports = check(args.data, spec=args.spec)
    for r in reports:
        print(r)
    errors = sum(len(r.errors) for r in reports)
    if errors:
        print(f"evalkit: error: {args.data}: {errors} error(s): the data do not meet the "
              "contract. Fix: correct the problems listed above", file=sys.stderr)
        return 2
    return 0


def cmd_run(args) -> int:
    from evalkit.evaluation.pipeline import run_spec
    from evalkit.evaluation.spec import load_spec
    from evalkit.files.run_temp import clean_stale_runs

    clean_stale_runs()
    spec = load_spec(args.spec)
    out = Path(args.out) if args.out else Path("output") / spec.scheme / "analysis"
    ev = run_spec(spec, out=out, progress=not args.quiet, force=args.force)
    print(f"{spec.scheme}: {len(ev.effects)} effect(s) from {len(ev.results)} analyses "
          f"written to {out.resolve()}")
    return 0


def _data_root(args) -> Path:
    return Path(args.data_root).resolve()


def cmd_report(args) -> int:
    from evalkit.report.batch import check_schemes, known_schemes, render_reports

    root = _data_root(args)
    schemes = known_schemes(root) if args.scheme == "all" else [
        s.strip() for s in args.scheme.split(",") if s.strip()]
    check_schemes(schemes, root)
    statuses = render_reports(args.qmd, schemes, formats=_formats(args.to), out=args.out,
                              data_root=root, engine=args.engine, jobs=args.jobs,
                              progress=not args.quiet, force=args.force)
    return _print_statuses(statuses)


def _print_statuses(statuses, failures: list[str] | tuple = ()) -> int:
    """Print each rendered report, then one line per failure (the statuses' and
    ``failures``); return 2 if anything failed, else 0."""
    from evalkit.report.batch import failure_lines

    for s in statuses:
        if s["ok"]:
            print(f"{s['scheme']}: " + ", ".join(s["outputs"].values())
                  + (" (unchanged since the last render; --force renders again)"
                     if s.get("cached") else ""))
    lines = [*failures, *failure_lines(statuses)]
    for line in lines:
        print(f"evalkit: error: {line}", file=sys.stderr)
    if lines:
        print(f"{len(lines)} failure(s); everything else was written.")
        return 2
    return 0


def _digest(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(map(Path, paths)):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


#: The file in a scheme's analysis folder that records what it was computed from.
INPUTS_STAMP = ".inputs-sha256"
#: The file in demo's output folder that records the synthetic data it last checked.
SYNTH_STAMP = ".synthetic-sha256"


def _synth_key(root: Path) -> str:
    """The synthetic data under ``root`` (every file's name and bytes) and the code that
    writes it (:func:`evalkit.evaluation.fingerprint.code_sha256`), as one SHA-256."""
    from evalkit.evaluation.fingerprint import code_sha256

    files = sorted(p for p in root.rglob("*") if p.is_file())
    return hashlib.sha256(json.dumps({"root": str(root.resolve()), "code": code_sha256(),
                                      "files": _digest_rel(root, files)}).encode()).hexdigest()


def _digest_rel(root: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _synth_stage(root: Path, out: Path, args) -> dict:
    """Write (or check) the synthetic case studies unless they are as the last demo left
    them with the same code (:data:`SYNTH_STAMP`); return the refusals by scheme."""
    from evalkit import synthetic
    from evalkit.files.output_folder import write_file

    stamp = out / SYNTH_STAMP
    if (not args.force and root.is_dir() and stamp.is_file()
            and stamp.read_text() == _synth_key(root)):
        if not args.quiet:
            print("synth: the synthetic data are current", file=sys.stderr)
        return {}
    # rewrites nothing that is already identical, and no folder that holds other files
    _, refused = synthetic.synth_each(root, progress=not args.quiet, force=args.force)
    if not refused:
        try:
            write_file(out, SYNTH_STAMP, _synth_key(root).encode(), force=args.force)
        except EvalkitError:
            pass  # the stamp only saves time; a folder that refuses it is checked later
    return refused


def _analysis_current(target: Path, key: str) -> bool:
    """Whether ``target`` holds the analysis computed from ``key``: its stamp says so and
    every file its manifest lists is there, unchanged, with nothing else."""
    from evalkit.files.output_folder import folder_files, read_manifest, sha256

    stamp = target / INPUTS_STAMP
    if not stamp.is_file() or stamp.read_text() != key:
        return False
    listed = read_manifest(target)
    return bool(listed) and set(listed) == set(folder_files(target)) and all(
        sha256(target / rel) == digest for rel, digest in listed.items())


def _analyse(scheme: str, spec: str, target: str, key: str, force: bool,
             cores: int) -> tuple[str, str | None]:
    """Run one scheme's spec into ``target`` (in a worker process of the demo, or in this
    one); return the scheme and None, or its one-line error. One maths-library (BLAS)
    thread: the schemes run side by side, one per core."""
    from threadpoolctl import threadpool_limits

    from evalkit.evaluation.pipeline import run_spec

    before = os.environ.get("EVALKIT_JOBS")
    os.environ["EVALKIT_JOBS"] = str(max(1, cores))  # placebo fits' worker processes
    try:
        with threadpool_limits(limits=1):
            run_spec(spec, out=target, force=force, extra_files={INPUTS_STAMP: key})
    except EvalkitError as err:
        return scheme, err.one_line()
    finally:
        if before is None:
            os.environ.pop("EVALKIT_JOBS", None)
        else:
            os.environ["EVALKIT_JOBS"] = before
    return scheme, None


def _cost(spec: Path) -> int:
    """A rough rank of a spec's run time (synthetic control fits a placebo per donor), so
    that the slowest start first and the workers finish together."""
    text = spec.read_text(encoding="utf-8", errors="replace")
    return 10 * text.count("synthetic_control") + text.count("design")


def _analysis_stage(root: Path, out: Path, schemes: list[str], args) -> tuple[list, list]:
    """Run every scheme's spec whose inputs or evalkit changed since its last run, side by
    side in worker processes; return the good schemes and one line per failure."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    from evalkit.evaluation.fingerprint import code_sha256

    todo, good, failures = [], [], []
    for scheme in schemes:
        folder = root / scheme
        key = f"{_digest([*folder.iterdir()])}-{code_sha256()}"
        target = out / scheme / "analysis"
        if not args.force and _analysis_current(target, key):
            good.append(scheme)
        else:
            todo.append((scheme, str(folder / "spec.yaml"), str(target), key, args.force))
    current = len(good)
    todo.sort(key=lambda t: -_cost(Path(t[1])))
    jobs = max(1, min(args.jobs or os.cpu_count() or 1, len(todo) or 1))
    cores = max(1, (os.cpu_count() or 1) // jobs)
    with tqdm(total=len(todo), desc="analyses", unit="scheme", disable=args.quiet) as bar:
        def done(scheme: str, error: str | None) -> None:
            if error is None:
                good.append(scheme)
            else:
                failures.append(f"{scheme}: {error}")
            bar.set_postfix_str(scheme, refresh=False)
            bar.update()

        if jobs == 1:
            for t in todo:
                done(*_analyse(*t, cores))
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(_analyse, *t, cores) for t in todo]
                for fut in as_completed(futures):
                    done(*fut.result())
    print(f"Analyses: {len(todo) - len(failures)} run, {current} already current "
          f"({out.resolve()}/<scheme>/analysis)")
    return [s for s in schemes if s in good], failures


def cmd_demo(args) -> int:
    """Synthesise (if needed), run every scheme's spec and render every evidence summary
    and the comparative synthesis, with a progress bar for each stage.

    A scheme that cannot be synthesised (its folder holds files evalkit did not write) or
    analysed (bad data) is left out and listed at the end; the others go on. Work whose
    inputs (and evalkit) are unchanged since the last run is not done again; analyses
    run side by side, and the reports reuse the evaluations the analyses computed.
    """
    from evalkit.evaluation.pipeline import CACHE_ENV
    from evalkit.files.output_folder import write_file
    from evalkit.files.run_temp import run_dir
    from evalkit.report import batch as reporting_batch

    root = _data_root(args)
    out = Path(args.out)
    qmd = Path(args.qmd)
    refused = _synth_stage(root, out, args)
    failures = [f"{name}: {err.one_line()}" for name, err in refused.items()]
    schemes = [s for s in reporting_batch.known_schemes(root) if s not in refused]
    if not refused:
        reporting_batch.check_schemes(schemes, root)
    # the run's evaluations, for the reports' kernels (a private folder, removed after)
    cache = run_dir() / f"evaluations-{os.getpid()}"
    cache.mkdir(mode=0o700, exist_ok=True)
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(cache)
    try:
        good, failed = _analysis_stage(root, out, schemes, args)
        failures += failed
        statuses = reporting_batch.render_reports(
            qmd, good, formats=_formats(args.to), out=out, data_root=root,
            engine=args.engine, jobs=args.jobs, progress=not args.quiet,
            force=args.force) if good else []
        if good:  # the schemes left out are named, so that "all" does not bring them back
            statuses.append(_render_comparison(args.compare_qmd, ",".join(good) if failures
                                               else "all", root, out, args))
    finally:
        if before is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = before
        shutil.rmtree(cache, ignore_errors=True)
    index = {s["scheme"]: s for s in statuses}
    try:
        write_file(out, "index.json", (json.dumps(index, indent=2, sort_keys=True)
                                       + "\n").encode("utf-8"), force=args.force)
    except EvalkitError as err:
        failures.append(f"index: {err.one_line()}")
    code = _print_statuses(statuses, failures)
    print(f"Everything is under {out.resolve()}")
    return code


def _render_comparison(qmd, schemes: str, root: Path, out: Path, args) -> dict:
    """Render the comparative synthesis, with a progress bar over the report's chunks."""
    from tqdm import tqdm

    from evalkit.report import render
    from evalkit.report.batch import render_folder

    with tqdm(desc="comparative synthesis", unit="chunk", disable=args.quiet) as bar:
        def advance(done: int, total: int) -> None:
            if bar.total != total:
                bar.reset(total=total)
            bar.update(done - bar.n)

        before, render.cell_progress = render.cell_progress, advance
        try:
            return render_folder(Path(qmd).resolve(), "comparative",
                                 {"schemes": schemes, "data_root": str(root.resolve())},
                                 _formats(args.to), out.resolve(), args.engine,
                                 force=args.force)
        finally:
            render.cell_progress = before


def cmd_aggregate(args) -> int:
    """Build analysis panels from patient-level records (evalkit.records)."""
    from evalkit.records import aggregate_command

    return aggregate_command(args.spec, out=args.out, engine=args.engine,
                             memory_limit=args.memory_limit, progress=not args.quiet,
                             force=args.force)


def cmd_compare(args) -> int:
    """Render the comparative synthesis across schemes."""
    qmd = Path(args.qmd)
    if not qmd.is_file():
        raise EvalkitError("report source not found", file=str(qmd),
                           fix="give the path of a .qmd file, e.g. "
                               "reports/comparative-synthesis.qmd")
    from evalkit.evaluation.check import check
    from evalkit.report.batch import check_schemes, known_schemes

    root = _data_root(args)
    names = known_schemes(root) if args.schemes == "all" else [
        s.strip() for s in args.schemes.split(",") if s.strip()]
    check_schemes(names, root)
    failures, good = [], []
    for name in names:  # a scheme whose data break the contract is left out and named
        try:
            for report in check(root / name):
                report.raise_for_errors()
        except EvalkitError as err:
            failures.append(f"{name}: {err.one_line()}")
        else:
            good.append(name)
    if not good:
        return _print_statuses([], failures)
    status = _render_comparison(qmd, ",".join(good) if failures else args.schemes, root,
                                Path(args.out), args)
    return _print_statuses([status], failures)


def cmd_init(args) -> int:
    """Plan an evaluation from the user's data: a commented spec.yaml and a README."""
    from evalkit.planning import init

    result = init(args.data, out=args.out, unit=args.unit, time=args.time,
                  treated=args.treated, start=args.start, cohort=args.cohort)
    print(result.summary())
    for report in result.reports:
        print(report)
    return 0 if result.ok else 2


def cmd_advise(args) -> int:
    """List the designs the data (or a spec's data) support, and recommend one."""
    from evalkit.planning import advise

    print(advise(args.data, unit=args.unit, time=args.time, treated=args.treated,
                 start=args.start, cohort=args.cohort).summary())
    return 0


def cmd_plan(args) -> int:
    """Render an evaluation plan (a statistical analysis plan) from a spec."""
    from evalkit.evaluation.spec import load_spec
    from evalkit.report.batch import render_folder

    spec = load_spec(args.spec)  # a bad spec stops here: one line, exit 2
    qmd = Path(args.qmd)
    if not qmd.is_file():
        raise EvalkitError("report source not found", file=str(qmd),
                           fix="run from the evalkit project folder, or give --qmd "
                               "reports/evaluation-plan.qmd")
    if not args.target > 0:
        raise EvalkitError(f"--target must be a positive percentage, not {args.target}",
                           fix="give e.g. --target 5 for a 5% change")
    out = Path(args.out) if args.out else Path("output") / "plans" / spec.scheme
    params = {"spec": str(spec.path.resolve()), "target": args.target,
              "followup": args.followup}
    status = render_folder(qmd.resolve(), out.name, params, _formats(args.format),
                           out.resolve().parent, args.engine, force=args.force)
    return _print_statuses([{**status, "scheme": f"{spec.scheme} (plan)"}])


def _planning_parsers(sub) -> None:
    """The ``init`` and ``advise`` subcommands (explicit columns override every guess)."""
    for name, helptext in (("init", "plan an evaluation from your own data files: write a "
                            "commented spec.yaml and README, then check"),
                           ("advise", "list the designs your data (or spec) support")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("data", nargs="+", help="data files (CSV, Excel, Parquet; a records "
                       "spec with a practice table for patient-level records) or a folder"
                       + ("" if name == "init" else ", or a spec.yaml"))
        if name == "init":
            s.add_argument("--out", default=None, help="the evaluation folder (default: the "
                           "data's folder); files are never overwritten")
        for flag in ("unit", "time", "treated", "cohort"):
            s.add_argument(f"--{flag}", default=None, help=f"the {flag} column (overrides "
                           "the guess)")
        s.add_argument("--start", default=None, help="the start period, e.g. 2019-10")
        s.set_defaults(func=cmd_init if name == "init" else cmd_advise)
    s = sub.add_parser("plan", help="render an evaluation plan (a statistical analysis plan "
                       "with designs, minimum detectable effects and a timeline) from a spec")
    s.add_argument("spec", help="the evaluation spec (spec.yaml)")
    s.add_argument("--out", default=None, help="the plan's folder (default: "
                   "output/plans/<scheme>); a folder evalkit did not write is not replaced")
    s.add_argument("--format", default="html,pdf,docx", help="comma-separated formats")
    s.add_argument("--engine", default="auto", choices=["auto", "quarto", "builtin"])
    s.add_argument("--qmd", default=str(PLAN_REPORT))
    s.add_argument("--target", type=float, default=5.0, help="the target effect, in percent "
                   "of the baseline (default 5)")
    s.add_argument("--followup", type=_jobs, default=12, help="the planned follow-up in "
                   "months (default 12)")
    s.add_argument("--force", action="store_true",
                   help="render even when the inputs are unchanged; " + _FORCE_OUT)
    s.set_defaults(func=cmd_plan)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are :class:`EvalkitError` (one line, exit code 2)."""

    def error(self, message: str):  # type: ignore[override]
        raise EvalkitError(message, fix=f"see '{self.prog} --help'")


def _jobs(text: str) -> int:
    """A whole number of worker processes, at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``evalkit`` command."""
    p = _Parser(prog="evalkit", description="Evaluate collaborative working in "
                                "health care: analyses and evidence summaries.")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write the synthetic case studies")
    s.add_argument("--out", default="data/synthetic")
    s.add_argument("--force", action="store_true", help=_FORCE_OUT)
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("check", help="check data against the data contract")
    s.add_argument("data", help="a data file or a scheme folder")
    s.add_argument("--spec", default=None, help="the evaluation spec (default: spec.yaml "
                   "beside the data)")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("run", help="run every analysis in an evaluation spec")
    s.add_argument("spec")
    s.add_argument("--out", default=None, help="default: output/<scheme>/analysis")
    s.add_argument("--force", action="store_true", help=_FORCE_OUT)
    s.set_defaults(func=cmd_run)

    for name, helptext in (("report", "render evidence summaries"),
                           ("demo", "the main job: run and render every synthetic case study")):
        s = sub.add_parser(name, help=helptext)
        if name == "report":
            s.add_argument("qmd", help="the report source, e.g. reports/evidence-summary.qmd")
            s.add_argument("--scheme", required=True,
                           help="a scheme name, several separated by commas, or 'all'")
        else:
            s.add_argument("--qmd", default=str(REPORT))
        s.add_argument("--to", default="html,pdf,docx", help="comma-separated formats")
        s.add_argument("--engine", default="auto", choices=["auto", "quarto", "builtin"])
        s.add_argument("--out", default="output")
        s.add_argument("--data-root", default="data/synthetic")
        s.add_argument("--jobs", type=_jobs, default=None, help="worker processes (default: "
                       "one per core)")
        s.add_argument("--force", action="store_true",
                       help="render even reports whose inputs are unchanged; " + _FORCE_OUT)
        if name == "demo":
            s.add_argument("--compare-qmd", default=str(COMPARE_REPORT))
        s.set_defaults(func=cmd_report if name == "report" else cmd_demo)

    s = sub.add_parser("aggregate", help="build analysis panels from patient-level records "
                       "(DuckDB, or Spark from the same definitions)")
    s.add_argument("spec", help="a records spec (see docs/records.md)")
    s.add_argument("--out", default=None, help="where to write the panel and tables")
    s.add_argument("--engine", default="duckdb", choices=["duckdb", "spark"])
    s.add_argument("--memory-limit", default="4GB", help="DuckDB's memory limit")
    s.add_argument("--force", action="store_true",
                   help="overwrite files at --out that evalkit did not write")
    s.set_defaults(func=cmd_aggregate)

    s = sub.add_parser("compare", help="render the comparative synthesis across schemes")
    s.add_argument("--qmd", default=str(COMPARE_REPORT))
    s.add_argument("--schemes", default="all", help="'all' or names separated by commas")
    s.add_argument("--to", default="html,pdf,docx", help="comma-separated formats")
    s.add_argument("--engine", default="auto", choices=["auto", "quarto", "builtin"])
    s.add_argument("--out", default="output")
    s.add_argument("--data-root", default="data/synthetic")
    s.add_argument("--force", action="store_true",
                   help="render even when the inputs are unchanged; " + _FORCE_OUT)
    s.set_defaults(func=cmd_compare)
    _planning_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Problems the user can fix, bad arguments included, print one line starting
    ``evalkit: error:`` and return 2. So does an operating-system error (permission denied,
    a read-only folder, a full disk), naming the path. Anything else is a bug and keeps its
    traceback.
    """
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except EvalkitError as err:
        print(f"evalkit: error: {err.one_line()}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"evalkit: error: {_os_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("evalkit: interrupted", file=sys.stderr)
        return 130


def _os_error(err: OSError) -> str:
    """An operating-system error as one line naming the path and a fix."""
    import errno

    path = err.filename if err.filename is not None else "a file"
    what = err.strerror or type(err).__name__
    denied = ("check you may read this file, and write in the output folder (choose "
              "another with --out)")
    fixes = {errno.EACCES: denied, errno.EPERM: denied,
             errno.EROFS: "the folder is on a read-only disk; choose another with --out",
             errno.ENOSPC: "free some disk space, or write elsewhere with --out",
             errno.ENOENT: "check the path exists"}
    fix = fixes.get(err.errno, "check the path and try again")
    return EvalkitError(what, file=str(path), fix=fix).one_line()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
