"""Evaluation specs: a scheme's data, outcomes and designs, declared in YAML.

A spec is read with ``yaml.safe_load`` (nothing in it is ever executed) and
validated before anything runs. Unknown keys are errors that name the nearest
valid key. Each analysis's ``options`` map one to one onto the keyword arguments
of the design function; outcome-level ``family``, ``denominator`` and ``domain``
fill in options that an analysis does not set. The format is documented in
``docs/spec.md``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.data.bounded_yaml import read_yaml
from evalkit.data.contract import FAMILIES, nearest
from evalkit.data.inputs import check_options
from evalkit.errors import EvalkitError, SpecError
from evalkit.evaluation.designs import DESIGNS
from evalkit.naming import SCHEME_NAME
from evalkit.results import DOMAINS

__all__ = ["Spec", "Analysis", "DataSource", "load_spec", "TOP_KEYS", "DATA_KEYS",
           "OUTCOME_KEYS", "ANALYSIS_KEYS", "DATA_KINDS"]

TOP_KEYS = ("scheme", "title", "description", "synthetic", "inspired_by", "data", "outcomes",
            "analyses", "engagement", "report")
DATA_KEYS = ("path", "kind", "sheet", "description", "table", "attributes")
DATA_KINDS = ("panel", "cohort", "referrals", "mdt", "survey", "patient_costs", "scheme_costs",
              "care_plans", "maturity", "consultations", "records")
OUTCOME_KEYS = ("label", "family", "denominator", "domain", "per", "better", "description")
ANALYSIS_KEYS = ("design", "data", "outcomes", "options", "label")
ENGAGEMENT_KEYS = ("referrals", "mdt", "survey", "panel", "care_plans", "maturity",
                   "consultations", "unit", "time", "start")
REPORT_KEYS = ("headline", "summary")
# Options the spec runner fills in itself.
_FILLED = ("scheme",)


@dataclass(frozen=True)
class DataSource:
    """A data file named in a spec.

    A ``records`` source is a records spec (``docs/records.md``): its panel, built from
    patient-level records when the evaluation runs, or with ``table`` one of its
    patient-level tables; ``attributes`` is a practice-level table (``practice`` and, say,
    ``treated`` and ``comparison``) joined onto the panel.
    """

    name: str
    path: Path
    kind: str = "panel"
    sheet: str | int | None = None
    table: str | None = None
    attributes: Path | None = None

    def files(self) -> list[Path]:
        """Every file the source reads (for a records spec, its tables' files too)."""
        if self.kind != "records":
            return [self.path]
        from evalkit.evaluation.sources import records_files

        return records_files(self.path) + ([self.attributes] if self.attributes else [])


@dataclass(frozen=True)
class Analysis:
    """One design run on one outcome."""

    design: str
    data: str
    outcome: str
    options: Mapping[str, Any]
    label: str | None = None


@dataclass(frozen=True)
class Spec:
    """A validated evaluation spec."""

    path: Path
    scheme: str
    title: str
    description: str
    synthetic: bool
    data: Mapping[str, DataSource]
    outcomes: Mapping[str, Mapping[str, Any]]
    analyses: tuple[Analysis, ...]
    engagement: Mapping[str, Any] = field(default_factory=dict)
    report: Mapping[str, Any] = field(default_factory=dict)
    inspired_by: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """The folder the spec lives in (data paths are relative to it)."""
        return self.path.parent

    def outcome_label(self, outcome: str) -> str:
        """The outcome's display label."""
        return str(self.outcomes.get(outcome, {}).get("label") or outcome.replace("_", " "))


def _unknown(keys, allowed, where: str, file: str) -> None:
    for key in keys:
        if key not in allowed:
            guess = nearest(str(key), allowed)
            hint = f"did you mean '{guess}'?" if guess else f"valid keys: {', '.join(allowed)}"
            raise SpecError(f"unknown key '{key}' in {where}", file=file, fix=hint)


def _mapping(value, where: str, file: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise SpecError(f"{where} must be a mapping of keys to values", file=file,
                        fix="check the indentation in the YAML")
    return value


def load_spec(path: str | Path) -> Spec:
    """Read and validate an evaluation spec.

    Parameters
    ----------
    path
        The YAML file.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        If the file is missing, is not valid YAML, or breaks the spec format.

    Examples
    --------
    >>> spec = load_spec("data/synthetic/virtual-wards/spec.yaml")  # doctest: +SKIP
    >>> [a.design for a in spec.analyses]  # doctest: +SKIP
    ['prepost', 'prepost', 'prepost']
    """
    path = Path(path)
    file = str(path)
    if path.is_dir():
        path = path / "spec.yaml"
        file = str(path)
    if not path.is_file():
        raise SpecError("spec not found", file=file, fix="give the path of a spec.yaml")
    raw = _mapping(read_yaml(path), "the spec", file)
    _unknown(raw, TOP_KEYS, "the spec", file)
    for key in ("scheme", "data", "outcomes", "analyses"):
        if key not in raw:
            raise SpecError(f"the spec has no '{key}'", file=file,
                            fix=f"add '{key}:' (see docs/spec.md)")
    scheme = str(raw["scheme"])
    if not SCHEME_NAME.match(scheme):
        raise SpecError(f"scheme name '{scheme}' must be lower-case letters, digits and hyphens",
                        file=file, fix="rename the scheme, e.g. 'virtual-wards'")

    data: dict[str, DataSource] = {}
    for name, entry in _mapping(raw["data"], "data", file).items():
        if isinstance(entry, str):
            entry = {"path": entry}
        entry = _mapping(entry, f"data '{name}'", file)
        _unknown(entry, DATA_KEYS, f"data '{name}'", file)
        if "path" not in entry:
            raise SpecError(f"data '{name}' has no path", file=file, fix="add 'path: file.csv'")
        kind = _text(entry.get("kind", "panel"), f"data '{name}' kind", file)
        if kind not in DATA_KINDS:
            guess = nearest(str(kind), DATA_KINDS)
            raise SpecError(f"data '{name}' has unknown kind '{kind}'", file=file,
                            fix=f"did you mean '{guess}'?" if guess
                            else f"use one of {', '.join(DATA_KINDS)}")
        for key in ("table", "attributes"):
            if key in entry and kind != "records":
                raise SpecError(f"data '{name}' has '{key}', which only 'kind: records' takes",
                                file=file, fix=f"remove '{key}', or set 'kind: records'")
        attributes = entry.get("attributes")
        sheet = entry.get("sheet")
        if sheet is not None and (isinstance(sheet, bool) or not isinstance(sheet, (str, int))):
            raise SpecError(f"data '{name}' sheet must be a sheet name or number, not "
                            f"{sheet!r}", file=file, fix="e.g. 'sheet: Panel' or 'sheet: 0'")
        data[str(name)] = DataSource(
            str(name), _inside(path, entry["path"], f"data '{name}' path", file), kind, sheet,
            _text(entry["table"], f"data '{name}' table", file)
            if entry.get("table") is not None else None,
            _inside(path, attributes, f"data '{name}' attributes", file) if attributes
            else None)

    outcomes: dict[str, dict[str, Any]] = {}
    for name, entry in _mapping(raw["outcomes"], "outcomes", file).items():
        entry = dict(_mapping(entry or {}, f"outcome '{name}'", file))
        _unknown(entry, OUTCOME_KEYS, f"outcome '{name}'", file)
        family = entry.get("family", "gaussian")
        if family not in FAMILIES:
            guess = nearest(str(family), FAMILIES)
            raise SpecError(f"outcome '{name}' has unknown family '{family}'", file=file,
                            fix=f"did you mean '{guess}'?" if guess
                            else f"use one of {', '.join(FAMILIES)}")
        for key in ("label", "description", "denominator"):
            if entry.get(key) is not None:
                _text(entry[key], f"outcome '{name}' {key}", file)
        if entry.get("better") not in (None, "lower", "higher"):
            raise SpecError(f"outcome '{name}' has better: {_shown(entry['better'])}",
                            file=file, fix="write better: lower or better: higher")
        outcomes[str(name)] = entry

    analyses: list[Analysis] = []
    items = raw["analyses"]
    if not isinstance(items, list) or not items:
        raise SpecError("'analyses' must be a non-empty list", file=file,
                        fix="list at least one analysis, each with a design")
    for i, entry in enumerate(items, start=1):
        entry = _mapping(entry, f"analysis {i}", file)
        _unknown(entry, ANALYSIS_KEYS, f"analysis {i}", file)
        design = _text(entry.get("design"), f"analysis {i} design", file)
        if design not in DESIGNS:
            guess = nearest(str(design), DESIGNS)
            raise SpecError(f"analysis {i} names unknown design '{design}'", file=file,
                            fix=f"did you mean '{guess}'?" if guess
                            else f"available designs: {', '.join(DESIGNS)}")
        source = _text(entry.get("data"), f"analysis {i} data", file)
        if source not in data:
            guess = nearest(str(source), data)
            raise SpecError(f"analysis {i} uses data '{source}', which the spec does not list",
                            file=file, fix=f"did you mean '{guess}'?" if guess
                            else "add it under 'data:'")
        options = dict(_mapping(entry.get("options") or {}, f"analysis {i} options", file))
        params = inspect.signature(DESIGNS[design]).parameters
        allowed = [p for p in params if params[p].kind == inspect.Parameter.KEYWORD_ONLY
                   and p not in ("outcome", *_FILLED)]
        _unknown(options, allowed, f"analysis {i} ({design}) options", file)
        for key in getattr(DESIGNS[design], "table_options", ()):
            if key in options and options[key] not in data:
                guess = nearest(str(options[key]), data)
                raise SpecError(f"analysis {i} ({design}) option {key} names data "
                                f"'{options[key]}', which the spec does not list", file=file,
                                fix=f"did you mean '{guess}'?" if guess
                                else "add it under 'data:'")
        names = entry.get("outcomes")
        if isinstance(names, str):
            names = [names]
        if names is not None and not isinstance(names, list):
            raise SpecError(f"analysis {i} outcomes must be a list of outcome names", file=file,
                            fix="write 'outcomes: [name, ...]'")
        if entry.get("label") is not None:
            _text(entry["label"], f"analysis {i} label", file)
        if not names:
            raise SpecError(f"analysis {i} lists no outcomes", file=file,
                            fix="add 'outcomes: [name, ...]'")
        for outcome in names:
            outcome = _text(outcome, f"analysis {i} outcome", file)
            if outcome not in outcomes:
                guess = nearest(str(outcome), outcomes)
                raise SpecError(f"analysis {i} names outcome '{outcome}', which is not under "
                                "'outcomes'", file=file,
                                fix=f"did you mean '{guess}'?" if guess else "declare it")
            merged = dict(options)
            for key in ("family", "denominator", "domain", "per"):
                if key in outcomes[outcome] and key in allowed and key not in merged:
                    merged[key] = outcomes[outcome][key]
            try:
                check_options(DESIGNS[design], merged)
            except EvalkitError as err:
                raise SpecError(f"analysis {i} ({design}): {err.message}", file=file,
                                fix=err.fix) from None
            missing = [p for p, v in params.items() if v.kind == inspect.Parameter.KEYWORD_ONLY
                       and v.default is inspect.Parameter.empty and p != "outcome"
                       and p not in merged]
            if missing:
                raise SpecError(f"analysis {i} ({design}) needs option(s) "
                                f"{', '.join(missing)}", file=file,
                                fix="add them under 'options:'")
            analyses.append(Analysis(design, str(source), str(outcome), merged,
                                     entry.get("label")))

    for name, o in outcomes.items():
        domain = o.get("domain") if isinstance(o, Mapping) else None
        if domain is not None and domain not in DOMAINS:
            guess = nearest(str(domain), DOMAINS)
            raise SpecError(f"outcome '{name}' has unknown domain '{domain}'", file=file,
                            fix=f"use one of {', '.join(DOMAINS)}"
                            + (f" (did you mean '{guess}'?)" if guess else ""))
    engagement = dict(_mapping(raw.get("engagement") or {}, "engagement", file))
    _unknown(engagement, ENGAGEMENT_KEYS, "engagement", file)
    for role in ("referrals", "mdt", "survey", "panel", "care_plans", "maturity",
                 "consultations"):
        if role in engagement and _text(engagement[role], f"engagement {role}",
                                        file) not in data:
            raise SpecError(f"engagement {role} names data '{engagement[role]}', which the spec "
                            "does not list", file=file, fix="add it under 'data:'")
    report = dict(_mapping(raw.get("report") or {}, "report", file))
    _unknown(report, REPORT_KEYS, "report", file)
    for key in ("title", "description", "inspired_by"):
        if raw.get(key) is not None:
            _text(raw[key], f"'{key}'", file)
    return Spec(path=path.resolve(), scheme=scheme, title=str(raw.get("title", scheme)),
                description=str(raw.get("description", "")).strip(),
                synthetic=_flag(raw.get("synthetic", False), "synthetic", file),
                data=data, outcomes=outcomes,
                analyses=tuple(analyses), engagement=engagement, report=report,
                inspired_by=raw.get("inspired_by"), raw=raw)


def _text(value, where: str, file: str) -> str:
    """A YAML scalar used as a name or text: refuse a list, a mapping or nothing."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise SpecError(f"{where} must be text, not {_shown(value)}", file=file,
                    fix="write a single name or sentence (lists and mappings are not allowed "
                    "here)")


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _inside(spec_path: Path, value, where: str, file: str) -> Path:
    """A data path of the spec, which must lie in the spec's folder or below it.

    A spec may come from someone else: it must not make evalkit read (and then hash, log and
    report on) files elsewhere on the machine, such as ``../../etc/passwd``.
    """
    text = _text(value, where, file)
    rel = Path(text)
    if rel.is_absolute() or ".." in rel.parts or not text.strip():
        raise SpecError(f"{where} '{text}' is outside the spec's folder", file=file,
                        fix="data files must be in the spec's folder or a folder below it; "
                        "copy the file there and give its path relative to the spec")
    return (spec_path.parent / rel).resolve()


def _flag(value, key: str, file) -> bool:
    """A yes/no value: YAML booleans only (the string 'false' is not true)."""
    if isinstance(value, bool):
        return value
    raise SpecError(f"'{key}' must be true or false, not {value!r}", file=file,
                    fix=f"write {key}: true or {key}: false, without quotes")
