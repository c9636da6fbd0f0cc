"""Run an evaluation spec and write its outputs.

``run_spec`` runs every analysis a spec declares and returns an
:class:`Evaluation`; ``Evaluation.write`` puts ``results.json``, ``results.csv``,
figures (PNG and SVG), ``run.log`` and ``provenance.json`` in a folder. The
folder is built aside and swapped in whole (:mod:`evalkit.files.output_folder`), so a failed
or killed run leaves nothing half-written, a folder holding files evalkit did not write
is not replaced, and the same inputs give a byte-identical ``results.json``.

Within one run of a batch (``evalkit demo``) an evaluation is computed once: the process
that runs a spec keeps the :class:`Evaluation` in the run's private cache folder
(:data:`CACHE_ENV`), and the reports' kernels, started by the same run, load it from
there instead of running the spec again (:func:`cached_evaluation`). The cache is keyed
by :func:`evaluation_key` (evalkit's code, the spec and every data file it reads), so a
changed input is never served from it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from evalkit.engagement.published import engagement_tables, published_frames
from evalkit.errors import DesignError, EvalkitError
from evalkit.evaluation.check import check_analysis
from evalkit.evaluation.designs import DESIGNS
from evalkit.evaluation.fingerprint import code_sha256
from evalkit.evaluation.provenance import collect, display_path, file_sha256
from evalkit.evaluation.robust_variant import (
    declared_tables,
    mark_declared,
    mark_variant,
    robust_inputs,
    variant_analysis,
)
from evalkit.evaluation.sources import read_source
from evalkit.evaluation.spec import Analysis, Spec, load_spec
from evalkit.evidence.selection import variant_words
from evalkit.files.output_folder import check_folder, replace_folder
from evalkit.results import EFFECT_FIELDS, DesignResult, jsonable

__all__ = ["Evaluation", "run_spec", "people_analysis", "PEOPLE_DATA_KINDS",
           "evaluation_key",
           "CACHE_ENV", "cached_evaluation", "cache_evaluation"]

#: The environment variable naming the run's folder of computed evaluations (set by
#: ``evalkit demo`` for its worker processes and the reports' kernels).
CACHE_ENV = "EVALKIT_EVALUATION_CACHE"

#: Data kinds whose rows are people (so counts of their units are counts of people).
PEOPLE_DATA_KINDS = frozenset({"cohort", "patient_costs", "consultations"})


def people_analysis(evaluation, analysis) -> bool:
    """Whether an analysis's units are people (patients), so their counts are controlled."""
    kind = evaluation.spec.data[analysis.data].kind
    unit = str(analysis.options.get("unit", analysis.options.get("patient", "")))
    return kind in PEOPLE_DATA_KINDS or "patient" in unit


@dataclass
class Evaluation:
    """The results of every analysis in a spec."""

    spec: Spec
    results: list[tuple[Analysis, DesignResult]]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    _engagement: Any = field(default=None, repr=False)
    #: Warnings of the data contract (``Problem`` objects), one per problem and file.
    data_warnings: list = field(default_factory=list)
    _records: dict = field(default_factory=dict, repr=False)

    @property
    def engagement(self):
        """The scheme's :class:`~evalkit.engagement.profile.EngagementProfile` (measured on
        first use, then kept), or None when the spec declares no engagement data."""
        if self._engagement is None:
            from evalkit.engagement.profile import profile_engagement

            self._engagement = profile_engagement(self) or False
        return self._engagement or None

    @property
    def effects(self) -> pd.DataFrame:
        """All effect records, in spec order."""
        frames = [r.effects for _, r in self.results]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=list(EFFECT_FIELDS))

    def result(self, outcome: str, design: str = "prepost") -> DesignResult:
        """The result of one design on one outcome."""
        for analysis, res in self.results:
            if analysis.outcome == outcome and analysis.design == design:
                return res
        raise KeyError(f"no {design} result for {outcome}")

    def table(self, name: str) -> pd.DataFrame:
        """A data table named in the spec (read, or built from records, once; then cached)."""
        if name not in self.tables:
            self.tables[name] = read_source(self.spec.data[name], cache=self._records)
        return self.tables[name]

    def published_effects(self, engagement: bool = False) -> pd.DataFrame:
        """The effect records (or the engagement ones) under disclosure control, as the
        results files publish them (:func:`evalkit.evidence.published.published_effects`).
        """
        from evalkit.evidence.published import published_effects

        if engagement:
            eff = self.engagement.effects
            return published_effects(eff, (eff["design"] == "likert_change").to_numpy())
        people = {(a.outcome, a.design): people_analysis(self, a) for a, _ in self.results}
        eff = self.effects
        return published_effects(eff, [people.get((o, d), False) for o, d in
                                       zip(eff["outcome"], eff["design"], strict=True)])

    def results_json(self) -> str:
        """Canonical JSON of the results (no timestamps, sorted keys)."""
        doc = {
            "schema": "evalkit-results/1",
            "evalkit_version": _version(),
            "scheme": self.spec.scheme,
            "title": self.spec.title,
            "synthetic": self.spec.synthetic,
            "spec_sha256": file_sha256(self.spec.path),
            "inputs": input_hashes(self.spec),
            "analyses": [
                {"design": a.design, "data": a.data, "outcome": a.outcome, "label": a.label,
                 "options": jsonable(dict(a.options)), "warnings": list(r.warnings),
                 **published_frames(a.design, r)}
                for a, r in self.results
            ],
            "effects": [jsonable(rec) for rec in
                        self.published_effects().to_dict(orient="records")],
        }
        if self.engagement is not None:
            doc["engagement_effects"] = [jsonable(rec) for rec in
                                         self.published_effects(True).to_dict(orient="records")]
            doc["engagement_tables"] = engagement_tables(self.engagement)
        return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"

    def figures(self):
        """Yield ``(name, figure, alt_text)`` for every figure of the evaluation.

        Names are ``<kind>-<outcome>``, numbered when two analyses would share one.
        """
        from evalkit.plots import (
            bacon_plot,
            cohort_trajectories_plot,
            effects_plot,
            event_study_plot,
            its_plot,
            love_plot,
            prepost_plot,
            synth_gap_plot,
            synth_loo_plot,
            synth_path_plot,
        )
        from evalkit.plots.economics import ce_plane_plot, ceac_plot, tornado_plot

        labels = {o: self.spec.outcome_label(o) for o in self.spec.outcomes}
        seen: dict[str, int] = {}

        def unique(name: str) -> str:
            seen[name] = seen.get(name, 0) + 1
            return name if seen[name] == 1 else f"{name}-{seen[name]}"

        fig, alt = effects_plot(self.effects, labels=labels)
        yield unique("effects"), fig, alt
        for analysis, res in self.results:
            label = labels.get(analysis.outcome)
            plots = []
            if len(res.effects) and variant_words(res.effects["diagnostics"].iloc[0]):
                continue  # a robust variant: in the effects plot and tables, not drawn again
            if analysis.design == "prepost":
                plots = [("prepost", prepost_plot)]
            elif analysis.design == "its" and "series" in res.frames:
                plots = [("its", its_plot)]
            elif analysis.design == "staggered_did":
                plots = [("event", event_study_plot), ("cohorts", cohort_trajectories_plot)]
            elif analysis.design == "event_study":
                plots = [("event", event_study_plot)]
            elif analysis.design == "did" and "bacon" in res.frames:
                plots = [("bacon", bacon_plot)]
            elif analysis.design == "synthetic_control":
                plots = [("synth-path", synth_path_plot)]
                if "placebos" in res.frames:
                    plots.append(("synth-gap", synth_gap_plot))
                if "loo" in res.frames and not res.frames["loo"].empty:
                    plots.append(("synth-loo", synth_loo_plot))
            elif analysis.design == "matched" and "love" in res.frames:
                plots = [("love", lambda r, label=None: love_plot(r))]
            elif analysis.design == "economic":
                plots = [("tornado", lambda r, label=None: tornado_plot(
                    r.frames["one_way"], output=r.diagnostics["one_way_output"]))]
                if "ce_draws" in res.frames:
                    plots += [("ce-plane", lambda r, label=None: ce_plane_plot(r)),
                              ("ceac", lambda r, label=None: ceac_plot(r))]
            for kind, plot in plots:
                fig, alt = plot(res, label=label)
                yield unique(f"{kind}-{analysis.outcome}"), fig, alt
        if self.engagement is not None:
            from evalkit.plots.engagement_profile import engagement_figures

            for name, fig, alt in engagement_figures(self.engagement, labels=labels):
                yield unique(name), fig, alt

    def write(self, out: str | Path, *, log: list[str] | None = None, force: bool = False,
              extra_files: dict[str, str] | None = None) -> Path:
        """Write all outputs to ``out`` as one set and return it.

        Parameters
        ----------
        out
            The output folder; replaced whole (see :mod:`evalkit.files.output_folder`).
        log
            Lines to start ``run.log`` with.
        force
            Replace ``out`` even if it holds files evalkit did not write (they are kept).
        extra_files
            More text files to write in the set, by name.

        Raises
        ------
        EvalkitError
            If ``out`` holds files evalkit did not write (or changed ones), without
            ``force``.
        """
        import matplotlib

        from evalkit.plots.palette import PLAIN_TEXT

        out = Path(out)
        with replace_folder(out, force=force) as tmp:
            for name, text in (extra_files or {}).items():
                (tmp / name).write_text(text, encoding="utf-8")
            (tmp / "results.json").write_text(self.results_json(), encoding="utf-8")
            frame = self.published_effects()
            frame["diagnostics"] = frame["diagnostics"].map(
                lambda d: json.dumps(jsonable(d), sort_keys=True))
            frame["warnings"] = frame["warnings"].map(lambda w: " | ".join(w))
            frame.to_csv(tmp / "results.csv", index=False, lineterminator="\n")
            figdir = tmp / "figures"
            figdir.mkdir()
            alts = {}
            with matplotlib.rc_context({"svg.hashsalt": "evalkit", **PLAIN_TEXT}):
                for name, fig, alt in self.figures():
                    fig.savefig(figdir / f"{name}.png", dpi=150, metadata={"Software": None})
                    fig.savefig(figdir / f"{name}.svg", metadata={"Date": None})
                    alts[name] = alt
            (figdir / "alt-text.json").write_text(json.dumps(alts, indent=2, sort_keys=True)
                                                  + "\n", encoding="utf-8")
            lines = list(log or [])
            lines.extend(f"data warning [{w.code}]: {w.as_error().one_line()}"
                         for w in self.data_warnings)
            for analysis, res in self.results:
                lines.append(f"{analysis.design} {analysis.outcome}: {len(res.effects)} effect(s)")
                lines.extend(f"  warning: {w}" for w in res.warnings)
            (tmp / "run.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
            prov = collect([self.spec.path] + [f for s in self.spec.data.values()
                                               for f in s.files()],
                           {"spec": str(self.spec.path), "out": str(out)},
                           folder=self.spec.folder)
            (tmp / "provenance.json").write_text(json.dumps(prov, indent=2, sort_keys=True)
                                                 + "\n", encoding="utf-8")
        return out


def input_hashes(spec: Spec) -> dict[str, str]:
    """SHA-256 of each data source's file; for a records source also of every file it reads
    (as ``<name>/<file name>``)."""
    out: dict[str, str] = {}
    for name, src in sorted(spec.data.items()):
        if not src.path.exists():
            continue
        out[name] = file_sha256(src.path)
        if src.kind == "records":
            for f in src.files()[1:]:
                if f.exists():
                    out[f"{name}/{f.name}"] = file_sha256(f)
    return out


def _jobs() -> int:
    """Worker processes a design may use (``EVALKIT_JOBS``, set for a report's kernel by
    the renderer from the cores it leaves each scheme; 1 by default)."""
    text = os.environ.get("EVALKIT_JOBS", "1")
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise DesignError(f"EVALKIT_JOBS is {text!r}, not a whole number of at least 1",
                          fix="unset it, or set it to e.g. 2")
    return jobs


def _version() -> str:
    import evalkit

    return evalkit.__version__


def evaluation_key(spec: Spec) -> str:
    """What an :class:`Evaluation` depends on, as one SHA-256: evalkit's code
    (:func:`code_sha256`), the spec file (its place and bytes) and every data file it
    reads (:func:`input_hashes`)."""
    doc = {"code": code_sha256(), "spec": str(Path(spec.path).resolve()),
           "spec_sha256": file_sha256(spec.path), "inputs": input_hashes(spec)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _cache_folder() -> Path | None:
    """The run's folder of evaluations (:data:`CACHE_ENV`), if it is set and private: a
    folder (not a link) of this user's that no one else may write to. Anything else is
    ignored, so that nothing but this user's own run is ever loaded."""
    given = os.environ.get(CACHE_ENV)
    if not given:
        return None
    folder = Path(given)
    try:
        st = folder.lstat()
    except OSError:
        return None
    import stat

    if (not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid())
            or st.st_mode & 0o022):
        return None
    return folder


def cached_evaluation(spec: Spec) -> Evaluation | None:
    """The evaluation of ``spec`` that this run already computed, or None."""
    folder = _cache_folder()
    if folder is None:
        return None
    path = folder / f"{evaluation_key(spec)}.pickle"
    try:
        with open(path, "rb") as fh:
            evaluation = pickle.load(fh)  # written by this run's own processes only
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    return evaluation if isinstance(evaluation, Evaluation) else None


def _read_only(items: dict) -> MappingProxyType:
    """A read-only mapping again, when an evaluation is loaded from the cache."""
    return MappingProxyType(items)


def cache_evaluation(evaluation: Evaluation) -> Path | None:
    """Keep an evaluation in the run's cache folder, if there is one (else do nothing)."""
    folder = _cache_folder()
    if folder is None:
        return None
    import copyreg

    # results hold read-only mappings (e.g. SPC options), which pickle cannot store itself
    copyreg.pickle(MappingProxyType, lambda m: (_read_only, (dict(m),)))
    path = folder / f"{evaluation_key(evaluation.spec)}.pickle"
    tmp = folder / f".{path.name}.{os.getpid()}.part"
    try:
        with open(tmp, "wb") as fh:
            pickle.dump(evaluation, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        tmp.unlink(missing_ok=True)  # not cached: the report runs the spec itself
        return None
    return path


def run_spec(spec: str | Path | Spec, *, out: str | Path | None = None,
             progress: bool = False, force: bool = False,
             extra_files: dict[str, str] | None = None) -> Evaluation:
    """Run every analysis declared in an evaluation spec.

    Parameters
    ----------
    spec
        A spec file (or its folder), or a loaded :class:`~evalkit.evaluation.spec.Spec`.
    out
        If given, write the outputs there (see :meth:`Evaluation.write`).
    progress
        Show a progress bar.
    force
        Replace ``out`` even if it holds files evalkit did not write (they are kept; see
        :mod:`evalkit.files.output_folder`).
    extra_files
        More text files to write with the outputs, by name.

    Returns
    -------
    Evaluation

    Raises
    ------
    EvalkitError
        If the spec or the data break the contract (the message names the analysis), or
        ``out`` holds files evalkit did not write (checked before any analysis runs).

    Examples
    --------
    >>> import evalkit as ek
    >>> ev = ek.run_spec("data/synthetic/rapid-response/spec.yaml")  # doctest: +SKIP
    >>> ev.effects[["outcome", "estimand", "estimate"]]  # doctest: +SKIP
    """
    from tqdm import tqdm

    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    if out is not None:
        check_folder(out, force=force)
    elif (cached := cached_evaluation(spec)) is not None:
        return cached
    evaluation = Evaluation(spec=spec, results=[])
    log = [f"scheme: {spec.scheme}", f"spec: {display_path(spec.path)}"]
    declared = declared_tables(spec)
    for i, analysis in enumerate(tqdm(spec.analyses, desc=spec.scheme, unit="analysis",
                                      disable=not progress), start=1):
        data = evaluation.table(analysis.data)
        func = DESIGNS[analysis.design]
        # The data contract, checked at the boundary for every design alike.
        report = check_analysis(data, analysis, file=str(spec.data[analysis.data].path))
        seen = {(w.code, w.file, w.column) for w in evaluation.data_warnings}
        evaluation.data_warnings.extend(w for w in report.warnings
                                        if (w.code, w.file, w.column) not in seen)
        options = dict(analysis.options)
        if "n_jobs" not in options and "n_jobs" in inspect.signature(func).parameters:
            options["n_jobs"] = _jobs()  # results do not depend on it
        for key in getattr(func, "table_options", ()):  # options that name a data table
            if key in options:
                options[key] = evaluation.table(options[key])
        try:
            report.raise_for_errors()
            result = func(data, outcome=analysis.outcome, scheme=spec.scheme, **options)
        except EvalkitError as err:
            err.message = (f"analysis {i} ({analysis.design}, {analysis.outcome}): "
                           f"{err.message}")
            err.file = err.file or str(spec.path)
            raise
        evaluation.results.append((analysis, result))
        _robust_variant(evaluation, analysis, result, options, data, i, declared)
    if out is not None:
        evaluation.write(out, log=log, force=force, extra_files=extra_files)
    cache_evaluation(evaluation)
    return evaluation


def _robust_variant(evaluation: Evaluation, analysis: Analysis, result: DesignResult,
                    options: dict[str, Any], data: pd.DataFrame, i: int,
                    declared: set[str]) -> None:
    """Where the scheme's units were chosen at a peak (the design's check fired, or the spec
    declares it for this data table), run the design's robust variant beside it
    (:mod:`evalkit.evaluation.robust_variant`); a variant that cannot be estimated is left
    out, with a
    warning on the main result."""
    if analysis.data in declared:
        mark_declared(result, analysis.design)
    inputs = robust_inputs(analysis, result, options, data)
    if inputs is None:
        return
    opts, kept, window, selection, changes = inputs
    try:
        variant = DESIGNS[analysis.design](kept, outcome=analysis.outcome,
                                           scheme=evaluation.spec.scheme, **opts)
    except EvalkitError as err:
        note = (f"The variant robust to selection at a peak (analysis {i}) could not be "
                f"estimated: {err.message}")
        evaluation.results[-1] = (analysis, replace(result,
                                                    warnings=(*result.warnings, note)))
        return
    mark_variant(variant, window, selection)
    evaluation.results.append((variant_analysis(analysis, changes, window), variant))


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` written by :meth:`Evaluation.write`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
