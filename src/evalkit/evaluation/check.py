"""Check data against the data contract, as an evaluation spec needs it."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from evalkit.data.contract import CheckReport, check_panel
from evalkit.data.io import read
from evalkit.errors import DataError, EvalkitError, format_rows, one_line
from evalkit.evaluation.sources import read_source
from evalkit.evaluation.spec import Analysis, Spec, load_spec

__all__ = ["check", "check_analysis", "warnings_markdown"]


def check(data: str | Path | pd.DataFrame, *, spec: str | Path | Spec | None = None
          ) -> list[CheckReport]:
    """Check case-study data against the data contract.

    Parameters
    ----------
    data
        A data file, a scheme folder (holding ``spec.yaml``), or a DataFrame.
    spec
        The evaluation spec that says what each column is and what the designs need.
        Defaults to ``spec.yaml`` in the data's folder.

    Returns
    -------
    list of CheckReport
        One report per analysis that uses the data (or one basic report without a spec).

    Examples
    --------
    >>> import evalkit as ek
    >>> reports = ek.check("data/synthetic/rapid-response")  # doctest: +SKIP
    >>> all(r.ok for r in reports)  # doctest: +SKIP
    True
    """
    frame = data if isinstance(data, pd.DataFrame) else None
    path = None if frame is not None else Path(data)
    if path is not None and not path.exists():
        raise DataError("file or folder not found", file=str(path),
                        fix="give a data file, or a scheme folder holding spec.yaml")
    if spec is None and path is not None:
        candidate = path / "spec.yaml" if path.is_dir() else path.parent / "spec.yaml"
        spec = candidate if candidate.exists() else None
    if spec is None:
        if path is not None and path.is_dir():
            raise DataError("no spec.yaml in this folder", file=str(path),
                            fix="give --spec, or a data file")
        frame = frame if frame is not None else read(path)
        report = CheckReport(file=str(path) if path else None, n_rows=len(frame))
        report.add("no_spec", "without a spec only readability was checked; column roles are "
                   "unknown", severity="warning", fix="give --spec to apply the full contract")
        return [report]
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    reports = []
    cache: dict[str, pd.DataFrame] = {}
    records: dict = {}
    for analysis in spec.analyses:
        source = spec.data[analysis.data]
        if path is not None and not path.is_dir() and source.path != path.resolve():
            continue
        if frame is not None and path is None:
            table = frame
        else:
            if analysis.data not in cache:
                cache[analysis.data] = read_source(source, cache=records)
            table = cache[analysis.data]
        reports.append(check_analysis(table, analysis, file=str(source.path)))
    if not reports:
        raise DataError("the spec does not use this file", file=str(path),
                        fix=f"check the data paths in {spec.path}")
    return _merge(reports)


def check_analysis(table: pd.DataFrame, analysis: Analysis, *, file: str | None = None
                   ) -> CheckReport:
    """Check one analysis's table against the data contract, as its design will use it.

    Parameters
    ----------
    table
        The analysis's data.
    analysis
        The analysis of a loaded spec (its design, outcome and options say what each
        column is).
    file
        The table's file, for messages.

    Returns
    -------
    CheckReport
        Errors stop the analysis; warnings (such as missing outcome values, whose rows are
        left out) go into ``run.log`` and the report's data section.
    """
    o = dict(analysis.options)
    o.setdefault("time", _time_default(analysis.design))
    if analysis.design == "matched":  # one row per unit: no periods to check
        return _check_cohort(table, o, analysis.outcome, file)
    if not o.get("time"):
        return CheckReport(file=file, n_rows=len(table))
    did_family = analysis.design in ("did", "event_study", "staggered_did")
    # DiD designs analyse counts over a denominator as rates: check them as counts.
    family = o.get("family") or ("poisson" if did_family and o.get("denominator")
                                 else "gaussian")
    return check_panel(
        table, unit=o.get("unit"), time=o["time"],
        outcomes={analysis.outcome: family},
        denominator=o.get("denominator"),
        cohort=o.get("cohort"), covariates=list(o.get("covariates") or ()),
        needs_comparison=analysis.design == "did" or (
            did_family and o.get("cohort") is not None
            and o.get("control_group", "never") == "never"),
        # A treatment indicator is checked per unit; without a unit it marks a series.
        treated=o.get("treated") if o.get("unit") else None,
        start=o.get("start"), min_pre_periods=o.get("baseline_periods") or 1,
        min_post_periods=(o.get("washout") or 0) + (o.get("followup_periods") or 1),
        file=file)


def _time_default(design: str) -> str | None:
    """The design's default time column, when the spec does not name one."""
    import inspect

    from evalkit.evaluation.designs import DESIGNS

    param = inspect.signature(DESIGNS[design]).parameters.get("time")
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def warnings_markdown(problems) -> str:
    """The data contract's warnings for a report's data section: one bullet each, naming the
    check, the file, the column, how many and example rows ("" when there are none)."""
    if not problems:
        return ""
    lines = ["The data checks raised these warnings (the analyses ran; `run.log` has them "
             "too):", ""]
    for p in problems:
        where = ", ".join(x for x in (Path(p.file).name if p.file else "",
                                       f"column {p.column}" if p.column else "",
                                       format_rows(p.rows)) if x)
        text = f"{p.message}" + (f"; {p.fix}" if p.fix else "")
        lines.append(f"- {_md(p.code)} ({_md(where)}): {_md(text)}.")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Text shown literally in Markdown (characters that would become markup escaped)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|@$~^=])", r"\\\1", one_line(str(text)))


def _check_cohort(table: pd.DataFrame, o, outcome: str, file: str) -> CheckReport:
    """Check a one-row-per-unit cohort the way the matched design will."""
    from evalkit.designs._cohort import _covariates, _treatment

    report = CheckReport(file=file, n_rows=len(table))
    pre = [o["pre"]] if isinstance(o.get("pre"), str) else list(o.get("pre") or [])
    steps = [("treatment", lambda: _treatment(table, o["treated"], file)),
             ("covariates", lambda: _covariates(table, [*o["covariates"], *pre], file)),
             ("outcome", lambda: _covariates(table, [outcome], file))]
    for code, step in steps:
        try:
            step()
        except EvalkitError as err:
            report.add(code, err.message, column=getattr(err, "column", None),
                       rows=getattr(err, "rows", None) or (), fix=err.fix)
    return report


def _merge(reports: list[CheckReport]) -> list[CheckReport]:
    """One report per file, without repeating the same problem."""
    merged: dict[str, CheckReport] = {}
    for r in reports:
        key = r.file or ""
        if key not in merged:
            merged[key] = CheckReport(file=r.file, n_rows=r.n_rows)
        seen = {(p.code, p.column, p.message) for p in merged[key].problems}
        merged[key].problems.extend(p for p in r.problems
                                    if (p.code, p.column, p.message) not in seen)
    return list(merged.values())
