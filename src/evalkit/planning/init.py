"""``evalkit init``: plan an evaluation from the user's own data.

:func:`init` reads the data files, works out their shape (:mod:`evalkit.planning.shape`)
and the designs they support (:mod:`evalkit.planning.advise`), and writes into the
evaluation folder a commented ``spec.yaml`` in which every choice says why it was made,
and a ``README.md`` with the next steps. What it cannot decide is a ``TODO`` comment, never
a silent guess. Then it checks the data against the new spec (:func:`evalkit.evaluation.check`).

It never overwrites a file: when ``spec.yaml``, ``README.md`` or a data file copied into
the folder already exists (and is not evalkit's unchanged output, the rules of
:mod:`evalkit.files.output_folder`), nothing is written and the error names the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.files.output_folder import check_file, write_file
from evalkit.naming import SCHEME_NAME
from evalkit.planning.advise import Advice, DesignOption, design_options
from evalkit.planning.shape import Shape, Table, read_shape
from evalkit.planning.yaml_text import comment, key, scalar
from evalkit.report.markdown_text import md_text

__all__ = ["InitResult", "init", "spec_text"]

ENGAGEMENT_KINDS = ("referrals", "mdt", "survey", "care_plans", "maturity", "consultations")


@dataclass
class InitResult:
    """What :func:`init` wrote and found.

    Attributes
    ----------
    folder, spec, readme
        The evaluation folder and the files written.
    todos
        What could not be decided (also marked TODO in the spec).
    advice
        The design advice (:class:`~evalkit.planning.advise.Advice`).
    reports
        The check reports of the new spec (empty if the check could not run).
    check_error
        The one-line error when the spec could not be checked (e.g. TODOs left).
    """

    folder: Path
    spec: Path
    readme: Path
    todos: list[str]
    advice: Advice = field(repr=False)
    reports: list = field(default_factory=list, repr=False)
    check_error: str | None = None
    copied: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the spec passed the check with no errors."""
        return self.check_error is None and all(r.ok for r in self.reports)

    def summary(self) -> str:
        """What was written and what to do next, as plain text."""
        lines = [f"Wrote {self.spec} and {self.readme}"]
        if self.copied:
            lines.append(f"Copied {len(self.copied)} data file(s) into {self.folder}")
        p = self.advice.primary
        if p is not None:
            lines.append(f"Primary design: {p.label} (data '{p.table}')")
        for t in self.todos:
            lines.append(f"TODO: {t}")
        if self.check_error:
            lines.append(f"check: {self.check_error}")
        else:
            n = sum(len(r.errors) for r in self.reports)
            lines.append("check: the data meet the spec's contract" if n == 0 else
                         f"check: {n} error(s); see 'evalkit check {self.folder}'")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _scheme_name(folder: Path) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")[:64]
    return name if name and SCHEME_NAME.match(name) else "my-evaluation"


def _monthly(t: Table) -> bool:
    s = t.frame[t.time.value].astype(str)
    return bool(s.str.match(r"^\d{4}-\d{2}$").all())


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def c(self, text: str, indent: int = 0) -> None:
        self.lines.append(comment(text, indent))

    def kv(self, k: str, value: Any, indent: int = 0, why: str | None = None) -> None:
        line = " " * indent + f"{k}: {scalar(value)}"
        if why:
            line += "  " + comment(why)
        self.lines.append(line)

    def raw(self, text: str) -> None:
        self.lines.append(text)


def _outcome_block(w: _Writer, t: Table, names: list[str]) -> None:
    for o in t.outcomes:
        if o.name not in names:
            continue
        w.raw(f"  {key(o.name)}:")
        w.c(f"from '{t.name}': {o.why}", 4)
        w.kv("label", o.name.replace("_", " ").capitalize(), 4)
        w.kv("family", o.family, 4)
        w.kv("domain", "cost" if "cost" in o.name.lower() else "outcome", 4)
        if o.denominator:
            w.kv("denominator", o.denominator, 4)
        if o.better:
            w.kv("better", o.better, 4, "guessed from the name; change it if wrong")
        else:
            w.c("TODO (optional): say whether lower or higher is better (better: lower)", 4)


def _list(w: _Writer, k: str, values: list[Any], indent: int) -> None:
    w.raw(" " * indent + f"{k}:")
    for v in values:
        w.raw(" " * indent + f"- {scalar(v)}")


def _analyses(w: _Writer, shape: Shape, options: dict[str, DesignOption]) -> list[tuple]:
    """Write the analyses; return (table, outcome names) used."""
    used: list[tuple[Table, list[str]]] = []
    panel, loc, coh = shape.panel, shape.localities, shape.cohort
    start = shape.start
    w.raw("analyses:")
    top = w.lines
    blocks: list[tuple[int, list[str]]] = []
    n = 0

    def head(o: DesignOption) -> None:  # each analysis is a block; primary first
        blocks.append(({"primary": 0, "secondary": 1}.get(o.role, 2), []))
        w.lines = blocks[-1][1]
        w.c(f"{o.label} ({o.role}): " + "; ".join(o.facts), 0)

    sd = options["staggered_did"]
    if sd.possible and panel is not None:
        head(sd)
        names = [o.name for o in panel.outcomes]
        w.raw("- design: staggered_did")
        w.kv("  data", panel.name)
        _list(w, "outcomes", names, 2)
        w.kv("  label", "Staggered difference-in-differences across the waves, against "
             "never-treated units")
        w.raw("  options:")
        w.kv("unit", panel.unit.value, 4, panel.unit.why)
        w.kv("time", panel.time.value, 4, panel.time.why)
        w.kv("cohort", panel.cohort.value, 4, panel.cohort.why)
        w.kv("control_group", "never", 4, "compare with units that never joined")
        w.kv("seed", 20260401, 4, "fixes the bootstrap draws, so results repeat exactly")
        used.append((panel, names))
        n += 1
    for k in ("its_controlled", "its"):
        o = options[k]
        if not o.possible or panel is None or sd.possible:
            continue
        head(o)
        names = [x.name for x in panel.outcomes]
        w.raw("- design: its")
        w.kv("  data", panel.name)
        _list(w, "outcomes", names, 2)
        w.kv("  label", "Controlled interrupted time series: scheme units against the "
             "comparison units" if k == "its_controlled" else
             "Interrupted time series of the scheme's units")
        w.raw("  options:")
        w.kv("time", panel.time.value, 4, panel.time.why)
        w.kv("start", start.value, 4, start.why)
        w.kv("treated", panel.treated.value, 4, panel.treated.why)
        if k == "its_controlled":
            w.kv("control", panel.comparison.value, 4, panel.comparison.why)
        if _monthly(panel):
            w.raw("    seasonality:  " + comment("monthly data: two Fourier terms for the "
                                                 "yearly cycle"))
            w.kv("fourier", 2, 6)
            w.kv("period", 12, 6)
        w.kv("autocorrelation", "auto", 4, "chosen from the residuals")
        used.append((panel, names))
        n += 1
        break  # one ITS: controlled when there is a comparison, else single-group
    sc = options["synthetic_control"]
    if sc.possible and loc is not None and start.value is not None:
        names = [o.name for o in loc.outcomes if o.name.endswith("_rate")] or \
            [o.name for o in loc.outcomes if o.family == "gaussian"] or \
            [o.name for o in loc.outcomes]
        taken = {x for _, ns in used for x in ns}
        names = [x for x in names if x not in taken]
        if names:
            head(sc)
            treated = loc.units(loc.treated.value)
            unit_name = treated.index[treated == 1][0]
            w.raw("- design: synthetic_control")
            w.kv("  data", loc.name)
            _list(w, "outcomes", names, 2)
            w.c("rates: comparable across areas of different sizes", 2)
            w.kv("  label", "Synthetic control: the scheme's area against a weighted "
                 "combination of the other areas")
            w.raw("  options:")
            w.kv("unit", loc.unit.value, 4, loc.unit.why)
            w.kv("time", loc.time.value, 4, loc.time.why)
            w.kv("treated_unit", unit_name if not hasattr(unit_name, "item")
                 else unit_name.item(), 4, f"the only unit with '{loc.treated.value}' = 1")
            w.kv("start", start.value, 4, start.why)
            w.kv("placebos", True, 4, "in-space placebos: each donor in turn as if treated")
            used.append((loc, names))
            n += 1
    mc = options["matched"]
    if mc.possible and coh is not None:
        for o in coh.outcomes:
            head(mc)
            w.raw("- design: matched")
            w.kv("  data", coh.name)
            _list(w, "outcomes", [o.name], 2)
            w.kv("  label", f"Enrolled against matched non-enrolled patients: {o.name}, "
                 "difference-in-differences on the matched cohort")
            w.raw("  options:")
            w.kv("treated", coh.treated.value, 4, coh.treated.why)
            w.c("characteristics measured before enrolment (numeric columns that are not "
                "measured in several periods); remove any measured after it", 4)
            _list(w, "covariates", coh.covariates, 4)
            w.c(o.why, 4)
            _list(w, "pre", coh.pre[o.name], 4)
            w.kv("method", "nearest", 4, "nearest-neighbour propensity matching")
            w.kv("caliper", 0.2, 4, "0.2 standard deviations of the logit propensity")
            w.kv("seed", 20260401, 4)
            used.append((coh, [o.name]))
            n += 1
    w.lines = top
    for _, lines in sorted(blocks, key=lambda b: b[0]):
        w.lines += lines
    if n == 0:
        w.lines[-1] = "analyses: []  " + comment(
            "TODO: no design could be set up from the data; see the TODOs above and "
            "'evalkit advise' for what is missing")
    return used


def spec_text(shape: Shape, scheme: str, *, folder: Path, advice: Advice,
              paths: dict[str, str]) -> str:
    """The commented ``spec.yaml`` for the shape (paths: data name to relative path)."""
    w = _Writer()
    options = {o.key: o for o in advice.options}
    w.c("Evaluation spec written by 'evalkit init' from the data in this folder.")
    w.c("Every choice says why it was made; check each one. Format: docs/spec.md.")
    w.c("Lines marked TODO need your decision. Run 'evalkit check .' after any change.")
    for t in shape.todos:
        w.c(f"TODO: {t}")
    w.kv("scheme", scheme, 0, "from the folder's name (lower case, digits and hyphens)")
    w.kv("title", "TODO: the scheme's name", 0, "TODO: a title for the reports")
    w.kv("description", "TODO: what the scheme does, for whom, and when it started")
    w.raw("data:")
    for t in shape.tables:
        if t.kind == "unknown":
            w.c(f"TODO: '{paths[t.name]}': {t.why}", 2)
            continue
        if t.kind == "attributes":
            continue  # joined onto a records panel (below)
        w.raw(f"  {key(t.name)}:")
        w.kv("path", paths[t.name], 4)
        if t.records:
            w.kv("kind", "records", 4, f"a records spec (docs/records.md); {t.why}")
            if t.attributes is not None:
                w.kv("attributes", paths[t.attributes.name], 4, t.attributes.why)
            else:
                w.c("TODO: add 'attributes: practices.csv', a table with one row per "
                    "practice saying which are in the scheme (treated) and the comparison", 4)
            continue
        w.kv("kind", t.kind, 4, t.why)
    body = _Writer()
    used = _analyses(body, shape, options)
    names = {}
    for t, ns in used:
        names.setdefault(id(t), (t, []))[1].extend(x for x in ns if x not in names.get(
            id(t), (t, []))[1])
    w.raw("outcomes:")
    if not used:
        w.lines[-1] = "outcomes: {}  " + comment("TODO: no outcome is analysed yet")
    for t, ns in names.values():
        _outcome_block(w, t, ns)
    w.lines += body.lines
    eng = {k: [t.name for t in shape.table(k)] for k in ENGAGEMENT_KINDS}
    eng = {k: v[0] for k, v in eng.items() if v}
    panel = shape.panel
    if eng and panel is not None and shape.start.value is not None:
        w.c("Engagement: how much the scheme was used and how it worked "
            "(tables recognised by their columns)")
        w.raw("engagement:")
        for k, v in eng.items():
            w.kv(k, v, 2)
        w.kv("panel", panel.name, 2, "the main panel: the one with most scheme units")
        w.kv("unit", panel.unit.value, 2, panel.unit.why)
        w.kv("time", panel.time.value, 2, panel.time.why)
        w.kv("start", shape.start.value, 2, shape.start.why)
    costs = shape.table("patient_costs") + shape.table("scheme_costs")
    if costs:
        w.c("TODO: cost data found (" + ", ".join(t.name for t in costs) + "). An economic "
            "evaluation (design: economic) needs the number of patients served, the price "
            "year and the cost of the activity avoided: see docs/spec.md")
    return "\n".join(w.lines) + "\n"


def _readme(scheme: str, folder: Path, shape: Shape, advice: Advice, todos: list[str]) -> str:
    lines = [f"# Evaluation: {md_text(scheme)}", "",
             "This folder was set up by `evalkit init`. It holds the data, the evaluation "
             "spec (`spec.yaml`, in which every choice says why it was made) and, once you "
             "run it, the results.", "", "## Data", ""]
    for t in shape.tables:
        lines.append(f"- {md_text(t.path.name)}: {md_text(t.kind)} ({md_text(t.why)})")
    lines += ["", "## Design", ""]
    p = advice.primary
    if p is not None:
        lines.append(f"Primary design: **{md_text(p.label)}**. " + md_text("; ".join(p.facts)))
        if advice.secondary:
            lines += ["", "Secondary designs, for triangulation: "
                      + md_text("; ".join(o.label for o in advice.secondary)) + "."]
    else:
        lines.append("No design could be set up yet; see the TODOs.")
    if todos:
        lines += ["", "## To do", ""] + [f"- {md_text(t)}" for t in todos]
    lines += ["", "## Next steps", "", "From this folder:", "", "```sh",
              "evalkit advise spec.yaml       # the designs these data support, and why",
              "evalkit check .                # the data against the spec",
              "evalkit run spec.yaml --out results",
              "```", "",
              "Edit `spec.yaml` to correct any choice (see docs/spec.md in evalkit), then "
              "check and run again. evalkit never overwrites files it did not write.", ""]
    return "\n".join(lines)


def init(data: str | Path | list[str | Path], *, out: str | Path | None = None,
         unit: str | None = None, time: str | None = None, treated: str | None = None,
         start: str | None = None, cohort: str | None = None,
         run_check: bool = True) -> InitResult:
    """Plan an evaluation from data files: write a commented spec and a README, then check.

    Parameters
    ----------
    data
        Data files (CSV, Excel, Parquet) or a folder holding them.
    out
        The evaluation folder (default: the folder of the first data file). Data files
        outside it are copied into it (a spec reads only files in its folder).
    unit, time, treated, cohort
        Column names of the main panel that override the guesses.
    start
        The start period (e.g. ``"2019-10"``), overriding the guess.
    run_check
        Check the data against the new spec.

    Returns
    -------
    InitResult

    Raises
    ------
    EvalkitError
        If a file cannot be read, a given column is missing, or a file to be written
        already exists (nothing is written then).

    Examples
    --------
    >>> import evalkit as ek
    >>> result = ek.init("my-data/", start="2019-10")  # doctest: +SKIP
    >>> print(result)  # doctest: +SKIP
    """
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    shape = read_shape(items, unit=unit, time=time, treated=treated, start=start,
                       cohort=cohort)
    first = shape.tables[0].path
    folder = Path(out) if out is not None else first.parent
    folder_abs = folder.resolve()
    paths: dict[str, str] = {}
    copies: dict[str, bytes] = {}
    for t in shape.tables:
        src = t.path.resolve()
        try:
            paths[t.name] = src.relative_to(folder_abs).as_posix()
        except ValueError:
            if t.records:
                raise EvalkitError("a records spec must be inside the evaluation folder (the "
                                   "files it reads are not copied)", file=str(t.path),
                                   fix="choose --out so that the records spec is inside it"
                                   ) from None
            paths[t.name] = src.name
            if src.name in copies or (folder_abs / src.name).resolve() == src:
                raise EvalkitError("two data files have the same name", file=str(t.path),
                                   fix="rename one of them") from None
            copies[src.name] = src.read_bytes()
    advice = Advice(shape, design_options(shape))
    scheme = _scheme_name(folder)
    text = spec_text(shape, scheme, folder=folder, advice=advice, paths=paths)
    todos = shape.todos + (["no design could be set up from the data"]
                           if advice.primary is None else [])
    readme = _readme(scheme, folder, shape, advice, todos)
    files = {"spec.yaml": text.encode("utf-8"), "README.md": readme.encode("utf-8"), **copies}
    for name in ("spec.yaml", "README.md"):  # never overwrite: not even evalkit's own
        if (folder / name).exists() or (folder / name).is_symlink():
            raise EvalkitError("already exists; evalkit init never overwrites a file",
                               file=str(folder / name),
                               fix="move it away, or choose another folder with --out")
    for name, blob in files.items():  # every check first: nothing is half-written
        check_file(folder, name, blob)
    for name, blob in files.items():
        write_file(folder, name, blob)
    result = InitResult(folder, folder / "spec.yaml", folder / "README.md", todos, advice,
                        copied=[folder / n for n in copies])
    if run_check:
        from evalkit.evaluation.check import check

        try:
            result.reports = check(folder)
        except EvalkitError as err:
            result.check_error = err.one_line()
    return result
