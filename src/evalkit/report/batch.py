"""Rendering reports in batches: one scheme's output folder, every scheme in parallel.

Kept apart from :mod:`evalkit.report.context` (the reports' content) so that the process that
starts a batch imports little: the analyses run in each report's own Jupyter kernel.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.naming import SCHEME_NAME

__all__ = ["project_root", "known_schemes", "check_schemes", "RENDER_KEY", "render_key",
           "render_folder", "render_reports", "failure_lines"]


def project_root(start: str | Path | None = None) -> Path:
    """The evalkit project folder: the nearest parent holding ``data/synthetic``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "data" / "synthetic").is_dir():
            return folder
    raise EvalkitError("cannot find the project's data/synthetic folder", file=str(here),
                       fix="run from inside the evalkit project, or pass the spec path")


def known_schemes(data_root: str | Path) -> list[str]:
    """Scheme folders (with a ``spec.yaml``) under ``data_root``."""
    root = Path(data_root)
    return sorted(p.parent.name for p in root.glob("*/spec.yaml")
                  if SCHEME_NAME.match(p.parent.name))


def _render_one(qmd: str, scheme: str, spec: str, formats: tuple[str, ...], out: str,
                engine: str, force: bool = False, cores: int = 1) -> dict:
    # The report's kernel inherits EVALKIT_JOBS: the cores its analyses may use (placebo
    # fits in worker processes), the machine's cores shared among the schemes rendering.
    before = os.environ.get("EVALKIT_JOBS")
    os.environ["EVALKIT_JOBS"] = str(max(1, int(cores)))
    try:
        return render_folder(qmd, scheme, {"scheme": scheme, "spec": spec}, formats, out,
                             engine, force=force)
    finally:
        if before is None:
            os.environ.pop("EVALKIT_JOBS", None)
        else:
            os.environ["EVALKIT_JOBS"] = before


#: The file in a report's output folder that records what it was rendered from.
RENDER_KEY = ".render-key"


def render_key(qmd: str | Path, params: dict, formats: Sequence[str]) -> str:
    """What a rendered report depends on, as one SHA-256: the report source, the
    parameters and formats, the data (every file beside the ``spec``, or under the
    ``data_root``, a parameter names), and evalkit (its version and source files)."""
    import hashlib

    import evalkit

    h = hashlib.sha256()
    h.update(Path(qmd).read_bytes())
    h.update(json.dumps({"params": {k: str(v) for k, v in params.items()},
                         "formats": sorted(formats), "version": evalkit.__version__},
                        sort_keys=True).encode())
    from evalkit.evaluation.fingerprint import code_sha256

    h.update(code_sha256().encode())  # evalkit's source, assets and tables
    files: list[Path] = []
    if params.get("spec"):
        files += sorted(p for p in Path(params["spec"]).parent.iterdir() if p.is_file())
    if params.get("data_root"):
        files += sorted(p for p in Path(params["data_root"]).rglob("*")
                        if p.is_file() and not p.name.startswith("."))
    for f in files:
        h.update(str(f.name).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def render_folder(qmd: str | Path, name: str, params: dict, formats: Sequence[str],
                  out: str | Path, engine: str, *, force: bool = False) -> dict:
    """Render one report into ``<out>/<name>/``; a failure is logged there, not raised.

    The formats are rendered into a staging folder and published together, replacing the
    folder whole (:mod:`evalkit.files.output_folder`): a failed or killed render leaves the
    previous set, and a folder holding files evalkit did not write is not replaced unless
    ``force`` (which keeps them). A report whose inputs are unchanged since it was last
    rendered (same :func:`render_key`, every output present) is not rendered again unless
    ``force``.

    Returns a status: ``{"scheme": name, "ok": True, "outputs": ..., "cached": bool}`` or
    ``ok`` False with the one-line ``error`` and the ``log`` file (None when no log was
    written, e.g. because the folder is not evalkit's).
    """
    from evalkit.files.output_folder import check_folder, replace_folder, write_file

    folder = Path(out) / name
    try:
        key = render_key(qmd, params, formats)
        cached = None if force else _cached(qmd, name, formats, folder, key)
        if cached is not None:
            return cached
        from evalkit.report.render import (
            render_qmd,  # the renderer's imports only when there is work
        )

        with replace_folder(folder, force=force, what="report folder") as staging:
            paths = render_qmd(Path(qmd), params=params, formats=tuple(formats),
                               out_dir=staging, basename=Path(qmd).stem, engine=engine)
            (staging / RENDER_KEY).write_text(key)
        return {"scheme": name, "ok": True, "cached": False,
                "outputs": {k: str(folder / v.name) for k, v in paths.items()}}
    except Exception as exc:  # noqa: BLE001 - one report's failure must not stop the batch
        log = getattr(exc, "log", None) or traceback.format_exc()
        message = (exc.one_line() if isinstance(exc, EvalkitError)
                   else f"{type(exc).__name__}: {exc}")
        try:  # the log goes into the folder only if it is evalkit's (or new)
            check_folder(folder, force=force, what="report folder")
            path = str(write_file(folder, "render.log", str(log).encode("utf-8"),
                                  force=force))
        except (EvalkitError, OSError):
            path = None
        return {"scheme": name, "ok": False, "error": message, "log": path}


def _cached(qmd: str | Path, name: str, formats: Sequence[str], folder: Path,
            key: str) -> dict | None:
    """The status of a report rendered from ``key`` with every output present, or None."""
    outputs = {f: folder / f"{Path(qmd).stem}.{f}" for f in formats}
    stamp = folder / RENDER_KEY
    if stamp.is_file() and stamp.read_text() == key and all(p.is_file()
                                                            for p in outputs.values()):
        return {"scheme": name, "ok": True, "cached": True,
                "outputs": {k: str(v) for k, v in outputs.items()}}
    return None


def failure_lines(statuses: Sequence[dict]) -> list[str]:
    """One line per failed member of a batch: its name, the error and its log."""
    return [f"{s['scheme']}: {s['error']}" + (f" (log: {s['log']})" if s.get("log") else "")
            for s in statuses if not s["ok"]]


def check_schemes(schemes: Sequence[str], data_root: str | Path) -> None:
    """Raise unless every scheme has ``<data_root>/<scheme>/spec.yaml`` (and there is one).

    Raises
    ------
    EvalkitError
        One line: the unknown names and the schemes there are, or that there are none.
    """
    root = Path(data_root)
    known = known_schemes(root)
    there = (f"choose from {', '.join(known)} or 'all'" if known else
             f"there are no schemes under {root} (no <scheme>/spec.yaml); give --data-root "
             "a folder of scheme folders, e.g. data/synthetic, or write one with evalkit "
             "synth")
    if not schemes:
        raise EvalkitError("no schemes to render", file=str(root), fix=there)
    unknown = [s for s in schemes if s not in known]
    if unknown:
        raise EvalkitError(f"unknown scheme(s): {', '.join(unknown)}", fix=there)


def render_reports(qmd: str | Path, schemes: Sequence[str], *, formats: Sequence[str],
                   out: str | Path, data_root: str | Path, engine: str = "auto",
                   jobs: int | None = None, progress: bool = True,
                   force: bool = False) -> list[dict]:
    """Render a report for several schemes in parallel.

    Parameters
    ----------
    qmd
        The report source.
    schemes
        Scheme names; each must have ``<data_root>/<scheme>/spec.yaml``.
    formats
        Any of ``html``, ``pdf``, ``docx``.
    out
        Output folder; each scheme's files go to ``<out>/<scheme>/``.
    data_root
        Where the schemes' folders are.
    engine
        ``auto``, ``quarto`` or ``builtin``.
    jobs
        Worker processes (default: one per core).
    progress
        Show a progress bar.
    force
        Render even schemes whose outputs are current (see :func:`render_folder`).

    Returns
    -------
    list of dict
        One status per scheme: ``ok``, and ``outputs`` (with ``cached``) or ``error`` and
        ``log``.
    """
    from tqdm import tqdm

    check_schemes(schemes, data_root)
    qmd = Path(qmd).resolve()
    if not qmd.is_file():
        raise EvalkitError("report source not found", file=str(qmd),
                           fix="give the path of a .qmd file")
    statuses, todo = [], []
    for s in schemes:  # reports that are current are settled here, without workers
        spec = str((Path(data_root) / s / "spec.yaml").resolve())
        try:
            key = render_key(qmd, {"scheme": s, "spec": spec}, formats)
        except OSError:
            key = None  # render_folder reports it
        done = (None if force or key is None else
                _cached(qmd, s, formats, Path(out).resolve() / s, key))
        if done is not None:
            statuses.append(done)
        else:
            todo.append(s)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    cores = max(1, (os.cpu_count() or 1) // jobs)
    args = [(str(qmd), s, str((Path(data_root) / s / "spec.yaml").resolve()), tuple(formats),
             str(Path(out).resolve()), engine, force, cores) for s in todo]
    with tqdm(total=len(args), desc="reports", unit="scheme", disable=not progress or not args,
              ) as bar:
        if jobs == 1 or len(args) <= 1:
            for a in args:
                statuses.append(_render_one(*a))
                bar.update()
        else:
            from evalkit.files.run_temp import run_dir

            run_dir()  # made here, so that the workers inherit it and this process removes it
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(_render_one, *a) for a in args]
                for fut in as_completed(futures):
                    statuses.append(fut.result())
                    bar.update()
    order = {s: i for i, s in enumerate(schemes)}
    return sorted(statuses, key=lambda st: order[st["scheme"]])
